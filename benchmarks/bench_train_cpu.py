"""The course trainer on karpathy/nanoGPT's CPU recipe, side by side with references.

nanoGPT's README ("I only have a macbook"):

    python train.py config/train_shakespeare_char.py --device=cpu --compile=False --eval_iters=20
      --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128
      --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0

i.e. character-level tinyshakespeare, a 0.8M-parameter GPT, B=12, T=64, 2000 iterations,
lr 1e-3 (warmup 100) cosine to 1e-4, AdamW betas (0.9, 0.99), weight decay 0.1,
grad clip 1.0, no dropout. Measured on this machine type, nanoGPT takes ~70 ms/iter
(~11k tokens/s) and 3 min 29 s of wall time, and reaches val loss 1.886.

This script prints, for the course trainer (`course.train.train`) on that recipe:
tokens/s, ms/iter, wall time, val loss at the last iteration (on the 20 fixed val
batches it evaluates during training, and on the whole val split), and the ratios
to nanoGPT's numbers. Then, in the same process and on the same model and batches, a
plain textbook loop (fp32, for-loop AdamW, no fused kernels) against the course's
step, alternating rounds so that machine noise hits both alike. Last, the same
budget (iterations x tokens) with a byte-level BPE tokenizer trained by the course
(`course.tokenizer.RegexTokenizer`), compared with the char model in bits per byte,
the unit that does not depend on the tokenizer.

    python benchmarks/bench_train_cpu.py               # the full recipe (a few minutes)
    python benchmarks/bench_train_cpu.py --iters 200   # a quick check

What decides the speed of a 0.8M-parameter model on a CPU (measured on a 2-core
AVX-512 machine while writing this): the model's own forward and backward, ~95% of a
step (matmuls ~60%, GELU ~15%, attention ~11%). What a trainer can remove is small:
fused AdamW saves ~2% of a step against a textbook for-loop AdamW; evaluating only
val, on 20 fixed batches under `torch.inference_mode`, halves nanoGPT's eval time
(it evaluates train and val); `torch.compile` saved ~4% of CPU time per step but took
~50 s to compile, more than it saves in a 2000-step run, so it is off (`--compile`).
What matters most is not sharing the cores: torch's threads spin-wait for each other,
so while another process holds a core a 2-thread step went from ~40 ms to over 2 s.
On a busy machine use `--threads 1` and read the median step time.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

NANOGPT_MS_PER_ITER = 70.0
NANOGPT_WALL_S = 3 * 60 + 29
NANOGPT_VAL_LOSS = 1.886
B, T = 12, 64
TOKENS_PER_ITER = B * T
NANOGPT_TOK_S = TOKENS_PER_ITER / (NANOGPT_MS_PER_ITER / 1000)  # 10,971


def recipe(iters: int, **kw):
    from course.train import TrainConfig

    base = dict(
        max_steps=iters, batch_size=B, block_size=T, max_lr=1e-3, min_lr=1e-4, warmup_steps=100,
        lr_decay_steps=iters, weight_decay=0.1, betas=(0.9, 0.99), grad_clip=1.0, eval_interval=250,
        eval_batches=20, data_order="random", device="cpu", dtype="float32", seed=1337, progress=False,
    )
    base.update(kw)
    return TrainConfig(**base)


def make_model(vocab_size: int, seed: int = 1337):
    from course.model import GPT, GPTConfig

    torch.manual_seed(seed)
    return GPT(GPTConfig(block_size=T, vocab_size=vocab_size, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=True))


def full_val(model, val_ids, token_bytes):
    """Loss and bits per byte over every full (B, T) batch of the val split."""
    from course.data import fixed_batches
    from course.evaluate import evaluate_loss

    batches = fixed_batches(val_ids, B, T, 10**9)
    return evaluate_loss(model, batches, token_bytes=torch.as_tensor(token_bytes))


def textbook_steps(model, loader, steps: int, cfg) -> float:
    """The plain loop: fp32, AdamW over all parameters with a for-loop, clip, step. Returns tokens/s."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.max_lr, betas=cfg.betas, weight_decay=0.1, foreach=False)
    model.train()
    t0 = None
    for step in range(steps):
        if step == 1:
            t0 = time.perf_counter()  # leave out the first step, as the course trainer does
        for g in opt.param_groups:
            g["lr"] = cfg.lr(step)
        x, y = loader.next_batch()
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip, foreach=False)
        opt.step()
        loss.item()
    return TOKENS_PER_ITER * (steps - 1) / (time.perf_counter() - t0)


def warn_if_loaded() -> None:
    """Timings mean little while other processes compete for the cores: say so."""
    import os

    try:
        load = os.getloadavg()[0]
    except OSError:
        return
    print(f"load average {load:.2f} on {os.cpu_count()} cores")
    if load > 0.5:
        print("  warning: the machine is busy; timings are unreliable, and torch threads that wait on each other\n"
              "  while another process holds a core can make a step many times slower (try --threads 1)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iters", type=int, default=2000, help="iterations of the recipe (nanoGPT: 2000)")
    p.add_argument("--ref-iters", type=int, default=50, help="steps per round of the side-by-side speed comparison")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds of the speed comparison")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (slow to compile on CPUs)")
    p.add_argument("--bpe-vocab", type=int, default=512, help="vocabulary of the BPE comparison; 0 skips it")
    args = p.parse_args()

    import course
    from course.data import TokenLoader, as_tokenizer, char_data
    from course.train import train

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    warn_if_loaded()
    tok, train_ids, val_ids = char_data()
    ctok = as_tokenizer(tok)

    # ---------------------------------------------------------------- 1. the recipe
    print(f"\n== course trainer, nanoGPT CPU recipe, {args.iters} iterations ==")
    t_wall = time.perf_counter()
    model = make_model(tok.vocab_size)

    step_times = []

    def report(info):
        step_times.append(info["dt"])
        if (info["step"] + 1) % 250 == 0:
            print(f"  iter {info['step'] + 1}: train loss {info['loss']:.4f}, {info['dt'] * 1000:.1f} ms", flush=True)

    res = train(model, train_ids, val_ids, recipe(args.iters, compile=args.compile), tokenizer=tok, callback=report)
    wall = time.perf_counter() - t_wall
    fv = full_val(model, val_ids, ctok.token_byte_lengths())
    print(f"tokens/s            {res.tokens_per_sec:10,.0f}   (nanoGPT ~{NANOGPT_TOK_S:,.0f}: ratio {res.tokens_per_sec / NANOGPT_TOK_S:.2f}x, goal >= 1.2x)")
    print(f"ms/iter             {res.ms_per_step:10.1f}   (nanoGPT ~{NANOGPT_MS_PER_ITER:.0f})")
    typical = statistics.median(step_times[1:] or step_times)
    print(f"median ms/iter      {1000 * typical:10.1f}   = {TOKENS_PER_ITER / typical:,.0f} tokens/s "
          f"({TOKENS_PER_ITER / typical / NANOGPT_TOK_S:.2f}x nanoGPT; the typical step, robust to bursts of other load)")
    vs = f"nanoGPT {NANOGPT_WALL_S} s: ratio {NANOGPT_WALL_S / wall:.2f}x" if args.iters == 2000 else "nanoGPT: 2000 iters"
    print(f"wall time           {wall:10.1f} s ({vs}; evals and startup included)")
    for s, vl in zip(res.val_steps, res.val_losses):
        print(f"  val loss @ {s:5d}   {vl:.4f}  (20 fixed batches)")
    print(f"val loss @ {res.val_steps[-1]}     {res.val_losses[-1]:10.4f}   (nanoGPT {NANOGPT_VAL_LOSS} on 20 random batches; goal <= 1.89)")
    print(f"val loss, full split{fv['loss']:10.4f}   = {fv['bpb']:.4f} bits/byte over {fv['tokens']:,} tokens")

    # ---------------------------------------------------------------- 2. side by side with a textbook loop
    print(f"\n== same process, same model and batches: course trainer vs textbook loop ({args.rounds} x {args.ref_iters} steps) ==")
    cfg = recipe(args.ref_iters, eval_interval=0)
    wall_ratios, cpu_ratios = [], []
    for r in range(args.rounds):
        m = make_model(tok.vocab_size)
        c0 = time.process_time()
        ours = train(m, train_ids, None, cfg).tokens_per_sec
        ours_cpu = time.process_time() - c0
        m = make_model(tok.vocab_size)
        c0 = time.process_time()
        plain = textbook_steps(m, TokenLoader(train_ids, B, T, order="random", seed=cfg.seed), args.ref_iters, cfg)
        plain_cpu = time.process_time() - c0
        wall_ratios.append(ours / plain)
        cpu_ratios.append(plain_cpu / ours_cpu)
        print(f"  round {r + 1}: course {ours:,.0f} tok/s, textbook {plain:,.0f} tok/s; CPU seconds {ours_cpu:.2f} vs {plain_cpu:.2f}")
    print(f"course / textbook   {statistics.median(wall_ratios):10.2f}x tokens/s (median of rounds; wall clock)")
    print(f"                    {statistics.median(cpu_ratios):10.2f}x less CPU time (robust to other load)")

    # ---------------------------------------------------------------- 3. the same budget with BPE
    if args.bpe_vocab:
        from course.tokenizer import RegexTokenizer

        print(f"\n== same budget ({args.iters} iters x {TOKENS_PER_ITER} tokens) with a {args.bpe_vocab}-token course BPE ==")
        text = course.load_tinyshakespeare()
        cut = int(len(text) * 0.9)  # the same 90/10 split of the text as the char data
        t0 = time.perf_counter()
        bpe = RegexTokenizer().train(text[:cut], args.bpe_vocab)
        btok = as_tokenizer(bpe)
        btrain = np.asarray(bpe.encode_ordinary(text[:cut]), dtype=np.uint16)
        bval = np.asarray(bpe.encode_ordinary(text[cut:]), dtype=np.uint16)
        print(f"tokenizer trained and applied in {time.perf_counter() - t0:.1f} s: {cut / len(btrain):.2f} characters/token")
        bmodel = make_model(btok.vocab_size)
        bres = train(bmodel, btrain, bval, recipe(args.iters), tokenizer=btok)
        bfv = full_val(bmodel, bval, btok.token_byte_lengths())
        print(f"tokens/s            {bres.tokens_per_sec:10,.0f}")
        print(f"val loss, full split{bfv['loss']:10.4f} nats/token = {bfv['bpb']:.4f} bits/byte")
        print(f"char model          {fv['loss']:10.4f} nats/token = {fv['bpb']:.4f} bits/byte")
        better = "BPE" if bfv["bpb"] < fv["bpb"] else "char"
        print(f"bits per byte, BPE / char: {bfv['bpb'] / fv['bpb']:.3f} ({better} is better at this budget;"
              f" the BPE model saw {cut / len(btrain):.1f}x more text per token)")
    warn_if_loaded()



if __name__ == "__main__":
    main()
