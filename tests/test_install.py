"""`python -m course setup`, the path without bash, and setup.sh's options (nothing is pip-installed here)."""

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from course import cli, install

ROOT = Path(__file__).resolve().parents[1]


def checkout(tmp_path: Path, constraints: bool = True) -> Path:
    root = tmp_path / "course checkout"  # a space in the path, as on many Windows machines
    root.mkdir()
    shutil.copy(ROOT / "pyproject.toml", root)
    if constraints:
        shutil.copy(ROOT / "constraints.txt", root)
    return root


class Recorder:
    def __init__(self, code=0):
        self.calls, self.code = [], code

    def __call__(self, cmd, cwd):
        self.calls.append((cmd, cwd))
        return subprocess.CompletedProcess(cmd, self.code)


def test_setup_creates_the_venv_installs_with_constraints_and_runs_doctor(tmp_path, monkeypatch, capsys):
    root = checkout(tmp_path)
    made = []
    monkeypatch.setattr(install, "make_venv", lambda d: made.append(d) or venv.EnvBuilder(with_pip=False).create(d))
    run = Recorder()
    assert install.main(["--dir", str(root)], run=run) == 0
    python = root / ".venv" / "bin" / "python"
    assert made == [root / ".venv"] and python.exists()
    assert [c for c, _ in run.calls] == [
        [str(python), "-m", "pip", "install", "--quiet", "-e", ".[dev]", "-c", "constraints.txt"],
        [str(python), "-m", "course", "doctor"],
    ]
    assert all(cwd == root for _, cwd in run.calls)
    assert f"{root / '.venv' / 'bin' / 'jupyter'} lab notebooks" in capsys.readouterr().out
    # a second run keeps the environment and only updates it
    made.clear()
    assert install.main(["--dir", str(root), "--latest"], run=run) == 0
    assert made == [] and "--upgrade" in run.calls[-2][0] and "-c" not in run.calls[-2][0]


def test_dry_run_runs_nothing(tmp_path, capsys):
    root = checkout(tmp_path)
    run = Recorder()
    assert install.main(["--dir", str(root), "--dry-run"], run=run) == 0
    out = capsys.readouterr().out
    assert run.calls == [] and not (root / ".venv").exists()
    assert "creating" in out and "-c constraints.txt" in out and "course doctor" in out


def test_a_failing_step_stops_setup_with_its_exit_code(tmp_path, monkeypatch, capsys):
    root = checkout(tmp_path)
    monkeypatch.setattr(install, "make_venv", lambda d: venv.EnvBuilder(with_pip=False).create(d))
    run = Recorder(code=3)
    assert install.main(["--dir", str(root)], run=run) == 3
    assert len(run.calls) == 1 and "step failed with exit code 3" in capsys.readouterr().err


def test_missing_constraints_or_checkout_is_named(tmp_path, capsys):
    root = checkout(tmp_path, constraints=False)
    assert install.main(["--dir", str(root), "--dry-run"]) == 2
    assert "constraints.txt is missing" in capsys.readouterr().err
    assert install.main(["--dir", str(tmp_path), "--dry-run"]) == 2
    assert "not a checkout" in capsys.readouterr().err


def test_windows_layout():
    env = Path("C:/work/course/.venv")
    assert install.venv_python(env, windows=True) == env / "Scripts" / "python.exe"
    assert install.venv_python(env, windows=False) == env / "bin" / "python"


def test_setup_is_a_course_command(capsys):
    assert "setup" in cli.COMMANDS
    assert cli.main(["setup", "--dry-run", "--dir", str(ROOT)]) == 0
    assert "course doctor" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("bash") is None, reason="setup.sh is the bash route")
def test_setup_sh_rejects_an_unknown_option_before_doing_anything(tmp_path):
    proc = subprocess.run(["bash", str(ROOT / "setup.sh"), "--lab-please"], capture_output=True, text=True,
                          timeout=30, env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable})
    assert proc.returncode == 2 and "unknown option '--lab-please'" in proc.stderr



BARE = """
import importlib, runpy, sys

BLOCKED = {"torch", "numpy", "tiktoken", "regex", "datasets", "matplotlib", "tqdm", "yaml", "pip"}

class NoThirdParty:  # a fresh Python: only the standard library imports
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ImportError(name + " is not installed (blocked by the test)")

sys.meta_path.insert(0, NoThirdParty())
for name in sys.argv[2:]:  # the test's own check that the blocking works
    importlib.import_module(name)
sys.argv = ["course", "setup", "--dry-run", "--dir", sys.argv[1]]
runpy.run_module("course", run_name="__main__", alter_sys=True)
"""


def test_setup_runs_on_a_python_with_nothing_installed(tmp_path):
    """The path without bash starts from a bare Python: `python -m course setup` imports no dependency."""
    root = checkout(tmp_path)
    script = tmp_path / "bare.py"
    script.write_text(BARE, encoding="utf-8")

    def bare(*imports):
        return subprocess.run([sys.executable, str(script), str(root), *imports], cwd=ROOT, capture_output=True,
                              text=True, encoding="utf-8", timeout=60,
                              env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})

    proc = bare()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "-c constraints.txt" in proc.stdout and "course doctor" in proc.stdout
    blocked = bare("torch")  # the blocker itself works: a module that needs torch would have failed
    assert blocked.returncode != 0 and "torch is not installed (blocked by the test)" in blocked.stderr
