"""Exercise checks catch plausible wrong answers, not only untouched stubs.

Each file tests/exercises/mutants/exNN_<what>.py holds only wrong definitions
(with the imports they need). Appended to solutions/exNN.py they replace the
right ones; lesson NN's checks, run against that file, must then fail (-x: the first failing check
settles it, so a caught mutant costs one check, not the whole lesson).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = sorted((Path(__file__).parent / "mutants").glob("ex[0-9][0-9]_*.py"))


def test_there_are_mutants():
    assert MUTANTS, "no wrong-answer files in tests/exercises/mutants"


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.stem for m in MUTANTS])
def test_wrong_answer_fails_the_checks(mutant, tmp_path):
    lesson = mutant.name[2:4]
    solution = (ROOT / "solutions" / f"ex{lesson}.py").read_text(encoding="utf-8")
    wrong = mutant.read_text(encoding="utf-8")
    replaced = {n.name for n in ast.parse(wrong).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    defined = {n.name for n in ast.parse(solution).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert replaced and replaced <= defined, f"{mutant.name} must redefine functions of solutions/ex{lesson}.py"
    (tmp_path / f"ex{lesson}.py").write_text(solution + "\n\n# --- wrong answer ---\n" + wrong, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", f"tests/exercises/test_ex{lesson}.py", "--target", str(tmp_path),
         "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts="],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 1 and " failed" in proc.stdout, (
        f"{mutant.name}: lesson {lesson}'s checks did not catch this wrong answer "
        f"(exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-1000:]}"
    )
