"""Lesson 05 exercises: reference solutions (same API as exercises/ex05.py)."""

import contextlib

import torch
import torch.distributed as dist


def rank_batches(micro_batches, rank: int, world_size: int) -> list:
    """The micro-batches this rank runs in one optimizer step: rank-strided (see exercises/ex05.py)."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} must be in [0, {world_size})")
    items = list(micro_batches)
    if len(items) % world_size:
        raise ValueError(f"{len(items)} micro-batches cannot be shared equally by {world_size} ranks")
    return items[rank::world_size]


def sync_context(model, micro_step: int, n_micro: int):
    """no_sync() for all but the last micro-step; the last one all-reduces (see exercises/ex05.py)."""
    if not 0 <= micro_step < n_micro:
        raise ValueError(f"micro_step {micro_step} is not in [0, {n_micro})")
    if micro_step < n_micro - 1:
        return model.no_sync()
    return contextlib.nullcontext()


def all_reduce_mean(tensor: torch.Tensor, group=None) -> torch.Tensor:
    """Sum over the ranks, then divide by their number (see exercises/ex05.py)."""
    t = tensor.detach().clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
    return t / dist.get_world_size(group)
