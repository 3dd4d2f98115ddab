"""Measure a reference loss curve of course/curves.py: run its recipe over seeds, print the numbers.

    PYTHONPATH=. OMP_NUM_THREADS=1 python tools/reference_curves.py lesson03-cpu --seeds 1337 1 2
    PYTHONPATH=. OMP_NUM_THREADS=1 python tools/reference_curves.py speedrun-cpu --seeds 0 1 2 --stop-at 250

`--stop-at N` measures the first N steps of the recipe's schedule (a long
recipe's early steps, where a broken run already shows). Each seed seeds the model's initialisation and the trainer (batches, dropout),
as lesson 03 does with 1337. Prints every run's val losses and the median and
band (max(0.05, 3 x the largest distance of a seed from the median) at each
step) to paste into course/curves.py. CPU, fp32, the committed trainer.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics

import torch

from course import curves
from course.loader import char_data
from course.model import GPT, GPTConfig
from course.train import TrainConfig, train
from course.utils import seed_everything

RECIPES = {"lesson03-cpu": curves.LESSON03_CPU, "shakespeare-cpu": curves.SHAKESPEARE_CPU}


def run(recipe: dict, seed: int, stop_at: int | None = None) -> tuple[list[int], list[float]]:
    tok, train_ids, val_ids = char_data()
    seed_everything(seed)
    model = GPT(GPTConfig(**recipe["model"], vocab_size=tok.vocab_size))
    cfg = TrainConfig(**recipe["train"], seed=seed, device="cpu", dtype="float32", progress=False)
    result = train(model, train_ids, val_ids, cfg, stop_at=stop_at)  # stop_at: the same schedule, cut short
    return result.val_steps, result.val_losses


def run_speedrun(seed: int, stop_at: int | None = None) -> tuple[list[int], list[float]]:
    """`python -m course speedrun --scale cpu`'s pretraining stage on the bundled text, as it runs it
    (its tokenizer, model and TrainConfig), with the seed given to --seed."""
    from course import speedrun
    from course.chat import chat_tokenizer
    from course.tokenizer import RegexTokenizer

    scale = speedrun.SCALES["cpu"]
    train_text, val_text = speedrun._text(scale)
    tok = RegexTokenizer()
    tok.train(train_text, scale.vocab_size)
    model = speedrun._gpt(scale, chat_tokenizer(tok).vocab_size, seed)
    cfg = speedrun.pretrain_config(scale, device="cpu", seed=seed, progress=False)
    cfg.dtype = "float32"
    result = train(model, speedrun._ids(tok, train_text), speedrun._ids(tok, val_text), cfg, tokenizer=tok,
                   stop_at=stop_at)
    return result.val_steps, result.val_losses


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("name", choices=sorted([*RECIPES, "speedrun-cpu"]))
    p.add_argument("--seeds", type=int, nargs="+", default=[1337, 1, 2])
    p.add_argument("--stop-at", type=int, default=None, help="stop after this many steps (the schedule unchanged)")
    args = p.parse_args()
    runs = {}
    for seed in args.seeds:
        if args.name == "speedrun-cpu":
            steps, losses = run_speedrun(seed, args.stop_at)
        else:
            steps, losses = run(RECIPES[args.name], seed, args.stop_at)
        runs[seed] = [round(x, 4) for x in losses]
        print(f"seed {seed}: " + ", ".join(f"{s}: {v:.4f}" for s, v in zip(steps, losses)), flush=True)
    med = [statistics.median(col) for col in zip(*runs.values())]
    band = [max(0.05, 3 * max(abs(v - m) for v in col)) for col, m in zip(zip(*runs.values()), med)]
    print(json.dumps({"steps": steps, "loss": [round(m, 3) for m in med], "band": [round(b, 3) for b in band],
                      "runs": runs, "machine": f"{platform.machine()}, torch {torch.__version__}, "
                      f"{torch.get_num_threads()} thread(s)"}))


if __name__ == "__main__":
    main()
