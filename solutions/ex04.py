"""Lesson 04 reference solutions (same API as exercises/ex04.py)."""

import contextlib
import math

import torch


def flops_per_token(n_params: int, n_layer: int, n_embd: int, seq_len: int) -> int:
    # 2 FLOPs per weight forward, 4 backward; attention's q k^T and (scores) v: 2 * 2 * T * d per layer forward
    return 6 * n_params + 12 * n_layer * n_embd * seq_len


def mfu(tokens_per_sec: float, flops_per_token: float, peak_flops: float) -> float:
    if peak_flops <= 0:
        raise ValueError(f"peak_flops must be positive, got {peak_flops}")
    return tokens_per_sec * flops_per_token / peak_flops


def grad_accum_steps(total_batch: int, micro_batch: int, seq_len: int) -> int:
    micro = micro_batch * seq_len
    if total_batch % micro != 0:
        raise ValueError(f"total_batch {total_batch} is not a multiple of micro_batch * seq_len = {micro}")
    return total_batch // micro


def train_step(model, optimizer, micro_batches, *, amp_dtype=None, max_norm=1.0):
    micro_batches = list(micro_batches)
    counts = [int((y != -1).sum()) for _, y in micro_batches]
    total = sum(counts)
    if total == 0:
        raise ValueError("no targets to learn from: every target of the step is -1")
    optimizer.zero_grad(set_to_none=True)
    loss_sum = 0.0
    for (x, y), n in zip(micro_batches, counts):
        if n == 0:
            continue  # nothing to learn here (and its mean loss would be nan)
        amp = (torch.autocast(device_type=x.device.type, dtype=amp_dtype) if amp_dtype is not None
               else contextlib.nullcontext())
        with amp:
            _, loss = model(x, y)
        scaled = loss * (n / total)  # the big batch's mean = sum over micro-batches of (n_i / N) * mean_i
        scaled.backward()
        loss_sum += scaled.item()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss_sum, float(norm)


def lr_at(step: int, max_lr: float, min_lr: float, warmup_steps: int, max_steps: int) -> float:
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= max_steps:
        return min_lr
    ratio = (step - warmup_steps) / (max_steps - warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (max_lr - min_lr)
