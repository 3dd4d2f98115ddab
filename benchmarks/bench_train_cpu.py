"""The course's CPU recipe against nanoGPT's `train.py` on its README CPU recipe, side by side in one run.

nanoGPT's README ("I only have a macbook"):

    python train.py config/train_shakespeare_char.py --device=cpu --compile=False --eval_iters=20
      --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128
      --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0

i.e. character-level tinyshakespeare, a 0.8M-parameter GPT, B=12, T=64, 2000 iterations,
lr 1e-3 (warmup 100) cosine to 1e-4, AdamW betas (0.9, 0.99), weight decay 0.1, grad clip
1.0, no dropout, train and val loss on 20 random batches every 250 iterations.

nanoGPT itself cannot be fetched offline, so its side is `benchmarks/nanogpt_ref.py`: an
independent transcription of nanoGPT's model.py, train.py and shakespeare_char/prepare.py
logic (not nanoGPT's files; see that module for what it mirrors, step by step). The course
runs twice, through its own command (`course.commands.train`), with the trainer's per-step
times collected on the way: `--preset shakespeare-cpu` is nanoGPT's recipe (the same model and
schedule: this compares the two training loops), `--preset shakespeare-cpu-tuned` is the
course's own recipe for the same data, batch and 2000 steps (2 layers, lr 3e-3: this compares
what a learner waits for to reach nanoGPT's val loss).

Each run is a fresh Python process, timed from outside: its wall time is the whole run,
interpreter start, imports, data, compilation (if the recipe compiles), evaluations,
checkpoints and (for the course) the loss plot and end-of-run samples included. nanoGPT's
one-off data preparation (prepare.py) is done once before the runs, as nanoGPT does it apart
from training. Runs alternate, nanoGPT then each course preset, `--pairs` rounds, so that the
load of a shared machine falls on all alike; the load average is recorded around every run.

    python benchmarks/bench_train_cpu.py                 # 2 rounds of three full 2000-iteration runs
    python benchmarks/bench_train_cpu.py --iters 50 --pairs 1   # a quick check (ratios mean little)
    python benchmarks/bench_train_cpu.py --bpe-vocab 512 # also: the same budget with a course BPE

Printed: per run, wall time, median ms per iteration (the typical step, robust to bursts of
other load), final val loss; then the medians over the rounds and, for each course preset, the
ratio nanoGPT wall / course wall (goal >= 1.2x with the course's val loss <= 1.89).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
B, T = 12, 64
# nanoGPT's recipe run by the course, then the course's own recipe (same data, batch and steps)
PRESETS = ("shakespeare-cpu", "shakespeare-cpu-tuned")


def load() -> float | None:
    from course.hardware import load_average

    return (load_average() or [None])[0]


# ----------------------------------------------------------------------------- the two runs (child processes)


def run_nanogpt(iters: int, data_dir: str, out_dir: str) -> dict:
    sys.path.insert(0, str(HERE))
    import nanogpt_ref

    r = nanogpt_ref.Recipe(max_iters=iters, lr_decay_iters=iters, eval_interval=min(250, iters))
    with open(os.path.join(out_dir, "log.txt"), "w") as f:
        h = nanogpt_ref.train(out_dir, data_dir, r, log=lambda line: print(line, file=f))
    # iteration dt's that include an evaluation (and the first one) are not typical steps
    evals = set(h["iters"]) | {0}
    steps = [dt for i, dt in enumerate(h["dt"]) if i not in evals]
    return {"val": h["val"][-1], "val_iter": h["iters"][-1], "iters": len(h["dt"]),
            "ms_median": 1000 * statistics.median(steps), "ms_mean": 1000 * statistics.fmean(steps)}


def run_course(preset: str, iters: int, out_dir: str, extra: list[str]) -> dict:
    import course.commands as commands

    dts: list[float] = []
    train = commands.run_training

    def timed(*args, **kwargs):  # the command's own call, with a callback that keeps each step's time
        return train(*args, callback=lambda info: dts.append(info["dt"]), **kwargs)

    commands.run_training = timed
    argv = ["--preset", preset, "--out", out_dir, "--overwrite", "--device", "cpu",
            "--no-progress", "--max-steps", str(iters), *extra]
    with open(os.path.join(out_dir, "log.txt"), "w") as f:
        stdout, sys.stdout = sys.stdout, f
        try:
            rc = commands.train(argv)
        finally:
            sys.stdout = stdout
    if rc:
        raise SystemExit(f"python -m course train {' '.join(argv)} failed: see {out_dir}/log.txt")
    s = json.loads(Path(out_dir, "train.json").read_text())
    steps = dts[1:] or dts  # the first step pays for warm-up (and compilation)
    return {"val": s["val_losses"][-1], "val_iter": s["val_steps"][-1], "iters": len(dts),
            "ms_median": 1000 * statistics.median(steps), "ms_mean": 1000 * statistics.fmean(steps),
            "first_step_s": dts[0], "eval_interval": s["train"]["eval_interval"],
            "compile": s["train"]["compile"], "dtype": s["train"]["dtype"],
            "recipe": f"{s['model']['n_layer']}x{s['model']['n_embd']}, lr {s['train']['max_lr']:g}"}


def child(args) -> None:
    if args.child == "nanogpt":
        out = run_nanogpt(args.iters, args.data_dir, args.out_dir)
    else:
        out = run_course(args.preset, args.iters, args.out_dir, args.course_args)
    Path(args.json).write_text(json.dumps(out))


# ----------------------------------------------------------------------------- the parent: alternate, time, report


def one_run(who: str, iters: int, data_dir: str, tmp: str, course_args: list[str]) -> dict:
    """One fresh process: who is "nanogpt" or a course preset's name."""
    out_dir = tempfile.mkdtemp(prefix="run-", dir=tmp)
    res = os.path.join(out_dir, "result.json")
    child = ["nanogpt"] if who == "nanogpt" else ["course", "--preset", who]
    cmd = [sys.executable, __file__, "--child", *child, "--iters", str(iters), "--data-dir", data_dir,
           "--out-dir", out_dir, "--json", res]
    if course_args:
        cmd += ["--course-args", *course_args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    load0 = load()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"the {who} run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    out = json.loads(Path(res).read_text())
    out.update(who=who, wall_s=wall, load_before=load0, load_after=load())
    return out


def bpe_comparison(iters: int, vocab: int) -> None:
    """The same budget (iters x B x T tokens) with a course BPE instead of characters, in bits per byte."""
    import numpy as np
    import torch

    import course
    from course.data import as_tokenizer, char_data, fixed_batches
    from course.evaluate import evaluate_loss
    from course.model import GPT, GPTConfig
    from course.presets import PRESETS
    from course.tokenizer import RegexTokenizer
    from course.train import TrainConfig, train

    preset = PRESETS["shakespeare-cpu"]

    def run(tok, train_ids, val_ids):
        tok = as_tokenizer(tok)
        torch.manual_seed(1337)
        model = GPT(GPTConfig(**preset.model, vocab_size=tok.vocab_size))
        cfg = TrainConfig(**{**preset.train, "max_steps": iters, "sample_interval": 0}, device="cpu", progress=False)
        train(model, train_ids, val_ids, cfg, tokenizer=tok)
        batches = fixed_batches(val_ids, B, T, 10**9)
        return evaluate_loss(model, batches, token_bytes=torch.as_tensor(tok.token_byte_lengths()))["bpb"]

    print(f"\n== the same budget ({iters} iters x {B * T} tokens) with a {vocab}-token course BPE ==")
    text = course.load_tinyshakespeare()
    cut = int(len(text) * 0.9)  # the same 90/10 split of the text as the char data
    bpe = RegexTokenizer().train(text[:cut], vocab)
    btrain = np.asarray(bpe.encode_ordinary(text[:cut]), dtype=np.uint16)
    bval = np.asarray(bpe.encode_ordinary(text[cut:]), dtype=np.uint16)
    char_bpb = run(*char_data())
    bpe_bpb = run(bpe, btrain, bval)
    print(f"val bits/byte, whole val split: char {char_bpb:.4f}, BPE {bpe_bpb:.4f} "
          f"(ratio {bpe_bpb / char_bpb:.3f}; {cut / len(btrain):.2f} characters/token)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iters", type=int, default=2000, help="iterations of each run (the recipe: 2000)")
    p.add_argument("--pairs", type=int, default=2,
                   help="rounds of runs, nanoGPT then each course preset, alternating (the name is historical)")
    p.add_argument("--presets", nargs="+", default=list(PRESETS),
                   help="course presets run in each round: the same recipe as nanoGPT, then the course's own")
    p.add_argument("--course-args", nargs=argparse.REMAINDER, default=[],
                   help="extra flags for `python -m course train` (last on the line), e.g. --compile")
    p.add_argument("--bpe-vocab", type=int, default=0, help="also train with a course BPE of this size; 0: no")
    p.add_argument("--child", choices=["nanogpt", "course"], help=argparse.SUPPRESS)
    p.add_argument("--preset", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help=argparse.SUPPRESS)
    p.add_argument("--out-dir", help=argparse.SUPPRESS)
    p.add_argument("--json", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)

    import platform

    import torch

    sys.path.insert(0, str(HERE))
    import nanogpt_ref

    import course
    from course.presets import PRESETS as KNOWN

    if unknown := [x for x in args.presets if x not in KNOWN]:
        raise SystemExit(f"--presets: unknown preset(s) {unknown}; known: {', '.join(KNOWN)}")
    print(f"{platform.machine()}, {os.cpu_count()} cores, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), Python {platform.python_version()}")
    print(f"{args.pairs} rounds x {1 + len(args.presets)} runs of {args.iters} iterations: nanoGPT, "
          f"{', '.join(args.presets)}; course flags: {' '.join(args.course_args) or '-'}")
    who_all = ["nanogpt", *args.presets]
    width = max(len(w) for w in who_all) + 3
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-train-cpu-") as tmp:
        data_dir = os.path.join(tmp, "shakespeare_char")
        nanogpt_ref.prepare(data_dir, course.load_tinyshakespeare())
        print(f"\n{'run':<{width}}{'wall s':>9}{'ms/iter':>9}{'val loss':>10}   load average before -> after")
        for rnd in range(args.pairs):
            for who in who_all:
                r = one_run(who, args.iters, data_dir, tmp, args.course_args)
                r["round"] = rnd
                runs.append(r)
                print(f"{who + ' ' + str(rnd + 1):<{width}}{r['wall_s']:9.1f}{r['ms_median']:9.1f}{r['val']:10.4f}"
                      f"   {r['load_before']:.2f} -> {r['load_after']:.2f}", flush=True)

    def med(who, key):
        return statistics.median(r[key] for r in runs if r["who"] == who)

    print(f"\n{'median':<{width}}{'wall s':>9}{'ms/iter':>9}{'val loss':>10}")
    for who in who_all:
        print(f"{who:<{width}}{med(who, 'wall_s'):9.1f}{med(who, 'ms_median'):9.1f}{med(who, 'val'):10.4f}")
    nano = {r["round"]: r for r in runs if r["who"] == "nanogpt"}
    print()
    for who in args.presets:
        mine = [r for r in runs if r["who"] == who]
        per_round = [nano[r["round"]]["wall_s"] / r["wall_s"] for r in mine]
        ratio = med("nanogpt", "wall_s") / med(who, "wall_s")
        step_ratio = med("nanogpt", "ms_median") / med(who, "ms_median")
        worst = max(r["val"] for r in mine)
        met = "met" if ratio >= 1.2 and worst <= 1.89 else "not met"
        print(f"{who} ({mine[0]['recipe']}): nanoGPT wall / course wall {ratio:.2f}x (per round: "
              f"{', '.join(f'{x:.2f}' for x in per_round)}); step {step_ratio:.2f}x; worst val loss {worst:.4f}; "
              f"goal >= 1.2x with val <= 1.89: {met}")
    loads = [x for r in runs for x in (r["load_before"], r["load_after"]) if x is not None]
    if loads:
        print(f"load average during the runs: {min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} cores")
    c = next(r for r in runs if r["who"] != "nanogpt")
    print(f"course runs: eval every {c['eval_interval']} steps, compile {c['compile']}, dtype {c['dtype']}; "
          f"first step {c['first_step_s']:.1f} s")
    if args.bpe_vocab:
        bpe_comparison(args.iters, args.bpe_vocab)


if __name__ == "__main__":
    main()
