"""`torch.compile` where it works, eager where it does not, and one line that says which and why.

Used by the trainer (`course.train`, `TrainConfig.compile`): lesson 03's runs and
`python -m course train --compile` (lesson 04's ladder measures compile separately).
torch.compile turns the model's Python into fused kernels: on a GPU the
training step gets faster, but it needs a working toolchain, and where one
is missing it fails in ways a learner cannot read (a C++ compiler error, a
Triton import error, minutes into the first step). So a run that asked for
compile first checks what compile needs (`why_not_compile`):

- Windows: the Triton GPU compiler has no official Windows build, and the CPU
  backend needs MSVC set up just so: eager;
- Apple MPS: torch.compile's MPS backend is experimental: eager;
- CUDA without the `triton` package: eager;
- CPU without a C++ compiler (c++, g++, clang++ or $CXX): eager;

and then runs the first step compiled inside a try: an exception there
(unsupported operation, compiler crash) also falls back to eager, once, with
its one-line reason, and the step is repeated eagerly from zeroed gradients.

The compiled module shares its parameters with the module it was made from
(`torch.compile` wraps, it does not copy), so evaluation and generation use
the plain module: no recompilation for a new batch shape or for the KV
cache's changing lengths, and the weights they see are the trained ones.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

import torch

from course.utils import device_type

CXX_COMPILERS = ("c++", "g++", "clang++")


def why_not_compile(device, *, platform: str | None = None) -> str | None:
    """Why torch.compile cannot work for `device` here, or None when it should."""
    platform = platform or sys.platform
    kind = device_type(device)
    if platform.startswith("win"):
        return "torch.compile is not used on Windows (Triton has no official Windows build)"
    if kind == "mps":
        return "torch.compile's MPS backend is experimental"
    if kind == "cuda" and importlib.util.find_spec("triton") is None:
        return "the triton package (torch.compile's GPU compiler) is not installed"
    if kind == "cpu":
        names = [os.environ["CXX"]] if os.environ.get("CXX") else []
        if not any(shutil.which(c) for c in names + list(CXX_COMPILERS)):
            return "no C++ compiler found (c++, g++ or clang++), which torch.compile needs on a CPU"
    return None


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


class CompiledStep:
    """Runs a training step with the compiled model; falls back to the eager one for good on failure.

        step = CompiledStep(model, device, log=print)          # compiles if it can, else says why not
        loss = step(lambda m: accumulate_gradients(m, batches))  # m: the model to run this time

    `step.model` is the module steps run (compiled or not), `step.eager` the plain
    one, `step.reason` None while compiled, else why not. `wrap(module)` (e.g.
    DistributedDataParallel) is applied to whichever module is used.
    """

    def __init__(self, model, device, *, enabled: bool = True, log=print, wrap=None, platform=None, compile_fn=None):
        self.eager = model
        self.log = log
        self.wrap = wrap or (lambda m: m)
        self.first = True
        self.reason = "not asked for" if not enabled else why_not_compile(device, platform=platform)
        if self.reason is None:
            try:
                compiled = (compile_fn or torch.compile)(model)
            except Exception as e:  # noqa: BLE001 - any failure to compile means eager
                self.reason = f"torch.compile failed: {_one_line(e)}"
        if self.reason is None:
            self.model = self.wrap(compiled)
        else:
            self.model = self.wrap(model)
            if enabled:
                log(f"compile: running eagerly ({self.reason})")

    @property
    def compiled(self) -> bool:
        return self.reason is None

    def __call__(self, fn):
        """fn(model) -> result, with the compiled model; on the first call an exception means eager."""
        if not self.first or not self.compiled:
            return fn(self.model)
        try:
            out = fn(self.model)
        except Exception as e:  # noqa: BLE001 - compile errors come in many types
            self.reason = f"the first compiled step failed: {_one_line(e)}"
            self.log(f"compile: running eagerly ({self.reason})")
            for p in self.eager.parameters():  # a partial backward may have left gradients
                p.grad = None
            self.model = self.wrap(self.eager)
            out = fn(self.model)
        self.first = False
        return out
