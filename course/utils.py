"""Device choice and determinism, shared by every lesson.

Notebooks call `get_device()` instead of hard-coding "cuda", so the same cell
runs on a laptop CPU, an Apple GPU (MPS) or an NVIDIA GPU, and
`seed_everything()` so that what a lesson prints is what the tests expect.
"""

from __future__ import annotations

import os
import random


def get_device(prefer: str | None = None) -> str:
    """The device a lesson should use: CUDA, then Apple MPS, then CPU.

    `prefer` (or the COURSE_DEVICE environment variable) forces one, e.g. "cpu"
    to reproduce CPU numbers on a GPU machine. Asking for a device that is not
    available is an error, not a silent fallback.
    """
    import torch

    want = prefer or os.environ.get("COURSE_DEVICE") or None
    if want:
        kind = want.split(":")[0]
        ok = {
            "cpu": True,
            "cuda": torch.cuda.is_available(),
            "mps": _mps_available(),
        }.get(kind)
        if ok is None:
            raise ValueError(f"unknown device {want!r}: use 'cpu', 'cuda', 'cuda:N' or 'mps'")
        if not ok:
            raise RuntimeError(f"device {want!r} was asked for but is not available here")
        return want
    if torch.cuda.is_available():
        return "cuda"
    if _mps_available():
        return "mps"
    return "cpu"


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def device_type(device) -> str:
    """'cuda', 'mps' or 'cpu' for a device string or torch.device."""
    return str(device).split(":")[0]


def seed_everything(seed: int = 1337) -> None:
    """Seed Python, NumPy and torch (all devices) so a run can be repeated."""
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % (2**32))
    except ImportError:  # numpy is a dependency, but seeding should never be the thing that fails
        pass
    import torch

    torch.manual_seed(seed)  # also seeds CUDA and MPS generators


class cpu_threads:
    """`with cpu_threads(1):` run torch's CPU kernels on exactly n threads, then restore the setting.

    A float sum split across threads is added in a different order for each
    thread count, so the same seeded run on 1 and on 2 threads differs in its
    last bits; where sampling amplifies those bits (RL rollouts) the runs part
    ways. Fixing the count makes a run repeat on any thread count (CPUs with other
    SIMD instructions, AVX2 vs AVX-512, still round differently). n=None: leave
    torch's setting alone. Nesting is fine; the outermost setting is restored.
    """

    def __init__(self, n: int | None = 1):
        if n is not None and (not isinstance(n, int) or n < 1):
            raise ValueError(f"threads must be a positive integer or None, got {n!r}")
        self.n, self.before = n, None

    def __enter__(self):
        import torch

        self.before = torch.get_num_threads()
        if self.n is not None and self.n != self.before:
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        import torch

        if torch.get_num_threads() != self.before:
            torch.set_num_threads(self.before)
        return False


def setup_notebook(seed: int = 1337) -> None:
    """Seed everything and give plots a modest, consistent size."""
    seed_everything(seed)
    try:
        import matplotlib

        matplotlib.rcParams.update({"figure.figsize": (7, 3.5), "figure.dpi": 80})
    except ImportError:
        pass


def atomic_write(path, write) -> None:
    """Create or replace `path` so that a crash never leaves a half-written file.

    `write(f)` writes to a temporary file (binary mode) in the same directory;
    the file is flushed to disk and then replaces `path` in one `os.replace`
    (atomic on POSIX and Windows). If `write` raises, `path` is untouched.
    Streaming through `write` (e.g. `lambda f: torch.save(obj, f)`) avoids
    building large contents in memory first.
    """
    import tempfile
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file owner-only (0600); give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    """`atomic_write` of a bytes object."""
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path, text: str) -> None:
    """`atomic_write_bytes` for text, always UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))
