"""What the machine can do: datasheet peaks, matmul and copy micro-benchmarks, and what it is.

Lesson 04 (the speedup ladder) asks two questions of the hardware: how many
FLOP/s it could do at best (the denominator of MFU) and how many bytes/s it
can move (why memory-bound ops do not speed up with faster matmuls). For a
known GPU the answer to the first is its datasheet's dense bf16 peak; for a
CPU or an unknown GPU we measure the best matmul rate instead, and say so.

Every measurement here is "work / best time": the work is counted, not
timed (2 n^3 FLOPs for an n x n matmul, which `torch.utils.flop_counter`
counts the same way; bytes read + written for a copy), and the time is the
best of several repeats, because the best repeat is the one least disturbed
by everything else the machine is doing. `clock` is the one timer: tests
replace it to check the arithmetic without depending on a real machine.
"""

from __future__ import annotations

import math
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

from course.utils import device_type

clock = time.perf_counter  # the timer every measurement reads (tests swap in a fake one)

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


def load_average() -> list[float] | None:
    """The (1, 5, 15 min) load average, rounded: how busy the machine was while something was
    measured (a shared 2-core machine can slow a run several times). None where the OS has none
    (Windows)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _name_tokens(device_name: str) -> set[str]:
    """'NVIDIA A100-SXM4-80GB' -> {'NVIDIA', 'A100', 'SXM4', '80GB'}: whole words, so 'L4' never matches 'L40'."""
    return set(re.findall(r"[A-Z0-9]+", device_name.upper()))


def datasheet_peak(device_name: str) -> tuple[float, str] | None:
    """(dense bf16 FLOP/s, label) for a known GPU name, else None."""
    words = _name_tokens(device_name)
    for keys, flops, label in GPU_BF16_PEAKS:
        if all(k in words for k in keys):
            return flops, f"{label} datasheet: {flops / 1e12:.0f} TFLOP/s dense bf16"
    return None


# ----------------------------------------------------------------------------- timing


def synchronize(device) -> None:
    """Wait for the device's queued work: GPU calls return before the GPU is done."""
    kind = device_type(device)
    if kind == "cuda":
        torch.cuda.synchronize()
    elif kind == "mps":
        torch.mps.synchronize()


def best_time(fn, device, repeats: int = 5, inner: int = 1) -> float:
    """Seconds per call of `fn()`: the best of `repeats` timings of `inner` calls each.

    One untimed call first (allocations, kernel selection), and a synchronize
    before each clock read, so the time is the device's, not the launch's.
    """
    fn()
    synchronize(device)
    best = math.inf
    for _ in range(max(1, repeats)):
        t0 = clock()
        for _ in range(inner):
            fn()
        synchronize(device)
        best = min(best, (clock() - t0) / inner)
    return best


def matmul_work(device="cpu", n: int = 1024, dtype: str = "float32"):
    """(fn, FLOPs): one (n x n) @ (n x n) product on seeded inputs, and its 2 n^3 FLOPs.

    n^2 outputs, each a dot product of n multiplies and n adds.
    """
    torch_dtype = getattr(torch, dtype)
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device=device, dtype=torch_dtype)
    b = torch.randn(n, n, generator=gen).to(device=device, dtype=torch_dtype)
    return (lambda: a @ b), 2 * n**3


def copy_work(device="cpu", nbytes: int = 2**20):
    """(fn, bytes moved): `dst.copy_(src)` of float32 buffers holding `nbytes` together.

    A copy reads every byte of src and writes every byte of dst, so the bytes
    moved are src.nbytes + dst.nbytes.
    """
    n = max(1, nbytes // 8)
    src = torch.rand(n, device=device)
    dst = torch.empty_like(src)
    return (lambda: dst.copy_(src)), src.nbytes + dst.nbytes


def measure_matmul_flops(device="cpu", n: int = 1024, dtype: str = "float32", repeats: int = 5) -> float:
    """FLOP/s of the best of `repeats` (n x n) @ (n x n) products."""
    fn, flops = matmul_work(device, n, dtype)
    return flops / best_time(fn, device, repeats)


def measure_bandwidth(device="cpu", nbytes: int = 256 * 2**20, repeats: int = 5) -> float:
    """Bytes/s of copying between two float32 buffers of `nbytes` together, counting reads and writes."""
    fn, moved = copy_work(device, nbytes)
    return moved / best_time(fn, device, repeats)


def bandwidth_by_size(device="cpu", sizes=None, budget_s: float = 0.05) -> list[tuple[int, float]]:
    """[(working-set bytes, bytes/s)] of `dst.copy_(src)` for growing buffers.

    Small buffers stay in the caches (L1/L2/L3 on a CPU, L2 on a GPU) and copy
    fast; once src + dst outgrow the last cache, every byte comes from DRAM/HBM.
    Each size gets at least 3 repeats and about `budget_s` seconds; the best counts.
    """
    sizes = sizes or [2**k for k in range(16, 29, 2)]
    out = []
    for size in sizes:
        fn, moved = copy_work(device, size)
        inner = max(1, (2**22) // size)  # several copies per timing so tiny sizes are measurable
        t_end, best, reps = clock() + budget_s, math.inf, 0
        while reps < 3 or clock() < t_end:
            best = min(best, best_time(fn, device, repeats=1, inner=inner))
            reps += 1
        out.append((moved, moved / best))
    return out


def device_peak_flops(device, peak_tflops: float | None = None) -> tuple[float, str]:
    """(peak FLOP/s, where the number comes from) for MFU on `device`.

    A known GPU: its datasheet dense bf16 peak. A CPU or an unknown GPU: the
    best of fp32 and bf16 matmuls measured here, said to be measured.
    """
    if peak_tflops:
        return peak_tflops * 1e12, f"given on the command line: {peak_tflops:g} TFLOP/s"
    kind = device_type(device)
    if kind == "cuda":
        known = datasheet_peak(torch.cuda.get_device_name(device))
        if known:
            return known
    n = 4096 if kind == "cuda" else 1024
    # a CPU without bf16 instructions emulates bf16 matmuls (tens of times slower): never its peak, and
    # timing one at 1024^3 would take minutes
    dtypes = ("float32", "bfloat16") if kind != "cpu" or cpu_has_fast_bf16() else ("float32",)
    rates = {dt: measure_matmul_flops(device, n, dt) for dt in dtypes}
    best = max(rates, key=rates.get)
    threads = f", {torch.get_num_threads()} threads" if kind == "cpu" else ""
    each = ", ".join(f"{'fp32' if dt == 'float32' else 'bf16'} {r / 1e12:.3g}" for dt, r in rates.items())
    if "bfloat16" not in rates:
        each += "; bf16 not timed: no bf16 instructions on this CPU"
    return rates[best], (
        f"measured here, not a datasheet peak: the best {n}^3 matmul ({best}{threads}) ran at "
        f"{rates[best] / 1e12:.3g} TFLOP/s ({each})"
    )


# ----------------------------------------------------------------------------- what the machine is


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU has native bf16 instructions (AVX-512 BF16 or AMX) that oneDNN uses."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def nvidia_driver() -> str | None:
    """The NVIDIA driver version from nvidia-smi (torch knows the CUDA runtime, not the driver)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, encoding="utf-8", timeout=20,
                             check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip().splitlines()[0] if out.strip() else None


def hardware_info(device) -> dict:
    kind = device_type(device)
    info = {
        "device": str(device),
        "device_type": kind,
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if kind == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            device_name=props.name,
            driver=nvidia_driver(),
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


# ----------------------------------------------------------------------------- memory

PEAK_MEMORY_KIND = {
    "cuda": "torch.cuda.max_memory_allocated during the rung",
    "mps": "MPS driver-allocated memory at the end of the rung",
    "cpu": "process peak RSS so far (a high-water mark: it never goes down between rungs)",
}


def peak_memory_mb(device) -> float | None:
    """The peak memory `PEAK_MEMORY_KIND` describes for this kind of device, in MiB."""
    kind = device_type(device)
    if kind == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    if kind == "mps":
        return torch.mps.driver_allocated_memory() / 2**20
    try:
        import resource
    except ImportError:  # Windows
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10
