"""GPT-2, from scratch, in the style of nanoGPT's model.py. Lesson 03 builds it.

tokens (B, T) -> token + position embeddings -> n_layer x Block -> LayerNorm
-> lm_head -> logits (B, T, vocab). Each Block is pre-LayerNorm:

    x = x + attn(ln_1(x))     # tokens look at earlier tokens
    x = x + mlp(ln_2(x))      # each token thinks on its own

The running sum `x` is the *residual stream*: every sublayer reads it through a
LayerNorm and adds its answer back, so gradients flow straight from the loss
to the embeddings through the additions.

Read it top to bottom: the config, attention, the MLP, the block, the model,
then parameter counting. Submodule names match Hugging Face's GPT-2
(transformer.wte, h[i].attn.c_attn, ...) so real checkpoints load by name
(`course.pretrained.load_gpt2`). Llama, with its own blocks, is in `course.llama`;
sampling and the KV cache are in `course.generate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from course.generate import KVCache, generate

ATTN_IMPLS = ("sdpa", "manual")
GELUS = ("tanh", "exact")


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
    gelu: str = "tanh"  # "tanh": GPT-2's approximation; "exact": the erf GELU (nanoGPT's), faster on CPUs

    def __post_init__(self):
        check_attn_config(self)
        if self.gelu not in GELUS:
            raise ValueError(f"gelu must be one of {GELUS}, got {self.gelu!r}")

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


def check_attn_config(config) -> None:
    """Errors for configs that cannot build (GPTConfig's and LlamaConfig's shared fields)."""
    if config.attn_impl not in ATTN_IMPLS:
        raise ValueError(f"attn_impl must be one of {ATTN_IMPLS}, got {config.attn_impl!r}")
    if config.n_embd % config.n_head != 0:
        raise ValueError(f"n_embd ({config.n_embd}) must be divisible by n_head ({config.n_head})")
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {config.dropout}")


# ----------------------------------------------------------------------------- attention


def causal_mask(T: int, S: int, device=None) -> torch.Tensor:
    """(T, S) boolean mask: query i (the last T of S positions) may see keys 0..S-T+i.

    With no cache T == S and this is the lower triangle. With a KV cache the T
    new queries sit at the end of S positions, so the triangle shifts right.
    """
    return torch.ones(T, S, dtype=torch.bool, device=device).tril(diagonal=S - T)


def attention(q, k, v, impl: str = "sdpa", dropout_p: float = 0.0) -> torch.Tensor:
    """softmax(q k^T / sqrt(hd), causal) v for q (B, H, T, hd) and k, v (B, H, S, hd), S >= T.

    "manual" spells the computation out; "sdpa" hands it to PyTorch's fused
    kernel, which gives the same result with less memory traffic.
    """
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


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with one fused Q/K/V projection.

    Each of n_head heads gets head_dim = n_embd / n_head channels, attends
    only to the current and earlier positions, and the heads' outputs are
    concatenated and mixed by c_proj. With a KV cache, this layer's keys and
    values of earlier positions come from the cache (slot `layer_idx`) instead
    of being recomputed.
    """

    def __init__(self, config: GPTConfig, layer_idx: int = 0):
        super().__init__()
        self.n_head = config.n_head
        self.layer_idx = layer_idx
        self.attn_impl = config.attn_impl
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        # (B, T, C) -> (B, n_head, T, head_dim): the heads become a batch dimension
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            k, v = cache.update(self.layer_idx, k, v)  # now all S = cache.pos + T positions
        y = attention(q, k, v, self.attn_impl, self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # concatenate the heads
        return self.resid_dropout(self.c_proj(y))


# ----------------------------------------------------------------------------- MLP and block


class MLP(nn.Module):
    """Position-wise feed-forward: widen 4x, GELU, project back.

    GPT-2 used GELU's tanh approximation (`gelu="tanh"`, needed for its weights); the exact
    erf form (`gelu="exact"`) differs by < 1e-3 and runs at about twice the speed in PyTorch's
    CPU kernels, so the CPU recipe trains with it, as nanoGPT does.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh" if config.gelu == "tanh" else "none")
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, config: GPTConfig, layer_idx: int = 0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, cache: KVCache | None = None):
        x = x + self.attn(self.ln_1(x), cache)
        x = x + self.mlp(self.ln_2(x))
        return x


# ----------------------------------------------------------------------------- the model


class GPT(nn.Module):
    """GPT-2: learned positions, LayerNorm, GELU MLP, head tied to the token embedding."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList(Block(config, layer_idx=i) for i in range(config.n_layer)),
                ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Weight tying: one matrix maps ids -> vectors and vectors -> logits.
        self.transformer.wte.weight = self.lm_head.weight
        self.init_weights()

    def init_weights(self, scale_residual: bool = True) -> None:
        """GPT-2's init: N(0, 0.02) weights and embeddings, zero biases, smaller residual
        projections (see `gpt2_init_`); `scale_residual=False` turns that last part off."""
        gpt2_init_(self, self.config.n_layer, scale_residual)

    def embed(self, idx, start: int = 0):
        """Token vectors plus the learned vectors of positions start..start+T-1."""
        pos = torch.arange(start, start + idx.size(1), dtype=torch.long, device=idx.device)
        return self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, *, cache: KVCache | None = None):
        """idx (B, T) token ids -> (logits (B, T, vocab), loss or None).

        `targets` (B, T) are the next tokens (idx shifted left by one); positions
        with target -1 are left out of the mean cross-entropy (padding). With a
        `cache`, idx holds only the new positions; the cache supplies the rest.
        """
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
        """Append `max_new_tokens` sampled tokens to idx (B, T); the options
        (temperature, top_k, top_p, seed, generator, use_cache) are those of
        `course.generate.generate`."""
        return generate(self, idx, max_new_tokens, **sampling)


def gpt2_init_(model: nn.Module, n_layer: int, scale_residual: bool = True) -> None:
    """GPT-2's init, in place: N(0, 0.02) for weights and embeddings, zero biases.

    The projections that write into the residual stream (attn.c_proj,
    mlp.c_proj, and Llama's down_proj) get std 0.02 / sqrt(2 * n_layer):
    2 * n_layer sublayers add into the stream, and scaling each keeps the
    sum's variance from growing with depth (lesson 03 measures the difference).
    """
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if scale_residual:
        std = 0.02 / math.sqrt(2 * n_layer)
        for name, p in model.named_parameters():
            if name.endswith(("c_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, mean=0.0, std=std)


def check_input(idx: torch.Tensor, start: int, block_size: int) -> None:
    """Clear errors for what the embedding would otherwise fail on obscurely."""
    if idx.dim() != 2:
        raise ValueError(f"idx must be (batch, time) token ids, got shape {tuple(idx.shape)}")
    T = idx.size(1)
    if start + T > block_size:
        where = f" at position {start}" if start else ""
        raise ValueError(
            f"sequence of length {T}{where} is longer than the model's context "
            f"(block_size={block_size}); crop it to the last {block_size} tokens"
        )


def lm_loss(logits: torch.Tensor, targets: torch.Tensor | None, idx: torch.Tensor) -> torch.Tensor | None:
    """Mean next-token cross-entropy in float32, skipping targets of -1; None without targets."""
    if targets is None:
        return None
    if targets.shape != idx.shape:
        raise ValueError(f"targets shape {tuple(targets.shape)} must equal idx shape {tuple(idx.shape)}")
    return F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=-1)


# ----------------------------------------------------------------------------- parameter counting


def count_params(model: nn.Module, *, count_tied_once: bool = True) -> int:
    """Number of parameters; a tensor shared by two modules (tying) counts once,
    or twice with `count_tied_once=False` (what an untied model would hold)."""
    if count_tied_once:
        return sum(p.numel() for p in model.parameters())
    return sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))


def param_breakdown(model: nn.Module) -> dict[str, int]:
    """Parameters by part, measured on the module (a GPT or a Llama): embeddings,
    per block, final norm, head.

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
    """Memory of a full KV cache: keys and values, every layer, every KV head, every position.

    Works for a GPTConfig and a LlamaConfig (whose `n_kv_head` < n_head shrinks it).
    """
    n_kv = getattr(config, "n_kv_head", None) or config.n_head
    head_dim = config.n_embd // config.n_head
    return 2 * config.n_layer * n_kv * head_dim * seq_len * batch_size * bytes_per_value


__all__ = [
    "GPT",
    "GPTConfig",
    "GPT_PRESETS",
    "Block",
    "CausalSelfAttention",
    "MLP",
    "attention",
    "causal_mask",
    "count_params",
    "gpt_param_counts",
    "gpt2_init_",
    "kv_cache_bytes",
    "param_breakdown",
]
