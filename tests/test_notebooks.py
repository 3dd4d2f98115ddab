"""Structure every notebook must keep (nbval checks their outputs separately)."""

import json
from pathlib import Path

import pytest

from course.notebook import SETUP_CELL

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell):
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb files"
    assert NOTEBOOKS[0].name.startswith("00_"), "the course opens with notebook 00"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_setup_cell(path):
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code cells"
    assert _source(code[0]) == SETUP_CELL, (
        f"{path.name}: the first code cell must be exactly course.notebook.SETUP_CELL "
        "(build notebooks with tools/nbtool.py, which inserts it)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_with_outputs_and_no_errors(path):
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    assert all(c.get("execution_count") for c in code), f"{path.name}: some cells were not executed before commit"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: committed with an error output: {errors[0].get('ename')}: {errors[0].get('evalue')}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_numbered_in_order(path):
    number = path.name.split("_", 1)[0]
    assert number.isdigit() and len(number) == 2, f"{path.name}: notebooks are named NN_title.ipynb"


def test_notebook_numbers_are_unique():
    numbers = [p.name[:2] for p in NOTEBOOKS]
    assert len(numbers) == len(set(numbers)), f"two notebooks share a number: {numbers}"
