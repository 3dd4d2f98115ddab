"""LLMs from scratch, notebook-first: the course package.

Every notebook imports what it needs from here instead of copying code, so
that what a lesson shows is exactly what the tests check. Importing `course`
is cheap (no torch) and has one side effect: tiktoken is pointed at the cache
bundled in `course/assets/`, so `tiktoken.get_encoding("gpt2")` works offline.
A `TIKTOKEN_CACHE_DIR` you set yourself is left alone.
"""

from course.assets import (
    AssetError,
    asset_path,
    load_tinyshakespeare,
    use_bundled_tiktoken_cache,
)
from course.curves import check_loss
from course.utils import get_device, seed_everything
from course.yourturn import exercise, your_turn

__version__ = "0.1.0"

use_bundled_tiktoken_cache()


def check(lesson, target="exercises", *, timeout=600):
    """Run the exercise checks of one lesson and show a pass/fail table.

    >>> import course; course.check("01")          # your work in exercises/
    >>> course.check("01", target="solutions")      # the reference answers
    """
    from course.grading import check as _check

    return _check(lesson, target=target, timeout=timeout)


def setup_notebook(seed=1337):
    """What the first cell of every notebook calls: seed everything, quiet plots."""
    from course.utils import setup_notebook as _setup

    _setup(seed)


__all__ = [
    "AssetError",
    "asset_path",
    "check",
    "check_loss",
    "exercise",
    "get_device",
    "load_tinyshakespeare",
    "seed_everything",
    "setup_notebook",
    "use_bundled_tiktoken_cache",
    "your_turn",
]
