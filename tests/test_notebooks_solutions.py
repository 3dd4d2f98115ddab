"""The lessons' "your turn" cells run the learner's functions beside the package's
(course.your_turn). Committed outputs show the stubs ("not done yet"); the same
notebooks, run against the reference solutions, must run clean and say "matches"
on every such line: the cells compare what they claim to compare.

Two layers, so the suite stays within CI's time:
- in the nbval run of every notebook, each your_turn call also runs the reference
  solution on the same data and fails the cell if it disagrees (tests/conftest.py
  sets COURSE_SHADOW_SOLUTIONS=1; course/yourturn.py);
- here, whole lessons are run with COURSE_EXERCISES=solutions, so the learner's
  values flow on through the rest of the story (FULL_RUN: the lessons whose full
  run is cheap; COURSE_ALL_SOLUTION_RUNS=1 runs them all).
"""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
# Lessons that hand ideas to the learner inside the story, and how many "your turn" cells each has
# at least (a cell calling course.your_turn).
LESSONS = ["01", "02", "03", "04", "06", "07"]
MIN_CELLS = 3
FULL_RUN = LESSONS if os.environ.get("COURSE_ALL_SOLUTION_RUNS") == "1" else ["01", "02"]


def _notebook(lesson):
    found = sorted((ROOT / "notebooks").glob(f"{lesson}_*.ipynb"))
    assert found, f"no notebook {lesson}_*.ipynb"
    return found[0]


def _your_turn_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and "your_turn(" in c.source]


def _verdicts(cell):
    lines = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            text = out["text"] if isinstance(out["text"], str) else "".join(out["text"])
            lines += [ln for ln in text.splitlines() if ln[:2] in ("✓ ", "· ", "✗ ")]
    return lines


@pytest.mark.parametrize("lesson", LESSONS)
def test_committed_notebook_shows_the_stub_state(lesson):
    nb = nbformat.read(_notebook(lesson), as_version=4)
    cells = _your_turn_cells(nb)
    assert len(cells) >= MIN_CELLS, f"lesson {lesson}: {len(cells)} 'your turn' cells, want at least {MIN_CELLS}"
    for cell in cells:
        verdicts = _verdicts(cell)
        assert verdicts, f"lesson {lesson}: a your_turn cell printed no verdict:\n{cell.source}"
        assert all(v.startswith("· ") and "not done yet, see exercises/" in v for v in verdicts), (
            f"lesson {lesson}: committed outputs must show the untouched stubs, got {verdicts}")


@pytest.mark.parametrize("lesson", FULL_RUN)
def test_notebook_runs_clean_against_the_solutions(lesson, monkeypatch):
    path = _notebook(lesson)
    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("COURSE_EXERCISES", "solutions")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    client = NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError naming the cell on any error
    verdicts = [v for c in _your_turn_cells(nb) for v in _verdicts(c)]
    assert len(_your_turn_cells(nb)) >= MIN_CELLS
    wrong = [v for v in verdicts if not v.startswith("✓ ")]
    assert verdicts and not wrong, f"lesson {lesson} against solutions/: {wrong}"
