"""Test-wide options. `--target` picks what the exercise checks grade (see course/grading.py);
the `ex` those checks take is the learner's exNN.py run in a sandbox (course/sandbox.py)."""

import os

import pytest

from course.grading import GradingError, exercise_file, resolve_target
from course.sandbox import ExerciseMissing, Limits, Sandbox


def pytest_addoption(parser):
    parser.addoption(
        "--target",
        default="solutions",
        help="what tests/exercises grade: 'solutions' (default), 'exercises', "
        "a folder holding exNN.py files, or one exNN.py file",
    )
    parser.addoption("--check-timeout", type=float, default=120.0,
                     help="seconds each exercise check may run the learner's code (default 120)")
    parser.addoption("--sandbox-memory-mb", type=int, default=Limits.memory_mb,
                     help="memory (address space, MB) the learner's process may add to Python and torch's")
    parser.addoption("--sandbox-hide", action="append", default=[],
                     help="a folder the learner's code must not see (repeatable; e.g. a class folder)")


def pytest_configure(config):
    # Every notebook nbval runs inherits this: each "your turn" cell also runs the reference
    # solution on the lesson's data and fails the cell if it disagrees (course/yourturn.py).
    os.environ.setdefault("COURSE_SHADOW_SOLUTIONS", "1")
    config.addinivalue_line("markers", "cuda: a CUDA variant; runs on a GPU, skips elsewhere (the GPU run: -m cuda)")
    try:
        config._course_target = resolve_target(config.getoption("--target"))
    except GradingError as e:
        raise pytest.UsageError(str(e)) from None


@pytest.fixture(scope="module")
def _sandbox(request):
    """One sandboxed process per lesson and target, restarted if the learner's code kills it."""
    lesson = getattr(request.module, "LESSON", None)
    if lesson is None:
        raise RuntimeError(f"{request.module.__name__} uses the `ex` fixture but sets no LESSON = 'NN'")
    target = request.config._course_target
    try:
        path = exercise_file(target, lesson)
    except GradingError as e:
        path, missing = None, str(e)
    config = request.config
    limits = Limits(timeout=config.getoption("--check-timeout"), memory_mb=config.getoption("--sandbox-memory-mb"))
    sandbox = Sandbox(path or target / f"ex{lesson}.py", lesson, limits, hide=config.getoption("--sandbox-hide"))
    if path is None:
        sandbox._failure = ExerciseMissing(missing)
    yield sandbox
    sandbox.close()


@pytest.fixture
def ex(_sandbox, request):
    """The exercise module under test, exNN.py of the --target (NN = the test module's LESSON),
    as a proxy: calls run in the sandbox, answers come back as plain data."""
    _sandbox.begin_check(f"{_sandbox.lesson}::{request.node.name}")
    module = _sandbox.module()
    request.node.user_properties.append(("isolation", _sandbox.isolation))
    return module


@pytest.fixture
def harness(ex, _sandbox):
    """harness(name): a trusted driver from course/sandbox_harness.py, run in the sandbox next to
    the learner's code (for checks a plain call can't make; it answers in plain data too)."""
    return _sandbox.harness
