"""The speedrun's report card: report.md, report.json and the plot they show.

`course.speedrun` runs the stages and records their results in its state;
this module turns that state into what a learner reads and compares: every
stage's time, throughput, losses, accuracies and samples, the machine it ran
on, and the curves. Kept apart from the stages so that a report can be
rebuilt from a finished run's state without running anything again.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path


def machine_info(threads: int) -> dict:
    import torch

    from course.hardware import cpu_name

    return {"cpu": cpu_name(), "cores": os.cpu_count(), "torch_threads": threads or torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _plot(out: Path, state: dict) -> list[str]:
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from course.utils import atomic_write_bytes

    s = state["stages"]
    pre, sft, rl = s["pretrain"]["result"], s["sft"]["result"], s["rl"]["result"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    ax = axes[0]
    ax.plot(*zip(*pre["train_loss"]), lw=1, label="train loss")
    ax.plot(pre["val_steps"], pre["val_loss"], "o-", ms=3, label="val loss")
    ax.set_title("pretraining")
    ax.set_xlabel("step")
    ax.set_ylabel("nats/token")
    ax.legend()
    ax = axes[1]
    ax.plot(*zip(*sft["train_loss"]), lw=1, label="SFT loss (assistant tokens)")
    ax2 = ax.twinx()
    ax2.plot(*zip(*sft["addition_checks"]), "s-", color="C2", ms=3, label="addition pass@1")
    ax2.set_ylim(0, 1)
    ax.set_title("SFT")
    ax.set_xlabel("step")
    ax.legend(loc="upper right", fontsize=8)
    ax2.legend(loc="center right", fontsize=8)
    ax = axes[2]
    ax.plot(range(1, len(rl["reward"]) + 1), rl["reward"], lw=1, label="reward (temperature 1)")
    ax.plot(rl["eval_steps"], rl["eval_pass1"], "o-", ms=3, label="greedy pass@1 (held out)")
    ax.set_ylim(0, 1)
    ax.set_title("RL on 2-digit addition")
    ax.set_xlabel("RL step")
    ax.legend(fontsize=8)
    for a in axes:
        a.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(out / "report.png", buf.getvalue())
    return ["report.png"]


def training(state: dict) -> dict:
    """How the training stages ran: precision, compile, processes and micro-batches (runs made before
    these were recorded have none)."""
    keys = ("precision", "dtype", "compile", "world_size", "grad_accum_steps")
    return {k: {f: s["result"][f] for f in keys if f in s["result"]}
            for k, s in state["stages"].items() if k in ("pretrain", "sft") and "precision" in s["result"]}


def training_lines(state: dict) -> list[str]:
    parts = []
    for name, t in training(state).items():
        compiled = "compiled" if t["compile"] == "compiled" else f"eager ({t['compile']})"
        parts.append(f"{name} in {t['precision']} (`--dtype {t['dtype']}`), {compiled}, {t['world_size']} "
                     f"process(es), {t['grad_accum_steps']} micro-batch(es) per step")
    if not parts:
        return []
    return [f"**Training**: {'; '.join(parts)}. Evaluation, generation and RL run the plain fp32 module.", ""]


def trainer_notes(pre: dict) -> list[str]:
    """Report lines with what the trainer said about pretraining: at the cpu scale on the bundled text,
    each val loss against the speedrun-cpu reference curve (within its band, or what usually causes a
    miss); [] when it said nothing (other scales, --data, reports written before it did)."""
    if not pre.get("notes"):
        return []
    lines = ["**Is the pretraining loss normal?** What the trainer said:", ""]
    return lines + [f"    {line}" for note in pre["notes"] for line in note.splitlines()] + [""]


def build_report(state: dict, plots: list[str]) -> tuple[dict, str]:
    """(report.json's dict, report.md's text) from the finished stages' results."""
    s = state["stages"]
    tok, pre, sft, rl, ev = (s[k]["result"] for k in ("tokenizer", "pretrain", "sft", "rl", "eval"))
    timing = {k: {"wall_seconds": s[k]["wall_seconds"], "cpu_seconds": s[k]["cpu_seconds"]} for k in s if k != "report"}
    total_wall = sum(t["wall_seconds"] for t in timing.values())
    total_cpu = sum(t["cpu_seconds"] for t in timing.values())
    report = {
        "format": "course-speedrun-v1",
        "scale": state["scale"],
        "scale_config": state["scale_config"],
        "seed": state["seed"],
        **({"data": state["data"], "data_chars": state["data_chars"]} if state.get("data_chars") else {}),
        "machine": state["machine"],
        "load_average_at_start": state.get("load_average_at_start"),
        "training": training(state),
        "stages": {k: dict(timing.get(k, {}), **s[k]["result"]) for k in s if k != "report"},
        "total_wall_seconds": total_wall,
        "total_cpu_seconds": total_cpu,
        "plots": plots,
    }
    m = state["machine"]
    acc_b, acc_a, acc_f = sft["accuracy_before"], sft["accuracy_after"], ev["accuracy"]
    lines = [
        f"# Speedrun report: `--scale {state['scale']}`",
        "",
        f"{state['scale_config']['description']}. Seed {state['seed']}.",
        "",
        *([f"**Pretraining text**: `--data {state['data']}` in place of tinyshakespeare "
           f"(its first {state['data_chars']:,} characters; the scale's sizes are unchanged).", ""]
          if state.get("data_chars") else []),
        f"**Machine**: {m['cpu']}, {m['cores']} cores, torch {m['torch']} on {m['torch_threads']} thread(s) "
        f"(RL on 1), Python {m['python']}{', ' + m['cuda'] if m['cuda'] else ''}. "
        f"Load average (1, 5, 15 min) at the start {state.get('load_average_at_start')}, at the report "
        f"{m.get('load_average_at_report')}.",
        "",
        *training_lines(state),
        f"**Total**: {total_wall:.0f} s wall, {total_cpu:.0f} s CPU (all threads).",
        "",
        "| stage | wall s | CPU s | throughput | result |",
        "|---|---|---|---|---|",
        f"| tokenizer | {timing['tokenizer']['wall_seconds']:.1f} | {timing['tokenizer']['cpu_seconds']:.1f} | "
        f"{tok['train_bytes_per_second'] / 1e6:.2f} MB/s trained | vocab {tok['vocab_size']}, "
        f"{tok['val_bytes_per_token']:.2f} bytes/token on held-out text |",
        f"| pretrain | {timing['pretrain']['wall_seconds']:.1f} | {timing['pretrain']['cpu_seconds']:.1f} | "
        f"{pre['tokens_per_second']:,.0f} tokens/s | val {pre['val_bpb'][-1]:.3f} bits/byte "
        f"(unigram {pre['unigram_bpb']:.3f}, untrained {pre['val_bpb'][0]:.3f}) |",
        f"| sft | {timing['sft']['wall_seconds']:.1f} | {timing['sft']['cpu_seconds']:.1f} | "
        f"{sft['tokens_per_second']:,.0f} tokens/s | addition {acc_b['addition']:.1%} → {acc_a['addition']:.1%} "
        f"in {sft['steps']} steps |",
        f"| rl | {timing['rl']['wall_seconds']:.1f} | {timing['rl']['cpu_seconds']:.1f} | "
        f"{rl['sampled_tokens_per_second']:,.0f} sampled tokens/s | greedy pass@1 {rl['pass1_before']:.1%} → "
        f"{rl['pass1_after']:.1%} in {rl['steps']} steps |",
        f"| eval | {timing['eval']['wall_seconds']:.1f} | {timing['eval']['cpu_seconds']:.1f} | "
        f"{ev['models']['rl']['eval_tokens_per_second']:,.0f} tokens/s | multiple choice "
        f"{ev['models']['pretrain']['cloze_acc_norm']:.1%} pretrained, {ev['models']['rl']['cloze_acc_norm']:.1%} final "
        f"(chance 25%) |",
        "",
    ]
    lines += trainer_notes(pre)
    lines += [f"![curves]({p})" for p in plots] + [""]
    lines += [
        "## 1. Tokenizer",
        "",
        f"Byte-level BPE (GPT-4 split pattern) trained on {tok['train_chars']:,} characters: "
        f"{tok['vocab_size']} tokens, {tok['val_bytes_per_token']:.2f} bytes per token on the held-out text. "
        f"Digits are single tokens: {tok['digits_single_tokens']}. `49+97=146 To be, or not to be` → "
        f"`{'|'.join(tok['example'])}`.",
        "",
        "## 2. Pretraining",
        "",
        f"{pre['parameters']:,} parameters ({pre['model']}), {pre['steps']} steps, {pre['tokens']:,} tokens.",
        "",
        "| step | val loss | val bits/byte |",
        "|---|---|---|",
    ]
    lines += [f"| {st} | {lo:.3f} | {b:.3f} |" for st, lo, b in zip(pre["val_steps"], pre["val_loss"], pre["val_bpb"])]
    lines += [
        "",
        f"Unigram baseline (token frequencies, no context): {pre['unigram_bpb']:.3f} bits/byte.",
        "",
        "Sample (temperature 1):",
        "",
        "```",
        pre["sample"].strip(),
        "```",
        "",
        "## 3. SFT",
        "",
        f"{sft['conversations']:,} conversations (2-digit addition with worked steps, spelling, letter counts, "
        f"identity), rendered with the chat tokens and trained on the assistant's tokens only. The cosine schedule "
        f"is planned for {sft['schedule']} steps; SFT stops once greedy addition pass@1 reaches "
        f"{sft['target_addition_pass1']:.0%}, so RL starts where it can learn: after {sft['steps']} steps "
        f"(checks: {', '.join(f'{a}: {b:.1%}' for a, b in sft['addition_checks'])}).",
        "",
        "| task (greedy, held out) | pretrained | after SFT | after RL |",
        "|---|---|---|---|",
    ]
    lines += [f"| {k} | {acc_b[k]:.1%} | {acc_a[k]:.1%} | {acc_f[k]:.1%} |" for k in acc_b]
    lines += [
        "",
        "## 4. RL",
        "",
        f"GRPO-style policy gradients on 2-digit addition with an exact verifier: {rl['steps']} steps of "
        f"{rl['prompts_per_step']} problems x {rl['group_size']} samples, lr {rl['lr']:g}, one CPU thread. "
        f"Greedy pass@1 on {state['scale_config']['eval_problems']} held-out problems: "
        + ", ".join(f"step {a}: {b:.1%}" for a, b in zip(rl["eval_steps"], rl["eval_pass1"]))
        + f". Reward at temperature 1: {rl['reward'][0]:.2f} at the first step, "
        f"{sum(rl['reward'][-5:]) / len(rl['reward'][-5:]):.2f} over the last 5.",
        "",
    ]
    lines += [f"- step {st}: `{q}` → `{t}`" for st, q, t in rl["samples"]]
    lines += [
        "",
        "## 5. Evaluation",
        "",
        f"{ev['val_tokens']:,} held-out tokens; a HellaSwag-style multiple choice: {ev['cloze_items']} held-out "
        "lines of the play, each with its true next line among 3 lines from elsewhere (chance 25%; the model "
        "picks the ending with the lowest mean loss per token, `acc_norm`).",
        "",
        "| model | val loss | val bits/byte | cloze acc | cloze acc_norm |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {k} | {v['val_loss']:.3f} | {v['val_bpb']:.3f} | {v['cloze_acc']:.1%} | {v['cloze_acc_norm']:.1%} |"
              for k, v in ev["models"].items()]
    b_pre, b_sft = ev["models"]["pretrain"]["val_bpb"], ev["models"]["sft"]["val_bpb"]
    if b_sft > b_pre:
        lines += ["", f"SFT trains on conversations only, and the model forgets how to continue the play: bits per "
                  f"byte {b_pre:.3f} → {b_sft:.3f}"
                  + (f", worse than the untrained model's {pre['val_bpb'][0]:.3f}" if b_sft > pre["val_bpb"][0] else "")
                  + ". Mixing pretraining text into SFT (nanochat's midtraining) is the usual remedy."]
    lines += ["", "A short chat with the final model (greedy):", ""]
    lines += [f"- **user**: `{q}`  **{state.get('assistant', 'assistant')}**: `{a}`" for q, a in ev["chat"]]
    lines += [""]
    return report, "\n".join(lines)


def stage_report(out: Path, state: dict) -> dict:
    from course.hardware import load_average
    from course.utils import atomic_write_text

    # read now, at the report: the machine's description is made when the run (or its resume) starts
    state["machine"]["load_average_at_report"] = load_average()
    plots = _plot(out, state)
    report, md = build_report(state, plots)
    atomic_write_text(out / "report.json", json.dumps(report, indent=1))
    atomic_write_text(out / "report.md", md)
    return {"files": ["report.md", "report.json", *plots]}
