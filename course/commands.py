"""The training commands of `python -m course`: train-tokenizer, prepare-data, train, sample, eval.

Each is `f(argv) -> exit code` with its own argparse parser (see course/cli.py).
They are thin: the work is done by course.tokenizer, course.data, course.train
and course.evaluate, which the notebooks call directly.

    python -m course train --preset shakespeare-cpu      # ~2000 steps on a laptop CPU, minutes
    python -m course sample --checkpoint runs/shakespeare-cpu --prompt "ROMEO:"
    python -m course prepare-data --dataset tinyshakespeare --tokenizer gpt2 --out data/shakespeare-gpt2
    python -m course train --data data/shakespeare-gpt2 --out runs/bpe --max-steps 500
    python -m course eval --checkpoint runs/shakespeare-cpu
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CHAR_DATA = "shakespeare-char"  # in-memory tinyshakespeare, character-level (nanoGPT's recipe)

# Presets: model and run settings. Any flag given on the command line wins.
PRESETS: dict[str, dict] = {
    # karpathy/nanoGPT README, "I only have a macbook": char-level, 4x128, T=64, B=12, 2000 iters.
    "shakespeare-cpu": dict(
        data=CHAR_DATA, n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0,
        batch_size=12, grad_accum_steps=1, max_steps=2000, max_lr=1e-3, min_lr=1e-4, warmup_steps=100,
        weight_decay=0.1, beta2=0.99, eval_interval=250, eval_batches=20, sample_interval=1000,
        data_order="random",
    ),
    # nanoGPT's config/train_shakespeare_char.py: a 10.7M model, minutes on one GPU.
    "shakespeare-gpu": dict(
        data=CHAR_DATA, n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.2,
        batch_size=64, grad_accum_steps=1, max_steps=5000, max_lr=1e-3, min_lr=1e-4, warmup_steps=100,
        weight_decay=0.1, beta2=0.99, eval_interval=250, eval_batches=200, sample_interval=1000,
        data_order="random",
    ),
    # build-nanogpt: GPT-2 124M, ~0.5M tokens per step, 10B tokens (needs prepared FineWeb-Edu shards).
    "gpt2-124m": dict(
        data=None, n_layer=12, n_head=12, n_embd=768, block_size=1024, dropout=0.0,
        batch_size=64, grad_accum_steps=8, max_steps=19073, max_lr=6e-4, min_lr=6e-5, warmup_steps=715,
        weight_decay=0.1, beta2=0.95, eval_interval=250, eval_batches=20, sample_interval=1000,
        data_order="sequential", compile=True, vocab_multiple=64,
    ),
}

DEFAULTS = dict(
    data=CHAR_DATA, n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0, batch_size=12,
    grad_accum_steps=1, max_steps=1000, max_lr=1e-3, min_lr=1e-4, warmup_steps=100, weight_decay=0.1,
    beta2=0.95, eval_interval=250, eval_batches=20, sample_interval=0, data_order=None, compile=False,
    vocab_multiple=1, seed=1337,
)


class CommandError(Exception):
    """A problem to report to the user in one line (exit code 2)."""


def _run(func):
    """Turn the errors users cause (bad paths, bad checkpoints, offline data) into one clear line."""
    from course.data import DataUnavailableError

    try:
        return func()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (CommandError, DataUnavailableError, FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _parser(name: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog=f"python -m course {name}",
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )


def _checkpoint_file(path: str) -> Path:
    p = Path(path)
    return p / "ckpt.pt" if p.is_dir() else p


def _load_run(args):
    """(model, tokenizer, checkpoint state, device) for --checkpoint and --device."""
    from course.train import CheckpointError, load_model
    from course.utils import get_device

    device = args.device or get_device()
    try:
        model, tok, state = load_model(_checkpoint_file(args.checkpoint), device=device)
    except CheckpointError as e:
        raise CommandError(str(e)) from None
    return model, tok, state, device


# ----------------------------------------------------------------------------- train-tokenizer


def train_tokenizer(argv: list[str]) -> int:
    p = _parser("train-tokenizer", "Train a byte-level BPE tokenizer (course.tokenizer.RegexTokenizer) on text.")
    p.add_argument("--input", nargs="+", default=["tinyshakespeare"], help="'tinyshakespeare' or text/jsonl/parquet files")
    p.add_argument("--vocab-size", type=int, default=512, help="ordinary tokens: 256 bytes + merges")
    p.add_argument("--out", required=True, help="output prefix: writes PREFIX.model and PREFIX.vocab")
    p.add_argument("--pattern", choices=["gpt4", "gpt2"], default="gpt4", help="regex that splits text before merging")
    p.add_argument("--max-chars", type=int, default=None, help="train on at most this many characters")
    p.add_argument("--text-field", default="text", help="column holding the text in jsonl/parquet files")
    args = p.parse_args(argv)

    def go():
        from course.data import load_text
        from course.tokenizer import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, RegexTokenizer

        source = args.input[0] if args.input == ["tinyshakespeare"] else args.input
        docs = load_text(source, text_field=args.text_field)
        eot = "<|endoftext|>"
        parts, n = [], 0
        for d in docs:  # documents joined by the special token, which no merge may cross
            parts.append(d)
            n += len(d)
            if args.max_chars and n >= args.max_chars:
                break
        text = eot.join(parts)[: args.max_chars] if args.max_chars else eot.join(parts)
        tok = RegexTokenizer(GPT4_SPLIT_PATTERN if args.pattern == "gpt4" else GPT2_SPLIT_PATTERN)
        tok.register_special_tokens({eot: args.vocab_size})
        print(f"training a {args.vocab_size}-token BPE on {len(text):,} characters ...")
        tok.train(text, args.vocab_size, verbose=True)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        model_file = tok.save(args.out)
        sample = text[:200]
        ids = tok.encode_ordinary(sample)
        print(f"wrote {model_file} and {args.out}.vocab ({len(sample.encode())} bytes -> {len(ids)} tokens on a sample)")
        return 0

    return _run(go)


# ----------------------------------------------------------------------------- prepare-data


def _get_tokenizer(name: str, docs=None):
    """'gpt2' / 'cl100k_base' / ... (tiktoken), a .model file (course BPE), or 'char' (built from docs)."""
    from course.data import CharTokenizer, as_tokenizer

    if name == "char":
        if docs is None:
            raise CommandError("the char tokenizer is built from the data: it needs a finite dataset")
        chars = set()
        for d in docs:
            chars.update(d)
        return as_tokenizer(CharTokenizer(chars))
    if name.endswith(".model"):
        from course.tokenizer import RegexTokenizer

        if not Path(name).is_file():
            raise CommandError(f"no tokenizer file {name}")
        return as_tokenizer(RegexTokenizer().load(name))
    try:
        return as_tokenizer(name)
    except ValueError as e:
        raise CommandError(f"unknown tokenizer {name!r}: use gpt2, r50k_base, cl100k_base, o200k_base, char or a .model file ({e})") from None


def prepare_data(argv: list[str]) -> int:
    p = _parser("prepare-data", "Tokenize a dataset into train/val shards (uint16/uint32 + meta.json).")
    p.add_argument("--dataset", nargs="+", default=["tinyshakespeare"],
                   help="'tinyshakespeare', 'fineweb-edu' (sample-10BT, streamed; needs the network), or files/dirs")
    p.add_argument("--tokenizer", default="gpt2", help="tiktoken name (gpt2, cl100k_base, ...), a .model file, or 'char'")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of documents held out for validation")
    p.add_argument("--shard-tokens", type=int, default=100_000_000, help="tokens per shard")
    p.add_argument("--max-tokens", type=int, default=None, help="stop after this many tokens (needed for fineweb-edu to end early)")
    p.add_argument("--num-proc", type=int, default=None, help="tokenizer processes (default: all cores)")
    p.add_argument("--text-field", default="text", help="column holding the text in jsonl/parquet files")
    p.add_argument("--sample-by", choices=["document", "paragraph", "line"], default="document",
                   help="for .txt files: one document per file, per blank-line paragraph, or per line")
    args = p.parse_args(argv)

    def go():
        from course.data import load_text, prepare_shards

        source = args.dataset[0] if len(args.dataset) == 1 and args.dataset[0] in ("tinyshakespeare", "fineweb-edu") else args.dataset
        docs = load_text(source, text_field=args.text_field, sample_by=args.sample_by)
        tok = _get_tokenizer(args.tokenizer, docs if args.tokenizer == "char" else None)
        meta = prepare_shards(
            docs, tok, args.out, shard_tokens=args.shard_tokens, val_fraction=args.val_fraction,
            max_tokens=args.max_tokens, num_proc=args.num_proc,
        )
        for split, info in meta["splits"].items():
            print(f"{split}: {info['num_tokens']:,} tokens, {info['num_docs']:,} documents, {len(info['shards'])} shard(s)")
        print(f"wrote {args.out}/meta.json ({meta['dtype']}, vocab {meta['vocab_size']:,})")
        return 0

    return _run(go)


# ----------------------------------------------------------------------------- train


def _train_parser() -> argparse.ArgumentParser:
    p = _parser(
        "train",
        "Train a GPT. `--preset shakespeare-cpu` reproduces nanoGPT's CPU recipe (char-level "
        "tinyshakespeare, 4 layers x 128, 2000 steps) in minutes, offline. Flags override the preset.",
    )
    S = argparse.SUPPRESS  # so that only flags actually given override the preset
    p.add_argument("--preset", choices=sorted(PRESETS), default=None, help="a named recipe (model + run settings)")
    p.add_argument("--data", default=S, help=f"'{CHAR_DATA}' (bundled, char-level) or a directory made by prepare-data")
    p.add_argument("--out", default=None, help="run directory: ckpt.pt, loss.png, train.json (default runs/<preset or 'run'>)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt exactly where it stopped")
    p.add_argument("--overwrite", action="store_true", help="start afresh even if OUT/ckpt.pt exists")
    g = p.add_argument_group("model")
    for name, typ in (("n_layer", int), ("n_head", int), ("n_embd", int), ("block_size", int), ("dropout", float)):
        g.add_argument("--" + name.replace("_", "-"), type=typ, default=S)
    g = p.add_argument_group("optimization")
    for name, typ in (("batch_size", int), ("grad_accum_steps", int), ("max_steps", int), ("max_lr", float),
                      ("min_lr", float), ("warmup_steps", int), ("weight_decay", float), ("beta2", float)):
        g.add_argument("--" + name.replace("_", "-"), type=typ, default=S)
    g.add_argument("--data-order", choices=["random", "sequential"], default=S, help="random offsets or sequential epochs")
    g = p.add_argument_group("evaluation and output")
    for name, typ in (("eval_interval", int), ("eval_batches", int), ("sample_interval", int)):
        g.add_argument("--" + name.replace("_", "-"), type=typ, default=S)
    g.add_argument("--checkpoint-interval", type=int, default=0, help="also checkpoint every N steps (always at the end)")
    g.add_argument("--samples", type=int, default=2, help="samples printed at the end")
    g.add_argument("--sample-tokens", type=int, default=300)
    g.add_argument("--prompt", default="\n", help="prompt for the samples")
    g = p.add_argument_group("machine")
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    g.add_argument("--dtype", choices=["auto", "float32", "bfloat16"], default="auto", help="autocast: auto = bf16 on CUDA")
    g.add_argument("--compile", action=argparse.BooleanOptionalAction, default=S, help="torch.compile the model")
    g.add_argument("--peak-flops", type=float, default=None, help="hardware peak FLOP/s, to report MFU")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: one per core); 1 on a busy machine")
    g.add_argument("--seed", type=int, default=S, help="seed for init, data order and dropout (default 1337)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _load_train_data(source: str, batch_size: int, block_size: int, order: str | None, seed: int, device):
    """(tokenizer, train data, val data) for a data source name or a prepared directory."""
    from course.data import TokenLoader, char_data, load_tokenizer, read_meta

    if source == CHAR_DATA:
        tok, train_ids, val_ids = char_data()
        return tok, train_ids, val_ids, order or "random"
    path = Path(source)
    if not path.is_dir():
        raise CommandError(f"--data {source!r}: expected '{CHAR_DATA}' or a directory made by `python -m course prepare-data`")
    meta = read_meta(path)
    tok = load_tokenizer(meta["tokenizer"])
    order = order or "sequential"
    train = TokenLoader(path, batch_size, block_size, split="train", order=order, shuffle=order == "sequential", seed=seed, device=device)
    val = TokenLoader(path, batch_size, block_size, split="val", device=device)
    return tok, train, val, order


def train(argv: list[str]) -> int:
    args = _train_parser().parse_args(argv)

    def go():
        from course.data import as_tokenizer
        from course.model import GPT, GPTConfig, count_params
        from course.train import CheckpointError, TrainConfig, load_checkpoint, plot_losses
        from course.train import train as run_training
        from course.utils import atomic_write_text, get_device, seed_everything

        given = {k: v for k, v in vars(args).items() if k in DEFAULTS}
        settings = {**DEFAULTS, **(PRESETS[args.preset] if args.preset else {}), **given}
        if settings["data"] is None:
            raise CommandError(f"preset {args.preset!r} needs --data: a directory made by prepare-data")
        out = Path(args.out or f"runs/{args.preset or 'run'}")
        ckpt = out / "ckpt.pt"
        if args.resume and args.overwrite:
            raise CommandError("--resume and --overwrite contradict each other")
        if ckpt.exists() and not (args.resume or args.overwrite):
            raise CommandError(f"{ckpt} exists: pass --resume to continue it or --overwrite to start again")
        if args.resume:
            state = load_checkpoint(ckpt)  # a damaged file fails here, before anything is written
            saved = state.get("meta", {}).get("settings")
            if saved:  # the run's own settings, unless overridden now
                settings = {**saved, **given}
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        device = args.device or get_device()
        seed = settings["seed"]
        seed_everything(seed)
        tok, train_data, val_data, order = _load_train_data(
            settings["data"], settings["batch_size"], settings["block_size"], settings["data_order"], seed, device
        )
        settings["data_order"] = order
        tok = as_tokenizer(tok)
        vocab = tok.vocab_size
        mult = settings.get("vocab_multiple", 1) or 1
        vocab = (vocab + mult - 1) // mult * mult  # e.g. 50257 -> 50304: faster matmuls on GPUs
        config = GPTConfig(
            block_size=settings["block_size"], vocab_size=vocab, n_layer=settings["n_layer"],
            n_head=settings["n_head"], n_embd=settings["n_embd"], dropout=settings["dropout"],
        )
        model = GPT(config)
        cfg = TrainConfig(
            max_steps=settings["max_steps"], batch_size=settings["batch_size"], block_size=settings["block_size"],
            grad_accum_steps=settings["grad_accum_steps"], max_lr=settings["max_lr"], min_lr=settings["min_lr"],
            warmup_steps=settings["warmup_steps"], weight_decay=settings["weight_decay"], betas=(0.9, settings["beta2"]),
            data_order=order, eval_interval=settings["eval_interval"], eval_batches=settings["eval_batches"],
            sample_interval=settings["sample_interval"], sample_tokens=min(args.sample_tokens, 200),
            sample_prompt=args.prompt, device=device, dtype=args.dtype, compile=bool(settings["compile"]),
            peak_flops=args.peak_flops, seed=seed, checkpoint_path=str(ckpt),
            checkpoint_interval=args.checkpoint_interval, progress=not args.quiet,
        )
        n_params = count_params(model)
        tokens_per_step = cfg.batch_size * cfg.block_size * cfg.grad_accum_steps
        print(
            f"{args.preset or 'custom'}: GPT {config.n_layer}x{config.n_embd} ({n_params / 1e6:.2f}M params), "
            f"{tok.spec['kind']} tokenizer (vocab {tok.vocab_size:,}), data {settings['data']}, device {device}, "
            f"{cfg.max_steps} steps x {tokens_per_step:,} tokens"
        )
        try:
            result = run_training(
                model, train_data, val_data, cfg, tokenizer=tok, resume=ckpt if args.resume else None,
                meta={"settings": settings, "preset": args.preset},
            )
        except CheckpointError as e:
            raise CommandError(str(e)) from None
        plot_losses(result, smooth=min(50, max(1, len(result.losses) // 20)), title=f"{args.preset or 'run'}", path=out / "loss.png")
        summary = {
            "preset": args.preset, "settings": settings, "steps": len(result.losses),
            "final_train_loss": result.losses[-1] if result.losses else None,
            "val_steps": result.val_steps, "val_losses": result.val_losses, "val_bpb": result.val_bpb,
            "tokens_per_sec": result.tokens_per_sec, "ms_per_step": result.ms_per_step, "mfu": result.mfu,
            "train_seconds": result.train_seconds, "wall_seconds": result.wall_seconds,
        }
        atomic_write_text(out / "train.json", json.dumps(summary, indent=1))
        if result.val_losses:
            bpb = f", {result.val_bpb[-1]:.4f} bits/byte" if result.val_bpb[-1] is not None else ""
            print(f"val loss {result.val_losses[-1]:.4f}{bpb} after {result.val_steps[-1]} steps")
        print(f"{result.tokens_per_sec:,.0f} tokens/s ({result.ms_per_step:.1f} ms/step), {result.wall_seconds:.0f} s in all")
        print(f"wrote {ckpt}, {out / 'loss.png'}, {out / 'train.json'}")
        _print_samples(model, tok, args.prompt, args.samples, args.sample_tokens, seed=seed, device=device)
        return 0

    return _run(go)


def _print_samples(model, tok, prompt, n, max_new_tokens, *, seed, device, temperature=0.8, top_k=200, top_p=None):
    import torch

    ids = tok.encode_ordinary(prompt) if prompt else []
    if not ids:
        ids = [tok.eot_token if tok.eot_token is not None else 0]
    ids = ids[-model.config.block_size :]
    for i in range(n):
        idx = torch.tensor([ids], dtype=torch.long, device=device)
        out = model.generate(idx, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed + i)
        print(f"--- sample {i + 1} ---")
        print(prompt + tok.decode(out[0, len(ids) :].tolist()))


# ----------------------------------------------------------------------------- sample


def sample(argv: list[str]) -> int:
    p = _parser("sample", "Generate text from a checkpoint written by `python -m course train`.")
    p.add_argument("--checkpoint", required=True, help="ckpt.pt, or the run directory holding it")
    p.add_argument("--prompt", default="\n")
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--max-new-tokens", type=int, default=300)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=200)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)

    def go():
        model, tok, _, device = _load_run(args)
        if tok is None:
            raise CommandError(f"{args.checkpoint} records no tokenizer: cannot turn tokens into text")
        _print_samples(
            model, tok, args.prompt, args.num_samples, args.max_new_tokens, seed=args.seed, device=device,
            temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
        )
        return 0

    return _run(go)


# ----------------------------------------------------------------------------- eval


def evaluate(argv: list[str]) -> int:
    p = _parser("eval", "Evaluate a checkpoint: val loss and bits per byte, and optionally HellaSwag.")
    p.add_argument("--checkpoint", required=True, help="ckpt.pt, or the run directory holding it")
    p.add_argument("--data", default=None, help=f"'{CHAR_DATA}' or a prepared directory (default: the run's own data)")
    p.add_argument("--batches", type=int, default=50, help="val batches to average over")
    p.add_argument("--batch-size", type=int, default=None, help="default: the run's")
    p.add_argument("--hellaswag", default=None, help="a HellaSwag .jsonl file, or 'validation' (from the hub: needs the network)")
    p.add_argument("--limit", type=int, default=None, help="HellaSwag examples to score (default: all)")
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)

    def go():
        import torch

        from course.data import fixed_batches
        from course.evaluate import evaluate_hellaswag, evaluate_loss, load_hellaswag

        model, tok, state, device = _load_run(args)
        settings = (state.get("meta") or {}).get("settings") or {}
        source = args.data or settings.get("data")
        batch_size = args.batch_size or (state.get("train_config") or {}).get("batch_size") or 8
        block = model.config.block_size
        results = {"checkpoint": str(_checkpoint_file(args.checkpoint)), "step": state["step"]}
        if source:
            _, _, val, _ = _load_train_data(source, batch_size, block, None, 0, device)
            batches = fixed_batches(val, batch_size, block, args.batches, device=device)
            tb = torch.as_tensor(tok.token_byte_lengths(), device=device) if tok is not None else None
            out = evaluate_loss(model, batches, token_bytes=tb)
            results.update(val_loss=out["loss"], val_bpb=out["bpb"], val_tokens=out["tokens"])
            bpb = f", {out['bpb']:.4f} bits/byte" if out["bpb"] is not None else ""
            print(f"val loss {out['loss']:.4f}{bpb} over {out['tokens']:,} tokens of {source}")
        if args.hellaswag:
            if tok is None:
                raise CommandError("the checkpoint records no tokenizer: HellaSwag needs one")
            examples = load_hellaswag(args.hellaswag, limit=args.limit)
            hs = evaluate_hellaswag(model, tok, examples, device=device, progress=True)
            results.update(hellaswag_acc=hs["acc"], hellaswag_acc_norm=hs["acc_norm"], hellaswag_n=hs["n"])
            print(f"HellaSwag: acc {hs['acc']:.4f}, acc_norm {hs['acc_norm']:.4f} on {hs['n']} examples")
        print(json.dumps(results))
        return 0

    return _run(go)
