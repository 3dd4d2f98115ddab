"""The exercise harness: the same tests check the reference solutions, the stubs,
or a learner's (or a whole class's) work.

Each lesson NN has three files with one API:

    exercises/exNN.py          stubs a learner fills in (raise NotImplementedError)
    solutions/exNN.py          reference answers
    tests/exercises/test_exNN.py   the checks; every test takes the `ex` fixture

`pytest tests/exercises --target exercises|solutions|PATH` picks what `ex` is:
PATH is a folder holding exNN.py files (one learner's copy of exercises/) or a
single exNN.py file. From a notebook, `course.check("NN")` runs one lesson's
checks in a fresh process (so an edited exercise file is re-read) and shows a
pass/fail table; `python -m course grade` (course/grade.py) grades a whole class.
In every case the checks' `ex` is the learner's file run in a sandbox behind a
data-only proxy (course/sandbox.py): the checks are written once, for all three.
"""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS_DIR = ROOT / "tests" / "exercises"
NAMED_TARGETS = {"exercises": ROOT / "exercises", "solutions": ROOT / "solutions"}


class GradingError(Exception):
    """A problem with what is being graded (missing file, syntax error, ...)."""


def resolve_target(target: str | os.PathLike) -> Path:
    """'exercises', 'solutions', a folder of exNN.py files, or one exNN.py file."""
    if str(target) in NAMED_TARGETS:
        path = NAMED_TARGETS[str(target)]
    else:
        path = Path(target).expanduser()
    if not path.exists():
        raise GradingError(
            f"--target {str(target)!r}: no such file or folder ({path.resolve()}). "
            "Use 'exercises', 'solutions', a folder holding exNN.py files, or one exNN.py file."
        )
    if path.is_file() and not re.fullmatch(r"ex\d\d\.py", path.name):
        raise GradingError(f"--target {str(target)!r}: a single file must be named exNN.py, e.g. ex01.py")
    return path.resolve()


def exercise_file(target: Path, lesson: str) -> Path:
    name = f"ex{lesson}.py"
    path = target if target.is_file() else target / name
    if path.name != name:
        raise GradingError(f"{path} is lesson {path.stem[2:]}, but these checks are for lesson {lesson}")
    if not path.is_file():
        raise GradingError(f"{path} not found: lesson {lesson}'s exercises should be in a file named {name}")
    return path


def load_exercise(target: Path, lesson: str):
    """Import exNN.py from the target as a fresh module; clear errors for broken files."""
    path = exercise_file(target, lesson)
    source = path.read_text(encoding="utf-8")
    try:
        compile(source, str(path), "exec")
    except SyntaxError as e:
        line = (e.text or "").rstrip("\n")
        caret = " " * max((e.offset or 1) - 1, 0) + "^"
        raise GradingError(f"{path}, line {e.lineno}: syntax error: {e.msg}\n    {line}\n    {caret}") from None
    module_name = f"_graded_ex{lesson}_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    # Make `import` of sibling helpers work, as when a learner runs the file directly.
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # any error while importing the learner's file
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f for f in reversed(tb) if f.filename == str(path)), None)
        at = f", line {where.lineno}" if where else ""
        raise GradingError(f"{path}{at}: importing it raised {type(e).__name__}: {e}") from None
    finally:
        sys.path.remove(str(path.parent))
    return module


# ----------------------------------------------------------------------------- course.check


@dataclass
class CheckRow:
    test: str
    status: str  # "pass" | "fail" | "not done" | "error" | "timeout"
    message: str = ""


@dataclass
class CheckResult:
    lesson: str
    target: str
    rows: list[CheckRow] = field(default_factory=list)
    problem: str = ""  # set when the checks could not run at all

    @property
    def passed(self) -> int:
        return sum(r.status == "pass" for r in self.rows)

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def ok(self) -> bool:
        return not self.problem and self.total > 0 and self.passed == self.total

    def summary(self) -> str:
        if self.problem:
            return f"lesson {self.lesson} ({self.target}): could not run the checks"
        return f"lesson {self.lesson} ({self.target}): {self.passed}/{self.total} checks pass"

    def __str__(self) -> str:
        lines = [self.summary()]
        if self.problem:
            lines.append(self.problem)
        width = max([len(r.test) for r in self.rows] + [4])
        for r in self.rows:
            lines.append(f"  {r.status:<8}  {r.test:<{width}}  {r.message}".rstrip())
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        # White on a saturated badge reads the same in light and dark themes (contrast >= 4.5);
        # the rest inherits the page's colours. Long messages wrap; the table never overflows.
        colour = {"pass": "#1a7f37", "fail": "#cf222e", "error": "#cf222e", "timeout": "#cf222e",
                  "not done": "#9a6700"}
        head = f"<b>{html.escape(self.summary())}</b>"
        if self.problem:
            return head + f"<pre style='white-space:pre-wrap'>{html.escape(self.problem)}</pre>"
        cell = "style='text-align:left;vertical-align:top'"
        rows = "".join(
            f"<tr><td {cell}><span style='background:{colour[r.status]};color:#fff;"
            f"font-weight:bold;border-radius:3px;padding:0 4px;white-space:nowrap'>{r.status}"
            f"</span></td><td {cell}><code>{html.escape(r.test)}</code></td>"
            f"<td style='text-align:left;overflow-wrap:anywhere'>{html.escape(r.message)}</td></tr>"
            for r in self.rows
        )
        heads = "".join(f"<th {cell}>{h}</th>" for h in ("result", "check", "message"))
        return (
            f"{head}<div style='overflow-x:auto;max-width:100%'>"
            f"<table><tr>{heads}</tr>{rows}</table></div>"
        )


def why_no_sandbox(platform: str | None = None) -> str | None:
    """Why the sandbox cannot run here, or None. It locks the learner's process in with POSIX
    means (resource limits, inherited pipe descriptors, process groups) that Windows lacks; the
    notebooks' your-turn cells check in the notebook's own process and run everywhere."""
    if (platform or sys.platform).startswith("win"):
        return ("course.check runs the exercise file in a locked-in process, which needs Linux or macOS: "
                "on Windows, run it inside WSL (the notebooks' your-turn cells work without it)")
    return None


STATUS = {"passed": "pass", "failed": "fail", "error": "error", "timeout": "timeout", "not-done": "not done"}


def check(lesson, target="exercises", *, timeout: int = 600) -> CheckResult:
    """Run lesson `lesson`'s exercise checks against `target` and return a table.

    The checks run in a fresh pytest process (so an edited exercise file is re-read);
    the learner's file runs in a sandbox behind it (course/sandbox.py), and
    course/checkreport.py records each check's outcome.
    """
    lesson = f"{int(lesson):02d}" if str(lesson).isdigit() else str(lesson)
    result = CheckResult(lesson=lesson, target=str(target))
    result.problem = why_no_sandbox() or ""
    if result.problem:
        return result
    test_file = TESTS_DIR / f"test_ex{lesson}.py"
    if not test_file.is_file():
        known = sorted(p.stem[len("test_ex") :] for p in TESTS_DIR.glob("test_ex*.py"))
        result.problem = f"no checks for lesson {lesson!r}; lessons with exercises: {', '.join(known)}"
        return result
    try:
        resolved = resolve_target(target)  # relative to the caller's folder, not the repo's
        path = exercise_file(resolved, lesson)
        source = path.read_text(encoding="utf-8")
        compile(source, str(path), "exec")  # compiling runs none of it: a syntax error is one problem
    except SyntaxError as e:
        line = (e.text or "").rstrip("\n")
        caret = " " * max((e.offset or 1) - 1, 0) + "^"
        result.problem = f"{path}, line {e.lineno}: syntax error: {e.msg}\n    {line}\n    {caret}"
        return result
    except GradingError as e:
        result.problem = str(e)
        return result
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.jsonl"
        cmd = [sys.executable, "-m", "pytest", str(test_file), "--target", str(resolved),
               "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-p", "course.checkreport",
               f"--check-report={report}", f"--check-timeout={min(timeout, 120)}"]
        try:
            env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # no nbval & co: faster start
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, encoding="utf-8", errors="replace",
                                  timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            result.problem = f"the checks did not finish within {timeout} s (an endless loop?)"
            return result
        if not report.exists():
            result.problem = "pytest did not run the checks:\n" + (proc.stdout + proc.stderr)[-2000:]
            return result
        for line in report.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            message = row["message"].splitlines()[0] if row["message"] else ""
            result.rows.append(CheckRow(row["check"], STATUS[row["outcome"]], message))
    return result
