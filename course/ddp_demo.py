"""A tiny GPT trained for a few steps with DistributedDataParallel: lesson 05's worker.

    python -m course.ddp_demo --out runs/ddp-1                          # one process
    torchrun --standalone --nproc-per-node=2 -m course.ddp_demo --out runs/ddp-2
    # from Python or a notebook:
    course.distributed.launch("course.ddp_demo", ["--out", "runs/ddp-2"], nproc=2)

The loop is written out (no trainer) so that every DDP idea is visible:

- the *global* batch is fixed: `--accum` micro-batches of `--batch` sequences
  of `--block` bytes of tinyshakespeare per optimizer step, whatever the number
  of ranks W. Micro-batch i of step s is the same text in every run
  (`micro_batch`); rank r runs micro-batches r, r+W, ... (`rank_strided`);
- every rank's loss is scaled by W / accum: DDP *averages* the ranks' summed
  gradients, so the result is the gradient of the mean loss over the step's
  accum micro-batches, exactly what one process accumulating all of them gets;
- `no_sync()` on all but a rank's last micro-batch: gradients add up locally
  and cross the network once per step, not once per micro-batch;
- the logged loss is all-reduced, so every run logs the loss of the whole step.

Rank 0 alone writes: OUT/log.json after every step (loss, gradient norm
before clipping, LR, tokens seen, seconds) and OUT/ckpt.pt every
`--ckpt-every` steps (model, optimizer, the step's gradients before
clipping), both atomically, so a run that dies leaves the last good ones.
`--fail-at S --fail-rank R --fail-mode raise|kill|hang` injects a fault at the
start of step S on rank R (a Python error, SIGKILL, or a rank that stops
talking), for the tests and the lesson.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import sys
import time

import numpy as np
import torch

from course.distributed import DistInfo, all_reduce_mean, cleanup, rank_strided, setup
from course.utils import atomic_write, atomic_write_text


def model_config(args):
    from course.model import GPTConfig

    return GPTConfig(block_size=args.block, vocab_size=256, n_layer=args.n_layer, n_head=args.n_head,
                     n_embd=args.n_embd, dropout=0.0)


def make_model(args):
    """The same initial weights in every process and every run (seeded)."""
    from course.model import GPT

    torch.manual_seed(args.seed)
    return GPT(model_config(args))


def text_bytes() -> np.ndarray:
    """tinyshakespeare as bytes: a 256-token vocabulary, no tokenizer needed."""
    from course.assets import load_tinyshakespeare

    return np.frombuffer(load_tinyshakespeare().encode("utf-8"), dtype=np.uint8)


def micro_batch(data: np.ndarray, step: int, i: int, batch: int, block: int, accum: int):
    """(x, y) of micro-batch i of optimizer step `step`: consecutive windows through the text.

    Depends only on (step, i) and the batch shape, never on the rank or the
    number of ranks: that is what makes runs with different W comparable.
    """
    first = (step * accum + i) * batch
    starts = [((first + b) * block) % (len(data) - block - 1) for b in range(batch)]
    chunk = np.stack([data[s : s + block + 1] for s in starts]).astype(np.int64)
    t = torch.from_numpy(chunk)
    return t[:, :-1], t[:, 1:]


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m course.ddp_demo", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="folder for log.json and ckpt.pt (rank 0 writes them)")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--accum", type=int, default=4, help="micro-batches per optimizer step, over all ranks")
    p.add_argument("--batch", type=int, default=4, help="sequences per micro-batch")
    p.add_argument("--block", type=int, default=32, help="bytes per sequence")
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--n-head", type=int, default=2)
    p.add_argument("--n-embd", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--device", default=None, help="default: CUDA (one GPU per rank) if there is one, else CPU")
    p.add_argument("--ckpt-every", type=int, default=1, help="checkpoint every this many steps (0: at the end)")
    p.add_argument("--fail-at", type=int, default=None, help="inject a fault at the start of this step")
    p.add_argument("--fail-rank", type=int, default=1)
    p.add_argument("--fail-mode", choices=("raise", "kill", "hang"), default="raise")
    args = p.parse_args(argv)
    if min(args.steps, args.accum, args.batch, args.block) < 1:
        p.error("--steps, --accum, --batch and --block must be >= 1")
    return args


def _fault(args, info: DistInfo, step: int) -> None:
    if args.fail_at != step or args.fail_rank != info.rank:
        return
    print(f"[rank {info.rank}] injected fault at step {step}: {args.fail_mode}", file=sys.stderr, flush=True)
    if args.fail_mode == "raise":
        raise RuntimeError(f"injected fault: rank {info.rank} raised at step {step}")
    if args.fail_mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    while True:  # "hang": alive but silent, as a rank stuck in a deadlock or a dead NFS read would be
        time.sleep(3600)


def save_checkpoint(path, model, optimizer, step: int, grads: dict, info: DistInfo) -> None:
    state = {
        "step": step,
        "world_size": info.world_size,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "grads": grads,
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def run(args) -> dict:
    info = setup(args.device)
    out = os.path.abspath(args.out)
    W = info.world_size
    mine = rank_strided(args.accum, info.rank, W)  # ValueError unless W divides accum
    model = make_model(args).to(info.device)
    net = model
    if W > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[info.local_rank] if info.backend == "nccl" else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    data = text_bytes()
    log = {
        "world_size": W,
        "backend": info.backend,
        "device": info.device,
        "threads": torch.get_num_threads(),
        "accum": args.accum,
        "micro_batches_per_rank": len(mine),
        "batch": args.batch,
        "block": args.block,
        "params": sum(p.numel() for p in model.parameters()),
        "steps": [],
    }
    tokens_per_step = args.accum * args.batch * args.block
    scale = W / args.accum
    for step in range(args.steps):
        _fault(args, info, step)
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=info.device)
        for k, i in enumerate(mine):
            x, y = (t.to(info.device) for t in micro_batch(data, step, i, args.batch, args.block, args.accum))
            last = k == len(mine) - 1
            with contextlib.nullcontext() if (W == 1 or last) else net.no_sync():
                _, loss = net(x, y)
                (loss * scale).backward()
            loss_sum += loss.detach()
        loss_value = all_reduce_mean(float(loss_sum) / len(mine))  # the step's mean loss, every rank the same
        grads = {n: p.grad.detach().cpu().clone() for n, p in model.named_parameters()}
        norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip or float("inf")))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        done = step + 1
        log["steps"].append({"step": step, "loss": loss_value, "grad_norm": norm, "lr": args.lr,
                             "tokens": done * tokens_per_step, "seconds": dt})
        if info.is_main:
            print(f"step {step}: loss {loss_value:.6f}  grad norm {norm:.6f}  ({1000 * dt:.0f} ms, {W} rank(s))",
                  flush=True)
            atomic_write_text(os.path.join(out, "log.json"), json.dumps(log, indent=1))
            if (args.ckpt_every and done % args.ckpt_every == 0) or done == args.steps:
                save_checkpoint(os.path.join(out, "ckpt.pt"), model, optimizer, done, grads, info)
    cleanup()
    return log


def main(argv=None) -> int:
    from torch.distributed.elastic.multiprocessing.errors import record

    args = parse_args(argv)
    record(run)(args)  # under torchrun: a failing rank's error goes into torchrun's summary
    return 0


if __name__ == "__main__":
    sys.exit(main())
