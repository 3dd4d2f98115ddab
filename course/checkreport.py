"""A pytest plugin that records each exercise check's outcome (lessons 00-05).

`course.check("NN")` and `python -m course grade` run the checks in pytest with
`-p course.checkreport --check-report FILE`; this plugin writes one JSON line per
check to FILE. It runs in the grader's pytest, never near the learner's code (that
is in course/sandbox.py's sandbox), so what it writes is what the grader decided:

    passed    every assertion held
    failed    an assertion of the check failed (a wrong answer)
    error     the learner's code raised, crashed, exited, or could not be imported
    timeout   it ran past the time limit (an endless loop?)
    not-done  the stub still raises NotImplementedError, or exNN.py is missing
"""

from __future__ import annotations

import json

import pytest

OUTCOMES = ("passed", "failed", "error", "timeout", "not-done")


def pytest_addoption(parser):
    parser.addoption("--check-report", default=None, help="write each check's outcome to this JSON-lines file")


def classify(exc: BaseException | None) -> str:
    from course.sandbox import CheckTimeout, ExerciseMissing, RemoteError, SandboxError
    from course.wire import WireError

    if exc is None:
        return "passed"
    if isinstance(exc, CheckTimeout):
        return "timeout"
    if isinstance(exc, ExerciseMissing) or isinstance(exc, RemoteError) and isinstance(exc, NotImplementedError):
        return "not-done"
    if isinstance(exc, (RemoteError, SandboxError, WireError)):
        return "error"
    return "failed"


def describe(exc: BaseException | None, outcome: str, lines: int = 4) -> str:
    """The first lines of what went wrong, for the table and the learner's feedback."""
    from course.sandbox import RemoteError

    if exc is None:
        return ""
    if outcome == "not-done" and isinstance(exc, NotImplementedError):
        return "raises NotImplementedError (fill in the stub)"
    if isinstance(exc, RemoteError):
        text = f"{exc.type_name}: {exc}" + "".join(f"\n  at {w}" for w in exc.where[-1:])
    elif isinstance(exc, AssertionError) or type(exc).__name__ == "Failed":
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    kept = [line.rstrip() for line in text.strip().splitlines() if line.strip()][:lines]
    return "\n".join(line if len(line) <= 300 else line[:297] + "..." for line in kept)


class _Recorder:
    def __init__(self, path):
        self.path = path
        self.items: dict[str, dict] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        row = self.items.setdefault(item.nodeid, {"exc": None, "seconds": 0.0, "skipped": ""})
        row.update(check=item.name, lesson=getattr(item.module, "LESSON", ""),
                   isolation=dict(item.user_properties).get("isolation", []))
        row["seconds"] += call.duration if call.when != "teardown" else 0.0
        if report.skipped and call.excinfo is not None:
            row["skipped"] = str(getattr(call.excinfo.value, "msg", call.excinfo.value))
        elif report.failed and row["exc"] is None and call.excinfo is not None:
            row["exc"] = call.excinfo.value

    def pytest_runtest_logfinish(self, nodeid, location):
        row = self.items.pop(nodeid, None)
        if row is None:
            return
        exc, skipped = row["exc"], row["skipped"]
        outcome = "error" if skipped and exc is None else classify(exc)
        message = f"skipped: {skipped}" if skipped and exc is None else describe(exc, outcome)
        record = {"check": row["check"], "lesson": row["lesson"], "outcome": outcome,
                  "seconds": round(row["seconds"], 3), "message": message, "isolation": row["isolation"]}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def pytest_configure(config):
    path = config.getoption("--check-report")
    if path:
        config.pluginmanager.register(_Recorder(path), "course-check-recorder")
