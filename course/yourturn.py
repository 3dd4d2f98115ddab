"""Your turn: the learner's own function runs in the lesson, beside the package's.

Lessons 01–05 introduce an idea, then hand it to the learner: at that point a
cell calls the learner's version from `exercises/exNN.py` on the very data the
lesson is discussing and says, in one line, whether it agrees with the
package's version:

    mine = course.exercise("01")
    stats = course.your_turn(mine.get_stats, get_stats, ids)

    ✓ get_stats: yours matches the package's
    · get_stats: not done yet, see exercises/ex01.py::get_stats (the lesson goes on with the package's)
    ✗ get_stats: yours differs from the package's: yours {(1, 2): 3}, the package's {(1, 2): 4}

The value returned is the learner's when it matches and the package's
otherwise, so the story continues either way. Committed notebooks show the
stub state ("not done yet"); `COURSE_EXERCISES=solutions` (or a folder of
exNN.py files) runs the same notebook against other work — a test does that
with the reference solutions and expects every line to say "matches".

Under the test suite (`COURSE_SHADOW_SOLUTIONS=1`, set by tests/conftest.py
for every notebook nbval runs) each call also runs the reference solution on
the same data, silently, and raises if it disagrees with the package: every
"your turn" cell is proven answerable in the very run that checks the
committed outputs, at the cost of one extra call.

This is feedback in place, not grading: the learner's code runs in the
notebook's own process. `course.check("NN")` runs the full checks, sandboxed.
"""

from __future__ import annotations

import copy
import math
import os
import types
from pathlib import Path

ENV = "COURSE_EXERCISES"
SHADOW_ENV = "COURSE_SHADOW_SOLUTIONS"
MATCH, NOT_DONE, DIFFERS, FAILED = "✓", "·", "✗", "✗"


def exercise(lesson: str, target: str | os.PathLike | None = None) -> types.ModuleType:
    """Import lesson `lesson`'s exercise file: exercises/exNN.py unless `target` or
    $COURSE_EXERCISES names 'solutions' or another folder of exNN.py files.

    A file that does not import (a syntax error, an exception at import) does
    not stop the lesson: every function then reports that problem instead.
    """
    from course.grading import GradingError, load_exercise, resolve_target

    target = target if target is not None else os.environ.get(ENV, "exercises")
    label = _label(target, lesson)
    try:
        module = load_exercise(resolve_target(target), f"{int(lesson):02d}")
    except GradingError as e:
        return _Broken(label, str(e).splitlines()[0])
    module.__course_label__ = label
    module.__course_lesson__ = f"{int(lesson):02d}"
    return module


def _label(target, lesson) -> str:
    """What a learner should open: 'exercises/ex01.py', never an absolute path."""
    name = f"ex{int(lesson):02d}.py"
    path = Path(str(target))
    if str(target) in ("exercises", "solutions"):
        return f"{target}/{name}"
    return name if path.name == name else f"{path.name}/{name}"


class _Broken(types.ModuleType):
    """Stands in for an exercise file that cannot be imported."""

    def __init__(self, label: str, problem: str):
        super().__init__(label)
        self.__course_label__ = label
        self._problem = problem

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        problem = self._problem

        def broken(*args, **kwargs):
            raise _ImportProblem(problem)

        broken.__name__ = name
        broken.__course_label__ = self.__course_label__
        return broken


class _ImportProblem(Exception):
    pass


def your_turn(mine, reference, *args, name: str | None = None, equal=None,
              atol: float = 1e-5, rtol: float = 1e-4, quiet: bool = False, **kwargs):
    """Call `mine(*args, **kwargs)` and `reference(*args, **kwargs)`, print one line
    saying whether they agree, and return the learner's result if it matches,
    else the reference's.

    `reference` may also be a plain value (the package's answer, computed once
    already). `equal(a, b) -> bool` overrides the comparison; by default
    tensors and floats are compared with `atol`/`rtol`, everything else with
    ==, recursively through lists, tuples and dicts.
    """
    fn_name = name or getattr(mine, "__name__", "your function")
    # The exercise to open, whatever the label: a wrapper around the learner's class names it
    # with __course_name__ (lesson 03 wraps the learner's layers so they take the package's weights).
    real_name = getattr(mine, "__course_name__", None) or getattr(mine, "__name__", fn_name)
    where = _where(mine, real_name)
    shadow = _shadow_call(mine, real_name, args, kwargs)
    expected = reference(*args, **kwargs) if callable(reference) else reference
    if shadow is not None:
        _check_shadow(shadow, expected, fn_name, equal, atol, rtol)
    try:
        got = mine(*args, **kwargs)
    except NotImplementedError:
        _say(quiet, f"{NOT_DONE} {fn_name}: not done yet, see {where} (the lesson goes on with the package's)")
        return expected
    except _ImportProblem as e:
        _say(quiet, f"{FAILED} {fn_name}: cannot run: {e}")
        return expected
    except Exception as e:  # the learner's code raised: say what, keep going
        _say(quiet, f"{FAILED} {fn_name}: yours raised {type(e).__name__}: {_short(e)} (see {where})")
        return expected
    same = equal(got, expected) if equal is not None else agree(got, expected, atol=atol, rtol=rtol)
    if same:
        _say(quiet, f"{MATCH} {fn_name}: yours matches the package's")
        return got
    _say(quiet, f"{DIFFERS} {fn_name}: yours differs from the package's: "
                f"yours {_short(got)}, the package's {_short(expected)}")
    return expected


def _shadow_call(mine, fn_name, args, kwargs):
    """Under the test suite, the reference solution's answer on a copy of the same inputs
    (computed first, so a function that changes its inputs cannot spoil the lesson's call)."""
    if os.environ.get(SHADOW_ENV) != "1":
        return None
    lesson = getattr(mine, "__globals__", {}).get("__course_lesson__")
    label = getattr(mine, "__globals__", {}).get("__course_label__", "")
    if lesson is None or label.startswith("solutions/"):
        return None
    solutions = exercise(lesson, target="solutions")
    owner = getattr(mine, "__self__", None)
    if owner is not None and not isinstance(owner, (type, types.ModuleType)):
        # A method of the learner's object (`yours.encode`): the solutions' class of the same
        # name, given a copy of the learner's object's state, answers in its place.
        cls_name = type(owner).__name__
        cls = getattr(solutions, cls_name, None) if not isinstance(solutions, _Broken) else None
        if not isinstance(cls, type) or not hasattr(cls, fn_name):
            raise AssertionError(f"solutions/ex{lesson}.py has no {cls_name}.{fn_name}: a 'your turn' "
                                 "cell must name a method the reference solutions define")
        twin = cls.__new__(cls)
        twin.__dict__.update(_copied(vars(owner)))
        solution = getattr(twin, fn_name)
    else:
        if isinstance(solutions, _Broken) or not hasattr(solutions, fn_name):
            raise AssertionError(f"solutions/ex{lesson}.py has no {fn_name}: a 'your turn' cell must "
                                 "name a function the reference solutions define")
        solution = getattr(solutions, fn_name)
    args, kwargs = _copied((args, kwargs))
    return (solution(*args, **kwargs),)


def _copied(value):
    """A deep copy where one can be made; else the value itself (e.g. a live tokenizer handle)."""
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


def _check_shadow(shadow, expected, fn_name, equal, atol, rtol):
    (got,) = shadow
    same = equal(got, expected) if equal is not None else agree(got, expected, atol=atol, rtol=rtol)
    if not same:
        raise AssertionError(
            f"solutions/::{fn_name} disagrees with the package on this lesson's data: "
            f"{_short(got)} vs {_short(expected)} -- this 'your turn' cell cannot be answered")


def _where(fn, fn_name: str) -> str:
    label = getattr(fn, "__course_label__", None)
    if label is None:
        module = getattr(fn, "__globals__", {}).get("__course_label__")
        label = module or "your exercise file"
    return f"{label}::{fn_name}"


def agree(a, b, *, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    """Equal values; tensors, arrays and floats within tolerance (same shape, dtype kind)."""
    if _is_tensor(a) or _is_tensor(b):
        if not (_is_tensor(a) and _is_tensor(b)) or tuple(a.shape) != tuple(b.shape):
            return False
        import torch

        a, b = a.detach().cpu(), b.detach().cpu()
        if a.dtype.is_floating_point or b.dtype.is_floating_point:
            return bool(torch.allclose(a.double(), b.double(), atol=atol, rtol=rtol, equal_nan=False))
        return bool(torch.equal(a, b))
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=rtol, abs_tol=atol)
        except (TypeError, ValueError):
            return False
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(agree(a[k], b[k], atol=atol, rtol=rtol) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return (type(a) is type(b) and len(a) == len(b)
                and all(agree(x, y, atol=atol, rtol=rtol) for x, y in zip(a, b)))
    try:
        return bool(a == b)
    except Exception:
        return False


def _is_tensor(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "shape") and hasattr(x, "dtype")


def _short(x, limit: int = 120) -> str:
    text = repr(x) if not isinstance(x, BaseException) else str(x).splitlines()[0] if str(x) else ""
    if _is_tensor(x):
        text = f"tensor of shape {tuple(x.shape)}, {str(x.dtype).removeprefix('torch.')}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _say(quiet: bool, line: str) -> None:
    if not quiet:
        print(line)
