"""Lesson 05 exercises: the three small decisions every data-parallel training step makes.

Fill in each function, then run the checks from a notebook:

    import course; course.check("05")

or from a terminal: `python -m pytest tests/exercises/test_ex05.py --target exercises`.
"""

import contextlib  # noqa: F401 (for your answer)

import torch
import torch.distributed as dist  # noqa: F401 (for your answer)


def rank_batches(micro_batches, rank: int, world_size: int) -> list:
    """The micro-batches this rank runs in one optimizer step: rank-strided.

    A step has len(micro_batches) micro-batches, numbered 0, 1, 2, ... Rank r of
    W takes micro-batch r, then every W-th one after it, in order. Together the W
    ranks must run every micro-batch exactly once, and each rank the same number
    of them (every rank has to take part in every gradient all-reduce). E.g. 6
    micro-batches [a, b, c, d, e, f] over W=2 ranks: rank 0 runs [a, c, e].

    Return a list. Raise ValueError if the micro-batches cannot be shared
    equally among the ranks, or if rank is not one of 0 .. world_size - 1.
    `micro_batches` may be any sequence (a list, a range, ...).
    """
    raise NotImplementedError("rank_batches: which positions belong to rank r of W?")


def sync_context(model, micro_step: int, n_micro: int):
    """The context manager to run micro-step `micro_step` (0-based) of `n_micro` under.

    `model` is a DistributedDataParallel model. Its backward pass all-reduces the
    gradients across ranks, which is pure overhead until this rank's last
    micro-batch of the step: `model.no_sync()` is a context manager inside which
    backward only adds into `.grad` locally; the first backward outside it
    all-reduces everything accumulated so far. Return `model.no_sync()` when
    the sync should be skipped, otherwise `contextlib.nullcontext()`, so the
    gradients cross the network exactly once per optimizer step, after every
    micro-batch has been added in.

    Raise ValueError unless 0 <= micro_step < n_micro.
    """
    raise NotImplementedError("sync_context: which micro-step is the one that must synchronise?")


def all_reduce_mean(tensor: torch.Tensor, group=None) -> torch.Tensor:
    """The mean of a floating-point `tensor` over every rank of `group`, as a new tensor, on every rank.

    Each rank calls this with its own value (e.g. the loss of its micro-batches)
    and all get back the same result: what a log line should print. Use
    torch.distributed: `dist.all_reduce(t, op=..., group=group)` combines `t`
    across ranks *in place*, and `dist.get_world_size(group)` is the number of
    ranks. (Older gloo builds have no averaging op, so do not rely on one.)
    Leave the caller's `tensor` unchanged, and keep its dtype and shape.
    """
    raise NotImplementedError("all_reduce_mean: combine the ranks' values, then turn the total into a mean")

