"""`python -m course setup`: setup.sh's steps in Python, for machines without bash (Windows).

Used by the README's "Start" section (lesson 00's setup). The steps are
setup.sh's, in the same order, built with pathlib so that they run the same
on Windows, macOS and Linux:

1. create `.venv` in the checkout with the interpreter running this command
   (Python >= 3.10), unless it exists;
2. install the course into it, `pip install -e .[dev]`, with the known-good
   versions of `constraints.txt` (`--latest`: the newest releases instead);
3. run `python -m course doctor` inside it;
4. say how to start JupyterLab (it is not started: the terminal stays yours).

Run it from a checkout with any Python >= 3.10, e.g. `py -3.12 -m course setup`
on Windows (the checkout's folder on the path: `cd` into it first).
`--dry-run` prints the commands without running them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = "constraints.txt"


def venv_python(env_dir: Path, *, windows: bool | None = None) -> Path:
    """The interpreter inside a virtual environment: Scripts\\python.exe on Windows, bin/python elsewhere."""
    windows = os.name == "nt" if windows is None else windows
    return env_dir / "Scripts" / "python.exe" if windows else env_dir / "bin" / "python"


def make_venv(env_dir: Path) -> None:
    """Create a virtual environment with pip (what `python -m venv DIR` does)."""
    venv.EnvBuilder(with_pip=True).create(env_dir)


def commands(root: Path, python: Path, *, latest: bool = False) -> list[list[str]]:
    """The install and doctor commands, run from `root` with the environment's `python`."""
    if latest:
        install = [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "--upgrade-strategy", "eager",
                   "-e", ".[dev]"]
    else:
        if not (root / CONSTRAINTS).is_file():
            raise FileNotFoundError(f"{root / CONSTRAINTS} is missing: run from a full checkout, or pass --latest")
        install = [str(python), "-m", "pip", "install", "--quiet", "-e", ".[dev]", "-c", CONSTRAINTS]
    return [install, [str(python), "-m", "course", "doctor"]]


def main(argv: list[str] | None = None, *, run=subprocess.run) -> int:
    p = argparse.ArgumentParser(prog="python -m course setup", description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", type=Path, default=ROOT, help="the checkout to set up (default: this one)")
    p.add_argument("--latest", action="store_true", help="newest releases instead of constraints.txt")
    p.add_argument("--dry-run", action="store_true", help="print the steps, run none of them")
    args = p.parse_args(argv or [])
    root = args.dir.resolve()
    if not (root / "pyproject.toml").is_file():
        print(f"error: {root} is not a checkout of the course (no pyproject.toml)", file=sys.stderr)
        return 2
    env_dir = root / ".venv"
    python = venv_python(env_dir)
    try:
        steps = commands(root, python, latest=args.latest)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not python.exists():
        print(f"creating {env_dir}")
        if not args.dry_run:
            make_venv(env_dir)
    for cmd in steps:
        print("running:", " ".join(cmd))
        if not args.dry_run:
            code = run(cmd, cwd=root).returncode
            if code:
                print(f"error: step failed with exit code {code}: {' '.join(cmd)}", file=sys.stderr)
                return code
    jupyter = python.with_name("jupyter.exe" if python.suffix == ".exe" else "jupyter")
    print(f"\nset up. Start the lessons with:  {jupyter} lab notebooks")
    return 0
