"""course.model / course.llama / course.generate / course.pretrained against independent references.

References: transformers' GPT2LMHeadModel and LlamaForCausalLM (random tiny
configs written with save_pretrained), brute-force filtering loops, plain
recompute of every step, and GPT-2's published parameter count. Only the
tests that compare with transformers (a dev dependency) need it; the others
run without it.
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import course.hub
import course.pretrained
from course.generate import KVCache, sample_next, top_k_filter, top_p_filter
from course.llama import Llama, LlamaConfig
from course.model import (
    GPT,
    GPTConfig,
    count_params,
    gpt_param_counts,
    kv_cache_bytes,
    param_breakdown,
)
from course.pretrained import (
    CheckpointError,
    WeightsUnavailableError,
    load_gpt2,
    load_llama,
    save_gpt2,
)


@pytest.fixture(scope="module")
def transformers():
    return pytest.importorskip("transformers")


TINY_GPT2 = dict(n_layer=2, n_head=4, n_embd=32, n_positions=48, vocab_size=101)


def _tokens(vocab, shape, seed=0):
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def hf_gpt2_dir(transformers, tmp_path_factory):
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(**TINY_GPT2)).eval()
    folder = tmp_path_factory.mktemp("hf_gpt2")
    hf.save_pretrained(folder)
    return folder, hf


def _hf_llama(transformers, tmp_path_factory, name, **kw):
    torch.manual_seed(1)
    cfg = dict(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
               num_attention_heads=4, max_position_embeddings=64, rms_norm_eps=1e-5)
    cfg.update(kw)
    hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(**cfg)).eval()
    folder = tmp_path_factory.mktemp(name)
    hf.save_pretrained(folder)
    return folder, hf


LLAMA31_ROPE = dict(rope_type="llama3", rope_theta=500000.0, factor=8.0, low_freq_factor=1.0,
                    high_freq_factor=4.0, original_max_position_embeddings=16)
LLAMA_CASES = {
    "mha": dict(num_key_value_heads=4),
    "gqa_llama31_rope": dict(num_key_value_heads=2, rope_parameters=LLAMA31_ROPE),
    "mqa_tied": dict(num_key_value_heads=1, tie_word_embeddings=True),
}


@pytest.fixture(scope="module", params=list(LLAMA_CASES))
def hf_llama_dir(request, transformers, tmp_path_factory):
    return _hf_llama(transformers, tmp_path_factory, request.param, **LLAMA_CASES[request.param])


# ----------------------------------------------------------------------------- configs and counts


def test_gpt2_preset_has_124m_parameters_with_tying():
    cfg = GPTConfig.from_preset("gpt2")
    with torch.device("meta"):
        model = GPT(cfg)
    assert count_params(model) == 124_439_808
    assert gpt_param_counts(cfg)["total"] == 124_439_808
    untied = 124_439_808 + 50257 * 768
    assert count_params(model, count_tied_once=False) == untied
    assert gpt_param_counts(cfg, tied=False)["total"] == untied


@pytest.mark.parametrize("preset", ["cpu-tiny", "cpu-small", "gpt2-medium", "gpt2-xl"])
@pytest.mark.parametrize("bias", [True, False])
def test_closed_form_counts_match_the_module(preset, bias):
    cfg = GPTConfig.from_preset(preset, bias=bias)
    with torch.device("meta"):
        model = GPT(cfg)
    assert param_breakdown(model) == gpt_param_counts(cfg)
    parts = param_breakdown(model)
    assert parts["total"] == sum(v for k, v in parts.items() if k not in ("per_block", "total"))
    assert parts["blocks"] == cfg.n_layer * parts["per_block"]


def test_llama31_8b_preset_has_8_03b_parameters_and_small_kv_cache():
    cfg = LlamaConfig.from_preset("llama3.1-8b")
    with torch.device("meta"):
        model = Llama(cfg)
    assert count_params(model) == 8_030_261_248  # Meta's model card: 8.03B
    # GQA: 8 KV heads of 128 dims, 32 layers, bf16 -> 128 KiB per token
    assert kv_cache_bytes(cfg, seq_len=1) == 2 * 32 * 8 * 128 * 2
    assert kv_cache_bytes(cfg, 1) * 4 == kv_cache_bytes(LlamaConfig.from_preset("llama3.1-8b", n_kv_head=32), 1)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown GPT preset 'gpt3'.*gpt2, gpt2-medium.*cpu-tiny"):
        GPTConfig.from_preset("gpt3")
    with pytest.raises(ValueError, match="unknown Llama preset.*llama3.1-8b"):
        LlamaConfig.from_preset("llama2")


def test_bad_configs_are_rejected():
    with pytest.raises(ValueError, match="divisible by n_head"):
        GPTConfig(n_embd=100, n_head=3)
    with pytest.raises(ValueError, match="attn_impl"):
        GPTConfig(attn_impl="flash")
    with pytest.raises(ValueError, match="multiple of n_kv_head"):
        LlamaConfig(n_head=4, n_kv_head=3, n_embd=64)


def test_preset_overrides_apply():
    cfg = GPTConfig.from_preset("cpu-small", dropout=0.1, vocab_size=65)
    assert (cfg.n_layer, cfg.n_embd, cfg.block_size, cfg.dropout, cfg.vocab_size) == (4, 128, 256, 0.1, 65)


# ----------------------------------------------------------------------------- model behaviour


def test_forward_shapes_loss_and_ignore_index():
    torch.manual_seed(0)
    model = GPT(GPTConfig.from_preset("cpu-tiny", vocab_size=50))
    idx, targets = _tokens(50, (3, 10)), _tokens(50, (3, 10), seed=1)
    logits, loss = model(idx)
    assert logits.shape == (3, 10, 50) and loss is None
    targets[:, :4] = -1
    logits, loss = model(idx, targets)
    keep = targets.flatten() != -1
    manual = -F.log_softmax(logits.view(-1, 50), -1)[keep, targets.flatten()[keep]].mean()
    torch.testing.assert_close(loss, manual)
    assert abs(loss.item() - math.log(50)) < 0.3  # near uniform at init


def test_sequence_longer_than_context_is_a_clear_error():
    model = GPT(GPTConfig.from_preset("cpu-tiny", vocab_size=50))
    with pytest.raises(ValueError, match="length 65 is longer than the model's context \\(block_size=64\\)"):
        model(torch.zeros(1, 65, dtype=torch.long))
    llama = Llama(LlamaConfig.from_preset("cpu-tiny", vocab_size=50))
    with pytest.raises(ValueError, match="block_size=64"):
        llama(torch.zeros(1, 65, dtype=torch.long))


def test_manual_attention_equals_sdpa():
    for M, C in ((GPT, GPTConfig), (Llama, LlamaConfig)):
        torch.manual_seed(0)
        a = M(C.from_preset("cpu-tiny", vocab_size=50)).eval()
        b = M(C.from_preset("cpu-tiny", vocab_size=50, attn_impl="manual")).eval()
        b.load_state_dict(a.state_dict())
        idx = _tokens(50, (2, 33))
        torch.testing.assert_close(a(idx)[0], b(idx)[0], atol=1e-5, rtol=1e-5)


def test_attention_is_causal():
    torch.manual_seed(0)
    model = GPT(GPTConfig.from_preset("cpu-tiny", vocab_size=50)).eval()
    idx = _tokens(50, (1, 20))
    changed = idx.clone()
    changed[0, 12:] = (changed[0, 12:] + 1) % 50
    a, b = model(idx)[0], model(changed)[0]
    torch.testing.assert_close(a[:, :12], b[:, :12])
    assert not torch.allclose(a[:, 12:], b[:, 12:])


def test_weight_tying_and_residual_init_scaling():
    torch.manual_seed(0)
    model = GPT(GPTConfig.from_preset("gpt2", n_layer=6, vocab_size=1000))
    assert model.lm_head.weight is model.transformer.wte.weight
    assert abs(model.transformer.h[0].mlp.c_fc.weight.std().item() - 0.02) < 1e-3
    assert abs(model.transformer.h[0].mlp.c_proj.weight.std().item() - 0.02 / math.sqrt(12)) < 1e-3
    assert abs(model.transformer.h[0].attn.c_proj.weight.std().item() - 0.02 / math.sqrt(12)) < 1e-3
    model.init_weights(scale_residual=False)
    assert abs(model.transformer.h[0].attn.c_proj.weight.std().item() - 0.02) < 1e-3
    llama = Llama(LlamaConfig.from_preset("cpu-tiny"))
    assert llama.lm_head.weight is not llama.transformer.wte.weight


def test_dropout_only_in_training():
    torch.manual_seed(0)
    model = GPT(GPTConfig.from_preset("cpu-tiny", vocab_size=50, dropout=0.5))
    idx = _tokens(50, (2, 16))
    model.train()
    assert not torch.equal(model(idx)[0], model(idx)[0])
    model.eval()
    assert torch.equal(model(idx)[0], model(idx)[0])


def test_backward_reaches_every_parameter():
    for M, C in ((GPT, GPTConfig), (Llama, LlamaConfig)):
        model = M(C.from_preset("cpu-tiny", vocab_size=50))
        _, loss = model(_tokens(50, (2, 16)), _tokens(50, (2, 16), seed=2))
        loss.backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


# ----------------------------------------------------------------------------- against transformers


@pytest.mark.parametrize("attn_impl", ["sdpa", "manual"])
def test_gpt_logits_equal_transformers(hf_gpt2_dir, attn_impl):
    folder, hf = hf_gpt2_dir
    model = load_gpt2(folder, attn_impl=attn_impl)
    idx = _tokens(101, (2, 48))
    ref = hf(idx).logits
    assert ref.std() > 0.05  # a real, non-degenerate comparison
    torch.testing.assert_close(model(idx)[0], ref, atol=1e-5, rtol=1e-5)
    # the loss with next-token targets equals transformers' (which shifts labels itself)
    _, loss = model(idx[:, :-1], idx[:, 1:])
    torch.testing.assert_close(loss, hf(idx, labels=idx).loss, atol=1e-5, rtol=1e-5)


def test_gpt_loads_a_pickled_bin_with_original_key_names(hf_gpt2_dir, tmp_path):
    folder, hf = hf_gpt2_dir
    # the hub's own gpt2 checkpoint stores GPT2Model keys ("h.0.attn...") plus mask buffers
    sd = {k.removeprefix("transformer."): v for k, v in hf.state_dict().items() if k != "lm_head.weight"}
    sd["h.0.attn.bias"] = torch.tril(torch.ones(1, 1, 48, 48))
    torch.save(sd, tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text((folder / "config.json").read_text())
    model = load_gpt2(tmp_path)
    idx = _tokens(101, (1, 30))
    torch.testing.assert_close(model(idx)[0], hf(idx).logits, atol=1e-5, rtol=1e-5)


def test_save_gpt2_round_trips_through_transformers(transformers, tmp_path):
    torch.manual_seed(3)
    model = GPT(GPTConfig.from_preset("cpu-tiny", vocab_size=77)).eval()
    save_gpt2(model, tmp_path)
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    idx = _tokens(77, (2, 64))
    torch.testing.assert_close(model(idx)[0], hf(idx).logits, atol=1e-5, rtol=1e-5)
    again = load_gpt2(tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_llama_logits_equal_transformers(hf_llama_dir):
    folder, hf = hf_llama_dir
    model = load_llama(folder)
    idx = _tokens(97, (2, 64))
    ref = hf(idx).logits
    assert ref.std() > 0.05
    torch.testing.assert_close(model(idx)[0], ref, atol=1e-5, rtol=1e-5)
    hf_cfg = json.loads((folder / "config.json").read_text())
    assert model.config.n_kv_head == hf_cfg["num_key_value_heads"]
    assert (model.lm_head.weight is model.transformer.wte.weight) == hf_cfg["tie_word_embeddings"]


def test_llama_kv_cache_generation_equals_transformers_greedy(hf_llama_dir):
    folder, hf = hf_llama_dir
    model = load_llama(folder)
    idx = _tokens(97, (1, 7))
    ours = model.generate(idx, 20, temperature=0)
    ref = idx
    with torch.no_grad():
        for _ in range(20):  # full recompute with the reference model, argmax each step
            ref = torch.cat([ref, hf(ref).logits[:, -1:].argmax(-1)], dim=1)
    assert torch.equal(ours, ref)


# ----------------------------------------------------------------------------- bad checkpoints


def _copy_folder(src, dst, edit_tensors=None, edit_config=None):
    from safetensors.torch import load_file, save_file

    tensors = load_file(src / "model.safetensors")
    cfg = json.loads((src / "config.json").read_text())
    if edit_tensors:
        edit_tensors(tensors)
    if edit_config:
        edit_config(cfg)
    save_file(tensors, dst / "model.safetensors", metadata={"format": "pt"})
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


def test_wrong_shaped_checkpoint_names_the_tensor(hf_gpt2_dir, tmp_path):
    folder, _ = hf_gpt2_dir

    def shrink(t):
        t["transformer.h.1.mlp.c_fc.weight"] = t["transformer.h.1.mlp.c_fc.weight"][:, :100].contiguous()

    bad = _copy_folder(folder, tmp_path, edit_tensors=shrink)
    with pytest.raises(CheckpointError, match=r"'h\.1\.mlp\.c_fc\.weight' has shape \(100, 32\) after transposing.*expects \(128, 32\)"):
        load_gpt2(bad)


def test_config_that_does_not_match_the_weights_is_caught(hf_gpt2_dir, tmp_path):
    folder, _ = hf_gpt2_dir
    bad = _copy_folder(folder, tmp_path, edit_config=lambda c: c.update(n_embd=64))
    with pytest.raises(CheckpointError, match="wte.weight' has shape \\(101, 32\\)"):
        load_gpt2(bad)


def test_missing_and_unexpected_tensors_are_named(hf_gpt2_dir, tmp_path_factory):
    folder, _ = hf_gpt2_dir
    missing = _copy_folder(folder, tmp_path_factory.mktemp("m"), edit_tensors=lambda t: t.pop("transformer.ln_f.bias"))
    with pytest.raises(CheckpointError, match="ln_f.bias"):
        load_gpt2(missing)
    extra = _copy_folder(folder, tmp_path_factory.mktemp("e"), edit_tensors=lambda t: t.update(surprise=torch.zeros(3)))
    with pytest.raises(CheckpointError, match="unexpected tensors \\['surprise'\\]"):
        load_gpt2(extra)


def test_llama_wrong_shape_and_wrong_model_type(hf_llama_dir, tmp_path_factory):
    folder, _ = hf_llama_dir

    def cut(t):
        t["model.layers.0.self_attn.k_proj.weight"] = t["model.layers.0.self_attn.k_proj.weight"][:8].contiguous()

    bad = _copy_folder(folder, tmp_path_factory.mktemp("k"), edit_tensors=cut)
    with pytest.raises(CheckpointError, match="'model.layers.0.self_attn.k_proj.weight' has shape \\(8, 64\\)"):
        load_llama(bad)
    with pytest.raises(CheckpointError, match="model_type 'llama', not 'gpt2'"):
        load_gpt2(folder)


def test_not_a_checkpoint_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_gpt2(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(dict(TINY_GPT2, model_type="gpt2")))
    with pytest.raises(FileNotFoundError, match="no weights in .*found config.json"):
        load_gpt2(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_gpt2(tmp_path / "nope")


UNCACHED_ID = "llms-from-scratch/model-that-is-never-cached"


@pytest.fixture
def hub_downloads(monkeypatch):
    """Record every snapshot_download call as (repo id, local_files_only); nothing is cached."""
    calls = []

    def fake(repo_id, *, allow_patterns=None, local_files_only=False):
        calls.append((repo_id, local_files_only))
        raise FileNotFoundError(f"{repo_id} is not in the cache")

    monkeypatch.setattr(course.pretrained, "snapshot_download", fake)
    return calls


def _no_connection(*args, **kwargs):
    raise AssertionError("offline mode must not open a connection")


def test_offline_uncached_hub_id_fails_without_going_online(monkeypatch, hub_downloads):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(course.hub.socket, "create_connection", _no_connection)
    with pytest.raises(WeightsUnavailableError, match=r"not in the local Hugging Face cache and the hub cannot be used: offline mode \(HF_HUB_OFFLINE=1 is set\)"):
        load_gpt2(UNCACHED_ID)
    with pytest.raises(WeightsUnavailableError, match="HF_HUB_OFFLINE=1"):
        load_llama(UNCACHED_ID)
    assert hub_downloads == [(UNCACHED_ID, True)] * 2  # looked in the cache only, never downloaded


def test_unreachable_hub_fails_without_a_download(monkeypatch, hub_downloads):
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(WeightsUnavailableError, match=r"hub cannot be used: 127\.0\.0\.1:9 cannot be reached"):
        load_gpt2(UNCACHED_ID)
    assert hub_downloads == [(UNCACHED_ID, True)]


# ----------------------------------------------------------------------------- generation


@pytest.mark.parametrize("M,C", [(GPT, GPTConfig), (Llama, LlamaConfig)])
@pytest.mark.parametrize("kw", [dict(temperature=0), dict(seed=7), dict(seed=7, temperature=0.7, top_k=10, top_p=0.8)])
def test_cached_generation_equals_full_recompute(M, C, kw):
    torch.manual_seed(0)
    model = M(C.from_preset("cpu-tiny", vocab_size=60))
    idx = _tokens(60, (2, 9))
    # 70 new tokens run past block_size=64, where both paths crop the context
    cached = model.generate(idx, 70, use_cache=True, **kw)
    full = model.generate(idx, 70, use_cache=False, **kw)
    assert cached.shape == (2, 79) and torch.equal(cached, full)
    assert torch.equal(cached[:, :9], idx)


def test_cached_step_logits_equal_full_forward():
    torch.manual_seed(0)
    for M, C in ((GPT, GPTConfig), (Llama, LlamaConfig)):
        model = M(C.from_preset("cpu-tiny", vocab_size=60)).eval()
        idx = _tokens(60, (2, 30))
        full = model(idx)[0]
        cache = KVCache(model.config.n_layer, max_len=30)
        parts = [model(idx[:, :10], cache=cache)[0], model(idx[:, 10:25], cache=cache)[0]]
        parts += [model(idx[:, t : t + 1], cache=cache)[0] for t in range(25, 30)]
        torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-5)
        assert cache.pos == 30


def test_greedy_equals_stepwise_argmax_and_restores_mode():
    torch.manual_seed(0)
    model = GPT(GPTConfig.from_preset("cpu-tiny", vocab_size=60, dropout=0.2)).train()
    idx = _tokens(60, (1, 5))
    out = model.generate(idx, 12, temperature=0)
    assert model.training
    model.eval()
    ref = idx
    for _ in range(12):
        ref = torch.cat([ref, model(ref)[0][:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(out, ref)


def test_seeded_sampling_is_reproducible():
    torch.manual_seed(0)
    model = GPT(GPTConfig.from_preset("cpu-tiny", vocab_size=60))
    idx = _tokens(60, (3, 4))
    a = model.generate(idx, 30, seed=123, top_k=20)
    torch.manual_seed(999)  # the global RNG must not matter
    b = model.generate(idx, 30, seed=123, top_k=20)
    c = model.generate(idx, 30, generator=torch.Generator().manual_seed(123), top_k=20)
    d = model.generate(idx, 30, seed=124, top_k=20)
    assert torch.equal(a, b) and torch.equal(a, c)
    assert not torch.equal(a, d)


def test_generate_rejects_bad_arguments():
    model = GPT(GPTConfig.from_preset("cpu-tiny", vocab_size=60))
    idx = _tokens(60, (1, 4))
    for kw, msg in [
        (dict(temperature=-1), "temperature"),
        (dict(top_k=0), "top_k"),
        (dict(top_p=1.5), "top_p"),
        (dict(seed=1, generator=torch.Generator()), "either seed or generator"),
    ]:
        with pytest.raises(ValueError, match=msg):
            model.generate(idx, 3, **kw)
    with pytest.raises(ValueError, match="token ids"):
        model.generate(idx.float(), 3)


# ----------------------------------------------------------------------------- filters vs brute force


def _brute_top_k(row, k):
    kth = sorted(row.tolist(), reverse=True)[min(k, len(row)) - 1]
    return [x if x >= kth else float("-inf") for x in row.tolist()]


def _brute_top_p(row, p):
    probs = torch.softmax(row.double(), -1).tolist()
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    keep, mass = set(), 0.0
    for i in order:
        keep.add(i)
        mass += probs[i]
        if mass >= p:
            break
    return [x if i in keep else float("-inf") for i, x in enumerate(row.tolist())]


@pytest.mark.parametrize("k", [1, 3, 17, 50, 500])
def test_top_k_filter_matches_brute_force(k):
    logits = torch.randn(6, 50, generator=torch.Generator().manual_seed(k)) * 3
    got = top_k_filter(logits, k)
    assert got.tolist() == [_brute_top_k(r, k) for r in logits]


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.9, 0.99, 1.0])
def test_top_p_filter_matches_brute_force(p):
    logits = torch.randn(8, 40, generator=torch.Generator().manual_seed(int(p * 100)), dtype=torch.float64) * 2
    got = top_p_filter(logits, p)
    assert got.tolist() == [_brute_top_p(r, p) for r in logits]
    assert (got.isfinite().sum(-1) >= 1).all()


def test_sampling_respects_the_filters():
    logits = torch.randn(1, 30, generator=torch.Generator().manual_seed(0)).expand(4000, 30)
    g = torch.Generator().manual_seed(0)
    allowed_k = set(logits[0].topk(5).indices.tolist())
    assert set(sample_next(logits, top_k=5, generator=g).flatten().tolist()) == allowed_k
    allowed_p = set(top_p_filter(logits[:1], 0.6).isfinite().nonzero()[:, 1].tolist())
    assert set(sample_next(logits, top_p=0.6, generator=g).flatten().tolist()) == allowed_p
    # empirical frequencies follow softmax(logits / T)
    counts = torch.bincount(sample_next(logits, temperature=2.0, generator=g).flatten(), minlength=30)
    torch.testing.assert_close(counts / 4000.0, torch.softmax(logits[0] / 2.0, -1), atol=0.03, rtol=0)
    assert torch.equal(sample_next(logits[:2], temperature=0), logits[:2].argmax(-1, keepdim=True))


# ----------------------------------------------------------------------------- import direction


def _course_imports(path) -> set[str]:
    """course.* modules a file imports anywhere in it, function bodies included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("course.")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("course"):
            if node.module == "course":  # from course import hub
                found |= {f"course.{a.name}" for a in node.names}
            else:
                found.add(node.module)
    return found


def test_models_and_loaders_import_one_way():
    """generate <- model <- llama <- pretrained: the models know nothing of the checkpoint
    loader, and no chain of imports (even inside functions) leads back."""
    root = Path(course.pretrained.__file__).parent
    graph = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        graph[name] = _course_imports(path)

    def reachable(start):
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    mine = ("course.generate", "course.model", "course.llama", "course.pretrained")
    for name in mine:
        assert name not in reachable(name), f"{name} imports itself through a chain of imports"
    assert "course.pretrained" not in reachable("course.model") | reachable("course.llama")
    assert "course.llama" not in reachable("course.model")
    assert not set(mine) & reachable("course.generate")
