"""`python -m course rl`: improve a chat model with RL on a verifiable task, outside the notebook (lesson 07).

    python -m course rl --make-start runs/rl-start          # SFT a small starting model (~1 min on a CPU)
    python -m course rl --from runs/rl-start --out runs/rl  # RL: train.json, rl.png, ckpt.pt in runs/rl
    python -m course rl --from runs/rl-start --out runs/ctl --shuffle-rewards   # the control

`--from` takes a run directory (or ckpt.pt) whose checkpoint records its
tokenizer; the chat special tokens are added to it. The work is done by
`course.rl.train_rl`; this file only reads flags and prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from course.rl import RLConfig

    d = RLConfig()
    p = argparse.ArgumentParser(
        prog="python -m course rl",
        description="Group-baseline policy gradients (GRPO-style) on a verifiable task: "
        "n-digit addition checked by an exact verifier.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--from", dest="source", help="run directory or ckpt.pt of the starting (SFT) model")
    src.add_argument("--make-start", metavar="RUN_DIR", help="SFT a small starting model into RUN_DIR and stop")
    p.add_argument("--out", help="where to write train.json, rl.png and ckpt.pt (required with --from)")
    p.add_argument("--digits", type=int, default=2, help="digits of each number to add")
    p.add_argument("--loophole", action="store_true", help="reward any completion containing the answer (reward hacking)")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--prompts", type=int, default=d.prompts_per_step, help="problems per step")
    p.add_argument("--group-size", type=int, default=d.group_size, help="samples per problem")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--temperature", type=float, default=d.temperature)
    p.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens)
    p.add_argument("--no-std", action="store_true", help="do not divide advantages by the group std")
    p.add_argument("--updates-per-batch", type=int, default=d.updates_per_batch, help="> 1: PPO-clipped reuse")
    p.add_argument("--kl-coef", type=float, default=d.kl_coef, help="KL penalty to the starting model")
    p.add_argument("--shuffle-rewards", action="store_true", help="the control: permute rewards within each batch")
    p.add_argument("--eval-size", type=int, default=d.eval_size)
    p.add_argument("--sft-steps", type=int, default=400, help="with --make-start: the cosine schedule's length")
    p.add_argument("--sft-stop", type=int, default=200, help="with --make-start: stop SFT after this many steps")
    p.add_argument("--sft-conversations", type=int, default=20_000, help="with --make-start: demonstrations")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads,
                   help="CPU threads (fixed, so that a run repeats exactly on any thread count; 0: torch's default)")
    p.add_argument("--device", default=None)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    try:
        return _go(args, p)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _go(args, parser) -> int:
    from course.rl_tasks import AdditionTask, contains_answer, start_model
    from course.utils import get_device

    device = args.device or get_device()
    task = AdditionTask(args.digits, verifier=contains_answer if args.loophole else None)
    if args.make_start:
        out = Path(args.make_start)
        out.mkdir(parents=True, exist_ok=True)
        _, _, sft = start_model(task, sft_steps=args.sft_steps, stop_at=args.sft_stop, seed=args.seed,
                                n_conversations=args.sft_conversations, threads=args.threads or None,
                                device=device, checkpoint_path=out / "ckpt.pt")
        print(f"starting model: {len(sft.losses)} SFT steps, final loss {sft.losses[-1]:.4f}, saved in {out}")
        return 0
    if not args.out:
        parser.error("--out is required with --from")
    from course.arch import load_model
    from course.checkpoint import CheckpointError
    from course.rl import RLConfig, train_rl

    try:
        model, tok, _ = load_model(args.source, device=device)
    except CheckpointError as e:
        raise ValueError(f"{e} (make a starting model with `python -m course rl --make-start DIR`)") from None
    if tok is None:
        raise ValueError(f"{args.source} records no tokenizer: RL needs one to render prompts and read answers")
    cfg = RLConfig(steps=args.steps, prompts_per_step=args.prompts, group_size=args.group_size, lr=args.lr,
                   temperature=args.temperature, max_new_tokens=args.max_new_tokens, normalize_std=not args.no_std,
                   updates_per_batch=args.updates_per_batch, kl_coef=args.kl_coef,
                   shuffle_rewards=args.shuffle_rewards, eval_size=args.eval_size, seed=args.seed,
                   threads=args.threads or None)
    result = train_rl(model, tok, task, cfg, out_dir=args.out, progress=not args.quiet)
    print(f"greedy pass@1 {result.pass1_before:.3f} -> {result.pass1_after:.3f} in {cfg.steps} steps "
          f"({result.seconds:.0f} s); train.json, rl.png and ckpt.pt in {args.out}")
    return 0
