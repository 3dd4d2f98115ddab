"""Run a CUDA-only script on the CPU, unchanged: for the GPU run's --dry-run rehearsal ONLY.

    python benchmarks/cpu_shim.py SCRIPT [ARGS...]

The reference ladder (`ladder_ref.py`) is run as it is, and it calls
`.cuda()`, `torch.cuda.*` and `device="cuda"`. To rehearse the GPU run on a
machine without a GPU, this maps those calls to the CPU around the script,
without editing it: `.cuda()` returns the module on the CPU,
`device="cuda"` becomes "cpu", `torch.autocast("cuda", ...)` becomes CPU
autocast, and `torch.cuda.synchronize/empty_cache/get_device_name` do the CPU
equivalent. Numbers measured through it are CPU numbers and mean nothing for
a GPU; `benchmarks/ladder_gpu.py` only uses it with --dry-run.
"""

from __future__ import annotations

import runpy
import sys

import torch


def _cpu(device):
    return "cpu" if device is not None and str(device).startswith("cuda") else device


def install() -> None:
    torch.nn.Module.cuda = lambda self, device=None: self
    torch.Tensor.cuda = lambda self, *a, **k: self
    for name in ("randint", "randn", "rand", "zeros", "ones", "empty", "arange", "tensor", "full"):
        real = getattr(torch, name)

        def patched(*a, _real=real, **k):
            if "device" in k:
                k["device"] = _cpu(k["device"])
            return _real(*a, **k)

        setattr(torch, name, patched)
    real_autocast = torch.autocast

    class autocast(real_autocast):  # noqa: N801  (stands in for torch.autocast)
        def __init__(self, device_type, *a, **k):
            super().__init__(_cpu(device_type), *a, **k)

    torch.autocast = autocast
    torch.cuda.synchronize = lambda *a, **k: None
    torch.cuda.empty_cache = lambda: None
    torch.cuda.get_device_name = lambda *a, **k: "CPU (dry run through benchmarks/cpu_shim.py, not a GPU)"


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    install()
    sys.argv = list(argv)
    runpy.run_path(argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
