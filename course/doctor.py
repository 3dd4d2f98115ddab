"""`python -m course doctor`: an environment report to paste into a bug report.

It answers the questions that come before any other: which Python and package
versions are installed, which device lessons will use (CUDA, then Apple MPS,
then CPU; COURSE_DEVICE overrides), whether that device computes the same
loss and gradients as the CPU (`course.selfcheck`), whether the bundled data
and tokenizer tables load, and whether the Hugging Face hub can be reached. It exits non-zero, naming what is wrong, when
something the course needs is missing; an unreachable network is only reported,
since every lesson runs offline.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import platform
import sys
import time

from course import hub

# distribution name -> import name
REQUIRED = {
    "torch": "torch",
    "tiktoken": "tiktoken",
    "regex": "regex",
    "numpy": "numpy",
    "matplotlib": "matplotlib",
    "ipywidgets": "ipywidgets",
    "datasets": "datasets",
    "tqdm": "tqdm",
    "jupyterlab": "jupyterlab",
    "nbval": "nbval",
    "safetensors": "safetensors",
    "huggingface_hub": "huggingface_hub",
    "sentencepiece": "sentencepiece",
    "pyyaml": "yaml",
}
OPTIONAL = {"transformers": "transformers", "tokenizers": "tokenizers", "pytest": "pytest", "hypothesis": "hypothesis",
            "playwright": "playwright"}


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def check_packages(report, problems):
    for dist in REQUIRED:
        v = _version(dist)
        report.append((dist, v or "MISSING"))
        if v is None:
            problems.append(f"required package {dist!r} is not installed (pip install -e . installs it)")
    for dist in OPTIONAL:
        report.append((dist, _version(dist) or "not installed (dev extra)"))


def check_device(report, problems):
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - report any failure to import torch
        problems.append(f"torch does not import: {type(e).__name__}: {e}")
        return
    from course.utils import get_device

    try:
        device = get_device()
    except (ValueError, RuntimeError) as e:  # COURSE_DEVICE names a device this machine lacks
        problems.append(f"{e} (COURSE_DEVICE={os.environ.get('COURSE_DEVICE')!r}; unset it, or set it to cpu)")
        return
    detail = device
    if device.startswith("cuda"):
        detail += f" ({torch.cuda.get_device_name(0)}, {torch.cuda.device_count()} GPU(s), CUDA {torch.version.cuda})"
    elif device == "cpu":
        detail += f" ({os.cpu_count()} cores, torch uses {torch.get_num_threads()} threads)"
    report.append(("device", detail))
    if device.startswith("cuda"):
        from course.precision import autocast_dtype, cuda_capability, dtype_name

        major, minor = cuda_capability(device)
        amp = dtype_name(autocast_dtype(device, "auto"))
        why = "bf16 tensor cores" if amp == "bfloat16" else "no bf16 tensor cores: fp16 with a grad scaler"
        report.append(("precision", f"--dtype auto: {amp} autocast (compute capability {major}.{minor}: {why})"))
    else:
        report.append(("precision", "--dtype auto: float32 (no autocast on CPU/MPS unless --dtype asks)"))
    check_device_numbers(device, report, problems)


def check_device_numbers(device, report, problems):
    """The self-check: one fixed batch's loss and gradients on `device` against the CPU (course.selfcheck)."""
    from course.selfcheck import self_check

    try:
        result = self_check(device)
    except Exception as e:  # noqa: BLE001 - a device that cannot even run the check is a finding
        report.append(("device self-check", f"FAILED to run on {device}"))
        problems.append(f"the device self-check could not run on {device} ({type(e).__name__}: {e}); "
                        "set COURSE_DEVICE=cpu to use the CPU")
        return
    report.append(("device self-check", result.summary() if result.ok else "MISMATCH (see PROBLEMS)"))
    if not result.ok:
        problems.append(result.summary())


def check_assets(report, problems):
    from course.assets import MANIFEST, AssetError, verify_asset

    bad = []
    for name in MANIFEST:
        try:
            verify_asset(name)
        except AssetError as e:
            bad.append(str(e))
    report.append(("bundled data", f"{len(MANIFEST) - len(bad)}/{len(MANIFEST)} files verified (sha256)"))
    problems.extend(bad)
    try:
        import tiktoken

        from course.assets import use_bundled_tiktoken_cache

        report.append(("tiktoken cache", use_bundled_tiktoken_cache()))
        for name in ("gpt2", "r50k_base", "cl100k_base", "o200k_base"):
            tiktoken.get_encoding(name)
        ids = tiktoken.get_encoding("cl100k_base").encode("hello world")
        if ids != [15339, 1917]:
            problems.append(f"cl100k_base encodes 'hello world' as {ids}, expected [15339, 1917]")
        report.append(("tokenizer tables", "gpt2, r50k_base, cl100k_base, o200k_base load offline"))
    except Exception as e:  # noqa: BLE001
        problems.append(f"tiktoken encodings do not load: {type(e).__name__}: {e}")


def hub_reachable(timeout: float = 2.0) -> str:
    """'reachable', or why not, within about `timeout` seconds (DNS included)."""
    reason = hub.unreachable_reason(timeout, variables=("HF_HUB_OFFLINE",))
    if reason is None:
        return "reachable"
    if reason.startswith("offline mode"):
        return f"not checked: {reason}; bundled data is used"
    return f"unreachable ({reason}); lessons use bundled data"


def run() -> tuple[list[tuple[str, str]], list[str]]:
    report: list[tuple[str, str]] = [
        ("python", f"{platform.python_version()} ({sys.executable})"),
        ("platform", platform.platform()),
        ("course", _version("course") or "not installed (running from a checkout)"),
    ]
    problems: list[str] = []
    check_packages(report, problems)
    check_device(report, problems)
    check_assets(report, problems)
    report.append(("hugging face hub", hub_reachable()))
    return report, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course doctor", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv or [])
    t0 = time.perf_counter()
    report, problems = run()
    width = max(len(k) for k, _ in report)
    print("course doctor: environment report")
    for k, v in report:
        print(f"  {k:<{width}}  {v}")
    print(f"  {'checked in':<{width}}  {time.perf_counter() - t0:.1f} s")
    if problems:
        print("\nPROBLEMS:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print("\nAll required checks passed.")
    return 0
