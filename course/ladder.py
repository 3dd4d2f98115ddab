"""The speedup ladder: GPT-2 training made fast one change at a time, each change measured.

    python -m course ladder                      # CPU: a tiny GPT-2, a couple of minutes
    python -m course ladder --profile gpt2       # a GPU: GPT-2 124M, B=16, T=1024
    python -m course ladder --list               # the rungs and what each one changes

Every rung is the previous rung's `RungSettings` with exactly one field
changed, and every rung trains the same `course.model.GPT` through those
flags, so the difference between two rows of the table is the effect of one
idea:

    1 fp32          plain float32, hand-written attention (the T x T scores go through memory)
    2 tf32          fp32 matmuls on the tensor cores in TF32
    3 bf16          autocast: matmuls in bfloat16
    4 compile       torch.compile: fused kernels, no Python per op
    5 flash         scaled_dot_product_attention: FlashAttention, scores stay on chip
    6 vocab         vocab 50257 -> 50304, a multiple of 128
    7 fused-adamw   AdamW's update in one fused kernel

and then *beyond* rungs (gradient accumulation to a real batch, a bigger
micro-batch, cuDNN attention, max-autotune). A beyond rung starts from the
fastest configuration kept so far and is kept only if it beats it by
`KEEP_MARGIN`, so the ladder ends on the best configuration it found.

For each rung: ms per optimizer step (median), tokens/s, MFU (model FLOPs
`course.train.flops_per_token` against the device's dense bf16 peak, which
the record names), speedup against the baseline and the previous rung, the
first step's time (that is where torch.compile compiles) and peak memory.
`run_ladder` returns a record (a dict) that `save_record` writes as JSON + CSV
+ a bar plot; the JSON is rewritten after every rung, so a run cut short
keeps what it measured.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime as _dt
import gc
import io
import json
import math
import os
import platform
import signal
import statistics
import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

from course.utils import (
    atomic_write_bytes,
    atomic_write_text,
    device_type,
    get_device,
    seed_everything,
)

SCHEMA = "course.ladder/1"
KEEP_MARGIN = 0.02  # a beyond rung is kept only if it is at least 2% faster than the best so far
GPT2_VOCAB = 50257
PADDED_VOCAB = 50304  # 50304 = 128 * 393: the "nice number" of rung 6

# ----------------------------------------------------------------------------- the configuration


@dataclass(frozen=True)
class RungSettings:
    """Everything a rung can change. Rung k+1 = rung k with one field replaced."""

    matmul_precision: str = "highest"  # "high": fp32 matmuls may use TF32 tensor cores
    autocast_dtype: str | None = None  # "bfloat16": autocast matmuls to bf16
    compile: bool = False  # torch.compile the model
    compile_mode: str = "default"  # or "max-autotune-no-cudagraphs", ...
    attn_impl: str = "manual"  # "manual" (masked softmax) or "sdpa" (fused attention)
    sdpa_backend: str = "auto"  # "auto" (PyTorch picks) or "cudnn"
    vocab_size: int = GPT2_VOCAB
    fused_adamw: bool = False
    micro_batch: int = 16  # sequences per forward/backward
    total_batch: int | None = None  # tokens per optimizer step; None: one micro-batch

    def __post_init__(self):
        if self.matmul_precision not in ("highest", "high", "medium"):
            raise ValueError(f"matmul_precision must be 'highest', 'high' or 'medium', got {self.matmul_precision!r}")
        if self.autocast_dtype not in (None, "bfloat16"):
            raise ValueError(f"autocast_dtype must be None or 'bfloat16', got {self.autocast_dtype!r}")
        if self.attn_impl not in ("manual", "sdpa"):
            raise ValueError(f"attn_impl must be 'manual' or 'sdpa', got {self.attn_impl!r}")
        if self.sdpa_backend not in ("auto", "cudnn", "flash", "efficient", "math"):
            raise ValueError(f"unknown sdpa_backend {self.sdpa_backend!r}")
        if self.vocab_size < GPT2_VOCAB:
            raise ValueError(f"vocab_size must hold GPT-2's {GPT2_VOCAB} tokens, got {self.vocab_size}")
        if self.micro_batch < 1:
            raise ValueError(f"micro_batch must be >= 1, got {self.micro_batch}")

    def grad_accum(self, seq_len: int) -> int:
        """Micro-batches per optimizer step."""
        micro = self.micro_batch * seq_len
        if self.total_batch is None:
            return 1
        if self.total_batch % micro != 0:
            raise ValueError(
                f"total_batch ({self.total_batch} tokens) must be a multiple of "
                f"micro_batch * seq_len = {self.micro_batch} * {seq_len} = {micro}"
            )
        return self.total_batch // micro

    def tokens_per_step(self, seq_len: int) -> int:
        return self.micro_batch * seq_len * self.grad_accum(seq_len)


def changed_fields(a: RungSettings, b: RungSettings) -> dict:
    """{field: (old, new)} for every field where `a` and `b` differ."""
    return {f.name: (getattr(a, f.name), getattr(b, f.name)) for f in fields(a) if getattr(a, f.name) != getattr(b, f.name)}


# ----------------------------------------------------------------------------- the rungs


@dataclass(frozen=True)
class Rung:
    """One step of the ladder: a name, the one setting it changes, and why that helps."""

    name: str
    title: str
    field: str
    value: object
    why: str
    beyond: bool = False

    def apply(self, settings: RungSettings) -> RungSettings:
        return replace(settings, **{self.field: self.value})


CORE_RUNGS: tuple[Rung, ...] = (
    Rung("fp32", "fp32 baseline", "matmul_precision", "highest",
         "Every matmul in full float32, attention written out by hand: the (B, heads, T, T) "
         "score matrix is written to and read back from memory several times."),
    Rung("tf32", "TF32 matmuls", "matmul_precision", "high",
         "fp32 matmuls run on the tensor cores in TF32 (fp32 range, 10-bit mantissa inputs, "
         "fp32 accumulation): on an H100 about 7x the plain fp32 rate. Tensors stay fp32 in memory, "
         "so memory-bound ops are unchanged. CPUs have no TF32: there it changes nothing."),
    Rung("bf16", "bf16 autocast", "autocast_dtype", "bfloat16",
         "Matmuls take bf16 inputs: twice TF32's tensor-core rate and half the bytes per activation; "
         "softmax, norms and the loss stay fp32, weights and optimizer state stay fp32."),
    Rung("compile", "torch.compile", "compile", True,
         "The model becomes one graph and Inductor writes fused kernels (Triton on GPUs, C++ on CPUs): "
         "chains of elementwise ops read and write memory once instead of once per op, and "
         "Python's per-op overhead disappears. The first step pays for compiling."),
    Rung("flash", "flash attention (SDPA)", "attn_impl", "sdpa",
         "scaled_dot_product_attention runs FlashAttention: scores are computed tile by tile in "
         "on-chip SRAM with an online softmax and never written to memory; the backward recomputes "
         "them. More FLOPs, far fewer bytes."),
    Rung("vocab", "vocab 50257 -> 50304", "vocab_size", PADDED_VOCAB,
         "50257 is odd; 50304 = 128 x 393 splits evenly into the 64/128-wide tiles that matmul "
         "kernels use, so the lm_head and embedding-gradient kernels have no ragged edge tiles. "
         "The 47 extra rows are never targets: the model learns to give them no probability."),
    Rung("fused-adamw", "fused AdamW", "fused_adamw", True,
         "The default (foreach) AdamW makes several passes over parameters, gradients and both "
         "moment buffers; the fused one updates each tensor in a single kernel pass."),
)
CORE_NAMES = tuple(r.name for r in CORE_RUNGS)


def beyond_rungs(profile: Profile) -> tuple[Rung, ...]:
    """The rungs past build-nanogpt, sized for `profile`."""
    accum_tokens = profile.accum_total
    return (
        Rung("grad-accum", f"accumulate to {_tokens(accum_tokens)} tokens/step", "total_batch", accum_tokens,
             "A real run updates the weights once per large batch (GPT-3 small: 2^19 tokens), adding "
             "up gradients over micro-batches. AdamW and zero_grad then run once per step instead of "
             "once per micro-batch, so their cost is shared by many more tokens.", beyond=True),
        Rung("micro-batch", f"micro-batch {profile.big_micro_batch}", "micro_batch", profile.big_micro_batch,
             "More sequences per forward/backward at the same tokens per step: every matmul gets "
             "more rows, so the hardware gets bigger tiles of work and fixed per-kernel costs are "
             "spread over more tokens. Costs activation memory.", beyond=True),
        Rung("cudnn-attention", "cuDNN attention", "sdpa_backend", "cudnn",
             "cuDNN's fused attention, written for Hopper's tensor-core instructions, instead of the "
             "FlashAttention-2 kernel PyTorch picks by default.", beyond=True),
        Rung("max-autotune", "compile max-autotune", "compile_mode", "max-autotune-no-cudagraphs",
             "Inductor times several Triton and cuBLAS variants of every matmul and keeps the fastest: "
             "minutes of compiling for a few percent.", beyond=True),
    )


def _tokens(n: int) -> str:
    return f"2^{n.bit_length() - 1}" if n > 0 and n & (n - 1) == 0 else f"{n:,}"


# ----------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class Profile:
    """Model size, batch shape and step counts for one kind of machine."""

    name: str
    preset: str  # a course.model GPT preset
    model_overrides: dict
    micro_batch: int  # sequences per micro-batch on rungs 1-7
    seq_len: int
    steps: int  # timed optimizer steps (fewer when one step accumulates many micro-batches)
    warmup: int  # untimed steps before them; the first one is reported as first_step_s
    accum_total: int  # tokens per step for the grad-accum rung
    big_micro_batch: int  # micro-batch of the micro-batch rung
    compile_backend: str = "inductor"  # "eager": Dynamo traces, nothing is generated (tests)

    def base_settings(self) -> RungSettings:
        return RungSettings(micro_batch=self.micro_batch)

    def label(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in self.model_overrides.items())
        return f"{self.preset}{extra}, B={self.micro_batch}, T={self.seq_len}"


PROFILES: dict[str, Profile] = {
    # GPT-2 124M as in build-nanogpt; grad-accum reaches GPT-3 small's 2^19-token batch.
    "gpt2": Profile("gpt2", "gpt2", {}, micro_batch=16, seq_len=1024, steps=10, warmup=2,
                    accum_total=2**19, big_micro_batch=64),
    # A tiny GPT-2 (GPT-2's vocabulary, 2 layers, d=64) that climbs the whole ladder on a CPU in a couple of minutes.
    "cpu": Profile("cpu", "cpu-tiny", {}, micro_batch=8, seq_len=64, steps=8, warmup=2,
                   accum_total=4 * 8 * 64, big_micro_batch=32),
    # The notebook's live run: one layer, so torch.compile's C++ code generation stays short.
    "cpu-quick": Profile("cpu-quick", "cpu-tiny", {"n_layer": 1}, micro_batch=4, seq_len=64, steps=5, warmup=1,
                         accum_total=2 * 4 * 64, big_micro_batch=8),
    # Smaller still, compiled with the "eager" backend (Dynamo traces, no code generation): the tests.
    "test": Profile("test", "cpu-tiny", {"n_layer": 1, "n_embd": 32, "n_head": 2}, micro_batch=2, seq_len=16,
                    steps=1, warmup=1, accum_total=2 * 2 * 16, big_micro_batch=4, compile_backend="eager"),
}


def ladder_rungs(profile: Profile) -> tuple[Rung, ...]:
    return CORE_RUNGS + beyond_rungs(profile)


def core_settings(profile: Profile) -> list[RungSettings]:
    """The settings of rungs 1-7: each one the previous with its rung's field changed."""
    out, s = [], profile.base_settings()
    for rung in CORE_RUNGS:
        s = rung.apply(s)
        out.append(s)
    return out


# ----------------------------------------------------------------------------- hardware: peaks and measurements

# Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's datasheets, FLOP/s.
GPU_BF16_PEAKS: tuple[tuple[tuple[str, ...], float, str], ...] = (
    (("H100", "NVL"), 835e12, "H100 NVL"),
    (("H100", "PCIE"), 756e12, "H100 PCIe"),
    (("H100",), 989e12, "H100 SXM"),
    (("H200",), 989e12, "H200"),
    (("GH200",), 989e12, "GH200"),
    (("B200",), 2250e12, "B200"),
    (("A100",), 312e12, "A100"),
    (("L40S",), 362e12, "L40S"),
    (("L4",), 121e12, "L4"),
)


def _name_tokens(device_name: str) -> set[str]:
    """'NVIDIA A100-SXM4-80GB' -> {'NVIDIA', 'A100', 'SXM4', '80GB'}: whole words, so 'L4' never matches 'L40'."""
    import re

    return set(re.findall(r"[A-Z0-9]+", device_name.upper()))


def datasheet_peak(device_name: str) -> tuple[float, str] | None:
    """(dense bf16 FLOP/s, label) for a known GPU name, else None."""
    words = _name_tokens(device_name)
    for keys, flops, label in GPU_BF16_PEAKS:
        if all(k in words for k in keys):
            return flops, f"{label} datasheet: {flops / 1e12:.0f} TFLOP/s dense bf16"
    return None


def synchronize(device) -> None:
    import torch

    kind = device_type(device)
    if kind == "cuda":
        torch.cuda.synchronize()
    elif kind == "mps":
        torch.mps.synchronize()


def measure_matmul_flops(device="cpu", n: int = 1024, dtype: str = "float32", repeats: int = 5) -> float:
    """FLOP/s of the best of `repeats` (n x n) @ (n x n) products (2 n^3 FLOPs each)."""
    import torch

    torch_dtype = getattr(torch, dtype)
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device=device, dtype=torch_dtype)
    b = torch.randn(n, n, generator=gen).to(device=device, dtype=torch_dtype)
    a @ b
    synchronize(device)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def measure_bandwidth(device="cpu", nbytes: int = 256 * 2**20, repeats: int = 5) -> float:
    """Bytes/s of copying an `nbytes` float32 buffer, counting the bytes read and written."""
    import torch

    n = max(1, nbytes // 4)
    src = torch.rand(n, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    synchronize(device)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        dst.copy_(src)
        synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n * 4 / best


def bandwidth_by_size(device="cpu", sizes=None, budget_s: float = 0.05) -> list[tuple[int, float]]:
    """[(working-set bytes, bytes/s)] of `dst.copy_(src)` for growing buffers.

    Small buffers stay in the caches (L1/L2/L3 on a CPU, L2 on a GPU) and copy
    fast; once src + dst outgrow the last cache, every byte comes from DRAM/HBM.
    Each size is timed for about `budget_s` seconds; the best repeat counts.
    """
    import torch

    sizes = sizes or [2**k for k in range(16, 29, 2)]
    out = []
    for size in sizes:
        n = max(1, size // 8)  # src and dst together make `size` bytes
        src = torch.rand(n, device=device)
        dst = torch.empty_like(src)
        dst.copy_(src)
        synchronize(device)
        t_end, best, reps = time.perf_counter() + budget_s, math.inf, 0
        inner = max(1, (2**22) // size)  # several copies per timing so tiny sizes are measurable
        while time.perf_counter() < t_end or reps < 3:
            t0 = time.perf_counter()
            for _ in range(inner):
                dst.copy_(src)
            synchronize(device)
            best = min(best, (time.perf_counter() - t0) / inner)
            reps += 1
        out.append((2 * n * 4, 2 * n * 4 / best))
    return out


def device_peak_flops(device, peak_tflops: float | None = None) -> tuple[float, str]:
    """(peak FLOP/s, where the number comes from) for MFU on `device`.

    A known GPU: its datasheet dense bf16 peak. A CPU or an unknown GPU: the
    best of fp32 and bf16 matmuls measured here, said to be measured.
    """
    import torch

    if peak_tflops:
        return peak_tflops * 1e12, f"given on the command line: {peak_tflops:g} TFLOP/s"
    kind = device_type(device)
    if kind == "cuda":
        known = datasheet_peak(torch.cuda.get_device_name(device))
        if known:
            return known
    n = 4096 if kind == "cuda" else 1024
    rates = {dt: measure_matmul_flops(device, n, dt) for dt in ("float32", "bfloat16")}
    best = max(rates, key=rates.get)
    threads = f", {torch.get_num_threads()} threads" if kind == "cpu" else ""
    return rates[best], (
        f"measured here, not a datasheet peak: the best {n}^3 matmul ({best}{threads}) ran at "
        f"{rates[best] / 1e12:.3g} TFLOP/s (fp32 {rates['float32'] / 1e12:.3g}, bf16 {rates['bfloat16'] / 1e12:.3g})"
    )


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU has native bf16 instructions (AVX-512 BF16 or AMX) that oneDNN uses."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def hardware_info(device) -> dict:
    import torch

    kind = device_type(device)
    info = {
        "device": str(device),
        "device_type": kind,
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if kind == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            device_name=props.name,
            gpu_memory_gb=round(props.total_memory / 2**30, 1),
            multiprocessors=props.multi_processor_count,
            l2_cache_mb=round(getattr(props, "L2_cache_size", 0) / 2**20, 1) or None,
            compute_capability=f"{props.major}.{props.minor}",
        )
    elif kind == "mps":
        info["device_name"] = f"Apple GPU (MPS) on {platform.machine()}"
    else:
        info["device_name"] = info["cpu"]
        info["fast_bf16"] = cpu_has_fast_bf16()
    return info


def software_info() -> dict:
    import torch

    info = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = None
    return info


def device_slug(hardware: dict) -> str:
    """A short file-name tag: 'h100', 'a100', ..., 'cuda', 'mps' or 'cpu'."""
    kind = hardware.get("device_type", "cpu")
    if kind != "cuda":
        return kind
    known = datasheet_peak(hardware.get("device_name", ""))
    if known:
        return known[1].split()[0].lower()
    return "cuda"


# ----------------------------------------------------------------------------- data and one training step


def gpt2_tokens():
    """tinyshakespeare as GPT-2 token ids (a 1-D int64 tensor), tokenised once per process."""
    global _TOKENS
    if _TOKENS is None:
        import numpy as np
        import tiktoken
        import torch

        import course  # noqa: F401  (points tiktoken at the bundled cache: works offline)
        from course.assets import load_tinyshakespeare

        ids = tiktoken.get_encoding("gpt2").encode_ordinary(load_tinyshakespeare())
        _TOKENS = torch.from_numpy(np.asarray(ids, dtype=np.int64))
    return _TOKENS


_TOKENS = None


class DeviceBatches:
    """Sequential (x, y) micro-batches cut from a token tensor held on the device.

    The whole of tinyshakespeare (~340k tokens, 2.7 MB) fits in device memory,
    so a batch is a view: no host-to-device copy and no synchronisation inside a
    timed step, which is what a prefetching data loader gives a real run.
    """

    def __init__(self, tokens, batch_size: int, seq_len: int, device):
        need = batch_size * seq_len + 1
        if len(tokens) < need:
            raise ValueError(f"need at least {need} tokens for one ({batch_size}, {seq_len}) batch, got {len(tokens)}")
        self.tokens = tokens.to(device)
        self.B, self.T, self.pos = batch_size, seq_len, 0

    def next(self):
        n = self.B * self.T
        if self.pos + n + 1 > len(self.tokens):
            self.pos = 0
        chunk = self.tokens[self.pos : self.pos + n + 1]
        self.pos += n
        return chunk[:-1].view(self.B, self.T), chunk[1:].view(self.B, self.T)


def train_step(model, optimizer, micro_batches, *, amp_dtype=None):
    """One optimizer step over `micro_batches`; returns the step's mean loss (a tensor).

    `course.train.accumulate_gradients` weights each micro-batch's mean loss by
    its share of the step's target tokens, so the accumulated gradient is the
    gradient of the mean loss over every token of the step: the big-batch
    gradient, whatever the split.
    """
    from course.train import accumulate_gradients

    optimizer.zero_grad(set_to_none=True)
    loss = accumulate_gradients(model, micro_batches, amp_dtype=amp_dtype)
    optimizer.step()
    return loss


# ----------------------------------------------------------------------------- applicability


def applicability(rung: Rung, device, profile: Profile) -> tuple[str, str]:
    """('run' | 'n/a' | 'skipped', note): whether `rung` can run on `device`, and what to expect."""
    import torch

    kind = device_type(device)
    if rung.name == "tf32" and kind != "cuda":
        return "run", "no TF32 format on this device: the setting changes nothing, the difference is noise"
    if rung.name == "tf32" and kind == "cuda" and torch.cuda.get_device_capability(device)[0] < 8:
        return "run", "this GPU predates TF32 (needs compute capability 8.0): expect no change"
    if rung.name == "bf16":
        if kind == "cpu":
            if cpu_has_fast_bf16():
                return "run", "this CPU has native bf16 dot products (AVX-512 BF16/AMX), but casts cost time at small sizes"
            return "run", "no native bf16 arithmetic on this CPU: bf16 is converted to fp32 to compute, expect a slowdown"
        if kind == "cuda" and not torch.cuda.is_bf16_supported():
            return "run", "this GPU has no bf16 tensor cores: bf16 is emulated, expect a slowdown"
    if rung.name == "fused-adamw":
        from course.train import fused_adamw_available

        if not fused_adamw_available(device):
            return "n/a", f"torch {torch.__version__} has no fused AdamW for {kind}"
    if rung.name == "cudnn-attention":
        if kind != "cuda":
            return "n/a", "cuDNN attention is an NVIDIA GPU kernel"
        if not torch.backends.cudnn.is_available():
            return "n/a", "cuDNN is not available in this torch build"
    if rung.name == "max-autotune":
        if kind != "cuda":
            return "skipped", "autotuning every matmul takes many minutes of compiling on a CPU; measured on GPUs"
        if profile.compile_backend != "inductor":
            return "n/a", f"max-autotune is an Inductor mode; this profile compiles with {profile.compile_backend}"
    return "run", ""


# ----------------------------------------------------------------------------- measuring one rung


class LadderInterrupted(BaseException):
    """Raised from a signal handler (SIGTERM, e.g. `timeout`) to stop the ladder and keep its record."""


@contextlib.contextmanager
def _backend_state(settings: RungSettings, device):
    """Set the global switches a rung needs, and put them back afterwards."""
    import torch

    old_precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(settings.matmul_precision)
    try:
        with contextlib.ExitStack() as stack:
            if settings.sdpa_backend != "auto" and device_type(device) == "cuda":
                from torch.nn.attention import SDPBackend, sdpa_kernel

                backend = {
                    "cudnn": SDPBackend.CUDNN_ATTENTION,
                    "flash": SDPBackend.FLASH_ATTENTION,
                    "efficient": SDPBackend.EFFICIENT_ATTENTION,
                    "math": SDPBackend.MATH,
                }[settings.sdpa_backend]
                stack.enter_context(sdpa_kernel([backend]))
            yield
    finally:
        torch.set_float32_matmul_precision(old_precision)


@contextlib.contextmanager
def _quiet_cpp_extension_log():
    """Inductor on a CPU-only torch warns "No CUDA runtime is found" at its first compile: not news here."""
    import logging

    logger = logging.getLogger("torch.utils.cpp_extension")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


def _fresh_start(device) -> None:
    """Forget the previous rung: its tensors, its cached allocations and its compiled graphs."""
    import torch

    gc.collect()
    if hasattr(torch, "_dynamo"):
        torch._dynamo.reset()
    if device_type(device) == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_memory_mb(device) -> float | None:
    import torch

    kind = device_type(device)
    if kind == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    if kind == "mps":
        return torch.mps.driver_allocated_memory() / 2**20
    try:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss / 2**20 if sys.platform == "darwin" else rss / 2**10
    except ImportError:  # Windows
        return None


PEAK_MEMORY_KIND = {
    "cuda": "torch.cuda.max_memory_allocated during the rung",
    "mps": "MPS driver-allocated memory at the end of the rung",
    "cpu": "process peak RSS so far (a high-water mark: it never goes down between rungs)",
}


def model_config(profile: Profile, settings: RungSettings):
    from course.model import GPTConfig

    return GPTConfig.from_preset(
        profile.preset,
        **{**profile.model_overrides, "block_size": profile.seq_len},
        vocab_size=settings.vocab_size,
        attn_impl=settings.attn_impl,
    )


def model_flops(profile: Profile) -> tuple[int, int]:
    """(N, training FLOPs per token) of the baseline model, used for every rung's MFU.

    N counts the parameters without the position embedding (a lookup, not a
    matmul), as nanoGPT does, at GPT-2's 50257-token vocabulary: the padding
    rows of rung 6 are not useful work, so they earn no MFU.
    """
    from course.model import gpt_param_counts
    from course.train import flops_per_token

    config = model_config(profile, profile.base_settings())
    counts = gpt_param_counts(config)
    n_params = counts["total"] - counts["position_embedding"]
    return n_params, flops_per_token(n_params, config.n_layer, config.n_embd, profile.seq_len)


def step_counts(profile: Profile, accum: int, steps: int | None = None, warmup: int | None = None) -> tuple[int, int]:
    """(warmup, timed) optimizer steps: fewer when one step accumulates many micro-batches."""
    steps = profile.steps if steps is None else steps
    warmup = profile.warmup if warmup is None else warmup
    return max(1, math.ceil(warmup / accum)), max(min(3, steps), math.ceil(steps / accum))


def measure_rung(settings: RungSettings, profile: Profile, device, tokens, *, steps=None, warmup=None, seed=1337) -> dict:
    """Train a fresh model with `settings` for a few steps; time every step.

    Returns ms_per_step (median of the timed steps), tokens_per_sec, first_step_s
    (the first step, compile included), peak_mem_mb, and the losses.
    """
    import torch

    from course.model import GPT
    from course.train import make_optimizer

    T = profile.seq_len
    accum = settings.grad_accum(T)
    n_warmup, n_timed = step_counts(profile, accum, steps, warmup)
    amp_dtype = getattr(torch, settings.autocast_dtype) if settings.autocast_dtype else None
    _fresh_start(device)
    model = optimizer = run_model = None
    try:
        with _backend_state(settings, device), _quiet_cpp_extension_log():
            seed_everything(seed)
            with torch.device(device):  # initialise on the device: no 0.5 GB host-to-GPU copy per rung
                model = GPT(model_config(profile, settings))
            optimizer = make_optimizer(model, lr=6e-4, weight_decay=0.1, fused=settings.fused_adamw)
            run_model = model
            if settings.compile:
                mode = None if settings.compile_mode == "default" else settings.compile_mode
                if profile.compile_backend == "inductor":
                    run_model = torch.compile(model, mode=mode)
                else:
                    run_model = torch.compile(model, backend=profile.compile_backend)
            batches = DeviceBatches(tokens, settings.micro_batch, T, device)
            times, losses = [], []
            for _ in range(n_warmup + n_timed):
                micro = [batches.next() for _micro in range(accum)]
                t0 = time.perf_counter()
                loss = train_step(run_model, optimizer, micro, amp_dtype=amp_dtype)
                losses.append(loss.item())  # waits for the step to finish
                synchronize(device)
                times.append(time.perf_counter() - t0)
            peak = _peak_memory_mb(device)
    finally:
        del model, optimizer, run_model
        _fresh_start(device)
    timed = times[n_warmup:]
    if not all(math.isfinite(x) for x in losses):
        raise FloatingPointError(f"loss is not finite: {losses}")
    ms = 1000 * statistics.median(timed)
    tokens_per_step = settings.tokens_per_step(T)
    return {
        "grad_accum": accum,
        "tokens_per_step": tokens_per_step,
        "warmup_steps": n_warmup,
        "timed_steps": n_timed,
        "ms_per_step": ms,
        "step_ms": [round(1000 * t, 3) for t in timed],
        "tokens_per_sec": tokens_per_step / (ms / 1000),
        "first_step_s": times[0],
        "peak_mem_mb": peak,
        "loss_first": losses[0],
        "loss_last": losses[-1],
    }


# ----------------------------------------------------------------------------- the ladder


def _status_row(rung: Rung, index: int, settings: RungSettings, parent: str | None, status: str, note: str) -> dict:
    return {
        "index": index,
        "name": rung.name,
        "title": rung.title,
        "beyond": rung.beyond,
        "change": {rung.field: rung.value},
        "parent": parent,
        "config": dataclasses.asdict(settings),
        "status": status,
        "note": note,
        "kept": False,
        "why": rung.why,
    }


def run_ladder(
    profile: Profile | str = "cpu",
    device=None,
    *,
    rungs: list[str] | None = None,
    steps: int | None = None,
    warmup: int | None = None,
    micro_batch: int | None = None,
    peak_tflops: float | None = None,
    keep_margin: float = KEEP_MARGIN,
    time_limit: float | None = None,
    seed: int = 1337,
    measure_hardware: bool = False,
    on_rung=None,
    log=print,
    progress: bool = False,
) -> dict:
    """Climb the ladder on `device`; return the record (see `validate_record` for its fields).

    `rungs` picks a subset by name (settings still follow the full chain).
    `on_rung(record)` is called after every rung (save_record uses it to keep
    the files current). `time_limit` (seconds) skips rungs that would start
    after it.
    """
    import torch

    from course.train import mfu

    profile = PROFILES[profile] if isinstance(profile, str) else profile
    if micro_batch:
        profile = replace(profile, micro_batch=micro_batch)
    device = device or get_device()
    all_rungs = ladder_rungs(profile)
    known = [r.name for r in all_rungs]
    wanted = list(known) if rungs is None else list(rungs)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ValueError(f"unknown rung(s) {unknown}; the rungs are: {', '.join(known)}")

    start = time.perf_counter()
    peak, peak_source = device_peak_flops(device, peak_tflops)
    base_model = model_config(profile, profile.base_settings())
    n_params, fpt = model_flops(profile)
    hardware = hardware_info(device)
    hardware.update(peak_flops=peak, peak_source=peak_source,
                    peak_memory_kind=PEAK_MEMORY_KIND.get(device_type(device)))
    if measure_hardware:
        hardware["measured"] = {
            "matmul_bf16_tflops": measure_matmul_flops(device, 8192 if device_type(device) == "cuda" else 1024, "bfloat16") / 1e12,
            "copy_gb_per_s": measure_bandwidth(device, 2**30 if device_type(device) == "cuda" else 2**28) / 1e9,
        }
    record = {
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "complete": False,
        "profile": dataclasses.asdict(profile),
        "model": {**base_model.to_dict(), "n_params": n_params, "flops_per_token": fpt,
                  "flops_note": "6N + 12*L*d*T per token, N = parameters without the position embedding, "
                                "vocab 50257 for every rung (padding rows are not useful work)"},
        "hardware": hardware,
        "software": software_info(),
        "settings": {"steps": profile.steps if steps is None else steps,
                     "warmup": profile.warmup if warmup is None else warmup,
                     "seed": seed, "keep_margin": keep_margin, "timing": "median of the timed optimizer steps"},
        "rungs": [],
    }
    log(f"ladder on {hardware['device_name']} ({device}), torch {torch.__version__}; "
        f"{profile.label()}; MFU peak: {peak_source}")

    chain = core_settings(profile)
    rows = record["rungs"]
    baseline_tps = prev_tps = None
    best_name, best_settings, best_tps = None, None, None  # where beyond rungs start
    interrupted = False
    for index, rung in enumerate(all_rungs, start=1):
        if rung.beyond:
            settings = rung.apply(best_settings if best_settings is not None else chain[-1])
            parent, compare_tps = best_name or CORE_NAMES[-1], best_tps
        else:
            settings = chain[index - 1]
            parent, compare_tps = (CORE_NAMES[index - 2] if index > 1 else None), prev_tps
        if rung.name not in wanted:
            continue
        status, note = applicability(rung, device, profile)
        if status == "run" and time_limit is not None and time.perf_counter() - start > time_limit:
            status, note = "skipped", f"time limit of {time_limit:.0f} s reached before this rung"
        row = _status_row(rung, index, settings, parent, status, note)
        if status == "run":
            if progress:
                log(f"   rung {index} ({rung.name}) running...")
            try:
                row.update(measure_rung(settings, profile, device, gpt2_tokens(), steps=steps, warmup=warmup, seed=seed))
                row["status"] = "ok"
            except LadderInterrupted:
                row.update(status="interrupted", note="stopped by a signal (time limit) during this rung")
                interrupted = True
            except Exception as e:  # a rung that fails is recorded and the ladder goes on
                first_line = (str(e).strip().splitlines() or [""])[0][:300]
                row.update(status="failed", note=f"{type(e).__name__}: {first_line}")
        if row["status"] == "ok":
            tps = row["tokens_per_sec"]
            row["mfu"] = mfu(tps, fpt, peak)
            if rung.name == CORE_NAMES[0]:
                baseline_tps = tps
            row["speedup_vs_baseline"] = tps / baseline_tps if baseline_tps else None
            row["speedup_vs_previous"] = tps / compare_tps if compare_tps else None
            if rung.beyond:
                row["kept"] = best_tps is None or tps >= best_tps * (1 + keep_margin)
                if not row["kept"]:
                    gain = 100 * (tps / best_tps - 1)
                    row["note"] = "; ".join(filter(None, [row["note"], (
                        f"not kept: {gain:+.1f}% vs {best_name}, under the {keep_margin:.0%} bar")]))
                if rung.field == "micro_batch" and settings.total_batch is None:
                    row["note"] = "; ".join(filter(None, [row["note"], (
                        f"no accumulation kept, so a step is one micro-batch of {row['tokens_per_step']:,} tokens")]))
            else:
                row["kept"] = True  # core rungs stay, whatever they measure
            if row["kept"]:
                best_name, best_settings, best_tps = rung.name, settings, tps
        if not rung.beyond:
            prev_tps = row.get("tokens_per_sec") if row["status"] == "ok" else None
        rows.append(row)
        log(format_row(row))
        if on_rung:
            on_rung(record)
        if interrupted:
            break
    record["complete"] = not interrupted
    record["wall_s"] = time.perf_counter() - start
    ok = [r for r in rows if r["status"] == "ok"]
    best = max(ok, key=lambda r: r["tokens_per_sec"]) if ok else None
    record["summary"] = {
        "best_rung": best["name"] if best else None,
        "best_tokens_per_sec": best["tokens_per_sec"] if best else None,
        "best_mfu": best["mfu"] if best else None,
        "best_config": best["config"] if best else None,
        "last_kept": best_name,
    }
    if on_rung:
        on_rung(record)
    return record


# ----------------------------------------------------------------------------- the table, the record, the plot

TABLE_HEADER = (
    f"{'#':>2}  {'rung':<16} {'ms/step':>9} {'tokens/s':>11} {'MFU':>6} {'vs base':>8} {'vs prev':>8} "
    f"{'1st step':>9} {'peak MB':>8}  note"
)


def _fmt(x, width: int, spec: str, suffix: str = "") -> str:
    return (f"{x:{spec}}{suffix}" if x is not None else "-").rjust(width)


def format_row(row: dict) -> str:
    if row["status"] != "ok":
        label = {"n/a": "n/a on this device", "skipped": "skipped", "failed": "FAILED",
                 "interrupted": "interrupted"}.get(row["status"], row["status"])
        return f"{row['index']:>2}  {row['name']:<16} {label:>44}  {row['note']}"
    name = row["name"] + ("" if row["kept"] else " (x)")
    return (
        f"{row['index']:>2}  {name:<16} {row['ms_per_step']:>9.1f} {row['tokens_per_sec']:>11,.0f} "
        f"{100 * row['mfu']:>5.1f}% {_fmt(row['speedup_vs_baseline'], 8, '.2f', 'x')} "
        f"{_fmt(row['speedup_vs_previous'], 8, '.2f', 'x')} {row['first_step_s']:>8.2f}s "
        f"{_fmt(row['peak_mem_mb'], 8, '.0f')}  {row['note']}"
    )


def format_table(record: dict) -> str:
    hw = record["hardware"]
    lines = [
        f"{hw['device_name']} | torch {record['software']['torch']} | peak for MFU: {hw['peak_source']}",
        TABLE_HEADER,
    ]
    lines += [format_row(r) for r in record["rungs"]]
    lines.append("(x) = measured but not kept (under the keep bar); beyond rungs start from the best kept so far")
    return "\n".join(lines)


CSV_COLUMNS = (
    "index", "name", "title", "beyond", "status", "kept", "parent", "micro_batch", "grad_accum",
    "tokens_per_step", "ms_per_step", "tokens_per_sec", "mfu", "speedup_vs_baseline", "speedup_vs_previous",
    "first_step_s", "peak_mem_mb", "loss_last", "note", "device_name", "torch", "peak_tflops",
    "model", "seq_len", "matmul_precision", "autocast_dtype", "compile", "compile_mode", "attn_impl",
    "sdpa_backend", "vocab_size", "fused_adamw", "total_batch",
)


def to_csv(record: dict) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in record["rungs"]:
        flat = {**row, **row["config"]}
        flat.update(
            device_name=record["hardware"]["device_name"],
            torch=record["software"]["torch"],
            peak_tflops=round(record["hardware"]["peak_flops"] / 1e12, 3),
            model=record["profile"]["preset"],
            seq_len=record["profile"]["seq_len"],
        )
        for k, v in flat.items():
            if isinstance(v, float):
                flat[k] = round(v, 6)
        writer.writerow(flat)
    return buf.getvalue()


def plot_ladder(record: dict, ax=None, *, reference: dict | None = None):
    """Horizontal bars of tokens/s per rung; grey = measured but not kept; ticks = `reference` tokens/s."""
    import matplotlib.pyplot as plt

    rows = record["rungs"]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    labels, values, colors = [], [], []
    for r in rows:
        labels.append(f"{r['index']}. {r['name']}")
        ok = r["status"] == "ok"
        values.append(r["tokens_per_sec"] if ok else 0.0)
        colors.append(("#f28e2b" if r["beyond"] else "#4e79a7") if ok and r["kept"] else "#bab0ac")
    y = list(range(len(rows)))[::-1]
    ax.barh(y, values, color=colors)
    top = max(values) if any(values) else 1.0
    for yi, r, v in zip(y, rows, values):
        if r["status"] == "ok":
            text = f"{v:,.0f} tok/s  {100 * r['mfu']:.1f}% MFU"
            if r["speedup_vs_baseline"]:
                text += f"  {r['speedup_vs_baseline']:.2f}x"
        else:
            text = "n/a on this device" if r["status"] == "n/a" else r["status"]
        ax.text(v + 0.01 * top, yi, text, va="center", fontsize=7)
        if reference and r["name"] in reference:
            ax.plot([reference[r["name"]]] * 2, [yi - 0.4, yi + 0.4], color="black", lw=1.5)
    ax.set_yticks(y, labels)
    from matplotlib.patches import Patch

    legend = [Patch(color="#4e79a7", label="core rung"), Patch(color="#f28e2b", label="beyond, kept"),
              Patch(color="#bab0ac", label="not kept")]
    if reference:
        from matplotlib.lines import Line2D

        legend.append(Line2D([], [], color="black", lw=1.5, label="reference"))
    ax.legend(handles=legend, loc="lower right", fontsize=7)
    ax.set_xlim(0, top * 1.55)
    ax.set_xlabel("tokens / second")
    ax.set_title(f"speedup ladder: {record['hardware']['device_name']}", fontsize=9)
    return ax


def save_record(record: dict, out_dir, stem: str, *, plot: bool = True) -> dict[str, Path]:
    """Write <stem>.json, <stem>.csv and (with `plot`) <stem>.png into `out_dir`, atomically."""
    out = Path(out_dir)
    paths = {"json": out / f"{stem}.json", "csv": out / f"{stem}.csv"}
    atomic_write_text(paths["json"], json.dumps(record, indent=1, default=str) + "\n")
    atomic_write_text(paths["csv"], to_csv(record))
    if plot and record["rungs"]:
        import matplotlib

        if "matplotlib.pyplot" not in sys.modules:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ax = plot_ladder(record)
        buf = io.BytesIO()
        ax.figure.tight_layout()
        ax.figure.savefig(buf, format="png", dpi=100)
        plt.close(ax.figure)
        paths["png"] = out / f"{stem}.png"
        atomic_write_bytes(paths["png"], buf.getvalue())
    return paths


RECORD_KEYS = ("schema", "created", "complete", "profile", "model", "hardware", "software", "settings", "rungs")
ROW_KEYS = ("index", "name", "title", "beyond", "change", "parent", "config", "status", "note", "kept")
OK_ROW_KEYS = ("ms_per_step", "tokens_per_sec", "mfu", "speedup_vs_baseline", "speedup_vs_previous",
               "first_step_s", "peak_mem_mb", "grad_accum", "tokens_per_step", "loss_last")
STATUSES = ("ok", "n/a", "skipped", "failed", "interrupted")


class RecordError(ValueError):
    """A ladder record that does not have the expected fields."""


def validate_record(record: dict) -> dict:
    """Check a record's schema; return it. Raises RecordError naming the first problem."""
    for key in RECORD_KEYS:
        if key not in record:
            raise RecordError(f"ladder record has no {key!r} field")
    if record["schema"] != SCHEMA:
        raise RecordError(f"ladder record schema is {record['schema']!r}, expected {SCHEMA!r}")
    for key in ("device_name", "device_type", "peak_flops", "peak_source"):
        if key not in record["hardware"]:
            raise RecordError(f"ladder record's hardware has no {key!r}")
    if "torch" not in record["software"]:
        raise RecordError("ladder record's software has no torch version")
    config_fields = {f.name for f in fields(RungSettings)}
    for row in record["rungs"]:
        for key in ROW_KEYS:
            if key not in row:
                raise RecordError(f"rung {row.get('name', '?')!r} has no {key!r} field")
        if row["status"] not in STATUSES:
            raise RecordError(f"rung {row['name']!r} has unknown status {row['status']!r}")
        if set(row["config"]) != config_fields:
            raise RecordError(f"rung {row['name']!r} config fields {sorted(row['config'])} != {sorted(config_fields)}")
        if row["status"] == "ok":
            for key in OK_ROW_KEYS:
                if key not in row:
                    raise RecordError(f"measured rung {row['name']!r} has no {key!r} field")
            if not row["tokens_per_sec"] > 0:
                raise RecordError(f"rung {row['name']!r} has tokens_per_sec {row['tokens_per_sec']}")
    return record


def load_record(path) -> dict:
    return validate_record(json.loads(Path(path).read_text(encoding="utf-8")))


# The reference ladder: a minimal independent implementation on an H100
# (torch 2.11, GPT-2 124M, B=16, T=1024), tokens/s. Not measured by this code.
REFERENCE_H100 = {
    "fp32": 41.6e3, "tf32": 86.9e3, "bf16": 95.0e3, "compile": 271e3,
    "flash": 390e3, "vocab": 406e3, "fused-adamw": 446e3,
}
REFERENCE_NOTE = (
    "reference, measured with a minimal independent implementation on an H100 "
    "(torch 2.11, B=16, T=1024); fused AdamW at B=64 gave 497k tokens/s (43.3% MFU)"
)


# ----------------------------------------------------------------------------- the command


def _parse(argv):
    p = argparse.ArgumentParser(
        prog="python -m course ladder",
        description="Climb the training speedup ladder: one change per rung, each measured.",
    )
    p.add_argument("--profile", choices=sorted(PROFILES), default=None,
                   help="gpt2: GPT-2 124M, B=16, T=1024 (GPUs); cpu: a tiny GPT-2 (default on a CPU); "
                        "cpu-quick: one layer, few steps; test: smallest, no code generation")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: course.get_device())")
    p.add_argument("--rungs", default=None, help="comma-separated rung names to run (default: all)")
    p.add_argument("--steps", type=int, default=None, help="timed optimizer steps per rung")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps before them")
    p.add_argument("--micro-batch", type=int, default=None, help="micro-batch of rungs 1-7")
    p.add_argument("--peak-tflops", type=float, default=None, help="peak FLOP/s for MFU, in TFLOP/s")
    p.add_argument("--keep-margin", type=float, default=KEEP_MARGIN, help="gain a beyond rung needs to be kept")
    p.add_argument("--time-limit", type=float, default=None, help="skip rungs that would start after this many seconds")
    p.add_argument("--measure-hardware", action="store_true", help="also measure matmul FLOP/s and copy bandwidth")
    p.add_argument("--out", default="benchmarks/results", help="folder for the record (default: benchmarks/results)")
    p.add_argument("--name", default=None, help="file stem (default: ladder-<device>)")
    p.add_argument("--no-save", action="store_true", help="print the table only")
    p.add_argument("--no-plot", action="store_true", help="write JSON and CSV but no PNG")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--list", action="store_true", help="list the rungs and what each changes, then exit")
    return p.parse_args(argv)


def _on_term(signum, frame):
    raise LadderInterrupted(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv if argv is not None else sys.argv[1:])
    device = args.device or get_device()
    profile_name = args.profile or ("cpu" if device_type(device) == "cpu" else "gpt2")
    profile = PROFILES[profile_name]
    if args.list:
        print(f"profile {profile.name}: {profile.label()}; the baseline is {profile.base_settings()}")
        for i, rung in enumerate(ladder_rungs(profile), 1):
            kind = "beyond" if rung.beyond else "core"
            print(f"{i:2d} {rung.name:<16} {kind:<6} {rung.field} = {rung.value!r}  ({rung.title})")
        return 0
    rungs = [r.strip() for r in args.rungs.split(",") if r.strip()] if args.rungs else None

    stem = args.name
    save = None
    if not args.no_save:
        def save(record):
            nonlocal stem
            stem = stem or f"ladder-{device_slug(record['hardware'])}"
            save_record(record, args.out, stem, plot=not args.no_plot and record.get("summary") is not None)

    old = signal.signal(signal.SIGTERM, _on_term)
    try:
        record = run_ladder(
            profile, device, rungs=rungs, steps=args.steps, warmup=args.warmup, micro_batch=args.micro_batch,
            peak_tflops=args.peak_tflops, keep_margin=args.keep_margin, time_limit=args.time_limit,
            seed=args.seed, measure_hardware=args.measure_hardware, on_rung=save, progress=True,
        )
    except ValueError as e:
        print(f"python -m course ladder: {e}", file=sys.stderr)
        return 2
    except LadderInterrupted:
        print("python -m course ladder: stopped by a signal; the record holds the finished rungs", file=sys.stderr)
        return 124
    finally:
        signal.signal(signal.SIGTERM, old)
    print()
    print(format_table(record))
    s = record["summary"]
    if s["best_rung"]:
        print(f"best: {s['best_rung']} at {s['best_tokens_per_sec']:,.0f} tokens/s, "
              f"{100 * s['best_mfu']:.1f}% MFU; ladder took {record['wall_s']:.0f} s")
    if save:
        print(f"record: {Path(args.out) / stem}.json / .csv / .png")
    return 0 if record["complete"] else 124


if __name__ == "__main__":
    sys.exit(main())
