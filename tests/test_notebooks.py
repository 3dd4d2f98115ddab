"""Structure every notebook must keep (nbval checks their outputs separately)."""

import getpass
import json
import re
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


# A committed output must not show where the notebook ran: no local folder, no user name.
LOCAL_PATH = re.compile(
    r"/work/|/tmp/|/private/var/|/root/|/home/[^/\s\"']+/|/Users/[^/\s\"']+/|[A-Za-z]:(?:\\\\|\\)Users(?:\\\\|\\)"
)
# Accounts that are also ordinary words ("root-mean-square"): the path patterns above catch
# their home folders, and their bare names are not searched for.
GENERIC_USERS = {"root", "user", "admin", "runner", "ubuntu", "jovyan", "vscode", "codespace"}


def _output_texts(cell):
    for out in cell.get("outputs", []):
        for key in ("text", "traceback"):
            if key in out:
                yield "".join(out[key]) if isinstance(out[key], list) else out[key]
        for mime, value in out.get("data", {}).items():
            if mime.startswith("text/") or mime.endswith("json") or mime == "image/svg+xml":
                yield "".join(value) if isinstance(value, list) else json.dumps(value)


def _local_leaks(text, user):
    leaks = [m.group() for m in LOCAL_PATH.finditer(text)]
    if user and user.lower() not in GENERIC_USERS and len(user) >= 3:
        leaks += [m.group() for m in re.finditer(rf"(?<![\w]){re.escape(user)}(?![\w])", text)]
    return leaks


def test_leak_detector_catches_paths_and_user_names():
    assert _local_leaks("python 3.11 (/home/ada/venv/bin/python)", None) == ["/home/ada/"]
    assert _local_leaks("cache at /work/main/course/assets", None) == ["/work/"]
    assert _local_leaks("C:\\Users\\ada\\course", None) and _local_leaks("/Users/ada/x", None)
    assert _local_leaks("wrote /tmp/tmpab12/model.model", None) == ["/tmp/"]
    assert _local_leaks("made by adalovelace on this machine", "adalovelace") == ["adalovelace"]
    assert not _local_leaks("root-mean-square 1.0, course/assets/tiktoken_cache, <env>/bin/python", "root")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_local_path_or_user_name_in_outputs(path):
    user = getpass.getuser()
    found = [
        (i, leak, text[max(0, text.find(leak) - 40) : text.find(leak) + 60])
        for i, cell in enumerate(_cells(path))
        for text in _output_texts(cell)
        for leak in _local_leaks(text, user)
    ]
    assert not found, (
        f"{path.name}: committed outputs show a local path or user name (cell, match, context): "
        f"{found[:5]}. Print paths relative to the repository, or shorten them, before committing."
    )
