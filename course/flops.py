"""Counting the work of a training step: FLOPs per token and MFU.

Used by lesson 04 (the speedup ladder reports MFU for every rung) and by the
trainer, which reports MFU when it is told the hardware's peak. MFU (model
FLOPs utilization, PaLM appendix B) divides the FLOPs the model *needs* per
second by what the hardware *could* do; recomputation, padding or a slow
kernel lower it, so it measures how well the machine is used, whatever tricks
the run plays.
"""

from __future__ import annotations

import torch.nn as nn


def flops_per_token(n_params: int, n_layer: int, n_embd: int, block_size: int) -> int:
    """Training FLOPs per token: 6N for the matmuls (2 forward + 4 backward per
    parameter) plus 12·L·d·T for attention's scores and weighted sums (PaLM, appendix B).

    Pass N without the position embedding (a lookup, not a matmul), as nanoGPT does.
    The attention term counts the full T x T score matrix (what a dense kernel
    computes); the causal mask makes half of it wasted work.
    """
    return 6 * n_params + 12 * n_layer * n_embd * block_size


def mfu(tokens_per_sec: float, flops_per_token: float, peak_flops: float) -> float:
    """Model FLOPs utilization: achieved model FLOPs per second / the hardware's peak."""
    if peak_flops <= 0:
        raise ValueError("peak_flops must be positive")
    return tokens_per_sec * flops_per_token / peak_flops


def matmul_params(model: nn.Module) -> int:
    """Parameters that take part in matmuls: all, minus embeddings used only as lookups.

    A learned position embedding (GPT-2's wpe) and an untied token embedding
    (Llama's wte) are read by index, not multiplied; a token embedding tied to
    the output head (GPT-2) is that head's matmul weight, so it counts, once.
    """
    params = {id(p): p for p in model.parameters()}  # parameters() yields a tied tensor once
    linear = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    lookups = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)} - linear
    return sum(p.numel() for i, p in params.items() if i not in lookups)
