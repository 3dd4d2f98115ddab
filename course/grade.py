"""`python -m course grade SUBMISSIONS/`: grade a whole class's exercises (lessons 00-05).

Each subfolder of SUBMISSIONS is one student's copy of `exercises/` (any subset of
the exNN.py files). Every student is graded by the same checks the learners run
(tests/exercises/test_exNN.py), in a fresh pytest process per student whose `ex` is
the student's file in a sandbox (course/sandbox.py): the student's code can crash,
hang, exit, print, fork or forge all it likes, the verdicts are made outside it.

    DIR/grades.csv                 student,lesson,check,outcome,seconds,message
    DIR/grades.json                the same rows, totals per student and per lesson,
                                   and the isolation that was in force
    DIR/summary.md                 a table: one row per student, one column per lesson
    DIR/students/NAME/feedback.md  what to paste into an LMS: score, first lines of
                                   each failure
    DIR/students/NAME/result.json  that student's rows; present = graded, so a
                                   re-run skips them (use --force to regrade)

Every expected check (the ones collected from the test files) appears for every
student whatever happened; a check that never got to run is an `error` (or a
`timeout`) with the reason. Rows come out in a fixed order.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import multiprocessing
import os
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from course.checkreport import OUTCOMES
from course.grading import ROOT, TESTS_DIR
from course.sandbox import sweep_grader
from course.utils import atomic_write_text

FIELDS = ["student", "lesson", "check", "outcome", "seconds", "message"]


# What every student's pytest needs: imported once in a fork server, so a student's
# run starts in a fraction of a second instead of re-importing torch and pytest.
_PRELOAD = ["torch", "tiktoken", "regex", "pytest", "course.model", "course.generate", "course.tokenizer",
            "course.sandbox", "course.sandbox_worker", "course.checkreport", "course.grading", "course.grade"]
_start_lock = threading.Lock()


def _context():
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def _pytest_main(args: list[str], log: str) -> None:
    """A child of the fork server: run pytest with its output in `log`, exit with its code."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.chdir(ROOT)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # nbval & co: seconds of imports we don't need
    import pytest

    code = pytest.main(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code))


def run_pytest(args: list[str], log: Path, budget: float) -> tuple[int | None, int]:
    """pytest `args` in a fresh process; (exit code or None if it passed `budget` s, its pid)."""
    with _start_lock:
        proc = _context().Process(target=_pytest_main, args=(args, str(log)))
        proc.start()
    proc.join(budget)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return None, proc.pid
    return proc.exitcode, proc.pid


def expected_checks(lessons: list[str], log: Path) -> dict[str, list[str]]:
    """lesson -> the names of its checks, in file order (pytest's collection)."""
    files = [str(TESTS_DIR / f"test_ex{lesson}.py") for lesson in lessons]
    run_pytest([*files, "--collect-only", "-q", "-p", "no:cacheprovider", "-o", "addopts="], log, 600)
    text = log.read_text(encoding="utf-8", errors="replace")
    checks = {lesson: [] for lesson in lessons}
    for line in text.splitlines():
        path, sep, name = line.partition("::")
        if sep and Path(path).stem.startswith("test_ex"):
            checks[Path(path).stem[len("test_ex"):]].append(name)
    empty = [lesson for lesson, names in checks.items() if not names]
    if empty:
        raise SystemExit(f"could not collect the checks of lesson(s) {', '.join(empty)}:\n{text[-2000:]}")
    return checks


def grade_student(folder: Path, checks: dict[str, list[str]], args, log: Path) -> dict:
    """Run every check of the chosen lessons against one student's folder."""
    lessons = list(checks)
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        report = Path(tmp) / "report.jsonl"
        cmd = [*(str(TESTS_DIR / f"test_ex{n}.py") for n in lessons),
               "--target", str(folder), "-q", "-p", "no:cacheprovider", "-o", "addopts=",
               "-p", "course.checkreport", f"--check-report={report}", f"--check-timeout={args.timeout}",
               f"--sandbox-memory-mb={args.memory_mb}",
               f"--sandbox-hide={args.submissions}", f"--sandbox-hide={args.out}"]
        n_checks = sum(map(len, checks.values()))
        budget = 120 + n_checks * (args.timeout + 5)  # a bound even if every check hangs
        code, pid = run_pytest(cmd, log, budget)
        sweep_grader(pid)  # whatever its sandboxes left behind
        ended = ""
        if code is None:
            ended = f"the grader's run for this student passed its {budget:g} s bound"
        elif code not in (0, 1):
            ended = f"the grader's pytest ended with exit code {code} (see {log.name})"
        got = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()] if report.exists() else []
    isolation = next((r["isolation"] for r in got if r.get("isolation")), [])
    seen = {(r["lesson"], r["check"]): r for r in got}
    rows = []
    for lesson in lessons:
        for check in checks[lesson]:
            r = seen.get((lesson, check))
            if r is None or r["outcome"] not in OUTCOMES:
                outcome = "timeout" if "bound" in ended else "error"
                r = {"outcome": outcome, "seconds": 0.0, "message": f"not run: {ended or 'no result recorded'}"}
            rows.append({"student": folder.name, "lesson": lesson, "check": check, "outcome": r["outcome"],
                         "seconds": r["seconds"], "message": r["message"]})
    return {"student": folder.name, "rows": rows, "isolation": isolation}


def feedback(result: dict) -> str:
    rows = result["rows"]
    passed = sum(r["outcome"] == "passed" for r in rows)
    lines = [f"# {result['student']}: {passed}/{len(rows)} checks passed", ""]
    for lesson in dict.fromkeys(r["lesson"] for r in rows):
        mine = [r for r in rows if r["lesson"] == lesson]
        ok = sum(r["outcome"] == "passed" for r in mine)
        lines.append(f"## Lesson {lesson}: {ok}/{len(mine)}")
        for r in mine:
            if r["outcome"] != "passed":
                first = r["message"].splitlines() or [""]
                lines.append(f"- `{r['check']}`: **{r['outcome']}** {first[0]}".rstrip())
                lines += [f"  {line}" for line in first[1:4]]
        lines.append("")
    return "\n".join(lines)


def totals(rows, key) -> dict:
    out = {}
    for r in rows:
        t = out.setdefault(r[key], {**{o: 0 for o in OUTCOMES}, "total": 0})
        t[r["outcome"]] += 1
        t["total"] += 1
    return out


def summary_table(results: list[dict], lessons: list[str]) -> str:
    head = ["student", *(f"lesson {n}" for n in lessons), "total"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for res in results:
        cells = [res["student"]]
        for lesson in lessons:
            mine = [r for r in res["rows"] if r["lesson"] == lesson]
            cells.append(f"{sum(r['outcome'] == 'passed' for r in mine)}/{len(mine)}")
        cells.append(f"{sum(r['outcome'] == 'passed' for r in res['rows'])}/{len(res['rows'])}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_reports(results: list[dict], lessons: list[str], out: Path) -> str:
    rows = [r for res in results for r in res["rows"]]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "grades.csv", buf.getvalue())
    isolation = next((res["isolation"] for res in results if res["isolation"]), [])
    data = {"lessons": lessons, "isolation": isolation, "rows": rows,
            "students": totals(rows, "student"), "per_lesson": totals(rows, "lesson")}
    atomic_write_text(out / "grades.json", json.dumps(data, indent=1) + "\n")
    table = summary_table(results, lessons)
    outcomes = totals(rows, "lesson")
    counts = ", ".join(f"{sum(t[o] for t in outcomes.values())} {o}" for o in OUTCOMES)
    md = [f"# Grades: {len(results)} students, lessons {', '.join(lessons)}", "", table, "",
          f"All checks: {counts}.", "", "Isolation of the students' code: " + ("; ".join(isolation) or "unknown"), ""]
    atomic_write_text(out / "summary.md", "\n".join(md))
    return table + f"\n\nall checks: {counts}\nisolation: {'; '.join(isolation) or 'unknown'}"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m course grade", description=__doc__.split("\n\n")[0])
    p.add_argument("submissions", type=Path, help="a folder with one subfolder per student (their exNN.py files)")
    p.add_argument("--lessons", default=None, help="comma-separated lessons to grade, e.g. 00,01 (default: all)")
    p.add_argument("--out", type=Path, default=None, help="where to write the grades (default: SUBMISSIONS-grades)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds each check may take (default 60)")
    p.add_argument("--jobs", type=int, default=1, help="students graded at once (default 1)")
    p.add_argument("--force", action="store_true", help="regrade students already graded in --out")
    p.add_argument("--memory-mb", type=int, default=2048,
                   help="memory a student's code may allocate, beyond Python and torch (MB, default 2048)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if not args.submissions.is_dir():
        p.error(f"{args.submissions}: no such folder (expected one subfolder per student)")
    args.submissions = args.submissions.resolve()
    args.out = (args.out or args.submissions.with_name(args.submissions.name + "-grades")).resolve()
    if args.out == args.submissions or args.submissions in args.out.parents:
        p.error("--out must not be inside SUBMISSIONS (it would be graded as a student)")
    known = sorted(f.stem[len("test_ex"):] for f in TESTS_DIR.glob("test_ex*.py"))
    lessons = known if args.lessons is None else [f"{int(n):02d}" if n.strip().isdigit() else n.strip()
                                                  for n in args.lessons.split(",")]
    unknown = [n for n in lessons if n not in known]
    if unknown:
        p.error(f"--lessons: no checks for {', '.join(unknown)}; lessons with exercises: {', '.join(known)}")
    if args.jobs < 1 or args.timeout <= 0:
        p.error("--jobs must be >= 1 and --timeout > 0")
    students = sorted(d for d in args.submissions.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not students:
        p.error(f"{args.submissions} has no student subfolders")
    args.out.mkdir(parents=True, exist_ok=True)
    checks = expected_checks(lessons, args.out / "collect.log")
    results, todo = {}, []
    for folder in students:
        saved = args.out / "students" / folder.name / "result.json"
        previous = json.loads(saved.read_text(encoding="utf-8")) if saved.is_file() and not args.force else None
        if previous and [(r["lesson"], r["check"]) for r in previous["rows"]] == \
                [(n, c) for n in lessons for c in checks[n]]:
            results[folder.name] = previous
        else:
            todo.append(folder)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(students), initial=len(results), unit="student", desc="grading", disable=args.quiet)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {}
        for folder in todo:
            where = args.out / "students" / folder.name
            where.mkdir(parents=True, exist_ok=True)
            futures[pool.submit(grade_student, folder, checks, args, where / "pytest.log")] = where
        for fut in as_completed(futures):
            res, where = fut.result(), futures[fut]
            atomic_write_text(where / "feedback.md", feedback(res))
            atomic_write_text(where / "result.json", json.dumps(res, indent=1) + "\n")
            results[res["student"]] = res
            bar.update(1)
    bar.close()
    ordered = [results[f.name] for f in students]
    print(write_reports(ordered, lessons, args.out))
    print(f"wrote {args.out}/grades.csv, grades.json, summary.md and students/*/feedback.md")
    return 0
