"""Build and execute course notebooks.

    python tools/nbtool.py new  draft.py notebooks/NN_name.ipynb   # percent-format draft -> notebook
    python tools/nbtool.py run  notebooks/NN_name.ipynb            # execute in place, keep outputs
    python tools/nbtool.py check notebooks/NN_name.ipynb           # nbval with this CPU's kernels and with AVX2's

A draft is a Python file in "percent" format: `# %%` starts a code cell,
`# %% [markdown]` a markdown cell whose lines start with `# `. `new` puts the
standard setup cell (course.notebook.SETUP_CELL) first, so drafts leave it out.
`run` executes with the environment CI uses (offline, seeded), so the committed
outputs are what nbval will compare against.

`check` runs nbval on the committed notebook twice: with the kernels torch picks on
this CPU, then with ATen, oneDNN and MKL held to AVX2. CI machines differ in their
SIMD instructions (AVX2 on one, AVX-512 or AMX on the next), and float sums round
differently on each: an output whose digits follow training or a long reduction
passes on the machine that wrote it and fails on another. The second pass finds
those cells; mark them `# NBVAL_IGNORE_OUTPUT` and let an assert with a margin
carry the claim.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course.notebook import SETUP_CELL  # noqa: E402

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def parse_percent(text: str):
    cells, kind, lines = [], None, []

    def flush():
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(
                line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.splitlines()
            )
            cells.append(nbformat.v4.new_markdown_cell(body))
        elif body.strip():
            cells.append(nbformat.v4.new_code_cell(body))

    for line in text.splitlines():
        if line.startswith("# %%"):
            flush()
            kind = "markdown" if "[markdown]" in line else "code"
            lines = []
        else:
            lines.append(line)
    flush()
    return cells


def new(draft: str, out: str) -> None:
    cells = parse_percent(Path(draft).read_text(encoding="utf-8"))
    # Keep a leading title markdown cell first, then the setup cell.
    lead = []
    if cells and cells[0].cell_type == "markdown":
        lead = [cells.pop(0)]
    nb = nbformat.v4.new_notebook()
    nb.cells = lead + [nbformat.v4.new_code_cell(SETUP_CELL)] + cells
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, out)
    print(f"wrote {out} ({len(nb.cells)} cells)")


def run(path: str, timeout: int = 1200) -> None:
    from nbclient import NotebookClient

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # A non-interactive backend (MPLBACKEND=Agg, as CI sets for pytest) would drop every figure
    # from the committed outputs: the kernel must use the notebook's inline backend.
    os.environ.pop("MPLBACKEND", None)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(Path(path).parent)}}
    )
    client.execute()
    # Strip volatile metadata so diffs show only real changes.
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    print(f"executed {path}")


AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def check(paths: list[str]) -> int:
    """nbval on `paths` with this CPU's kernels, then with AVX2's; the worse exit code."""
    import subprocess

    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               MPLBACKEND="Agg", COURSE_SHADOW_SOLUTIONS="1", PYTHONPATH=str(ROOT))
    worst = 0
    for label, extra in (("this CPU's kernels", {}), ("AVX2 kernels", AVX2)):
        print(f"== nbval with {label}", flush=True)
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", *paths]
        worst = max(worst, subprocess.call(cmd, cwd=ROOT, env={**env, **extra}))
    return worst


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "new" and len(sys.argv) == 4:
        new(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 2 and sys.argv[1] == "run" and len(sys.argv) >= 3:
        for p in sys.argv[2:]:
            run(p)
    elif len(sys.argv) >= 3 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2:]))
    else:
        print(__doc__)
        sys.exit(2)
