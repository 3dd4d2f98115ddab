"""Exercise checks catch plausible wrong answers, not only untouched stubs.

Each file tests/exercises/mutants/exNN_<what>.py holds only wrong definitions
(with the imports they need). Appended to solutions/exNN.py they replace the
right ones; lesson NN's checks, run against that file, must then fail (-x: the first failing check
settles it, so a caught mutant costs one check, not the whole lesson).

Each mutant's checks run in a fresh pytest process, as `pytest --target` would run them. With ~100
mutants, starting Python and importing torch for each would cost minutes, so the processes are
forks of a server that imported torch and pytest once (Linux and macOS; elsewhere, plain
subprocesses), and one server per core runs them side by side (the checks run single-threaded in
the sandbox): all verdicts are gathered first, then each mutant's test reads its own.
"""

import ast
import json
import os
import queue
import select
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = sorted((Path(__file__).parent / "mutants").glob("ex[0-9][0-9]_*.py"))
TIMEOUT_S = 600

# Reads one job per line ({"argv": [...], "log": path}), forks, runs pytest.main(argv) in the child
# with its output in `log`, and answers {"code": exit status}. The server itself runs no torch op,
# so forking it is safe (no OpenMP threads to lose); what every check loads (the course, tiktoken's
# encodings) is loaded once, before the forks.
SERVER = r"""
import json, os, sys
import torch, pytest
import course, course.grading, course.sandbox, tiktoken
for name in ("gpt2", "cl100k_base", "o200k_base"):  # the lessons' checks load these: once, here
    tiktoken.get_encoding(name)
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        torch.set_num_threads(1)  # two of these run side by side on two cores
        fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        try:
            code = int(pytest.main(job["argv"]))
        except BaseException:
            code = 99
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class _Runner:
    """Runs `pytest argv` in a fresh process; returns (exit code, output)."""

    def __init__(self):
        self.server = None
        if hasattr(os, "fork"):
            self.server = subprocess.Popen([sys.executable, "-c", SERVER], cwd=ROOT, text=True,
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def run(self, argv, log: Path):
        if self.server is None:
            proc = subprocess.run([sys.executable, "-m", "pytest", *argv], cwd=ROOT, capture_output=True,
                                  text=True, timeout=TIMEOUT_S)
            return proc.returncode, proc.stdout + proc.stderr
        self.server.stdin.write(json.dumps({"argv": argv, "log": str(log)}) + "\n")
        self.server.stdin.flush()
        ready, _, _ = select.select([self.server.stdout], [], [], TIMEOUT_S)
        if not ready:
            self.close()
            raise TimeoutError(f"the checks took over {TIMEOUT_S} s")
        answer = self.server.stdout.readline()
        if not answer:
            raise RuntimeError(f"the mutant server died (exit {self.server.wait()})")
        return json.loads(answer)["code"], log.read_text(encoding="utf-8", errors="replace")

    def close(self):
        if self.server is not None and self.server.poll() is None:
            self.server.stdin.close()
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.server.kill()


@pytest.fixture(scope="module")
def runner():
    r = _Runner()
    yield r
    r.close()


def _mutant_target(mutant: Path, folder: Path) -> tuple[str, Path]:
    lesson = mutant.name[2:4]
    solution = (ROOT / "solutions" / f"ex{lesson}.py").read_text(encoding="utf-8")
    wrong = mutant.read_text(encoding="utf-8")
    replaced = {n.name for n in ast.parse(wrong).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    defined = {n.name for n in ast.parse(solution).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert replaced and replaced <= defined, f"{mutant.name} must redefine functions of solutions/ex{lesson}.py"
    target = folder / mutant.stem
    target.mkdir()
    (target / f"ex{lesson}.py").write_text(solution + "\n\n# --- wrong answer ---\n" + wrong, encoding="utf-8")
    return lesson, target


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory, request):
    """{mutant name: (exit code, output)} for every selected mutant, run side by side."""
    chosen = [item.callspec.params["mutant"] for item in request.session.items
              if getattr(item, "originalname", "") == "test_wrong_answer_fails_the_checks"]
    folder = tmp_path_factory.mktemp("mutants")
    workers = max(1, min(2, os.cpu_count() or 1))
    runners = queue.Queue()
    for _ in range(workers):
        runners.put(_Runner())

    def one(mutant):
        try:
            lesson, target = _mutant_target(mutant, folder)
        except AssertionError as e:
            return -1, str(e)
        r = runners.get()
        try:
            return r.run([f"tests/exercises/test_ex{lesson}.py", "--target", str(target),
                          "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts="], target / "checks.log")
        finally:
            runners.put(r)

    with ThreadPoolExecutor(workers) as pool:
        results = dict(zip([m.name for m in chosen], pool.map(one, chosen)))
    while not runners.empty():
        runners.get().close()
    return results


def test_there_are_mutants():
    assert MUTANTS, "no wrong-answer files in tests/exercises/mutants"


def test_the_runner_reports_passes_and_failures(runner, tmp_path):
    """The forked runs give the same verdicts as `pytest` itself: the solutions pass, stubs fail."""
    argv = ["tests/exercises/test_ex01.py", "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--target"]
    code, out = runner.run([*argv, "solutions"], tmp_path / "solutions.log")
    assert code == 0 and " passed" in out, out[-2000:]
    code, out = runner.run([*argv, "exercises"], tmp_path / "stubs.log")
    assert code == 1 and "1 failed" in out, out[-2000:]


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.stem for m in MUTANTS])
def test_wrong_answer_fails_the_checks(mutant, verdicts):
    code, out = verdicts[mutant.name]
    assert code != -1, out
    assert code == 1 and " failed" in out, (
        f"{mutant.name}: lesson {mutant.name[2:4]}'s checks did not catch this wrong answer "
        f"(exit {code}):\n{out[-3000:]}"
    )
