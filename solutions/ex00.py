"""Lesson 00 reference solutions (same API as exercises/ex00.py)."""

import torch


def softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    shifted = logits - logits.amax(dim=dim, keepdim=True)
    e = shifted.exp()
    return e / e.sum(dim=dim, keepdim=True)


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    # model.parameters() yields a shared Parameter once, but two Parameters over one
    # memory twice: count each (address, size) once.
    seen, total = set(), 0
    for p in model.parameters():
        if trainable_only and not p.requires_grad:
            continue
        where = (p.data_ptr(), p.numel())
        if where not in seen:
            seen.add(where)
            total += p.numel()
    return total
