"""Step time of the same global batch on 1 rank and on 2 ranks (DDP, gloo, CPU), side by side.

    python benchmarks/bench_ddp_cpu.py                 # 2 rounds of 1 rank then 2 ranks, 20 steps each
    python benchmarks/bench_ddp_cpu.py --steps 10 --rounds 1

Both runs train `course.ddp_demo`'s GPT (4 layers, n_embd 128, T=64) on the same
global batch: 8 micro-batches of 8 sequences per optimizer step (4,096 tokens).
One rank runs all 8 micro-batches; two ranks run 4 each and all-reduce the
gradients once per step. Each process gets one thread (OMP_NUM_THREADS=1), so on
a 2-core machine the ideal is 2x. Both are launched with torchrun
(`course.distributed.launch`), alternating, and the median step time of each run
(the first step left out) is read from its log.json. Prints both and the ratio.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from course.distributed import launch  # noqa: E402
from course.hardware import load_average  # noqa: E402

MODEL = ["--n-layer", "4", "--n-head", "4", "--n-embd", "128", "--block", "64", "--batch", "8", "--accum", "8",
         "--ckpt-every", "0", "--device", "cpu"]


def median_step_ms(nproc: int, steps: int, tmp: Path) -> float:
    out = tmp / f"w{nproc}"
    buf = io.StringIO()
    code = launch("course.ddp_demo", [*MODEL, "--steps", str(steps), "--out", str(out)], nproc=nproc, out=buf,
                  timeout=900)
    if code != 0:
        raise SystemExit(f"{nproc}-rank run failed ({code}):\n{buf.getvalue()[-3000:]}")
    seconds = [s["seconds"] for s in json.loads((out / "log.json").read_text())["steps"][1:]]
    return 1000 * statistics.median(seconds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    times = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as d:
        for r in range(args.rounds):
            for nproc in (1, 2):
                tmp = Path(d) / f"round{r}"
                ms = median_step_ms(nproc, args.steps, tmp)
                times[nproc].append(ms)
                print(f"round {r}: {nproc} rank(s): {ms:.0f} ms/step", flush=True)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    load = (load_average() or [float("nan")])[0]
    print(f"\nglobal batch 4,096 tokens/step, {os.cpu_count()} cores, load average {load:.1f}")
    print(f"1 rank : {one:7.0f} ms/step  ({4096 / one * 1000:,.0f} tokens/s)")
    print(f"2 ranks: {two:7.0f} ms/step  ({4096 / two * 1000:,.0f} tokens/s)")
    print(f"speedup: {one / two:.2f}x (ideal on 2 free cores: 2x)")


if __name__ == "__main__":
    main()
