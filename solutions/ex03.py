"""Lesson 03 reference answers (same API as exercises/ex03.py)."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        hd = C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, hd).transpose(1, 2) for t in (q, k, v))
        att = q @ k.transpose(-2, -1) / math.sqrt(hd)  # (B, nh, T, T)
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        att = att.masked_fill(~mask, float("-inf"))
        y = F.softmax(att, dim=-1) @ v  # (B, nh, T, hd)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


def gpt_num_params(config, tied: bool = True) -> int:
    C, V, b = config.n_embd, config.vocab_size, int(config.bias)
    layernorm = C + C * b
    attn = (C * 3 * C + 3 * C * b) + (C * C + C * b)
    mlp = (C * 4 * C + 4 * C * b) + (4 * C * C + C * b)
    block = 2 * layernorm + attn + mlp
    total = V * C + config.block_size * C + config.n_layer * block + layernorm
    return total if tied else total + V * C


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    if p >= 1.0:  # keep all; float rounding could otherwise push the tail's cumsum to 1
        return logits.clone()
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = F.softmax(sorted_logits.float(), dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs
    remove_sorted = mass_before >= p
    remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def gpt_forward(model, idx: torch.Tensor, targets: torch.Tensor | None = None):
    B, T = idx.shape
    if T > model.config.block_size:
        raise ValueError(f"sequence of length {T} is longer than block_size={model.config.block_size}")
    t = model.transformer
    x = t.wte(idx) + t.wpe(torch.arange(T, device=idx.device))
    for block in t.h:
        x = block(x)
    logits = model.lm_head(t.ln_f(x))
    if targets is None:
        return logits, None
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
    return logits, loss


class KVCache:
    def __init__(self, n_layer: int):
        self.pos = 0
        self.k = [None] * n_layer
        self.v = [None] * n_layer

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        if self.k[layer] is not None:
            k = torch.cat([self.k[layer], k], dim=2)
            v = torch.cat([self.v[layer], v], dim=2)
        self.k[layer], self.v[layer] = k, v
        return k, v


@torch.no_grad()
def generate(model, idx: torch.Tensor, max_new_tokens: int, use_cache: bool = True) -> torch.Tensor:
    if idx.size(1) + max_new_tokens > model.config.block_size:
        raise ValueError(f"{idx.size(1)} + {max_new_tokens} tokens do not fit in block_size={model.config.block_size}")
    model.eval()
    cache = KVCache(model.config.n_layer) if use_cache else None
    new = idx  # what the model has not seen yet
    for _ in range(max_new_tokens):
        logits, _ = model(new, cache=cache) if use_cache else model(idx)
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        idx = torch.cat([idx, nxt], dim=1)
        new = nxt
    return idx
