"""The exercise harness: solutions pass, pristine stubs fail every check, bad input is explained."""

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import course
from course.grading import GradingError, load_exercise, resolve_target

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(p.stem[len("test_ex"):] for p in (ROOT / "tests" / "exercises").glob("test_ex*.py"))
# the exercise checks proper (test_mutants.py, beside them, grades the checks themselves)
CHECK_FILES = [f"tests/exercises/test_ex{lesson}.py" for lesson in LESSONS]


def _run_exercise_tests(target, tmp_path, *paths):
    report = tmp_path / "report.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *(paths or CHECK_FILES), "--target", str(target),
         "-q", "-p", "no:cacheprovider", "-o", "addopts=", f"--junitxml={report}"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    cases = list(ET.parse(report).getroot().iter("testcase")) if report.exists() else []
    return proc, cases


def test_every_lesson_has_exercises_and_solutions():
    assert LESSONS, "no exercise checks found in tests/exercises"
    for lesson in LESSONS:
        assert (ROOT / "exercises" / f"ex{lesson}.py").is_file(), f"exercises/ex{lesson}.py is missing"
        assert (ROOT / "solutions" / f"ex{lesson}.py").is_file(), f"solutions/ex{lesson}.py is missing"


def test_pristine_stubs_fail_every_check(tmp_path):
    """Each exercise check must be able to fail: against the untouched stubs, all of them do."""
    proc, cases = _run_exercise_tests("exercises", tmp_path)
    assert cases, f"no exercise checks ran:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    passed = [f"{c.get('classname')}::{c.get('name')}" for c in cases
              if c.find("failure") is None and c.find("error") is None and c.find("skipped") is None]
    assert not passed, f"these checks pass against the unfilled stubs, so they cannot catch a wrong answer: {passed}"
    skipped = [c.get("name") for c in cases if c.find("skipped") is not None]
    assert not skipped, f"exercise checks must not skip: {skipped}"


def test_same_api_in_exercises_and_solutions():
    for lesson in LESSONS:
        stub = load_exercise(resolve_target("exercises"), lesson)
        sol = load_exercise(resolve_target("solutions"), lesson)
        public = lambda m: {n for n in vars(m) if not n.startswith("_") and callable(getattr(m, n))
                            and getattr(getattr(m, n), "__module__", None) == m.__name__}
        assert public(stub) == public(sol), f"lesson {lesson}: exercises and solutions define different names"


def test_unknown_target_is_a_usage_error(tmp_path):
    proc, _ = _run_exercise_tests(tmp_path / "no-such-folder", tmp_path, "tests/exercises/test_ex00.py")
    assert proc.returncode == 4, proc.stdout + proc.stderr  # pytest's exit code for usage errors
    assert "no-such-folder" in proc.stderr and "no such file or folder" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_syntax_error_in_learner_file_is_named(tmp_path):
    (tmp_path / "ex00.py").write_text("def softmax(x, dim=-1):\n    return x +\n", encoding="utf-8")
    with pytest.raises(GradingError, match=r"ex00\.py, line 2: syntax error"):
        load_exercise(resolve_target(tmp_path), "00")
    proc, cases = _run_exercise_tests(tmp_path, tmp_path, "tests/exercises/test_ex00.py")
    assert proc.returncode == 1 and cases
    assert all("line 2: syntax error" in (c.find("failure") or c.find("error")).get("message", "") for c in cases)


def test_error_while_importing_learner_file_is_named(tmp_path):
    (tmp_path / "ex00.py").write_text("import torch\nx = 1 / 0\n", encoding="utf-8")
    with pytest.raises(GradingError, match=r"ex00\.py, line 2: importing it raised ZeroDivisionError"):
        load_exercise(resolve_target(tmp_path), "00")


def test_missing_exercise_file_is_named(tmp_path):
    with pytest.raises(GradingError, match=r"ex00\.py not found"):
        load_exercise(resolve_target(tmp_path), "00")


def test_a_learners_folder_is_graded(tmp_path):
    """A class's work: a folder per learner holding exNN.py files."""
    good = (ROOT / "solutions" / "ex00.py").read_text(encoding="utf-8")
    (tmp_path / "ex00.py").write_text(good.replace("return e / e.sum(dim=dim, keepdim=True)", "return e"), encoding="utf-8")
    result = course.check("00", target=tmp_path)
    status = {r.test: r.status for r in result.rows}
    assert status["test_count_parameters"] == "pass"
    assert status["test_softmax_matches_torch"] == "fail"
    assert not result.ok and 0 < result.passed < result.total


def test_check_table_for_stubs_and_solutions():
    source = (ROOT / "tests" / "exercises" / "test_ex00.py").read_text(encoding="utf-8")
    n = len(re.findall(r"^def test_", source, flags=re.M))  # lesson 00's checks, none parametrized
    stubs = course.check("00")
    assert stubs.total == n and stubs.passed == 0
    assert {r.status for r in stubs.rows} == {"not done"}
    assert f"0/{n} checks pass" in str(stubs) and "<table>" in stubs._repr_html_()
    sols = course.check("0", target="solutions")
    assert sols.ok and f"{n}/{n} checks pass" in str(sols)


def test_check_unknown_lesson_says_which_exist():
    result = course.check("99")
    assert not result.ok and "no checks for lesson '99'" in result.problem and "00" in result.problem


def test_check_on_windows_names_the_way_out_instead_of_failing_every_row(monkeypatch):
    """The sandbox needs POSIX (resource limits, inherited pipes): on Windows, course.check says so at once."""
    from course import grading

    assert grading.why_no_sandbox("linux") is None and grading.why_no_sandbox("darwin") is None
    monkeypatch.setattr(grading.subprocess, "run", lambda *a, **k: pytest.fail("no checks run on Windows"))
    monkeypatch.setattr(sys, "platform", "win32")
    result = course.check("01")
    assert not result.ok and result.rows == []
    assert "needs Linux or macOS" in result.problem and "WSL" in result.problem
    assert result.problem in str(result)
