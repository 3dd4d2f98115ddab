"""The optimizer and its schedule: AdamW with decoupled weight decay, warmup + cosine.

Used by lessons 03 and 04 (through the trainer, and directly by the speedup
ladder's fused-AdamW rung). Two choices from GPT-2 / nanoGPT live here:
which parameters are decayed (`param_groups`), and how the learning rate
moves over a run (`lr_at`). The rate is a pure function of the step number,
so a resumed run sets exactly the rate the uninterrupted run would have.
"""

from __future__ import annotations

import inspect
import math

import torch
import torch.nn as nn

from course.utils import device_type


def lr_at(step: int, *, max_lr: float, min_lr: float, warmup_steps: int, max_steps: int) -> float:
    """Learning rate at `step` (0-based): linear warmup, then cosine decay to `min_lr`.

    Warmup: step s < warmup_steps gets max_lr * (s + 1) / warmup_steps, so the
    first step already moves and step warmup_steps - 1 reaches max_lr. Then the
    rate follows half a cosine from max_lr down to min_lr at `max_steps`, and stays
    at min_lr after. Large early steps on a random network are what warmup avoids;
    the slow cosine tail lets the model settle into a minimum.
    """
    if warmup_steps < 0 or max_steps < 1:
        raise ValueError(f"need warmup_steps >= 0 and max_steps >= 1, got {warmup_steps}, {max_steps}")
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= max_steps:
        return min_lr
    if max_steps <= warmup_steps:
        return max_lr
    ratio = (step - warmup_steps) / (max_steps - warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (max_lr - min_lr)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: decay for >= 2-D tensors (matmul weights, embeddings), none for the rest.

    Weight decay pulls weights toward zero to keep them small; doing that to
    biases and LayerNorm gains (1-D) only fights their job of shifting and
    scaling, so they are left out, as in GPT-2 / nanoGPT. Tied tensors appear once.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def fused_adamw_available(device) -> bool:
    """Whether torch's fused (single-kernel) AdamW runs on this device type."""
    if "fused" not in inspect.signature(torch.optim.AdamW).parameters:
        return False
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

        supported = _get_fused_kernels_supported_devices()
    except ImportError:  # older torch: fused AdamW was CUDA-only
        supported = ["cuda"]
    return device_type(device) in supported


def make_optimizer(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.95),
    eps: float = 1e-8,
    fused: bool | None = None,
) -> torch.optim.AdamW:
    """AdamW with weight decay on >= 2-D parameters only (see `param_groups`).

    fused=None uses the fused implementation when this torch has it for the
    model's device (one kernel updates every tensor, instead of a few kernels per
    tensor); fused=True insists, fused=False uses the multi-tensor `foreach` path.
    """
    device = next(model.parameters()).device
    if fused is None:
        fused = fused_adamw_available(device)
    elif fused and not fused_adamw_available(device):
        raise ValueError(f"fused AdamW is not available for {device} in torch {torch.__version__}")
    kwargs = {"fused": True} if fused else {}
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=betas, eps=eps, **kwargs)


def clip_and_step(optimizer: torch.optim.Optimizer, params, grad_clip: float | None, *, scaler=None) -> float:
    """Clip the global gradient norm to `grad_clip` (None or 0: only measure it), step, free the gradients.

    Returns the norm before clipping. With fp16's `scaler` (torch.amp.GradScaler)
    the gradients are divided by the scale first, so the norm and the clip are
    those of the true gradients; `scaler.step` then skips the update when a
    gradient overflowed to inf/nan, and `scaler.update` lowers the scale after
    such a step (and raises it again after a run of good ones).
    """
    params = list(params)
    if scaler is not None:
        scaler.unscale_(optimizer)
    # with no clipping, an infinite max_norm just measures the norm
    norm = float(torch.nn.utils.clip_grad_norm_(params, grad_clip or float("inf")))
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return norm
