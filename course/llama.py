"""Llama 3 as a set of deltas on GPT-2 (the changes nano-llama31 makes to nanoGPT).

Lesson 03 (section 11) compares it with GPT-2; `course.train` trains it as it
trains GPT. Same skeleton — embeddings, n_layer pre-norm blocks, final norm, head — with:

1. RMSNorm instead of LayerNorm: divide by the root-mean-square only, no mean
   subtraction and no bias.
2. RoPE instead of learned positions: nothing is added to the input; q and k
   are rotated by an angle proportional to their position, so q.k depends on
   the *distance* between tokens. Llama 3.1 rescales the low frequencies to
   stretch an 8k-token training context to 128k ("llama3" RoPE scaling).
3. SwiGLU instead of GELU MLP: down(silu(gate(x)) * up(x)).
4. Grouped-query attention: n_kv_head < n_head key/value heads, shared by
   groups of query heads. Fewer K/V weights, and a KV cache n_head/n_kv_head
   times smaller.
5. No biases anywhere, and a separate (untied) output head.

RoPE here rotates the two *halves* of each head (Hugging Face's layout), so
Hugging Face checkpoints load without permuting q/k weights; Meta's original
checkpoints pair adjacent channels instead and need that permutation
(`course.pretrained.load_llama` reads Hugging Face folders).

The blocks are written out here rather than shared with `course.model`, so
this file reads on its own; what it does share is the forward contract —
`forward(idx, targets=None, *, cache=None) -> (logits, loss)`, `generate` —
so the trainer, the commands and `course.generate` treat both models alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from course.generate import KVCache, generate
from course.model import attention, check_attn_config, check_input, gpt2_init_, lm_loss


@dataclass
class LlamaConfig:
    block_size: int = 2048  # longest sequence (RoPE has no table, but the cache and tests use it)
    vocab_size: int = 50257
    n_layer: int = 12
    n_head: int = 12
    n_kv_head: int = 4  # grouped-query attention: n_head // n_kv_head query heads per K/V head
    n_embd: int = 768
    ffn_hidden: int | None = None  # SwiGLU width; None: 8/3 * n_embd rounded up to a multiple of 64
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    rope_scaling: dict | None = None  # Llama 3.1: factor, low_freq_factor, high_freq_factor, original_max_position_embeddings
    tie_embeddings: bool = False
    dropout: float = 0.0
    bias: bool = False
    attn_impl: str = "sdpa"

    def __post_init__(self):
        check_attn_config(self)
        if self.n_kv_head < 1 or self.n_head % self.n_kv_head:
            raise ValueError(f"n_head ({self.n_head}) must be a multiple of n_kv_head ({self.n_kv_head})")
        if (self.n_embd // self.n_head) % 2:
            raise ValueError(f"RoPE needs an even head dimension, got n_embd/n_head = {self.n_embd // self.n_head}")
        if self.ffn_hidden is None:
            self.ffn_hidden = 64 * math.ceil(8 * self.n_embd / 3 / 64)
        if self.rope_scaling is not None:
            missing = {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"} - set(
                self.rope_scaling
            )
            if missing:
                raise ValueError(f"rope_scaling is missing {sorted(missing)}")

    @classmethod
    def from_preset(cls, name: str, **overrides) -> LlamaConfig:
        if name not in LLAMA_PRESETS:
            raise ValueError(f"unknown Llama preset {name!r}; known presets: {', '.join(LLAMA_PRESETS)}")
        return replace(cls(**LLAMA_PRESETS[name]), **overrides)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


LLAMA31_SCALING = dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=8192)
_LLAMA3 = dict(vocab_size=128256, block_size=131072, norm_eps=1e-5, rope_theta=500000.0)
LLAMA_PRESETS: dict[str, dict] = {
    "llama3.1-8b": dict(_LLAMA3, n_layer=32, n_head=32, n_kv_head=8, n_embd=4096, ffn_hidden=14336, rope_scaling=LLAMA31_SCALING),
    "llama3.2-1b": dict(
        _LLAMA3, n_layer=16, n_head=32, n_kv_head=8, n_embd=2048, ffn_hidden=8192,
        rope_scaling=dict(LLAMA31_SCALING, factor=32.0), tie_embeddings=True,
    ),
    "cpu-tiny": dict(n_layer=2, n_head=4, n_kv_head=2, n_embd=64, block_size=64),
    "cpu-small": dict(n_layer=4, n_head=4, n_kv_head=2, n_embd=128, block_size=256),
}


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight, computed in float32 like the reference code."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


def rope_inv_freq(head_dim: int, theta: float, scaling: dict | None = None) -> torch.Tensor:
    """The rotation speed of each channel pair: theta^(-2i/head_dim), float32.

    With Llama 3.1 `scaling`, pairs whose wavelength is longer than the
    original context are slowed by `factor`, short wavelengths are kept, and
    the band in between is blended smoothly.
    """
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    if scaling is None:
        return inv_freq
    factor, lo, hi = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_len = scaling["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > old_len / lo, inv_freq / factor, inv_freq)
    smooth = (old_len / wavelen - lo) / (hi - lo)
    blended = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= old_len / hi) & (wavelen <= old_len / lo)
    return torch.where(medium, blended, scaled)


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class RotaryEmbedding(nn.Module):
    """Rotates q and k (B, H, T, hd) by their positions start..start+T-1.

    One instance is shared by every layer; the cos/sin of the last call are
    kept, so a forward computes them once, not once per layer.
    """

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.inv_freq = rope_inv_freq(config.n_embd // config.n_head, config.rope_theta, config.rope_scaling)
        self._memo = None  # not a buffer: stays float32 when the model is cast to bf16

    def cos_sin(self, start: int, T: int, device, dtype):
        key = (start, T, str(device), dtype)
        if self._memo is None or self._memo[0] != key:
            pos = torch.arange(start, start + T, device=device, dtype=torch.float32)
            freqs = torch.outer(pos, self.inv_freq.to(device))
            emb = torch.cat((freqs, freqs), dim=-1)  # (T, hd): each pair's angle, for both halves
            self._memo = (key, emb.cos().to(dtype), emb.sin().to(dtype))
        return self._memo[1], self._memo[2]

    def forward(self, q, k, start: int = 0):
        cos, sin = self.cos_sin(start, q.size(-2), q.device, q.dtype)
        return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


class SwiGLU(nn.Module):
    """down(silu(gate(x)) * up(x)): a gated MLP; the gate decides what passes."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.gate_proj = nn.Linear(config.n_embd, config.ffn_hidden, bias=config.bias)
        self.up_proj = nn.Linear(config.n_embd, config.ffn_hidden, bias=config.bias)
        self.down_proj = nn.Linear(config.ffn_hidden, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x)))


class GroupedQueryAttention(nn.Module):
    """Causal self-attention with n_kv_head <= n_head key/value heads and RoPE.

    One fused projection c_attn makes n_head query heads and n_kv_head key and
    value heads; each K/V head serves n_head // n_kv_head consecutive query
    heads. q and k are rotated by position (`rope`, shared by every layer)
    before the keys go into the cache, so cached keys already carry their
    positions.
    """

    def __init__(self, config: LlamaConfig, rope: RotaryEmbedding, layer_idx: int = 0):
        super().__init__()
        self.n_head, self.n_kv_head = config.n_head, config.n_kv_head
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
        k = k.view(B, T, nkv, hd).transpose(1, 2)  # (B, nkv, T, hd)
        v = v.view(B, T, nkv, hd).transpose(1, 2)
        q, k = self.rope(q, k, cache.pos if cache is not None else 0)
        if cache is not None:
            k, v = cache.update(self.layer_idx, k, v)  # the cache holds nkv heads, not nh
        if nkv != nh:
            k = k.repeat_interleave(nh // nkv, dim=1)
            v = v.repeat_interleave(nh // nkv, dim=1)
        y = attention(q, k, v, self.attn_impl, self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class Block(nn.Module):
    """Pre-norm block, as GPT-2's, with RMSNorm, grouped-query attention and SwiGLU."""

    def __init__(self, config: LlamaConfig, rope: RotaryEmbedding, layer_idx: int = 0):
        super().__init__()
        self.ln_1 = RMSNorm(config.n_embd, config.norm_eps)
        self.attn = GroupedQueryAttention(config, rope, layer_idx)
        self.ln_2 = RMSNorm(config.n_embd, config.norm_eps)
        self.mlp = SwiGLU(config)

    def forward(self, x, cache: KVCache | None = None):
        x = x + self.attn(self.ln_1(x), cache)
        x = x + self.mlp(self.ln_2(x))
        return x


class Llama(nn.Module):
    """Llama 3: GPT's block stack with RMSNorm, RoPE, SwiGLU, GQA and an untied head."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.config = config
        rope = RotaryEmbedding(config)  # no weights: one instance serves every layer
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList(Block(config, rope, layer_idx=i) for i in range(config.n_layer)),
                ln_f=RMSNorm(config.n_embd, config.norm_eps),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.transformer.wte.weight = self.lm_head.weight
        self.init_weights()

    def init_weights(self, scale_residual: bool = True) -> None:
        """GPT-2's init (`course.model.gpt2_init_`), so the two models start alike."""
        gpt2_init_(self, self.config.n_layer, scale_residual)

    def embed(self, idx, start: int = 0):
        return self.transformer.drop(self.transformer.wte(idx))  # positions enter through RoPE

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, *, cache: KVCache | None = None):
        """idx (B, T) -> (logits (B, T, vocab), loss or None): the contract of `GPT.forward`."""
        start = cache.pos if cache is not None else 0
        check_input(idx, start, self.config.block_size)
        x = self.embed(idx, start)
        for block in self.transformer.h:
            x = block(x, cache)
        logits = self.lm_head(self.transformer.ln_f(x))
        if cache is not None:
            cache.pos += idx.size(1)
        return logits, lm_loss(logits, targets, idx)

    def generate(self, idx: torch.Tensor, max_new_tokens: int, **sampling) -> torch.Tensor:
        """As `GPT.generate`: see `course.generate.generate` for the options."""
        return generate(self, idx, max_new_tokens, **sampling)
