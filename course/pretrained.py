"""Hugging Face checkpoints in and out of `course.model.GPT` and `course.llama.Llama`.

Lesson 03 loads OpenAI's GPT-2 with `load_gpt2("gpt2")`, writes a model with
`save_gpt2`, and the tests compare both models with `transformers` through
`load_gpt2` / `load_llama`. This module sits above the models: it imports
them, they know nothing of it.

A checkpoint is a folder with config.json and the weights (model.safetensors,
possibly sharded, or a pickled pytorch_model.bin, which we read with
`weights_only=True` so it cannot run code). A name that is not a folder is a
Hugging Face hub id, fetched with huggingface_hub into its usual cache. With no
network (or HF_HUB_OFFLINE=1) and nothing cached, that fails at once with
`WeightsUnavailableError` instead of waiting on timeouts.

Every tensor is checked before it is copied: a missing, unexpected or
wrong-shaped tensor is an error that names it. GPT-2 was written with a
"Conv1D" layer that stores Linear weights transposed (in, out); those four
matrices per block are transposed on the way in and out.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from huggingface_hub import snapshot_download
from safetensors.torch import load_file, save

from course import hub
from course.checkpoint import CheckpointError
from course.llama import Llama, LlamaConfig
from course.model import GPT, GPTConfig
from course.utils import atomic_write_bytes, atomic_write_text

WEIGHT_PATTERNS = ["config.json", "*.safetensors", "model.safetensors.index.json"]
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
IGNORED_GPT2 = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers in old HF checkpoints
SHAPE_FREE_OVERRIDES = ("dropout", "attn_impl")


class WeightsUnavailableError(RuntimeError):
    """The weights are neither on disk nor downloadable right now."""


# ----------------------------------------------------------------------------- finding the files


def resolve_checkpoint(name_or_path, patterns=WEIGHT_PATTERNS) -> Path:
    """A local folder as is; otherwise a hub id, from the cache or downloaded."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    name = str(name_or_path)
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise FileNotFoundError(f"{name!r} is not a folder; expected a Hugging Face format folder or a hub id like 'gpt2'")
    try:  # already cached? never touches the network
        folder = Path(snapshot_download(name, allow_patterns=patterns, local_files_only=True))
        if any(folder.glob("*.safetensors")) or any(folder.glob("*.bin")):
            return folder
    except Exception:  # noqa: BLE001 - any cache miss means "go online"
        pass
    how = hub.unreachable_reason(variables=("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    if how:
        raise WeightsUnavailableError(
            f"weights for {name!r} are not in the local Hugging Face cache and the hub cannot be used: {how}. "
            "Download them once while online, or pass a local folder in Hugging Face format "
            "(config.json + model.safetensors)."
        )
    folder = Path(snapshot_download(name, allow_patterns=patterns))
    if not any(folder.glob("*.safetensors")):  # old repos: only a pickled .bin
        folder = Path(snapshot_download(name, allow_patterns=["config.json", "pytorch_model*.bin*"]))
    return folder


def read_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} has no config.json; is it a Hugging Face format checkpoint?")
    return json.loads(path.read_text(encoding="utf-8"))


def read_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint folder: (sharded) safetensors, else (sharded) pytorch_model.bin."""
    def shards(index_name):
        index = json.loads((folder / index_name).read_text(encoding="utf-8"))
        return sorted(set(index["weight_map"].values()))

    if (folder / "model.safetensors").is_file():
        return load_file(folder / "model.safetensors")
    if (folder / "model.safetensors.index.json").is_file():
        return {k: v for f in shards("model.safetensors.index.json") for k, v in load_file(folder / f).items()}
    load_bin = lambda f: torch.load(folder / f, map_location="cpu", weights_only=True)
    if (folder / "pytorch_model.bin").is_file():
        return load_bin("pytorch_model.bin")
    if (folder / "pytorch_model.bin.index.json").is_file():
        return {k: v for f in shards("pytorch_model.bin.index.json") for k, v in load_bin(f).items()}
    found = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
    raise FileNotFoundError(f"no weights in {folder}: expected model.safetensors or pytorch_model.bin, found {found}")


# ----------------------------------------------------------------------------- checked copying


def copy_checked(model, plan: dict[str, torch.Tensor], source: str, unused: list[str]) -> None:
    """Copy plan[name] into each parameter/buffer `name` of `model`, after checking that
    every tensor is present with its expected shape and nothing is left over."""
    targets = model.state_dict()
    tied = {"lm_head.weight"} if model.lm_head.weight is model.transformer.wte.weight else set()
    missing = [k for k in targets if k not in plan and k not in tied]
    if missing:
        raise CheckpointError(f"{source}: no tensor for {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    if unused:
        raise CheckpointError(f"{source}: unexpected tensors {unused[:5]}" + (" ..." if len(unused) > 5 else ""))
    with torch.no_grad():
        for name, tensor in plan.items():
            targets[name].copy_(tensor)


def expect_shape(tensor: torch.Tensor, shape: tuple, name: str, source: str, note: str = "") -> torch.Tensor:
    if tuple(tensor.shape) != tuple(shape):
        raise CheckpointError(
            f"{source}: tensor {name!r} has shape {tuple(tensor.shape)}{note}, but the model expects {tuple(shape)}"
        )
    return tensor


def _finish(model, dtype, device):
    if dtype is not None:
        model.to(dtype=dtype)
    if device is not None:
        model.to(device)
    return model.eval()


def _check_overrides(overrides: dict) -> None:
    bad = set(overrides) - set(SHAPE_FREE_OVERRIDES)
    if bad:
        raise ValueError(f"cannot override {sorted(bad)} when loading weights; allowed: {SHAPE_FREE_OVERRIDES}")


# ----------------------------------------------------------------------------- GPT-2


def gpt2_config_from_hf(hf: dict, source: str, **overrides) -> GPTConfig:
    if hf.get("model_type", "gpt2") != "gpt2":
        raise CheckpointError(f"{source}: config.json has model_type {hf['model_type']!r}, not 'gpt2'")
    unsupported = {
        "activation_function": ("gelu_new", hf.get("activation_function", "gelu_new")),
        "layer_norm_epsilon": (1e-5, hf.get("layer_norm_epsilon", 1e-5)),
        "n_inner": (None, None if hf.get("n_inner") in (None, 4 * hf["n_embd"]) else hf["n_inner"]),
        "scale_attn_weights": (True, hf.get("scale_attn_weights", True)),
        "scale_attn_by_inverse_layer_idx": (False, hf.get("scale_attn_by_inverse_layer_idx", False)),
        "reorder_and_upcast_attn": (False, hf.get("reorder_and_upcast_attn", False)),
        "tie_word_embeddings": (True, hf.get("tie_word_embeddings", True)),
    }
    for key, (want, got) in unsupported.items():
        if got != want:
            raise CheckpointError(f"{source}: config.json sets {key}={got!r}; this GPT supports only {want!r}")
    _check_overrides(overrides)
    return GPTConfig(
        block_size=hf["n_positions"], vocab_size=hf["vocab_size"], n_layer=hf["n_layer"],
        n_head=hf["n_head"], n_embd=hf["n_embd"], bias=True, **overrides,
    )


def load_gpt2(name_or_path, *, dtype: torch.dtype | None = None, device=None, **overrides) -> GPT:
    """GPT-2 weights from a Hugging Face id ("gpt2" ... "gpt2-xl") or a local HF folder.

    `overrides` change config fields that do not touch weights (dropout, attn_impl).
    The model comes back in eval mode, cast to `dtype` and moved to `device` if given.
    """
    folder = resolve_checkpoint(name_or_path)
    source = f"checkpoint {str(name_or_path)!r}"
    config = gpt2_config_from_hf(read_config(folder), source, **overrides)
    model = GPT(config)
    sd = read_state_dict(folder)
    # HF's own gpt2 repos store GPT2Model keys ("h.0...."), save_pretrained adds "transformer."
    sd = {k.removeprefix("transformer."): v for k, v in sd.items() if not k.endswith(IGNORED_GPT2)}
    sd.pop("lm_head.weight", None)  # tied to wte: the same matrix
    plan, targets = {}, model.state_dict()
    for name, target in targets.items():
        key = name.removeprefix("transformer.")
        if name == "lm_head.weight" or key not in sd:
            continue
        t, note = sd.pop(key), ""
        if key.endswith(CONV1D):
            t, note = t.t(), " after transposing GPT-2's Conv1D layout"
        plan[name] = expect_shape(t, target.shape, key, source, note)
    copy_checked(model, plan, source, unused=sorted(sd))
    return _finish(model, dtype, device)


def save_gpt2(model: GPT, folder) -> None:
    """config.json + model.safetensors that transformers' GPT2LMHeadModel loads."""
    c = model.config
    if not c.bias:
        raise ValueError("Hugging Face's GPT-2 always has biases; this model was built with bias=False")
    folder = Path(folder)
    hf = dict(
        model_type="gpt2", architectures=["GPT2LMHeadModel"], vocab_size=c.vocab_size, n_positions=c.block_size,
        n_embd=c.n_embd, n_layer=c.n_layer, n_head=c.n_head, n_inner=None, activation_function="gelu_new",
        layer_norm_epsilon=1e-5, resid_pdrop=c.dropout, embd_pdrop=c.dropout, attn_pdrop=c.dropout,
        tie_word_embeddings=True,
    )
    if c.vocab_size > 50256:  # GPT-2's <|endoftext|>
        hf.update(bos_token_id=50256, eos_token_id=50256)
    tensors = {}
    for name, t in model.state_dict().items():
        if name == "lm_head.weight":
            continue
        t = t.detach().cpu()
        tensors[name] = (t.t() if name.endswith(CONV1D) else t).contiguous()
    atomic_write_bytes(folder / "model.safetensors", save(tensors, metadata={"format": "pt"}))
    atomic_write_text(folder / "config.json", json.dumps(hf, indent=2) + "\n")


# ----------------------------------------------------------------------------- Llama


def llama_config_from_hf(hf: dict, source: str, **overrides) -> LlamaConfig:
    if hf.get("model_type", "llama") != "llama":
        raise CheckpointError(f"{source}: config.json has model_type {hf['model_type']!r}, not 'llama'")
    n_head = hf["num_attention_heads"]
    for key, want in (("attention_bias", False), ("mlp_bias", False), ("hidden_act", "silu")):
        if hf.get(key, want) != want:
            raise CheckpointError(f"{source}: config.json sets {key}={hf[key]!r}; this Llama supports only {want!r}")
    if hf.get("head_dim") not in (None, hf["hidden_size"] // n_head):
        raise CheckpointError(f"{source}: head_dim={hf['head_dim']} differs from hidden_size/num_attention_heads")
    rope = dict(hf.get("rope_parameters") or hf.get("rope_scaling") or {})  # transformers 5 / 4 layouts
    theta = rope.get("rope_theta", hf.get("rope_theta", 10000.0))
    kind = rope.get("rope_type", rope.get("type", "default"))
    if kind not in ("default", "llama3"):
        raise CheckpointError(f"{source}: RoPE type {kind!r} is not supported (only default and llama3)")
    scaling = None
    if kind == "llama3":
        scaling = {k: rope[k] for k in ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")}
    _check_overrides(overrides)
    return LlamaConfig(
        block_size=hf["max_position_embeddings"], vocab_size=hf["vocab_size"], n_layer=hf["num_hidden_layers"],
        n_head=n_head, n_kv_head=hf.get("num_key_value_heads") or n_head, n_embd=hf["hidden_size"],
        ffn_hidden=hf["intermediate_size"], norm_eps=hf.get("rms_norm_eps", 1e-6), rope_theta=theta,
        rope_scaling=scaling, tie_embeddings=hf.get("tie_word_embeddings", False), **overrides,
    )


def load_llama(name_or_path, *, dtype: torch.dtype | None = None, device=None, **overrides) -> Llama:
    """Weights from a local Hugging Face Llama folder (config.json + safetensors or .bin),
    or a hub id when online and you have access to it. As `load_gpt2` otherwise."""
    folder = resolve_checkpoint(name_or_path)
    source = f"checkpoint {str(name_or_path)!r}"
    config = llama_config_from_hf(read_config(folder), source, **overrides)
    model = Llama(config)
    sd = read_state_dict(folder)
    if config.tie_embeddings:
        sd.pop("lm_head.weight", None)
    C, hd = config.n_embd, config.n_embd // config.n_head
    take = lambda key, shape: expect_shape(sd.pop(key) if key in sd else _missing(source, key), shape, key, source)
    plan = {
        "transformer.wte.weight": take("model.embed_tokens.weight", (config.vocab_size, C)),
        "transformer.ln_f.weight": take("model.norm.weight", (C,)),
    }
    if not config.tie_embeddings:
        plan["lm_head.weight"] = take("lm_head.weight", (config.vocab_size, C))
    for i in range(config.n_layer):
        src, dst = f"model.layers.{i}.", f"transformer.h.{i}."
        q = take(src + "self_attn.q_proj.weight", (config.n_head * hd, C))
        k = take(src + "self_attn.k_proj.weight", (config.n_kv_head * hd, C))
        v = take(src + "self_attn.v_proj.weight", (config.n_kv_head * hd, C))
        plan[dst + "attn.c_attn.weight"] = torch.cat([q, k, v], dim=0)  # fused, as in GPT
        plan[dst + "attn.c_proj.weight"] = take(src + "self_attn.o_proj.weight", (C, C))
        plan[dst + "ln_1.weight"] = take(src + "input_layernorm.weight", (C,))
        plan[dst + "ln_2.weight"] = take(src + "post_attention_layernorm.weight", (C,))
        for proj, shape in (("gate_proj", (config.ffn_hidden, C)), ("up_proj", (config.ffn_hidden, C)), ("down_proj", (C, config.ffn_hidden))):
            plan[dst + f"mlp.{proj}.weight"] = take(src + f"mlp.{proj}.weight", shape)
    unused = sorted(k for k in sd if not k.endswith("rotary_emb.inv_freq"))
    copy_checked(model, plan, source, unused=unused)
    return _finish(model, dtype, device)


def _missing(source: str, key: str):
    raise CheckpointError(f"{source}: no tensor {key!r} in the checkpoint")
