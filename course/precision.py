"""Mixed precision: which autocast dtype a run uses, the grad scaler fp16 needs, and what a NaN means.

Used by lesson 04 (the speedup ladder's bf16 rung) and by every training and
evaluation loop (`course.train`, `course.evaluate`). Autocast runs the matmuls
in a 16-bit type while the weights, the optimizer and the loss stay in fp32:
half the memory traffic and the GPU's tensor cores.

Which 16-bit type depends on the GPU, and `--dtype auto` decides from its
compute capability, not from `torch.cuda.is_bf16_supported()`:

- capability >= 8.0 (A100, H100, RTX 30xx/40xx): bfloat16. Same exponent
  range as fp32, so gradients neither underflow nor overflow: no scaler.
- older CUDA GPUs (T4 = 7.5, V100 = 7.0): float16 with a `GradScaler`. Their
  tensor cores have no bf16; `is_bf16_supported()` still says yes on a T4
  because bf16 is *emulated* there, slower than fp32. fp16's range is small
  (max 65504, gradients below ~6e-8 flush to zero), so the scaler multiplies
  the loss before backward, divides the gradients before the step, and skips
  a step whose gradients overflowed while it lowers the scale.
- CPU and Apple MPS: fp32, unless a dtype is asked for. bf16 autocast on a
  CPU is usually slower for small models, and MPS's half-precision kernels
  have given wrong losses.

A loss that is not finite stops the run: training on NaNs only wastes the
time until someone looks, and `NonFiniteLoss` says at which step, in which
precision, and which checkpoint is the last good one to resume from.
"""

from __future__ import annotations

import contextlib

import torch

from course.utils import device_type

BF16_MIN_CAPABILITY = (8, 0)  # Ampere: the first tensor cores with bfloat16
NAMES = {"float32": None, "fp32": None, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
         "float16": torch.float16, "fp16": torch.float16}


def check_dtype(dtype: str | None) -> str | None:
    """`dtype` itself when it names a precision ("auto", "float32", "bf16", ...; None: fp32), else a
    ValueError naming the choices: TrainConfig checks it when it is made, before any data is loaded."""
    if dtype is not None and dtype != "auto" and dtype not in NAMES:
        raise ValueError(f"dtype must be 'auto', 'float32', 'bfloat16' or 'float16', got {dtype!r}")
    return dtype


def cuda_capability(device="cuda") -> tuple[int, int]:
    """(major, minor) compute capability of a CUDA device."""
    return tuple(torch.cuda.get_device_capability(torch.device(device)))


def autocast_dtype(device, dtype: str | None = "auto") -> torch.dtype | None:
    """The autocast dtype to train with, or None for plain fp32.

    "auto": bf16 on CUDA GPUs of compute capability >= 8.0, fp16 on older CUDA
    GPUs (train with `grad_scaler`), fp32 on CPU and MPS. "float32",
    "bfloat16" and "float16" (or fp32/bf16/fp16) force one; fp16 needs CUDA.
    """
    if check_dtype(dtype) is None:
        return None
    kind = device_type(device)
    if dtype == "auto":
        if kind != "cuda":
            return None
        return torch.bfloat16 if cuda_capability(device) >= BF16_MIN_CAPABILITY else torch.float16
    if NAMES[dtype] is torch.float16 and kind != "cuda":
        raise ValueError(f"float16 autocast needs a CUDA device (and a grad scaler); {device} has "
                         "bfloat16 or float32: use --dtype bfloat16 or --dtype float32")
    return NAMES[dtype]


def dtype_name(dtype: torch.dtype | None) -> str:
    """'float32' for None (no autocast), else 'bfloat16' / 'float16'."""
    return "float32" if dtype is None else str(dtype).removeprefix("torch.")


def grad_scaler(device, dtype: torch.dtype | None):
    """A `torch.amp.GradScaler` for fp16 autocast, None otherwise (bf16 and fp32 need none)."""
    if dtype is not torch.float16:
        return None
    return torch.amp.GradScaler(device_type(device))


def autocast(device, dtype: torch.dtype | None):
    """A context manager: autocast to `dtype` on `device`, or nothing when dtype is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type(device), dtype=dtype)


class NonFiniteLoss(FloatingPointError):
    """The loss became inf or nan: the run stops here, and the message says what to do."""


def nonfinite_message(loss: float, step: int, *, lr: float, dtype: torch.dtype | None,
                      checkpoint: str | None, checkpoint_step: int | None = None) -> str:
    """A diagnosis of a non-finite loss: where, in which precision, the likely causes, where to resume."""
    name = dtype_name(dtype)
    lines = [f"the loss became {loss} at step {step} (lr {lr:.3g}, precision {name}): the run is stopped "
             "rather than training on it."]
    if dtype is torch.float16:
        lines.append("  - float16 overflows above 65504: train with the grad scaler (--dtype auto does), or use "
                     "--dtype bfloat16 on a GPU of compute capability >= 8.0, or --dtype float32")
    elif dtype is torch.bfloat16:
        lines.append("  - to rule out precision, repeat with --dtype float32")
    lines.append("  - a learning rate too high diverges: lower max_lr, or lengthen warmup_steps")
    lines.append("  - a step whose targets are all -1 (padding) has no mean loss: check the data")
    lines.append("  - on Apple MPS, check the device with `python -m course doctor` (COURSE_DEVICE=cpu avoids it)")
    if checkpoint:
        at = f" (step {checkpoint_step})" if checkpoint_step is not None else ""
        lines.append(f"last good checkpoint: {checkpoint}{at}; resume from it with the change above")
    else:
        lines.append("no checkpoint was written before this step (set checkpoint_interval to keep one)")
    return "\n".join(lines)
