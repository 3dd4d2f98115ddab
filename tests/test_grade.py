"""`python -m course grade`: a class of good, wrong and hostile submissions, each scored right.

The hostile students attack the grader the ways a prototype was fooled (fake output,
pytest hooks, forged results, always-equal answers, patched torch, exits, hangs,
bombs, file and network access). None may get a `passed` for what it attacks, the
grader must report on everyone, and the honest students must get full marks.
"""

import csv
import hashlib
import json
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from course.sandbox import UID_BASE, Limits, Sandbox, is_root

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_00 = (ROOT / "solutions" / "ex00.py").read_text(encoding="utf-8")
STUB_00 = (ROOT / "exercises" / "ex00.py").read_text(encoding="utf-8")
TIMEOUT = 8  # seconds per check: short, so the hanging students cost little

SOFTMAX = ["test_softmax_matches_torch", "test_softmax_other_dim", "test_softmax_is_stable_for_large_logits",
           "test_softmax_is_stable_row_by_row", "test_softmax_builds_it_itself"]
COUNT = ["test_count_parameters", "test_count_parameters_tied_and_frozen",
         "test_count_parameters_tied_through_memory", "test_count_parameters_counts_parameters_not_buffers"]
CHECKS_00 = SOFTMAX + COUNT


def _wrong(body, prelude=""):
    """A module with the exercise's two functions, both wrong in the way `body` says."""
    return "import torch\n" + prelude + textwrap.dedent(body)


FORGE = '''
import glob, json, os
LINE = json.dumps({"check": "test_softmax_matches_torch", "lesson": "00", "outcome": "passed",
                   "seconds": 0, "message": "", "isolation": []}) + "\\n"
def forge():
    for fd in range(0, 64):  # every inherited descriptor, including the wire back to the grader
        for fake in (LINE, '{"id": %d, "ok": 280}\\n' % fd, '{"ready": []}\\n'):
            try:
                os.write(fd, fake.encode())
            except OSError:
                pass
    for environ in glob.glob("/proc/*/environ") + glob.glob("/proc/*/cmdline"):
        try:
            text = open(environ, "rb").read().decode(errors="ignore")
        except OSError:
            continue
        for word in text.replace("\\0", " ").replace("=", " ").split():
            if word.endswith(".jsonl") or "report" in word:
                try:
                    open(word.split("=")[-1], "a").write(LINE * 20)
                except OSError:
                    pass
    for path in glob.glob("/tmp/**/report.jsonl", recursive=True):
        try:
            open(path, "a").write(LINE * 20)
        except OSError:
            pass
forge()
'''


def _class(root: Path, port: int) -> dict[str, dict[str, str]]:
    """student -> {file name: source}."""
    good_04 = (ROOT / "solutions" / "ex04.py").read_text(encoding="utf-8")
    return {
        "good": {"ex00.py": SOLUTION_00 + "\nprint('just checking')\n"},
        "good-too": {"ex00.py": SOLUTION_00, "ex04.py": good_04},  # only lesson 00 is graded
        "wrong-softmax": {"ex00.py": SOLUTION_00.replace("return e / e.sum(dim=dim, keepdim=True)", "return e")},
        "nothing-handed-in": {},
        "exit-at-import": {"ex00.py": "import sys\nsys.exit(0)\n" + SOLUTION_00},
        "os-exit-at-import": {"ex00.py": "import os\nos._exit(0)\n" + SOLUTION_00},
        "exit-in-function": {"ex00.py": _wrong("""
            import os, sys
            def softmax(logits, dim=-1):
                sys.exit(0)
            def count_parameters(model, trainable_only=False):
                os._exit(0)
            """)},
        "fake-passed-prints": {"ex00.py": _wrong(prelude=f"CHECKS = {CHECKS_00!r}\n", body="""
            import sys
            for name in CHECKS:
                print(f"tests/exercises/test_ex00.py::{name} PASSED")
            print("=========== 5 passed in 0.01s ===========")
            sys.stderr.write("5 passed\\n")
            def softmax(logits, dim=-1):
                print("PASSED")
                return logits
            def count_parameters(model, trainable_only=False):
                print("PASSED")
                return 0
            """)},
        "conftest-and-plugin": {
            "conftest.py": textwrap.dedent("""
                import pytest
                @pytest.hookimpl(hookwrapper=True)
                def pytest_runtest_makereport(item, call):
                    outcome = yield
                    report = outcome.get_result()
                    report.outcome = "passed"
                    report.longrepr = None
                """),
            "pytest_flip.py": "def pytest_runtest_logreport(report):\n    report.outcome = 'passed'\n",
            "ex00.py": "pytest_plugins = ['pytest_flip']\n" + STUB_00,
        },
        "forged-results": {"ex00.py": _wrong(prelude=FORGE, body="""
            def softmax(logits, dim=-1):
                forge()
                return logits
            def count_parameters(model, trainable_only=False):
                forge()
                return -1
            """)},
        "always-equal": {"ex00.py": _wrong("""
            class Anything:
                def __eq__(self, other):
                    return True
                __hash__ = None
            class EqualInt(int):
                def __eq__(self, other):
                    return True
            class EqualTensor(torch.Tensor):
                def __eq__(self, other):
                    return torch.ones_like(other, dtype=torch.bool)
            def softmax(logits, dim=-1):
                return torch.zeros_like(logits).as_subclass(EqualTensor)
            def count_parameters(model, trainable_only=False):
                return Anything() if trainable_only else EqualInt(1)
            """)},
        "patches-torch": {"ex00.py": _wrong("""
            import torch.testing
            torch.testing.assert_close = lambda *args, **kwargs: None
            torch.allclose = lambda *args, **kwargs: True
            torch.equal = lambda *args, **kwargs: True
            torch.isfinite = lambda x: torch.ones_like(x, dtype=torch.bool)
            def softmax(logits, dim=-1):
                return logits * 0
            def count_parameters(model, trainable_only=False):
                return 0
            """)},
        "endless-loop": {"ex00.py": SOLUTION_00 + textwrap.dedent("""
            def count_parameters(model, trainable_only=False):
                while True:
                    pass
            """)},
        "endless-loop-at-import": {"ex00.py": "while True:\n    pass\n" + SOLUTION_00},
        "memory-bomb": {"ex00.py": _wrong("""
            def softmax(logits, dim=-1):
                hog = []
                while True:
                    hog.append(bytearray(100 << 20))
            def count_parameters(model, trainable_only=False):
                return bytearray(1 << 44)
            """)},
        "fork-bomb": {"ex00.py": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
                                 "        pass\n" + SOLUTION_00},
        "files-outside": {"ex00.py": _wrong(f"""
            import os, shutil
            ROOT, CLASS = {str(ROOT)!r}, {str(root)!r}
            def attack():
                for action in (
                    lambda: open(os.path.join(ROOT, "tests", "exercises", "test_ex00.py"), "w").write("def test_x(): pass\\n"),
                    lambda: os.remove(os.path.join(ROOT, "solutions", "ex00.py")),
                    lambda: shutil.rmtree(os.path.join(ROOT, "tests", "exercises")),
                    lambda: open(os.path.join(CLASS, "good", "ex00.py"), "w").write("def softmax(x, dim=-1): return x\\n"),
                    lambda: open("/tmp/course-grade-canary", "w").write("escaped"),
                ):
                    try:
                        action()
                    except OSError:
                        pass
            attack()
            def softmax(logits, dim=-1):
                attack()
                return logits
            def count_parameters(model, trainable_only=False):
                attack()
                return 0
            """)},
        "network": {"ex00.py": SOLUTION_00.replace("import torch", "import torch\nimport socket") + textwrap.dedent(f"""
            def _reach():
                try:
                    socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"leak")
                    return True
                except OSError:
                    return False
            _right_softmax = softmax
            def softmax(logits, dim=-1):
                return _right_softmax(logits, dim) if _reach() else logits
            """)},
    }


def _fingerprint(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def _sandbox_processes() -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and p.stat().st_uid >= UID_BASE:
                pids.append(int(p.name))
        except OSError:
            pass
    return pids


def _isolation() -> str:
    """What this machine's sandbox offers (as non-root without user namespaces: little)."""
    with Sandbox(ROOT / "solutions" / "ex00.py", "00", Limits(timeout=60)) as sandbox:
        sandbox.begin_check("probe")
        sandbox.module()
        return " ".join(sandbox.isolation)


# students whose attack only fails where the OS lets the sandbox lock them out
NEEDS = {"files-outside": "read-only file system", "network": "no network"}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    isolation = _isolation()
    students = {name: files for name, files in _class(root, listener.getsockname()[1]).items()
                if NEEDS.get(name, "") in isolation}
    for name, files in students.items():
        (root / name).mkdir()
        for file, source in files.items():
            (root / name / file).write_text(source, encoding="utf-8")
    before = {"tests": _fingerprint(ROOT / "tests"), "solutions": _fingerprint(ROOT / "solutions"),
              "good": _fingerprint(root / "good")}
    out = tmp_path_factory.mktemp("grades")
    cmd = [sys.executable, "-m", "course", "grade", str(root), "--lessons", "00", "--out", str(out),
           "--timeout", str(TIMEOUT), "--jobs", "2", "--memory-mb", "1500", "--quiet"]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1500)
    took = time.monotonic() - start
    try:
        conn, _ = listener.accept()
        leaked = conn.recv(100)
    except BlockingIOError:
        leaked = b""
    listener.close()
    rows = list(csv.DictReader((out / "grades.csv").open())) if (out / "grades.csv").exists() else []
    return {"proc": proc, "out": out, "root": root, "rows": rows, "students": students, "before": before,
            "took": took, "leaked": leaked, "cmd": cmd, "isolation": isolation}


def _needs(graded, student):
    if student not in graded["students"]:
        pytest.skip(f"this OS can't isolate {student!r}: sandbox has only {graded['isolation']!r}")


def _outcomes(graded, student, lesson="00"):
    return {r["check"]: r["outcome"] for r in graded["rows"] if r["student"] == student and r["lesson"] == lesson}


def _why(graded, student):
    return "\n".join(f"{r['lesson']} {r['check']}: {r['outcome']} {r['message']}"
                     for r in graded["rows"] if r["student"] == student)


def test_every_student_gets_every_check(graded):
    proc = graded["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for student in graded["students"]:
        assert sorted(_outcomes(graded, student)) == sorted(CHECKS_00), student
    assert len(graded["rows"]) == len(graded["students"]) * len(CHECKS_00)
    assert {r["lesson"] for r in graded["rows"]} == {"00"}


def test_honest_students_get_full_marks(graded):
    for student in ("good", "good-too"):
        assert set(_outcomes(graded, student).values()) == {"passed"}, _why(graded, student)


def test_wrong_and_unfinished_work(graded):
    wrong = _outcomes(graded, "wrong-softmax")
    assert {wrong[c] for c in SOFTMAX} == {"failed"} and {wrong[c] for c in COUNT} == {"passed"}
    assert set(_outcomes(graded, "nothing-handed-in").values()) == {"not-done"}


EXPECTED = {
    "exit-at-import": {"error"},
    "os-exit-at-import": {"error"},
    "exit-in-function": {"error"},
    "fake-passed-prints": {"failed"},
    "conftest-and-plugin": {"not-done"},  # the untouched stubs, plus hooks that would flip them
    "forged-results": {"failed"},
    "always-equal": {"failed"},
    "patches-torch": {"failed"},
    "endless-loop-at-import": {"timeout"},
    "memory-bomb": {"error"},
    "files-outside": {"failed"},
    "network": {"failed", "passed"},  # softmax fails without the network; count_parameters is right
}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_hostile_student_is_scored_right(graded, student):
    _needs(graded, student)
    got = _outcomes(graded, student)
    assert set(got.values()) == EXPECTED[student], _why(graded, student)


def test_hangs_and_bombs_time_out(graded):
    loop = _outcomes(graded, "endless-loop")
    assert {loop[c] for c in SOFTMAX} == {"passed"} and {loop[c] for c in COUNT} == {"timeout"}
    assert set(_outcomes(graded, "fork-bomb").values()) == {"timeout"}, _why(graded, "fork-bomb")
    assert not _sandbox_processes(), "processes of a submission outlived its grading"


def test_nothing_outside_the_sandbox_changed(graded):
    _needs(graded, "files-outside")
    _needs(graded, "network")
    assert _fingerprint(ROOT / "tests") == graded["before"]["tests"]
    assert _fingerprint(ROOT / "solutions") == graded["before"]["solutions"]
    assert _fingerprint(graded["root"] / "good") == graded["before"]["good"]
    assert not Path("/tmp/course-grade-canary").exists()
    assert graded["leaked"] == b"", "a submission reached a socket on this machine"
    network = _outcomes(graded, "network")
    assert network["test_softmax_matches_torch"] == "failed"


def test_reports_feedback_and_time_bound(graded):
    out = graded["out"]
    data = json.loads((out / "grades.json").read_text())
    assert data["students"]["good"]["passed"] == data["students"]["good"]["total"]
    assert data["per_lesson"]["00"]["total"] == len(graded["students"]) * len(CHECKS_00)
    assert data["isolation"], "grades.json should say which isolation was in force"
    summary = (out / "summary.md").read_text()
    n = len(CHECKS_00)
    assert f"| good | {n}/{n} |" in summary and f"| wrong-softmax | {len(COUNT)}/{n} |" in summary
    feedback = (out / "students" / "wrong-softmax" / "feedback.md").read_text()
    assert "test_softmax_matches_torch`: **failed** softmax(x) should equal torch.softmax(x, -1)" in feedback
    assert "timeout" in (out / "students" / "endless-loop" / "feedback.md").read_text()
    # bounded: at most every check of every student timing out, run two at a time, plus start-up
    n = len(graded["rows"])
    assert graded["took"] < n * (TIMEOUT + 5) / 2 + 300


def test_rerun_skips_graded_students_unless_forced(graded):
    out, root = graded["out"], graded["root"]
    key = lambda rows: [(r["student"], r["lesson"], r["check"], r["outcome"]) for r in rows]  # noqa: E731
    marker = out / "students" / "good" / "result.json"
    mtime = marker.stat().st_mtime_ns
    again = subprocess.run(graded["cmd"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert marker.stat().st_mtime_ns == mtime, "an already graded student was graded again"
    assert key(csv.DictReader((out / "grades.csv").open())) == key(graded["rows"])
    assert root.is_dir()


@pytest.mark.skipif(not is_root(), reason="own user ids need root")
def test_isolation_in_force_as_root(graded):
    isolation = " ".join(json.loads((graded["out"] / "grades.json").read_text())["isolation"])
    assert "no network" in isolation and "read-only file system" in isolation and "own unprivileged user id" in isolation


def test_bad_input_is_named(tmp_path, capsys):
    from course.grade import main

    (tmp_path / "class" / "alice").mkdir(parents=True)
    for argv, expected in (
        ([str(tmp_path / "nope")], "no such folder"),
        ([str(tmp_path / "class"), "--lessons", "00,99"], "no checks for 99"),
        ([str(tmp_path / "class"), "--out", str(tmp_path / "class" / "grades")], "must not be inside"),
        ([str(tmp_path / "class" / "alice")], "no student subfolders"),
    ):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2 and expected in capsys.readouterr().err, argv


def test_a_restarted_sandbox_leaves_no_folder_behind():
    with Sandbox(ROOT / "solutions" / "ex00.py", "00", Limits(timeout=60)) as sandbox:
        sandbox.begin_check("restart")
        sandbox.module()
        first = Path(sandbox.tmp)
        sandbox._kill()  # what a learner's crash does to the process
        sandbox.module()  # restarts it in a fresh folder
        second = Path(sandbox.tmp)
        assert second != first and second.is_dir()
        assert not first.exists(), "the crashed process's folder outlived its restart"
    assert not second.exists(), "closing the sandbox keeps its folder"
