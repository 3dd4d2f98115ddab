"""`python -m course speedrun`: the whole pipeline in one command, from text to a report card.

    python -m course speedrun                      # --scale cpu: about 10 minutes on 2 CPU cores
    python -m course speedrun --scale tiny --out runs/tiny
    python -m course speedrun --resume             # continue after an interruption
    python -m course speedrun --data fineweb-edu   # pretrain on FineWeb-Edu (streamed: needs the network)
    python -m course speedrun --scale gpu          # bf16 (or fp16) autocast and torch.compile on a GPU
    torchrun --standalone --nproc-per-node=8 -m course speedrun --scale gpu   # pretraining and SFT with DDP

Every stage is the course's own code, called as a lesson calls it:

1. tokenizer: a byte-level BPE (`course.tokenizer`, the fast trainer) on the
   training part of the bundled tinyshakespeare (`course.assets`); its
   compression in bytes per token. Digits stay single bytes: Shakespeare has
   too few of them to merge, which is what arithmetic wants.
2. pretrain: a small GPT (`course.model`) trained with `course.train` on the
   tokenized text; val loss and bits per byte against a unigram baseline; a sample.
3. sft: `course.sft.finetune` on a mix of `course.chat_data` conversations
   (2-digit addition with worked steps, spelling, letter counts, identity)
   rendered by `course.chat`; greedy task accuracies before and after. SFT
   runs in chunks resumed exactly from its checkpoint, and stops once the
   addition task is right often enough for RL to learn from (lesson 07: RL
   only learns when the starting reward is neither ~0 nor ~1).
4. rl: `course.rl.train_rl` on `course.rl_tasks.AdditionTask`; greedy pass@1
   before and after, the reward curve. On one CPU thread, so it repeats exactly.
5. eval: bits per byte of each stage's model on held-out text
   (`course.evaluate`), a HellaSwag-style multiple-choice score
   (`course.hellaswag`) on cloze items made from held-out lines, the task
   accuracies, and a short chat through `course.engine`.
6. report: report.md, report.json and the plots they show (`course.speedrun_report`).

Each stage writes into its own folder of `--out` and, when done, records its
results in `state.json` (written atomically); `--resume` skips finished stages
and continues the unfinished one from its checkpoint. Ctrl-C leaves that state.

`--dtype`, `--compile` and torchrun (which processes run which stage, and why)
are `course.speedrun_machine`'s: `--scale gpu` turns them on, any scale can.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

from course.speedrun_machine import (
    ALL_RANKS,
    SpeedrunError,
    barrier,
    check_resumable,
    choose,
    ddp_follows,
    join,
    leave,
    machine,
    on_main,
)
from course.speedrun_report import machine_info, stage_report
from course.speedrun_scales import SCALES, Scale

STAGES = ("tokenizer", "pretrain", "sft", "rl", "eval", "report")
STATE_FILE = "state.json"
ASSISTANT = "Nano"


# ----------------------------------------------------------------------------- state


def read_state(out: Path) -> dict | None:
    path = out / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise SpeedrunError(f"{path} is damaged ({e}); remove it to start over") from None
    if not isinstance(state, dict) or "stages" not in state:
        raise SpeedrunError(f"{path} is not a speedrun state file; remove it to start over")
    return state


def write_state(out: Path, state: dict) -> None:
    from course.utils import atomic_write_text

    atomic_write_text(out / STATE_FILE, json.dumps(state, indent=1))


# ----------------------------------------------------------------------------- shared pieces


BUNDLED = "tinyshakespeare"
DATA_FILE = "data.txt"  # the run's own copy of text fetched with --data, so every stage and --resume read the same
STREAMED_CHARS = 1_115_394  # characters taken from --data when the scale uses all of its text: tinyshakespeare's size


def fetch_text(data, chars: int) -> str:
    """The first `chars` characters of `data` (documents joined by blank lines), through
    `course.text.load_text`: "fineweb-edu" (streamed from the hub; offline it fails at once,
    naming why) or local .txt/.jsonl/.parquet files."""
    from course.text import DataUnavailableError, load_text

    parts, total = [], 0
    for doc in load_text(data):
        doc = doc.strip()
        if not doc:
            continue
        parts.append(doc)
        total += len(doc) + 2
        if total >= chars:
            break
    text = "\n\n".join(parts)[:chars]
    if len(text) < 10_000:
        raise DataUnavailableError(f"--data {data}: only {len(text):,} characters of text, too little for a speedrun "
                                   "(it needs at least 10,000)")
    return text


def _text(scale: Scale, out: Path | None = None) -> tuple[str, str]:
    """(train text, val text): the first 90% and the last 10% of the (cut) corpus: the bundled
    tinyshakespeare, or the run's copy of its --data (data.txt in `out`)."""
    if out is not None and (out / DATA_FILE).is_file():
        text = (out / DATA_FILE).read_text(encoding="utf-8")
    else:
        from course.assets import load_tinyshakespeare

        text = load_tinyshakespeare()
    if scale.text_chars is not None:
        text = text[: scale.text_chars]
    n = int(len(text) * 0.9)
    return text[:n], text[n:]


def _tokenizer(out: Path):
    from course.tokenizer import from_spec

    spec = json.loads((out / "tokenizer" / "tokenizer.json").read_text(encoding="utf-8"))
    return from_spec(spec)


def _words(text: str) -> list[str]:
    import re

    return sorted({w for w in re.findall(r"[a-z]+", text) if 3 <= len(w) <= 6})


def _task_sets(words: list[str], n: int) -> dict[str, list[list[dict]]]:
    """Held-out conversations per task (seeds the training mix does not use)."""
    from course.chat_data import addition, identity, letter_count, spelling

    return {
        "addition": addition(n, digits=2, reasoning=True, seed=10_001),
        "spelling": spelling(words, n, seed=10_002),
        "letter_count": letter_count(words, n, seed=10_003),
        "identity": identity(n, name=ASSISTANT, seed=10_004),
    }


def task_accuracies(model, tok, sets: dict, *, max_new_tokens: int = 24) -> dict[str, float]:
    """Greedy exact-match accuracy per task: the final answer for addition, the whole reply otherwise."""
    from course.chat_data import final_answer
    from course.engine import complete_batch

    out = {}
    for name, convs in sets.items():
        prompts = [c[:-1] for c in convs]
        replies = complete_batch(model, tok, prompts, max_new_tokens=max_new_tokens)
        want = [c[-1]["content"] for c in convs]
        if name == "addition":
            ok = [final_answer(r) == final_answer(w) for r, w in zip(replies, want)]
        else:
            ok = [r.strip() == w for r, w in zip(replies, want)]
        out[name] = sum(ok) / len(ok)
    return out


# ----------------------------------------------------------------------------- stages


def stage_tokenizer(out: Path, scale: Scale, args) -> dict:
    from course.tokenizer import RegexTokenizer
    from course.utils import atomic_write_text

    train_text, val_text = _text(scale, out)
    tok = RegexTokenizer()
    t0 = time.perf_counter()
    tok.train(train_text, scale.vocab_size)
    seconds = time.perf_counter() - t0
    atomic_write_text(out / "tokenizer" / "tokenizer.json", json.dumps(tok.spec))
    val_bytes = len(val_text.encode("utf-8"))
    n_val = len(tok.encode_ordinary(val_text))
    example = "49+97=146 To be, or not to be"
    return {
        "vocab_size": tok.vocab_size,
        "train_chars": len(train_text),
        "val_bytes_per_token": val_bytes / n_val,
        "train_bytes_per_second": len(train_text.encode("utf-8")) / seconds,
        "example": [tok.decode([i]) for i in tok.encode_ordinary(example)],
        "digits_single_tokens": all(len(tok.encode_ordinary(d)) == 1 for d in "0123456789"),
    }


def _ids(tok, text: str):
    import numpy as np

    return np.asarray(tok.encode_ordinary(text), dtype=np.int64)


def _gpt(scale: Scale, vocab_size: int, seed: int):
    import torch

    from course.model import GPT, GPTConfig

    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, dropout=0.0, **scale.model))


def pretrain_config(scale: Scale, *, device: str, seed: int, checkpoint: str | None = None, progress: bool = True,
                    reference: str | None = None, **machine):
    """The pretraining stage's TrainConfig (tools/reference_curves.py measures the cpu scale's curve with it).

    `machine`: how the run uses the hardware (`Machine.train_kwargs`: micro-batches, precision,
    compile); without it, the scale's whole batch in one fp32 process."""
    from course.train import TrainConfig

    machine = {"batch_size": scale.pretrain_batch, **machine}
    return TrainConfig(max_steps=scale.pretrain_steps, max_lr=scale.pretrain_lr,
                       min_lr=scale.pretrain_lr / 10, warmup_steps=max(10, scale.pretrain_steps // 20),
                       weight_decay=0.1, betas=(0.9, 0.99), eval_interval=scale.eval_interval, eval_batches=20,
                       eval_at_start=True, sample_interval=scale.pretrain_steps, sample_tokens=60,
                       sample_top_k=None, seed=seed, checkpoint_path=checkpoint,
                       checkpoint_interval=scale.eval_interval, progress=progress, reference=reference,
                       **{"device": device, **machine})


def stage_pretrain(out: Path, scale: Scale, args) -> dict:
    """Every process of a torchrun run: DDP over the scale's (global) batch; rank 0 writes."""
    from course.chat import chat_tokenizer
    from course.loader import fixed_batches
    from course.train import train

    tok = _tokenizer(out)
    train_text, val_text = _text(scale, out)
    train_ids, val_ids = _ids(tok, train_text), _ids(tok, val_text)
    vocab = chat_tokenizer(tok).vocab_size  # room for the chat tokens SFT will use
    device = args.m.device
    model = _gpt(scale, vocab, args.seed).to(device)
    ckpt = out / "pretrain" / "ckpt.pt"
    # the bundled text at the cpu scale has a reference curve, measured in fp32: the log compares each val loss with it
    bundled_cpu = scale == SCALES["cpu"] and not (out / DATA_FILE).is_file() and args.m.precision == "float32"
    cfg = pretrain_config(scale, seed=args.seed, checkpoint=str(ckpt), progress=not args.quiet,
                          reference="speedrun-cpu" if bundled_cpu else None,
                          **args.m.train_kwargs(scale.pretrain_batch))  # device, micro-batches, precision
    # val batches of the whole batch, whatever the micro-batches: the same measurement on any number of processes
    val = fixed_batches(val_ids, scale.pretrain_batch, scale.model["block_size"], cfg.eval_batches, device=device)
    resume = ckpt if ckpt.is_file() else None
    resumed_from = _step_of(resume)
    result = train(model, train_ids, val, cfg, tokenizer=tok, resume=resume)
    from course.evaluate import unigram_bpb

    baseline = unigram_bpb(train_ids, val_ids, len(val_text.encode("utf-8")), vocab)
    from course.model import count_params

    return {
        "parameters": count_params(model),
        "model": dict(scale.model, vocab_size=vocab),
        "steps": scale.pretrain_steps,
        "tokens": scale.pretrain_steps * scale.pretrain_batch * scale.model["block_size"],
        "tokens_per_second": result.tokens_per_sec,
        "resumed_from_step": resumed_from,
        "val_steps": result.val_steps,
        "val_loss": result.val_losses,
        "val_bpb": result.val_bpb,
        "unigram_bpb": baseline,
        "train_loss": _every(result.losses, 100),
        "sample": result.samples[-1][1] if result.samples else "",
        **args.m.record(result.compile),
        "notes": result.notes,  # e.g. each val loss against the speedrun-cpu reference curve
    }


def _step_of(ckpt) -> int:
    if ckpt is None:
        return 0
    from course.checkpoint import load_checkpoint

    return int(load_checkpoint(ckpt)["step"])


def _every(values, n_points: int) -> list[list[float]]:
    """[step, value] pairs, at most about n_points of them (the report's curves)."""
    k = max(1, len(values) // n_points)
    return [[i + 1, float(v)] for i, v in enumerate(values) if (i + 1) % k == 0 or i == len(values) - 1]


def sft_mix(words: list[str], n_addition: int, seed: int) -> list[list[dict]]:
    """The SFT conversations: 2-digit addition with steps, and a third as many of the other tasks."""
    from course.chat_data import identity, letter_count, spelling
    from course.rl_tasks import AdditionTask

    k = max(1, n_addition // 9)
    convs = (AdditionTask(2).conversations(n_addition, seed=seed) + spelling(words, k, seed=seed + 1)
             + letter_count(words, k, seed=seed + 2) + identity(k, name=ASSISTANT, seed=seed + 3))
    random.Random(seed).shuffle(convs)
    return convs


def stage_sft(out: Path, scale: Scale, args) -> dict:
    """Every process of a torchrun run trains (DDP); rank 0 checks addition between chunks and tells the
    others whether to go on, and alone measures the accuracies before and after (the others are done)."""
    from course.arch import load_model
    from course.rl import evaluate_pass_at_1
    from course.rl_tasks import AdditionTask
    from course.sft import finetune
    from course.train import TrainConfig

    tok = _tokenizer(out)
    device = args.m.device
    train_text, _ = _text(scale, out)
    words = _words(train_text)
    sets = _task_sets(words, scale.eval_problems)
    task = AdditionTask(2)
    problems = task.problems(scale.eval_problems, seed=20_001)
    ckpt = out / "sft" / "ckpt.pt"
    source = ckpt if ckpt.is_file() else out / "pretrain" / "ckpt.pt"
    model, _, _ = load_model(out / "pretrain" / "ckpt.pt", device=device)
    cfg = TrainConfig(max_steps=scale.sft_schedule, max_lr=scale.sft_lr,
                      min_lr=scale.sft_lr / 10, warmup_steps=min(20, scale.sft_schedule // 10), weight_decay=0.0,
                      eval_interval=0, seed=args.seed, checkpoint_path=str(ckpt),
                      progress=False, **args.m.train_kwargs(scale.sft_batch))
    convs = sft_mix(words, scale.sft_conversations, seed=args.seed + 5)
    checks = []  # (step, addition pass@1): when SFT is good enough for RL
    step = _step_of(ckpt) if source == ckpt else 0
    losses, seconds, tokens_per_s, compiled = [], 0.0, [], []
    while True:
        stop = min(step + scale.sft_chunk, scale.sft_max_steps, scale.sft_schedule)
        model.train()
        result = finetune(model, convs, tok, cfg, stop_at=stop, resume=ckpt if step else None)
        losses = result.losses  # a resumed run's result holds the whole history
        seconds += result.train_seconds
        tokens_per_s.append(result.tokens_per_sec)
        compiled.append(result.compile)
        step = stop
        p1 = on_main(args.info, lambda: evaluate_pass_at_1(model, tok, task, problems, max_new_tokens=24))
        checks.append([step, p1])
        if not args.quiet:
            print(f"sft step {step}: loss {result.losses[-1]:.3f}, addition greedy pass@1 {p1:.1%}", flush=True)
        if p1 >= scale.sft_target or step >= min(scale.sft_max_steps, scale.sft_schedule):
            break
    if not args.info.is_main:
        return {}
    model.eval()
    after = task_accuracies(model, tok, sets)
    pretrained, _, _ = load_model(out / "pretrain" / "ckpt.pt", device=device)
    before = task_accuracies(pretrained, tok, sets)
    return {
        "conversations": len(convs),
        "steps": step,
        "schedule": scale.sft_schedule,
        "target_addition_pass1": scale.sft_target,
        "addition_checks": checks,
        "train_loss": _every(losses, 100),
        "tokens_per_second": sum(tokens_per_s) / len(tokens_per_s),
        "accuracy_before": before,
        "accuracy_after": after,
        **args.m.record(next((c for c in compiled if c != "compiled"), "compiled")),
    }


def stage_rl(out: Path, scale: Scale, args) -> dict:
    from course.arch import load_model
    from course.rl import RLConfig, train_rl
    from course.rl_tasks import AdditionTask

    tok = _tokenizer(out)
    model, _, _ = load_model(out / "sft" / "ckpt.pt", device=args.m.device)
    cfg = RLConfig(steps=scale.rl_steps, prompts_per_step=scale.rl_prompts, group_size=scale.rl_group,
                   lr=scale.rl_lr, eval_size=scale.eval_problems, eval_every=max(1, scale.rl_steps // 3),
                   seed=args.seed, threads=1)
    result = train_rl(model, tok, AdditionTask(2), cfg, out_dir=out / "rl", progress=not args.quiet)
    h = result.history
    tokens = sum(length * cfg.prompts_per_step * cfg.group_size for length in h["length"])
    return {
        "steps": cfg.steps,
        "prompts_per_step": cfg.prompts_per_step,
        "group_size": cfg.group_size,
        "lr": cfg.lr,
        "pass1_before": result.pass1_before,
        "pass1_after": result.pass1_after,
        "eval_steps": result.eval_steps,
        "eval_pass1": result.eval_pass1,
        "reward": h["reward"],
        "zero_variance": h["zero_variance"],
        "sampled_tokens_per_second": tokens / max(result.seconds, 1e-9),
        "samples": [list(s) for s in result.samples],
    }


def stage_eval(out: Path, scale: Scale, args) -> dict:
    import torch

    from course.arch import load_model
    from course.engine import reply
    from course.evaluate import evaluate_loss
    from course.hellaswag import cloze_items, evaluate_hellaswag
    from course.loader import fixed_batches

    tok = _tokenizer(out)
    device = args.m.device
    train_text, val_text = _text(scale, out)
    val_ids = torch.as_tensor(_ids(tok, val_text))
    T = scale.model["block_size"]
    batches = fixed_batches(val_ids, 8, T, 1_000_000, device=device)
    items = cloze_items(val_text, scale.cloze_items, seed=args.seed)
    sets = _task_sets(_words(train_text), scale.eval_problems)
    models = {}
    for name in ("pretrain", "sft", "rl"):
        model, _, _ = load_model(out / name / "ckpt.pt", device=device)
        tb = torch.zeros(model.config.vocab_size, dtype=torch.long)
        tb[: tok.vocab_size] = torch.as_tensor(tok.token_byte_lengths())
        t0 = time.perf_counter()
        loss = evaluate_loss(model, batches, token_bytes=tb)
        dt = time.perf_counter() - t0
        mc = evaluate_hellaswag(model, tok, items)
        models[name] = {"val_loss": loss["loss"], "val_bpb": loss["bpb"], "eval_tokens_per_second": loss["tokens"] / dt,
                        "cloze_acc": mc["acc"], "cloze_acc_norm": mc["acc_norm"]}
    final, _, _ = load_model(out / "rl" / "ckpt.pt", device=device)
    accuracy = task_accuracies(final, tok, sets)
    chat = []
    for question in ("who are you?", "23+58", "spell night", "e in thee"):
        r = reply(final, tok, [{"role": "user", "content": question}], max_new_tokens=32)
        chat.append([question, r.text])
    return {"models": models, "cloze_items": len(items), "cloze_example": items[0], "accuracy": accuracy,
            "chat": chat, "val_tokens": int(val_ids.numel())}



STAGE_FUNCS = {"tokenizer": stage_tokenizer, "pretrain": stage_pretrain, "sft": stage_sft, "rl": stage_rl,
               "eval": stage_eval}


# ----------------------------------------------------------------------------- the run


def _open(out: Path, scale: str, *, resume: bool, seed: int, data: str, info, options: dict) -> dict:
    """The run's state: read and checked when resuming, else made (and written). Rank 0's work."""
    from course.hardware import load_average
    from course.utils import atomic_write_text

    if out.exists() and not out.is_dir():
        raise SpeedrunError(f"--out {out} is a file, not a directory")
    state = read_state(out)
    if state is not None and not resume:
        raise SpeedrunError(f"{out} holds a speedrun already: pass --resume to continue it, or choose another --out")
    if state is not None and (state["scale"], state["seed"]) != (scale, seed):
        raise SpeedrunError(f"{out} holds a --scale {state['scale']} run with seed {state['seed']}; "
                            f"it cannot be resumed as --scale {scale} with seed {seed}")
    if state is not None and state.get("data", BUNDLED) != data:
        raise SpeedrunError(f"{out} holds a run on --data {state.get('data', BUNDLED)}; it cannot be resumed "
                            f"with --data {data}")
    if state is not None:
        check_resumable(out, state, info.world_size, STAGES)
    chosen = choose(SCALES[scale], info, state, **options)
    if state is None:
        # fetched before anything is written, so a failed download leaves no half-made run behind
        text = None if data == BUNDLED else fetch_text(data, SCALES[scale].text_chars or STREAMED_CHARS)
        out.mkdir(parents=True, exist_ok=True)
        if text is not None:
            atomic_write_text(out / DATA_FILE, text)
        state = {"scale": scale, "seed": seed, "assistant": ASSISTANT, "data": data,
                 "data_chars": len(text) if text else None,
                 "scale_config": asdict(SCALES[scale]), "stages": {},
                 "load_average_at_start": load_average()}
    state.update(chosen)
    write_state(out, state)
    return state


def run(out, scale: str = "cpu", *, resume: bool = False, threads: int = 0, seed: int = 0, device=None,
        quiet: bool = False, data: str = BUNDLED, dtype: str | None = None, compile: bool | None = None,
        grad_accum_steps: int | None = None) -> dict:
    """Run (or continue) a speedrun into `out`; return the final state (rank 0's under torchrun).

    `data`: the text to pretrain on: the bundled tinyshakespeare (offline), "fineweb-edu"
    (streamed; needs the network) or local files; fetched once into `out`/data.txt.
    `dtype` ("auto", "float32", "bfloat16", "float16"), `compile` and `grad_accum_steps`
    (micro-batches per training step, default one per process): None for the scale's
    defaults, or when resuming what the run used (`course.speedrun_machine`)."""
    from course.utils import cpu_threads

    if scale not in SCALES:
        raise SpeedrunError(f"unknown scale {scale!r}: use one of {', '.join(SCALES)}")
    if not isinstance(threads, int) or threads < 0:
        raise SpeedrunError(f"threads must be 0 (torch's default) or a positive integer, got {threads!r}")
    out = Path(out)
    info = join(device)
    try:
        options = dict(dtype=dtype, compile=compile, grad_accum_steps=grad_accum_steps)
        state = on_main(info, lambda: _open(out, scale, resume=resume, seed=seed, data=str(data), info=info,
                                            options=options))
        quiet = quiet or not info.is_main
        args = argparse.Namespace(seed=seed, quiet=quiet, info=info, m=machine(info, state))
        with cpu_threads(threads or None):
            state["machine"] = machine_info(threads)
            _stages(out, SCALES[scale], state, args)
    finally:
        leave(info)
    return state


def _stages(out: Path, scale: Scale, state: dict, args) -> None:
    """The unfinished stages in order: every process the DDP ones, rank 0 the others (the others wait
    at a barrier when a DDP stage reads what rank 0 makes, and are done after the last DDP stage)."""
    info, done = args.info, set(state["stages"])
    for name in STAGES:
        if name in done:
            if not args.quiet:
                print(f"[{name}] done already, skipped", flush=True)
            continue
        if not info.is_main and name not in ALL_RANKS:
            if not ddp_follows(name, STAGES, done):
                return
            barrier(info)  # rank 0 runs the stage
            continue
        if not args.quiet:
            print(f"[{name}] ...", flush=True)
        wall, cpu = time.perf_counter(), time.process_time()
        if name == "report":
            result = stage_report(out, state)
        else:
            result = STAGE_FUNCS[name](out, scale, args)
        state["stages"][name] = {"result": result, "wall_seconds": time.perf_counter() - wall,
                                 "cpu_seconds": time.process_time() - cpu, "finished": time.time()}
        if info.is_main:
            write_state(out, state)
            if name not in ALL_RANKS and ddp_follows(name, STAGES, done):
                barrier(info)  # the others wait here for this stage's files
        if not args.quiet:
            print(f"[{name}] finished in {state['stages'][name]['wall_seconds']:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m course speedrun",
        description="The whole pipeline in one command: tokenizer -> pretraining -> SFT -> RL -> evaluation -> "
        "report.md + report.json (+ plots) in --out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", default="runs/speedrun", help="the run's directory (checkpoints, state.json, report)")
    p.add_argument("--scale", default="cpu", choices=list(SCALES),
                   help="tiny: seconds, for tests; cpu: about 10 minutes on 2 CPU cores; gpu: 6 layers x 384 with "
                   "--dtype auto and --compile, DDP under torchrun (not run by the course yet: it has no GPU)")
    p.add_argument("--data", default=BUNDLED,
                   help="the text to pretrain on: 'tinyshakespeare' (bundled, offline), 'fineweb-edu' (FineWeb-Edu "
                   "sample-10BT, streamed from the Hugging Face hub: needs the network) or .txt/.jsonl/.parquet files")
    p.add_argument("--resume", action="store_true", help="skip finished stages and continue the unfinished one")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for pretraining, SFT and eval (0: torch's default; one per process under "
                   "torchrun); RL always runs on 1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    p.add_argument("--dtype", default=None, choices=["auto", "float32", "bfloat16", "float16", "fp32", "bf16", "fp16"],
                   help="autocast precision of pretraining and SFT (auto: bf16 on CUDA GPUs of compute capability "
                   ">= 8.0, fp16 with a grad scaler on older ones, fp32 on CPU and MPS); default: the scale's "
                   "(gpu: auto; cpu, tiny: float32), or the resumed run's")
    p.add_argument("--compile", default=None, action=argparse.BooleanOptionalAction,
                   help="torch.compile the training steps (eager, with the reason in the report, where it fails); "
                   "default: the scale's (gpu: on; cpu, tiny: off), or the resumed run's")
    p.add_argument("--grad-accum-steps", type=int, default=None,
                   help="micro-batches per pretraining and SFT step, a multiple of the number of processes "
                   "(the global batch stays the scale's); default: one per process")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    args = p.parse_args(argv)
    if args.threads < 0:
        p.error(f"--threads must be >= 0, got {args.threads}")
    if args.grad_accum_steps is not None and args.grad_accum_steps < 1:
        p.error(f"--grad-accum-steps must be >= 1, got {args.grad_accum_steps}")
    try:
        state = run(args.out, args.scale, resume=args.resume, threads=args.threads, seed=args.seed,
                    device=args.device, quiet=args.quiet, data=args.data, dtype=args.dtype, compile=args.compile,
                    grad_accum_steps=args.grad_accum_steps)
    except KeyboardInterrupt:
        print(f"interrupted: finished stages are kept in {args.out}; continue with --resume", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 speaks
        return 0
    total = sum(v["wall_seconds"] for k, v in state["stages"].items() if k != "report")
    print(f"report: {Path(args.out) / 'report.md'} ({total:.0f} s of stages)")
    return 0
