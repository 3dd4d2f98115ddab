"""Mixed precision: which autocast dtype a run uses, and the context that applies it.

Used by lesson 04 (the speedup ladder's bf16 rung) and by every training and
evaluation loop (`course.train`, `course.evaluate`). bf16 autocast runs the
matmuls in bfloat16 while the weights, the optimizer and the loss stay in
fp32: half the memory traffic and the tensor cores of a GPU, with fp32's
range, so no loss scaling is needed (fp16 would need a grad scaler).
"""

from __future__ import annotations

import contextlib

import torch

from course.utils import device_type


def autocast_dtype(device, dtype: str = "auto") -> torch.dtype | None:
    """The autocast dtype to train with, or None for plain fp32.

    "auto": bf16 on CUDA GPUs that support it, fp32 elsewhere (bf16 autocast on
    a CPU is usually slower for small models, and MPS support varies).
    """
    if dtype in ("float32", "fp32", None):
        return None
    kind = device_type(device)
    if dtype == "auto":
        return torch.bfloat16 if kind == "cuda" and torch.cuda.is_bf16_supported() else None
    if dtype in ("bfloat16", "bf16"):
        return torch.bfloat16
    if dtype in ("float16", "fp16"):
        if kind != "cuda":
            raise ValueError("float16 autocast needs a CUDA device (and a grad scaler); use bfloat16")
        return torch.float16
    raise ValueError(f"dtype must be 'auto', 'float32' or 'bfloat16', got {dtype!r}")


def autocast(device, dtype: torch.dtype | None):
    """A context manager: autocast to `dtype` on `device`, or nothing when dtype is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type(device), dtype=dtype)
