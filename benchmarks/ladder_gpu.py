"""The one prepared GPU run: the course's ladder, the independent reference, and the GPU test pass.

    python benchmarks/ladder_gpu.py --prepare          # here: copy the reference into .gpu/ (git-ignored)
    timeout 590 python benchmarks/ladder_gpu.py        # on an H100/H200: ~10 minutes, writes the record
    python benchmarks/ladder_gpu.py --dry-run          # rehearsal on a CPU, tiny sizes, writes .gpu/dry-run/

Phases, each a subprocess under its own time budget (a phase that runs out is
stopped and the run goes on; the ladder's record keeps every finished rung):

1. ladder     `python -m course ladder --profile gpt2` (GPT-2 124M, B=16, T=1024,
              every core and beyond rung) -> ladder-<gpu>.json/.csv/.png
2. reference  the independent `ladder_ref.py`, run as it is, same B and T ->
              reference-<gpu>.json; each rung of the record gains
              `reference_tokens_per_sec` and `vs_reference`
3. goals      the goals evaluated into the record (met, or missed by how much),
              and a torch.profiler table of the slowest rung's top kernels
4. tests      `pytest -m cuda` (the CUDA variants, tests/test_gpu.py)
5. train      a few hundred steps of `python -m course train --preset shakespeare-gpu`
              in bf16 with torch.compile (loss curve and tokens/s in its run dir)

Everything printed goes to ladder-<gpu>.log too; gpu-run-<gpu>.json sums up the
phases. --dry-run runs the same phases on the CPU at a tiny size (the "test"
ladder profile, one step per rung, the reference through benchmarks/cpu_shim.py
at B=1, T=32, one rung, the CUDA tests rehearsed on the CPU, 2 training steps),
marks everything dry_run, and writes only under .gpu/dry-run/: never into
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "benchmarks" / "results"
GPU_DIR = REPO / ".gpu"  # git-ignored: the reference copy, and dry-run outputs
SHARED_REF = REPO.parent / "shared" / "bench" / "ladder_ref.py"
# the reference's rung titles, in its order, and the course rung each one matches
REFERENCE_RUNGS = {
    "fp32 baseline": "fp32", "+ TF32 (matmul precision high)": "tf32", "+ bf16 autocast": "bf16",
    "+ torch.compile": "compile", "+ flash attention (SDPA)": "flash", "+ vocab 50304": "vocab",
    "+ fused AdamW": "fused-adamw",
}
BUDGET_S = {"ladder": 270, "reference": 150, "tests": 60, "train": 90}  # GPU seconds; ~10 minutes with start-up


class Log:
    def __init__(self, path: Path):
        self.path = path
        self.file = path.open("a", encoding="utf-8")

    def __call__(self, msg: str = "") -> None:
        print(msg, flush=True)
        self.file.write(msg + "\n")
        self.file.flush()


def run_phase(name: str, cmd: list[str], budget: float, log: Log, env: dict | None = None) -> dict:
    """Run one phase with a time budget; its output goes to the console and the log."""
    log(f"== phase {name}: {' '.join(cmd)}  (budget {budget:.0f} s)")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []

    def pump():  # a reader thread, so that a phase printing nothing is still stopped at its budget
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            log(lines[-1])

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        pass
    if proc.poll() is None:
        proc.terminate()  # SIGTERM: the ladder keeps its record
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log(f"== phase {name}: stopped at its {budget:.0f} s budget")
    reader.join(timeout=10)
    wall = time.perf_counter() - t0
    log(f"== phase {name}: exit code {proc.returncode}, {wall:.1f} s")
    return {"cmd": cmd, "rc": proc.returncode, "wall_s": round(wall, 1), "output": lines}


def parse_reference(lines: list[str], B: int, T: int) -> dict[str, float]:
    """{course rung name: tokens/s} from the reference's JSON lines (tokens/s from its ms, unrounded)."""
    out = {}
    for line in lines:
        if line.startswith("{"):
            row = json.loads(line)
            out[REFERENCE_RUNGS[row["rung"]]] = B * T / (row["ms"] / 1000)
    return out


def slowest_rung(record: dict) -> tuple[dict, str] | None:
    """The rung to profile: the lowest ratio to the reference if there is one, else the lowest tokens/s."""
    ok = [r for r in record["rungs"] if r["status"] == "ok"]
    with_ref = [r for r in ok if r.get("vs_reference")]
    if with_ref:
        r = min(with_ref, key=lambda r: r["vs_reference"])
        return r, f"lowest ratio to the reference: {r['vs_reference']:.2f}x"
    if ok:
        r = min(ok, key=lambda r: r["tokens_per_sec"])
        return r, "lowest tokens/s (no reference ratios)"
    return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true", help="rehearse on the CPU at a tiny size; writes .gpu/dry-run/")
    p.add_argument("--prepare", action="store_true", help=f"copy {SHARED_REF} into .gpu/ and exit")
    p.add_argument("--out", default=None, help="output folder (default: $OUT, else benchmarks/results)")
    p.add_argument("--reference", default=None, help="the reference script (default: .gpu/ladder_ref.py)")
    p.add_argument("--phases", default="ladder,reference,goals,tests,train")
    args = p.parse_args(argv)

    if args.prepare:
        if not SHARED_REF.exists():
            print(f"no reference at {SHARED_REF}", file=sys.stderr)
            return 2
        GPU_DIR.mkdir(exist_ok=True)
        shutil.copy2(SHARED_REF, GPU_DIR / "ladder_ref.py")
        print("copied the reference to .gpu/ladder_ref.py (git-ignored; carry .gpu to the GPU machine)")
        return 0

    import torch

    dry = args.dry_run
    if not dry and not torch.cuda.is_available():
        print("no CUDA GPU that torch can use: nothing to measure (use --dry-run to rehearse on a CPU)",
              file=sys.stderr)
        return 2
    out = Path(args.out or (GPU_DIR / "dry-run" if dry else os.environ.get("OUT") or RESULTS)).resolve()
    if dry and (out == RESULTS or RESULTS in out.parents):
        print("--dry-run never writes into benchmarks/results", file=sys.stderr)
        return 2
    if dry and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)

    from course.hardware import device_slug, hardware_info

    device = "cpu" if dry else "cuda"
    slug = "dryrun" if dry else device_slug(hardware_info("cuda"))
    log = Log(out / f"ladder-{slug}.log")
    py = sys.executable
    phases = args.phases.split(",")
    env = {"PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "PYTHONUNBUFFERED": "1",
           "HF_HUB_OFFLINE": "1", "TORCHINDUCTOR_CACHE_DIR": tempfile.mkdtemp(prefix="inductor-")}  # cold compiles
    summary = {"dry_run": dry, "device": device, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "phases": {}}
    t_start = time.perf_counter()
    log(f"== ladder_gpu.py {'--dry-run (CPU rehearsal: nothing here is a GPU number)' if dry else 'on ' + slug}")
    log(f"   python {sys.version.split()[0]} | torch {torch.__version__} | cuda {torch.version.cuda}")
    if not dry:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version,clocks.max.sm,power.limit",
                              "--format=csv,noheader"], capture_output=True, text=True)
        log("   " + smi.stdout.strip())
    stem = f"ladder-{slug}"

    if "ladder" in phases:
        cmd = [py, "-m", "course", "ladder", "--out", str(out), "--name", stem]
        cmd += (["--profile", "test", "--device", "cpu", "--steps", "1", "--warmup", "1", "--peak-tflops", "1"] if dry
                else ["--profile", "gpt2", "--device", "cuda", "--measure-hardware",
                      "--time-limit", str(BUDGET_S["ladder"] - 60)])
        summary["phases"]["ladder"] = run_phase("ladder", cmd, BUDGET_S["ladder"] + (600 if dry else 0), log, env)

    reference, ref_B, ref_T = {}, (1 if dry else 16), (32 if dry else 1024)
    if "reference" in phases:
        script = Path(args.reference) if args.reference else GPU_DIR / "ladder_ref.py"
        if not script.exists() and SHARED_REF.exists():
            script = SHARED_REF
        if not script.exists():
            log(f"== phase reference: no reference script ({script}); run --prepare first")
        else:
            cmd = [py, str(script), "--B", str(ref_B), "--T", str(ref_T), "--steps", "1" if dry else "10"]
            if dry:  # the shim maps .cuda() and torch.cuda.* to the CPU, only in a dry run
                cmd = [py, str(REPO / "benchmarks" / "cpu_shim.py")] + cmd[1:] + ["--only", "0"]
            ph = run_phase("reference", cmd, BUDGET_S["reference"] + (600 if dry else 0), log, env)
            reference = parse_reference(ph["output"], ref_B, ref_T)
            summary["phases"]["reference"] = ph
            (out / f"reference-{slug}.json").write_text(json.dumps(
                {"dry_run": dry, "B": ref_B, "T": ref_T, "tokens_per_sec": reference, "output": ph["output"]},
                indent=1) + "\n")

    if "goals" in phases and (out / f"{stem}.json").exists():
        t0 = time.perf_counter()
        from course import ladder, ladder_records

        record = json.loads((out / f"{stem}.json").read_text())
        record["dry_run"] = dry
        if reference:
            ladder_records.merge_reference(record, reference, f"{script.name}, same machine, same run, "
                                                                f"B={ref_B}, T={ref_T}")
        record["goals"] = ladder_records.evaluate_goals(record)
        log(ladder_records.format_table(record))
        log(ladder_records.format_goals(record["goals"]))
        pick = slowest_rung(record)
        if pick:
            row, why = pick
            profile = ladder.Profile(**record["profile"])
            try:
                table = ladder.profile_rung(ladder.RungSettings(**row["config"]), profile, device,
                                            ladder.gpt2_tokens(), steps=1 if dry else 3)
                record["kernel_profile"] = {"rung": row["name"], "why": why, "table": table}
                log(f"== top kernels of {row['name']} ({why}):\n{table}")
            except Exception as e:  # the record is worth more than its profile
                log(f"== profiling {row['name']} failed: {type(e).__name__}: {e}")
        ladder_records.validate_record(record)
        ladder_records.save_record(record, out, stem)
        summary["phases"]["goals"] = {"wall_s": round(time.perf_counter() - t0, 1),
                                      "goals": record["goals"]}

    if "tests" in phases:
        cmd = [py, "-m", "pytest", "-m", "cuda", "tests/test_gpu.py", "-p", "no:cacheprovider", "-q", "-rs"]
        tenv = {**env, "COURSE_GPU_TESTS_ON_CPU": "1"} if dry else env
        summary["phases"]["tests"] = run_phase("tests", cmd, BUDGET_S["tests"] + (600 if dry else 0), log, tenv)

    if "train" in phases:
        run_dir = out / f"train-{slug}"
        cmd = [py, "-m", "course", "train", "--preset", "shakespeare-gpu", "--out", str(run_dir), "--overwrite",
               "--eval-interval", "100", "--eval-batches", "20", "--sample-interval", "0", "--samples", "1",
               "--sample-tokens", "100", "--quiet"]
        cmd += (["--device", "cpu", "--dtype", "bfloat16", "--no-compile", "--max-steps", "2", "--n-layer", "1",
                 "--n-head", "2", "--n-embd", "32", "--block-size", "32", "--batch-size", "2", "--eval-interval", "1",
                 "--eval-batches", "1", "--warmup-steps", "1"] if dry
                else ["--device", "cuda", "--dtype", "bfloat16", "--compile", "--max-steps", "300"])
        summary["phases"]["train"] = run_phase("train", cmd, BUDGET_S["train"] + (600 if dry else 0), log, env)

    summary["wall_s"] = round(time.perf_counter() - t_start, 1)
    for ph in summary["phases"].values():
        ph.pop("output", None)
    (out / f"gpu-run-{slug}.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    log(f"== done in {summary['wall_s']:.0f} s; files in {out.relative_to(REPO) if REPO in out.parents else out}")
    failed = [n for n, ph in summary["phases"].items() if ph.get("rc") not in (None, 0)]
    if failed:
        log(f"== phases with a non-zero exit code: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
