"""GPT-2, from scratch, in the style of nanoGPT's model.py.

tokens (B, T) -> token + position embeddings -> n_layer x Block -> LayerNorm
-> lm_head -> logits (B, T, vocab). Each Block is pre-LayerNorm:

    x = x + attn(ln_1(x))     # tokens look at earlier tokens
    x = x + mlp(ln_2(x))      # each token thinks on its own

The running sum `x` is the *residual stream*: every sublayer reads it through a
LayerNorm and adds its answer back, so gradients flow straight from the loss
to the embeddings through the additions.

Submodule names match Hugging Face's GPT-2 (transformer.wte, h[i].attn.c_attn,
...) so real checkpoints load by name (see `course.pretrained`). The Llama
variant in `course.llama` reuses `CausalSelfAttention`, `Block` and the
generation code; `from course.model import Llama, LlamaConfig` works too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from course.generate import GenerationMixin, KVCache, sample_next, top_k_filter, top_p_filter

ATTN_IMPLS = ("sdpa", "manual")


@dataclass
class GPTConfig:
    block_size: int = 1024  # longest sequence (number of learned positions)
    vocab_size: int = 50257  # GPT-2's BPE: 50,000 merges + 256 bytes + <|endoftext|>
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # biases in Linear layers and LayerNorms, as GPT-2 has
    attn_impl: str = "sdpa"  # "sdpa": F.scaled_dot_product_attention; "manual": explicit masked softmax

    def __post_init__(self):
        check_attn_config(self, self.n_head)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> GPTConfig:
        """A named size ("gpt2" ... "gpt2-xl", or the CPU-sized "cpu-tiny", "cpu-small")."""
        if name not in GPT_PRESETS:
            raise ValueError(f"unknown GPT preset {name!r}; known presets: {', '.join(GPT_PRESETS)}")
        return replace(cls(**GPT_PRESETS[name]), **overrides)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


GPT_PRESETS: dict[str, dict] = {
    "gpt2": dict(n_layer=12, n_head=12, n_embd=768),  # 124M
    "gpt2-medium": dict(n_layer=24, n_head=16, n_embd=1024),  # 350M
    "gpt2-large": dict(n_layer=36, n_head=20, n_embd=1280),  # 774M
    "gpt2-xl": dict(n_layer=48, n_head=25, n_embd=1600),  # 1558M
    "cpu-tiny": dict(n_layer=2, n_head=2, n_embd=64, block_size=64),
    "cpu-small": dict(n_layer=4, n_head=4, n_embd=128, block_size=256),
}


def check_attn_config(config, n_head: int) -> None:
    """Errors for configs that cannot build (shared by GPTConfig and LlamaConfig)."""
    if config.attn_impl not in ATTN_IMPLS:
        raise ValueError(f"attn_impl must be one of {ATTN_IMPLS}, got {config.attn_impl!r}")
    if config.n_embd % n_head != 0:
        raise ValueError(f"n_embd ({config.n_embd}) must be divisible by n_head ({n_head})")
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {config.dropout}")


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (PyTorch's `nn.LayerNorm` before 2.1 had no bias=False)."""

    def __init__(self, ndim: int, bias: bool = True, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None
        self.eps = eps

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


def causal_mask(T: int, S: int, device=None) -> torch.Tensor:
    """(T, S) boolean mask: query i (the last T of S positions) may see keys 0..S-T+i.

    With no cache T == S and this is the lower triangle. With a KV cache the T
    new queries sit at the end of S positions, so the triangle shifts right.
    """
    return torch.ones(T, S, dtype=torch.bool, device=device).tril(diagonal=S - T)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with one fused Q/K/V projection.

    Each of n_head heads gets head_dim = n_embd / n_head channels, attends
    only to the current and earlier positions, and the heads' outputs are
    concatenated and mixed by c_proj. With n_kv_head < n_head (grouped-query
    attention, Llama) several query heads share one key/value head, which
    shrinks c_attn and the KV cache. `rope`, when given, rotates q and k by
    position (Llama); GPT-2 adds learned positions to the input instead.
    """

    def __init__(self, config, layer_idx: int = 0, n_kv_head: int | None = None, rope=None):
        super().__init__()
        self.n_head = config.n_head
        self.n_kv_head = n_kv_head or config.n_head
        if self.n_head % self.n_kv_head != 0:
            raise ValueError(f"n_head ({self.n_head}) must be a multiple of n_kv_head ({self.n_kv_head})")
        self.head_dim = config.n_embd // config.n_head
        self.layer_idx = layer_idx
        self.attn_impl = config.attn_impl
        self.dropout = config.dropout
        self.rope = rope
        qkv_dim = (self.n_head + 2 * self.n_kv_head) * self.head_dim
        self.c_attn = nn.Linear(config.n_embd, qkv_dim, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        B, T, C = x.shape
        hd, nh, nkv = self.head_dim, self.n_head, self.n_kv_head
        q, k, v = self.c_attn(x).split([nh * hd, nkv * hd, nkv * hd], dim=2)
        q = q.view(B, T, nh, hd).transpose(1, 2)  # (B, nh, T, hd)
        k = k.view(B, T, nkv, hd).transpose(1, 2)
        v = v.view(B, T, nkv, hd).transpose(1, 2)
        start = cache.pos if cache is not None else 0
        if self.rope is not None:
            q, k = self.rope(q, k, start)
        if cache is not None:
            k, v = cache.update(self.layer_idx, k, v)  # now all S = start + T positions
        if nkv != nh:  # each key/value head serves nh // nkv consecutive query heads
            k = k.repeat_interleave(nh // nkv, dim=1)
            v = v.repeat_interleave(nh // nkv, dim=1)
        y = attention(q, k, v, self.attn_impl, self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # concatenate the heads
        return self.resid_dropout(self.c_proj(y))


def attention(q, k, v, impl: str = "sdpa", dropout_p: float = 0.0) -> torch.Tensor:
    """softmax(q k^T / sqrt(hd), causal) v for q (B, H, T, hd) and k, v (B, H, S, hd), S >= T."""
    T, S = q.size(-2), k.size(-2)
    if impl == "sdpa":
        if T == S:  # the fused kernels know the plain causal case
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        if T == 1:  # one new token with a cache: it may see every key
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        mask = causal_mask(T, S, q.device)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))  # (B, H, T, S) scores
    att = att.masked_fill(~causal_mask(T, S, q.device), float("-inf"))  # no peeking ahead
    att = F.softmax(att, dim=-1)
    if dropout_p > 0:
        att = F.dropout(att, p=dropout_p)
    return att @ v


class MLP(nn.Module):
    """Position-wise feed-forward: widen 4x, GELU (tanh approximation, as GPT-2), project back."""

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x)).

    `norm` and `mlp` are injected so Llama reuses this class with RMSNorm and SwiGLU.
    """

    def __init__(self, config, attn: nn.Module, mlp: nn.Module, norm=None):
        super().__init__()
        norm = norm or (lambda: LayerNorm(config.n_embd, bias=config.bias))
        self.ln_1 = norm()
        self.attn = attn
        self.ln_2 = norm()
        self.mlp = mlp

    def forward(self, x, cache: KVCache | None = None):
        x = x + self.attn(self.ln_1(x), cache)
        x = x + self.mlp(self.ln_2(x))
        return x


class CausalLM(nn.Module, GenerationMixin):
    """What GPT and Llama share: the block stack, the loss, init, generation.

    Subclasses build `self.transformer` (wte, h, ln_f, optionally wpe and
    drop) and `self.lm_head`, and define `embed(idx, start)`.
    """

    config: GPTConfig

    def check_length(self, T: int, start: int = 0) -> None:
        if start + T > self.config.block_size:
            where = f" at position {start}" if start else ""
            raise ValueError(
                f"sequence of length {T}{where} is longer than the model's context "
                f"(block_size={self.config.block_size}); crop it to the last {self.config.block_size} tokens"
            )

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, *, cache: KVCache | None = None):
        """idx (B, T) token ids -> (logits (B, T, vocab), loss or None).

        `targets` (B, T) are the next tokens (idx shifted left by one); positions
        with target -1 are left out of the mean cross-entropy (padding).
        """
        if idx.dim() != 2:
            raise ValueError(f"idx must be (batch, time) token ids, got shape {tuple(idx.shape)}")
        B, T = idx.shape
        start = cache.pos if cache is not None else 0
        self.check_length(T, start)
        x = self.embed(idx, start)
        for block in self.transformer.h:
            x = block(x, cache)
        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)
        if cache is not None:
            cache.pos += T
        loss = None
        if targets is not None:
            if targets.shape != idx.shape:
                raise ValueError(f"targets shape {tuple(targets.shape)} must equal idx shape {tuple(idx.shape)}")
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    def init_weights(self, scale_residual: bool = True) -> None:
        """GPT-2's init: N(0, 0.02) for weights and embeddings, zero biases.

        The projections that write into the residual stream (attn.c_proj,
        mlp.c_proj / down_proj) get std 0.02 / sqrt(2 * n_layer): 2 * n_layer
        sublayers add into the stream, and scaling each keeps the sum's
        variance from growing with depth. `scale_residual=False` turns that off
        (the lesson measures the difference).
        """
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if scale_residual:
            std = 0.02 / math.sqrt(2 * self.config.n_layer)
            for name, p in self.named_parameters():
                if name.endswith(("c_proj.weight", "down_proj.weight")):
                    nn.init.normal_(p, mean=0.0, std=std)


class GPT(CausalLM):
    """GPT-2: learned positions, LayerNorm, GELU MLP, head tied to the token embedding."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList(
                    Block(config, CausalSelfAttention(config, layer_idx=i), MLP(config))
                    for i in range(config.n_layer)
                ),
                ln_f=LayerNorm(config.n_embd, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Weight tying: one matrix maps ids -> vectors and vectors -> logits.
        self.transformer.wte.weight = self.lm_head.weight
        self.init_weights()

    def embed(self, idx, start: int = 0):
        pos = torch.arange(start, start + idx.size(1), dtype=torch.long, device=idx.device)
        return self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))

    @classmethod
    def from_pretrained(cls, name_or_path: str, *, dtype: torch.dtype | None = None, device=None, **overrides) -> GPT:
        """GPT-2 weights from a Hugging Face id ("gpt2" ... "gpt2-xl") or a local HF folder.

        `overrides` change config fields that do not touch weights (dropout, attn_impl).
        """
        from course.pretrained import load_gpt2

        return load_gpt2(cls, name_or_path, dtype=dtype, device=device, **overrides)

    def save_pretrained(self, folder) -> None:
        """Write config.json + model.safetensors in Hugging Face's GPT-2 format."""
        from course.pretrained import save_gpt2

        save_gpt2(self, folder)


# ----------------------------------------------------------------------------- parameter counting


def count_params(model: nn.Module, *, count_tied_once: bool = True) -> int:
    """Number of parameters; a tensor shared by two modules (tying) counts once,
    or twice with `count_tied_once=False` (what an untied model would hold)."""
    if count_tied_once:
        return sum(p.numel() for p in model.parameters())
    return sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))


def param_breakdown(model: CausalLM) -> dict[str, int]:
    """Parameters by part, measured on the module: embeddings, per block, final norm, head.

    `lm_head` is 0 when it is tied to the token embedding; `total` counts
    every distinct parameter once, so the parts sum to it.
    """
    t = model.transformer
    n = lambda m: sum(p.numel() for p in m.parameters())
    tied = model.lm_head.weight is t.wte.weight
    parts = {
        "token_embedding": n(t.wte),
        "position_embedding": n(t.wpe) if "wpe" in t else 0,
        "per_block": n(t.h[0]),
        "blocks": n(t.h),
        "final_norm": n(t.ln_f),
        "lm_head": 0 if tied else n(model.lm_head),
    }
    parts["total"] = count_params(model)
    return parts


def gpt_param_counts(config: GPTConfig, tied: bool = True) -> dict[str, int]:
    """The same breakdown as `param_breakdown`, from the config alone (no model built)."""
    C, V, L, b = config.n_embd, config.vocab_size, config.n_layer, int(config.bias)
    ln = C * (1 + b)
    attn = C * 3 * C + 3 * C * b + C * C + C * b
    mlp = C * 4 * C + 4 * C * b + 4 * C * C + C * b
    per_block = 2 * ln + attn + mlp
    parts = {
        "token_embedding": V * C,
        "position_embedding": config.block_size * C,
        "per_block": per_block,
        "blocks": L * per_block,
        "final_norm": ln,
        "lm_head": 0 if tied else V * C,
    }
    parts["total"] = sum(v for k, v in parts.items() if k != "per_block")
    return parts


def kv_cache_bytes(config, seq_len: int, batch_size: int = 1, bytes_per_value: int = 2) -> int:
    """Memory of a full KV cache: keys and values, every layer, every KV head, every position."""
    n_kv = getattr(config, "n_kv_head", None) or config.n_head
    head_dim = config.n_embd // config.n_head
    return 2 * config.n_layer * n_kv * head_dim * seq_len * batch_size * bytes_per_value


def __getattr__(name):  # `from course.model import Llama, LlamaConfig` without an import cycle
    if name in ("Llama", "LlamaConfig"):
        import course.llama

        return getattr(course.llama, name)
    raise AttributeError(f"module 'course.model' has no attribute {name!r}")


__all__ = [
    "GPT",
    "GPTConfig",
    "GPT_PRESETS",
    "Block",
    "CausalLM",
    "CausalSelfAttention",
    "KVCache",
    "LayerNorm",
    "MLP",
    "attention",
    "causal_mask",
    "count_params",
    "gpt_param_counts",
    "kv_cache_bytes",
    "param_breakdown",
    "sample_next",
    "top_k_filter",
    "top_p_filter",
]
