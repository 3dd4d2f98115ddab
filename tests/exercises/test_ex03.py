"""Checks for lesson 03's exercises (exercises/ex03.py).

Each layer is compared with the one in `course.model`: the same weights are
loaded into yours, and both run on the same seeded input.
"""

import pytest
import torch

from course.generate import generate as course_generate
from course.generate import top_p_filter as course_top_p
from course.model import GPT, MLP, Block, CausalSelfAttention, GPTConfig

LESSON = "03"

CONFIGS = {
    "4 heads": GPTConfig(block_size=32, vocab_size=50, n_layer=2, n_head=4, n_embd=32),
    "1 head, no bias": GPTConfig(block_size=32, vocab_size=50, n_layer=2, n_head=1, n_embd=24, bias=False),
}


def _x(config, B=2, T=11, seed=0):
    return torch.randn(B, T, config.n_embd, generator=torch.Generator().manual_seed(seed))


def _copy_into(mine, ref, what):
    try:
        mine.load_state_dict(ref.state_dict())
    except RuntimeError as e:
        pytest.fail(f"{what}: keep the submodules that __init__ creates, with their names ({e})", pytrace=False)
    return mine.eval(), ref.eval()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_attention_matches_course_model(ex, name):
    cfg = CONFIGS[name]
    torch.manual_seed(0)
    mine, ref = _copy_into(ex.CausalSelfAttention(cfg), CausalSelfAttention(cfg), "CausalSelfAttention")
    x = _x(cfg)
    with torch.no_grad():
        got, want = mine(x), ref(x)
    assert got.shape == x.shape, f"attention must keep the shape (B, T, C) = {tuple(x.shape)}, got {tuple(got.shape)}"
    torch.testing.assert_close(
        got, want, atol=1e-5, rtol=1e-5,
        msg=f"attention output ({name}) differs from course.model's: check the q/k/v split order, "
        "the head reshape (B, n_head, T, head_dim), the 1/sqrt(head_dim) scale and the causal mask",
    )


def test_attention_does_not_look_ahead(ex):
    cfg = CONFIGS["4 heads"]
    torch.manual_seed(1)
    attn = ex.CausalSelfAttention(cfg).eval()
    x = _x(cfg, B=1, T=12)
    changed = x.clone()
    changed[:, 7:] += 1.0  # change only the future of position 6
    with torch.no_grad():
        a, b = attn(x), attn(changed)
    torch.testing.assert_close(a[:, :7], b[:, :7], msg="outputs at positions 0..6 changed when only positions 7.. did: the causal mask is missing or wrong")
    assert not torch.allclose(a[:, 7:], b[:, 7:]), "outputs at later positions should depend on the changed inputs"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_mlp_matches_course_model(ex, name):
    cfg = CONFIGS[name]
    torch.manual_seed(2)
    mine, ref = _copy_into(ex.MLP(cfg), MLP(cfg), "MLP")
    x = _x(cfg, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(
            mine(x), ref(x), atol=1e-5, rtol=1e-5,
            msg=f"MLP output ({name}) differs: c_fc -> GELU(approximate='tanh') -> c_proj",
        )


@pytest.mark.parametrize("name", list(CONFIGS))
def test_block_matches_course_model(ex, name):
    cfg = CONFIGS[name]
    torch.manual_seed(3)
    ref = Block(cfg)
    mine, ref = _copy_into(ex.Block(cfg), ref, "Block")
    x = _x(cfg, seed=2)
    with torch.no_grad():
        torch.testing.assert_close(
            mine(x), ref(x), atol=1e-5, rtol=1e-5,
            msg=f"Block output ({name}) differs: x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)) "
            "(if this fails, check CausalSelfAttention and MLP first)",
        )


def test_block_is_residual(ex):
    cfg = CONFIGS["4 heads"]
    block = ex.Block(cfg).eval()
    state = block.state_dict()  # silence both sublayers: their output projections write zeros
    for name in ("attn.c_proj.weight", "attn.c_proj.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"):
        assert name in state, f"Block has no {name}: keep the submodules that __init__ creates, with their names"
        state[name].zero_()
    block.load_state_dict(state)
    x = _x(cfg, seed=3)
    torch.testing.assert_close(
        block(x), x, msg="with both sublayers outputting zeros the block must return x unchanged: add, don't replace"
    )


@pytest.mark.parametrize("preset", ["cpu-tiny", "cpu-small", "gpt2-medium"])
@pytest.mark.parametrize("bias", [True, False])
def test_gpt_num_params_matches_the_module(ex, preset, bias):
    cfg = GPTConfig.from_preset(preset, bias=bias, vocab_size=1000)
    with torch.device("meta"):  # shapes only, no memory
        model = GPT(cfg)
    tied = sum(p.numel() for p in model.parameters())
    assert ex.gpt_num_params(cfg) == tied, f"{preset} (bias={bias}): GPT(config) has {tied:,} parameters"
    untied = tied + cfg.vocab_size * cfg.n_embd
    assert ex.gpt_num_params(cfg, tied=False) == untied, (
        f"{preset} (bias={bias}) untied: the lm_head adds vocab_size * n_embd, {untied:,} in all"
    )


def test_gpt_num_params_gpt2(ex):
    got = ex.gpt_num_params(GPTConfig.from_preset("gpt2"))
    assert got == 124_439_808, f"GPT-2 small has 124,439,808 parameters (with tying), got {got:,}"


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9, 0.999])
def test_top_p_matches_course(ex, p):
    logits = torch.randn(5, 64, generator=torch.Generator().manual_seed(int(p * 1000))) * 2
    before = logits.clone()
    got = ex.top_p_filter(logits, p)
    assert torch.equal(logits, before), "top_p_filter must not modify its input in place"
    want = course_top_p(logits, p)
    assert got.shape == logits.shape, f"keep the shape {tuple(logits.shape)}"
    kept, want_kept = got.isfinite(), want.isfinite()
    assert torch.equal(kept, want_kept), (
        f"p={p}: kept {kept.sum(-1).tolist()} tokens per row, expected {want_kept.sum(-1).tolist()} "
        "(keep a token while the mass of the more likely ones is < p)"
    )
    assert torch.equal(got[kept], logits[kept]), "kept logits must be unchanged"


def test_top_p_edge_cases(ex):
    logits = torch.tensor([[4.0, 1.0, 0.5, 0.0, -2.0]])
    tiny = ex.top_p_filter(logits, 1e-6)
    assert tiny.isfinite().tolist() == [[True, False, False, False, False]], "a tiny p keeps exactly the most likely token"
    assert torch.equal(ex.top_p_filter(logits, 1.0), logits), "p=1 keeps every token"
    batch = torch.stack([logits[0], logits[0].flip(0)])
    assert ex.top_p_filter(batch, 0.93).isfinite().sum(-1).tolist() == [2, 2], "filter each row on its own"


# ----------------------------------------------------------------------------- a whole GPT


def _gpt(seed=0, **overrides):
    torch.manual_seed(seed)
    cfg = dict(block_size=24, vocab_size=40, n_layer=2, n_head=4, n_embd=32)
    return GPT(GPTConfig(**{**cfg, **overrides})).eval()


def _ids(B, T, vocab=40, seed=0):
    return torch.randint(0, vocab, (B, T), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("bias", [True, False])
def test_gpt_forward_matches_the_model(ex, bias):
    model = _gpt(seed=4, bias=bias)
    idx, targets = _ids(3, 17, seed=1), _ids(3, 17, seed=2)
    with torch.no_grad():
        want_logits, want_loss = model(idx, targets)
        got = ex.gpt_forward(model, idx, targets)
    assert isinstance(got, tuple) and len(got) == 2, "return (logits, loss)"
    logits, loss = got
    assert logits.shape == want_logits.shape, f"logits must be (B, T, vocab) = {tuple(want_logits.shape)}"
    torch.testing.assert_close(
        logits, want_logits, atol=1e-5, rtol=1e-5,
        msg="logits differ from model(idx): token + position embeddings, every block, the final "
        "LayerNorm, then lm_head",
    )
    torch.testing.assert_close(
        loss, want_loss, atol=1e-5, rtol=1e-5,
        msg="loss differs: the mean cross-entropy of logits against targets, which are already the next tokens",
    )


def test_gpt_forward_without_targets(ex):
    model = _gpt(seed=5)
    idx = _ids(2, 24, seed=3)  # the full context
    with torch.no_grad():
        logits, loss = ex.gpt_forward(model, idx)
        torch.testing.assert_close(logits, model(idx)[0], atol=1e-5, rtol=1e-5)
    assert loss is None, "without targets the loss is None"


def test_gpt_forward_skips_padding(ex):
    model = _gpt(seed=6)
    idx, targets = _ids(2, 12, seed=4), _ids(2, 12, seed=5)
    targets[0, 8:] = -1  # padding
    targets[1, :3] = -1
    with torch.no_grad():
        _, loss = ex.gpt_forward(model, idx, targets)
        logits = model(idx)[0]
    keep = targets != -1
    want = torch.nn.functional.cross_entropy(logits[keep], targets[keep])
    torch.testing.assert_close(loss, want, atol=1e-5, rtol=1e-5,
                               msg="positions whose target is -1 must count for nothing in the mean")


def test_gpt_forward_refuses_too_long(ex):
    model = _gpt(seed=7)
    with pytest.raises(ValueError):
        ex.gpt_forward(model, _ids(1, 25))


def test_kv_cache_update(ex, harness):
    g = torch.Generator().manual_seed(8)
    chunks = [(torch.randn(2, 3, n, 4, generator=g), torch.randn(2, 3, n, 4, generator=g)) for n in (5, 1, 1)]
    got = harness("kv_cache_trace")(ex.KVCache, 2, chunks)  # driven as course.model.GPT drives it
    for (before, after) in got["pos"]:
        assert before == after, "update must not move pos (the model advances it after every layer wrote)"
    for c, row in enumerate(got["returned"]):
        for layer, (k_all, v_all) in enumerate(row):
            want_k = torch.cat([k + layer for k, _ in chunks[: c + 1]], dim=2)
            want_v = torch.cat([v - layer for _, v in chunks[: c + 1]], dim=2)
            n = want_k.size(2)
            assert tuple(k_all.shape) == tuple(want_k.shape), (
                f"after {n} positions update(layer {layer}) returns keys (B, H, {n}, D) = {tuple(want_k.shape)}, "
                f"got {tuple(k_all.shape)}"
            )
            assert torch.equal(k_all, want_k) and torch.equal(v_all, want_v), (
                f"update(layer {layer}) after {n} positions: every key and value so far, old then new, "
                "in position order (and each layer keeps its own)"
            )


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_generate_is_greedy_and_equals_recompute(ex, use_cache, seed):
    model = _gpt(seed=10 + seed)
    prompt = _ids(2, 5, seed=20 + seed)
    want = course_generate(model, prompt, 19, temperature=0, use_cache=False)  # fills the context: 24
    got = ex.generate(model, prompt, 19, use_cache=use_cache)
    assert got.shape == want.shape, f"expected (B, T + new) = {tuple(want.shape)}, got {tuple(got.shape)}"
    assert torch.equal(got[:, :5], prompt), "the output starts with the prompt"
    assert torch.equal(got, want), (
        f"use_cache={use_cache}: tokens differ from greedy decoding by full recompute "
        f"(first difference at position {int((got != want).any(0).nonzero()[0])})"
    )


def test_generate_with_cache_feeds_each_position_once(ex, harness):
    model = _gpt(seed=12)
    prompt = _ids(1, 6, seed=9)
    got = harness("generate_trace")(ex.generate, model, prompt, 10)
    assert torch.equal(got["out"], course_generate(model, prompt, 10, temperature=0, use_cache=False))
    calls = got["calls"]
    assert calls and all(has_cache for _, has_cache, _, _ in calls), "with use_cache every forward gets the cache"
    assert {which for *_, which in calls} == {0}, "one cache for the whole call"
    assert got["cache_type"] == "KVCache", f"use your own KVCache, not {got['cache_type']}"
    fed = [n for n, *_ in calls]
    assert fed[0] == 6 and set(fed[1:]) <= {1} and sum(fed) <= 6 + 10, (
        f"positions fed per step {fed}: the prompt once, then only the new token"
    )
    assert [pos for _, _, pos, _ in calls] == [sum(fed[:i]) for i in range(len(fed))], (
        "the cache's pos must be the number of positions fed so far: let the model advance it"
    )


def test_generate_refuses_what_does_not_fit(ex):
    model = _gpt(seed=13)
    with pytest.raises(ValueError):
        ex.generate(model, _ids(1, 20), 5)
