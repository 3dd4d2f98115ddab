"""Test-wide options. `--target` picks what the exercise checks grade (see course/grading.py)."""

import pytest

from course.grading import GradingError, load_exercise, resolve_target


def pytest_addoption(parser):
    parser.addoption(
        "--target",
        default="solutions",
        help="what tests/exercises grade: 'solutions' (default), 'exercises', "
        "a folder holding exNN.py files, or one exNN.py file",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: a CUDA variant; runs on a GPU, skips elsewhere (the GPU run: -m cuda)")
    try:
        config._course_target = resolve_target(config.getoption("--target"))
    except GradingError as e:
        raise pytest.UsageError(str(e)) from None


@pytest.fixture(scope="module")
def ex(request):
    """The exercise module under test: exNN.py of the --target, NN = the test module's LESSON."""
    lesson = getattr(request.module, "LESSON", None)
    if lesson is None:
        raise RuntimeError(f"{request.module.__name__} uses the `ex` fixture but sets no LESSON = 'NN'")
    try:
        return load_exercise(request.config._course_target, lesson)
    except GradingError as e:
        pytest.fail(str(e), pytrace=False)
