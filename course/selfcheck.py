"""Does this device compute what the CPU computes? One fixed batch, its loss and gradients, compared.

Used by `python -m course doctor` and notebook 00. A device can run without
an error and still compute wrong numbers: a kernel bug in a new backend
(PyTorch on Apple MPS has given a loss of 19.9 where the CPU gives 3.8), a
driver mismatch, a precision the GPU only emulates. Training then "works"
and never learns, and nothing says why. So before any lesson trains, this
builds a tiny GPT with fixed weights, takes one fixed batch, computes the
loss and every gradient on the CPU in fp32 (the reference) and on the device
lessons will use, in the precision they will use (`course.precision`), and
compares.

The tolerance depends on that precision: fp32 on two devices differs only by
the order of additions (and TF32 matmuls on recent NVIDIA GPUs); bf16 keeps 8
bits of mantissa, so its losses differ in the third digit and its gradients
by a few percent; fp16 keeps 11. A difference beyond the tolerance is
reported with the fallback that avoids the device: COURSE_DEVICE=cpu.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from course.precision import autocast, autocast_dtype, dtype_name
from course.utils import get_device

# precision -> (relative loss tolerance, relative gradient tolerance)
TOLERANCES = {"float32": (1e-3, 1e-2), "float16": (1e-2, 5e-2), "bfloat16": (3e-2, 1.5e-1)}
FALLBACK = "COURSE_DEVICE=cpu"


@dataclass
class SelfCheck:
    """The verdict: the device, its precision, how far it is from the CPU, and the tolerances."""

    device: str
    dtype: str
    loss_cpu: float
    loss_device: float
    loss_error: float  # |device - cpu| / |cpu|
    grad_error: float  # ||g_device - g_cpu|| / ||g_cpu|| over all parameters
    worst_param: str  # the parameter with the largest relative gradient error
    tolerance: tuple[float, float]

    @property
    def ok(self) -> bool:
        loss_tol, grad_tol = self.tolerance
        return self.loss_error <= loss_tol and self.grad_error <= grad_tol  # nan compares False: not ok

    def summary(self) -> str:
        loss_tol, grad_tol = self.tolerance
        numbers = (f"loss {self.loss_device:.4f} vs {self.loss_cpu:.4f} on the CPU (relative error "
                   f"{self.loss_error:.1e}, tolerance {loss_tol:.0e}); gradients' relative error "
                   f"{self.grad_error:.1e} (tolerance {grad_tol:.0e})")
        where = f"{self.device} ({self.dtype})"
        if self.ok:
            return f"{where} agrees with the CPU: {numbers}"
        return (f"MISMATCH: {where} computes different numbers than the CPU: {numbers}; worst gradient: "
                f"{self.worst_param}. Lessons on this device may train on wrong numbers: set {FALLBACK} "
                "to use the CPU, and report the device, torch version and this line")


def _tiny_model():
    from course.model import GPT, GPTConfig  # the lesson-03 model, small enough to run in a blink

    torch.manual_seed(0)
    return GPT(GPTConfig(block_size=16, vocab_size=64, n_layer=2, n_head=2, n_embd=32, dropout=0.0))


def _batch():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 64, (4, 16), generator=g)
    y = torch.randint(0, 64, (4, 16), generator=g)
    return x, y


def loss_and_grads(model, batch, device, dtype) -> tuple[float, dict[str, torch.Tensor]]:
    """Loss of `batch` and the gradient of every parameter (fp32, on the CPU), computed on `device`."""
    model = model.to(device)
    model.zero_grad(set_to_none=True)
    x, y = (t.to(device) for t in batch)
    with autocast(device, dtype):
        _, loss = model(x, y)
    loss.backward()
    grads = {n: p.grad.detach().float().cpu() for n, p in model.named_parameters()}
    return float(loss.detach()), grads


def compare(reference, candidate, *, device: str, dtype: str) -> SelfCheck:
    """The verdict for (loss, grads) on the device against (loss, grads) on the CPU."""
    (loss_ref, g_ref), (loss_dev, g_dev) = reference, candidate
    diff = torch.sqrt(sum(((g_dev[n] - g_ref[n]) ** 2).sum() for n in g_ref))
    norm = torch.sqrt(sum((g ** 2).sum() for g in g_ref.values()))
    per_param = {n: float((g_dev[n] - g_ref[n]).norm() / g_ref[n].norm().clamp(min=1e-12)) for n in g_ref}
    worst = max(per_param, key=lambda n: per_param[n] if per_param[n] == per_param[n] else float("inf"))
    return SelfCheck(
        device=str(device), dtype=dtype, loss_cpu=loss_ref, loss_device=loss_dev,
        loss_error=abs(loss_dev - loss_ref) / abs(loss_ref), grad_error=float(diff / norm),
        worst_param=f"{worst} (relative error {per_param[worst]:.1e})", tolerance=TOLERANCES[dtype],
    )


def self_check(device=None, dtype: str = "auto") -> SelfCheck:
    """Compare one fixed batch's loss and gradients on `device` (default: the lessons' device,
    `course.get_device()`, in the precision `dtype` picks for it) with the CPU in fp32."""
    device = str(device or get_device())
    amp = autocast_dtype(device, dtype)
    batch = _batch()
    reference = loss_and_grads(_tiny_model(), batch, "cpu", None)
    candidate = loss_and_grads(_tiny_model(), batch, device, amp)
    return compare(reference, candidate, device=device, dtype=dtype_name(amp))
