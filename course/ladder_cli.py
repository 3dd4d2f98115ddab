"""`python -m course ladder`: climb the speedup ladder from the command line and record it.

Lesson 04 runs the ladder in the notebook; this is the same ladder as a
command, for a GPU machine or a terminal. It writes the record after every
rung (so a run cut short by `timeout` keeps what it measured: SIGTERM stops
the ladder between steps and the record says "complete": false) and prints
the table at the end.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from course.hardware import device_slug
from course.ladder import LadderInterrupted, run_ladder
from course.ladder_records import format_table, save_record
from course.ladder_rungs import KEEP_MARGIN, PROFILES, ladder_rungs
from course.utils import device_type, get_device


def _parse(argv):
    p = argparse.ArgumentParser(
        prog="python -m course ladder",
        description="Climb the training speedup ladder: one change per rung, each measured.",
    )
    p.add_argument("--profile", choices=sorted(PROFILES), default=None,
                   help="gpt2: GPT-2 124M, B=16, T=1024 (GPUs); cpu: a small character-level GPT, T=256 (default on a CPU); "
                        "cpu-quick: one layer, few steps; test: smallest, no code generation")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: course.get_device())")
    p.add_argument("--rungs", default=None, help="comma-separated rung names to run (default: all)")
    p.add_argument("--steps", type=int, default=None, help="timed optimizer steps per rung")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps before them")
    p.add_argument("--micro-batch", type=int, default=None, help="micro-batch of rungs 1-7")
    p.add_argument("--peak-tflops", type=float, default=None, help="peak FLOP/s for MFU, in TFLOP/s")
    p.add_argument("--keep-margin", type=float, default=KEEP_MARGIN, help="gain a beyond rung needs to be kept")
    p.add_argument("--time-limit", type=float, default=None, help="skip rungs that would start after this many seconds")
    p.add_argument("--measure-hardware", action="store_true", help="also measure matmul FLOP/s and copy bandwidth")
    p.add_argument("--out", default="benchmarks/results", help="folder for the record (default: benchmarks/results)")
    p.add_argument("--name", default=None, help="file stem (default: ladder-<device>)")
    p.add_argument("--no-save", action="store_true", help="print the table only")
    p.add_argument("--no-plot", action="store_true", help="write JSON and CSV but no PNG")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--list", action="store_true", help="list the rungs and what each changes, then exit")
    return p.parse_args(argv)


def _on_term(signum, frame):
    raise LadderInterrupted(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv if argv is not None else sys.argv[1:])
    device = args.device or get_device()
    profile_name = args.profile or ("cpu" if device_type(device) == "cpu" else "gpt2")
    profile = PROFILES[profile_name]
    if args.list:
        print(f"profile {profile.name}: {profile.label()}; the baseline is {profile.base_settings()}")
        for i, rung in enumerate(ladder_rungs(profile), 1):
            kind = "beyond" if rung.beyond else "core"
            print(f"{i:2d} {rung.name:<16} {kind:<6} {rung.field} = {rung.value!r}  ({rung.title})")
        return 0
    rungs = [r.strip() for r in args.rungs.split(",") if r.strip()] if args.rungs else None

    stem = args.name
    save = None
    if not args.no_save:
        def save(record):
            nonlocal stem
            stem = stem or f"ladder-{device_slug(record['hardware'])}"
            save_record(record, args.out, stem, plot=not args.no_plot and record.get("summary") is not None)

    old = signal.signal(signal.SIGTERM, _on_term)
    try:
        record = run_ladder(
            profile, device, rungs=rungs, steps=args.steps, warmup=args.warmup, micro_batch=args.micro_batch,
            peak_tflops=args.peak_tflops, keep_margin=args.keep_margin, time_limit=args.time_limit,
            seed=args.seed, measure_hardware=args.measure_hardware, on_rung=save, progress=True,
        )
    except ValueError as e:
        print(f"python -m course ladder: {e}", file=sys.stderr)
        return 2
    except LadderInterrupted:
        print("python -m course ladder: stopped by a signal; the record holds the finished rungs", file=sys.stderr)
        return 124
    finally:
        signal.signal(signal.SIGTERM, old)
    print()
    print(format_table(record))
    s = record["summary"]
    if s["best_rung"]:
        print(f"best: {s['best_rung']} at {s['best_tokens_per_sec']:,.0f} tokens/s, "
              f"{100 * s['best_mfu']:.1f}% MFU; ladder took {record['wall_s']:.0f} s")
    if save:
        print(f"record: {Path(args.out) / stem}.json / .csv / .png")
    return 0 if record["complete"] else 124


if __name__ == "__main__":
    sys.exit(main())
