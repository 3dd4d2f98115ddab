"""The training commands of `python -m course`: train-tokenizer, prepare-data, train, sample, eval.

Used from a terminal alongside lesson 03, and by the README's quick start.
Each is `f(argv) -> exit code` with its own argparse parser (see course/cli.py).
They are thin: the work is done by course.tokenizer, course.text,
course.shards, course.train and course.evaluate, which the notebooks call
directly. Run settings are config fields: presets and flags both come from
`course.presets`.

    python -m course train --preset shakespeare-cpu      # ~2000 steps on a laptop CPU, minutes
    python -m course train --preset shakespeare-cpu --arch llama --out runs/llama
    python -m course sample --checkpoint runs/shakespeare-cpu --prompt "ROMEO:"
    python -m course prepare-data --dataset tinyshakespeare --tokenizer gpt2 --out data/shakespeare-gpt2
    python -m course train --data data/shakespeare-gpt2 --out runs/bpe --max-steps 500
    python -m course eval --checkpoint runs/shakespeare-cpu

`train` runs the same under torchrun (lesson 05): the flags are the global batch
(batch_size x block_size x grad_accum_steps tokens per step, grad_accum_steps a
multiple of the number of processes), and only rank 0 prints and writes files:

    torchrun --standalone --nproc-per-node=2 -m course train --out runs/ddp --grad-accum-steps 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from course.arch import ARCHITECTURES, arch_name, architecture, load_model
from course.checkpoint import CheckpointError, checkpoint_file, load_checkpoint
from course.loader import TokenLoader, char_data, fixed_batches
from course.presets import CHAR_DATA, DEFAULT_PRESET, PRESETS, add_run_flags, given_overrides
from course.sample import sample_text
from course.shards import prepare_shards, read_meta
from course.text import DataUnavailableError, load_text
from course.tokenizer import CharTokenizer, as_tokenizer
from course.tokenizer import from_spec as load_tokenizer
from course.train import TrainConfig
from course.train import train as run_training
from course.utils import get_device


class CommandError(Exception):
    """A problem to report to the user in one line (exit code 2)."""


def _run(func):
    """Turn the errors users cause (bad paths, bad checkpoints, offline data) into one clear line."""
    try:
        return func()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (CommandError, DataUnavailableError, FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _parser(name: str, description: str, *, show_defaults: bool = True) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog=f"python -m course {name}",
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter if show_defaults else argparse.HelpFormatter,
    )


def _load_run(args):
    """(model, tokenizer, checkpoint state) for --checkpoint and --device."""
    try:
        return load_model(args.checkpoint, device=args.device or get_device())
    except CheckpointError as e:
        raise CommandError(str(e)) from None


def _print_samples(model, tok, prompt: str, n: int, max_new_tokens: int, *, seed: int, known: str | None = None,
                   **sampling) -> None:
    """Print n samples, seeds seed, seed + 1, ...; `known` is sample 1 already generated (the
    trainer's last sample used the same model, prompt, settings and seed), so it is not made twice."""
    for i in range(n):
        print(f"--- sample {i + 1} ---")
        text = known if i == 0 and known is not None else sample_text(
            model, tok, prompt, max_new_tokens, seed=seed + i, **sampling)
        print(prompt + text)


# ----------------------------------------------------------------------------- data sources


def _data_dir(source: str) -> Path:
    path = Path(source)
    if not path.is_dir():
        raise CommandError(
            f"--data {source!r}: expected '{CHAR_DATA}' or a directory made by `python -m course prepare-data`"
        )
    return path


def _train_data(source: str, cfg, device):
    """(tokenizer, train data, val data) of a data source: CHAR_DATA or a prepared directory."""
    if source == CHAR_DATA:
        return char_data()
    path = _data_dir(source)
    tok = load_tokenizer(read_meta(path)["tokenizer"])
    shuffle = cfg.data_order == "sequential"  # a new order of documents every epoch
    train = TokenLoader(path, cfg.batch_size, cfg.block_size, split="train", order=cfg.data_order,
                        shuffle=shuffle, seed=cfg.seed, device=device)
    val = TokenLoader(path, cfg.batch_size, cfg.block_size, split="val", device=device)
    return tok, train, val


def _val_data(source: str, batch_size: int, block_size: int, device):
    """Only the val split of a data source (the train shards are not opened)."""
    if source == CHAR_DATA:
        return char_data()[2]
    return TokenLoader(_data_dir(source), batch_size, block_size, split="val", device=device)


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
        "Train a GPT or a Llama. `--preset shakespeare-cpu` reproduces nanoGPT's CPU recipe (char-level "
        "tinyshakespeare, 4 layers x 128, 2000 steps) in minutes, offline. Every field of TrainConfig and of "
        "the model's config is a flag; flags override the preset, and a resumed run's own settings.",
        show_defaults=False,  # the config flags name their defaults; a preset changes them
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="a named recipe: " + "; ".join(f"{k}: {v.about}" for k, v in PRESETS.items()))
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), default=None,
                   help="model architecture (default gpt; a resumed run keeps its own)")
    p.add_argument("--data", default=None,
                   help=f"'{CHAR_DATA}' (bundled, char-level) or a directory made by prepare-data (default: the preset's)")
    p.add_argument("--out", default=None, help="run directory: ckpt.pt, loss.png, train.json (default runs/<preset or 'run'>)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt exactly where it stopped")
    p.add_argument("--overwrite", action="store_true", help="start afresh even if OUT/ckpt.pt exists")
    p.add_argument("--vocab-multiple", type=int, default=None, help="round the vocabulary up to a multiple of this")
    p.add_argument("--samples", type=int, default=2, help="samples printed at the end (default 2)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: one per core; one per rank under torchrun); 1 on a busy machine")
    p.add_argument("--quiet", dest="progress", action="store_false", default=argparse.SUPPRESS,
                   help="no progress bar (the same as --no-progress)")
    add_run_flags(p)
    return p


def _new_run(args, ckpt: Path):
    """(model, tokenizer, train data, val data, TrainConfig, meta) of a run that starts now."""
    from course.utils import seed_everything

    preset = PRESETS[args.preset] if args.preset else DEFAULT_PRESET
    arch = args.arch or "gpt"
    model_cls, config_cls = architecture(arch)
    given_model, given_train = given_overrides(args, arch)
    source = args.data or preset.data
    if source is None:
        raise CommandError(f"preset {args.preset!r} needs --data: a directory made by prepare-data")
    own = {f.name for f in dataclasses.fields(config_cls)}  # e.g. a GPT preset's gelu is no Llama field
    model_over = {**{k: v for k, v in preset.model.items() if k in own}, **given_model}
    train_over = {**preset.train, **given_train}
    train_over.setdefault("data_order", "random" if source == CHAR_DATA else "sequential")
    train_over["device"] = train_over.get("device") or get_device()
    block_size = model_over.get("block_size", config_cls.block_size)
    cfg = TrainConfig(**train_over, block_size=block_size, checkpoint_path=str(ckpt))
    seed_everything(cfg.seed)  # the model's init
    tok, train_data, val_data = _train_data(source, cfg, cfg.device)
    tok = as_tokenizer(tok)
    mult = args.vocab_multiple or preset.vocab_multiple
    vocab = -(-tok.vocab_size // mult) * mult  # e.g. 50257 -> 50304 with 64: faster matmuls on GPUs
    model = model_cls(config_cls(**model_over, vocab_size=vocab))
    meta = {"preset": args.preset, "arch": arch, "data": source}
    return model, tok, train_data, val_data, cfg, meta


def _resumed_run(args, ckpt: Path):
    """The same, for the run in `ckpt`: its own configs, with the flags given now on top."""
    from course.utils import seed_everything

    state = load_checkpoint(ckpt)  # a damaged file fails here, before anything is written
    arch = arch_name(state.get("model_class"))
    if args.arch and args.arch != arch:
        raise CommandError(f"{ckpt} holds a {arch} model, not {args.arch}: drop --arch, or start a new run")
    model_cls, config_cls = architecture(arch)
    given_model, given_train = given_overrides(args, arch)
    meta = dict(state.get("meta") or {})
    source = args.data or meta.get("data")
    if not source:
        raise CommandError(f"{ckpt} records no data source: pass --data")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    machine = ("device", "progress", "checkpoint_path")  # where the run runs now, not where it ran
    saved = {k: v for k, v in (state.get("train_config") or {}).items() if k in known and k not in machine}
    cfg = TrainConfig(**{**saved, **given_train, "checkpoint_path": str(ckpt)})
    cfg.device = cfg.device or get_device()
    seed_everything(cfg.seed)
    tok, train_data, val_data = _train_data(source, cfg, cfg.device)
    model = model_cls(config_cls(**{**state["model_config"], **given_model}))
    return model, as_tokenizer(tok), train_data, val_data, cfg, {**meta, "data": source}


def train(argv: list[str]) -> int:
    args = _train_parser().parse_args(argv)

    def go():
        import torch

        from course.distributed import cleanup, setup

        # under torchrun: join the ranks' process group (gloo on CPU, NCCL on GPUs), one CPU thread
        # per rank unless OMP_NUM_THREADS says otherwise; alone: no group, and every core
        threads = torch.get_num_threads()
        info = setup(getattr(args, "device", None))
        if info.world_size == 1:
            torch.set_num_threads(threads)
        try:
            return _train(args, info)
        finally:
            cleanup()

    return _run(go)


def _train(args, info) -> int:
    """The body of `train`, in every process of a run; only rank 0 prints and writes files."""
    from course.checkpoint import CHECKPOINT_NAME, config_dict
    from course.model import count_params
    from course.plots import plot_losses
    from course.utils import atomic_write_text

    say = print if info.is_main else (lambda *a, **k: None)
    out = Path(args.out or f"runs/{args.preset or 'run'}")
    ckpt = out / CHECKPOINT_NAME
    if args.resume and args.overwrite:
        raise CommandError("--resume and --overwrite contradict each other")
    if ckpt.exists() and not (args.resume or args.overwrite):
        raise CommandError(f"{ckpt} exists: pass --resume to continue it or --overwrite to start again")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model, tok, train_data, val_data, cfg, meta = (_resumed_run if args.resume else _new_run)(args, ckpt)
    if info.world_size > 1:
        cfg.device = info.device  # this rank's GPU (cuda:LOCAL_RANK), or the CPU
    c = model.config
    tokens_per_step = cfg.batch_size * cfg.block_size * cfg.grad_accum_steps  # global: any number of ranks
    ranks = f" on {info.world_size} ranks ({info.backend})" if info.world_size > 1 else ""
    say(
        f"{meta.get('preset') or 'custom'}: {type(model).__name__} {c.n_layer}x{c.n_embd} "
        f"({count_params(model) / 1e6:.2f}M params), {tok.spec['kind']} tokenizer (vocab {tok.vocab_size:,}), "
        f"data {meta['data']}, device {cfg.device}{ranks}, {cfg.max_steps} steps x {tokens_per_step:,} tokens"
    )
    try:
        result = run_training(
            model, train_data, val_data, cfg, tokenizer=tok, resume=ckpt if args.resume else None, meta=meta
        )
    except CheckpointError as e:
        raise CommandError(str(e)) from None
    if not info.is_main:
        return 0
    title = meta.get("preset") or "run"
    plot_losses(result, smooth=min(50, max(1, len(result.losses) // 20)), title=title, path=out / "loss.png")
    summary = {
        **meta, "model": config_dict(c), "train": dataclasses.asdict(cfg), "steps": len(result.losses),
        "final_train_loss": result.losses[-1] if result.losses else None,
        "val_steps": result.val_steps, "val_losses": result.val_losses, "val_bpb": result.val_bpb,
        "tokens_per_sec": result.tokens_per_sec, "ms_per_step": result.ms_per_step, "mfu": result.mfu,
        "train_seconds": result.train_seconds, "wall_seconds": result.wall_seconds,
        "world_size": info.world_size, "tokens_per_step": tokens_per_step,
        # every step, so that two runs (e.g. 1 and N processes) can be compared step by step
        "log": [
            {"step": s, "loss": loss, "grad_norm": g, "lr": lr, "tokens": (s + 1) * tokens_per_step}
            for s, loss, g, lr in zip(result.steps, result.losses, result.grad_norms, result.lrs)
        ],
    }
    atomic_write_text(out / "train.json", json.dumps(summary, indent=1))
    if result.val_losses:
        bpb = f", {result.val_bpb[-1]:.4f} bits/byte" if result.val_bpb[-1] is not None else ""
        print(f"val loss {result.val_losses[-1]:.4f}{bpb} after {result.val_steps[-1]} steps")
    print(f"{result.tokens_per_sec:,.0f} tokens/s ({result.ms_per_step:.1f} ms/step), {result.wall_seconds:.0f} s in all")
    print(f"wrote {ckpt}, {out / 'loss.png'}, {out / 'train.json'}")
    # the trainer sampled at its last step with these settings and seed: that is sample 1
    last = result.samples[-1] if result.samples and result.samples[-1][0] == cfg.max_steps else None
    _print_samples(model, tok, cfg.sample_prompt, args.samples, cfg.sample_tokens, seed=cfg.seed,
                   known=last[1] if last else None, temperature=cfg.sample_temperature, top_k=cfg.sample_top_k)
    return 0


# ----------------------------------------------------------------------------- sample


def sample(argv: list[str]) -> int:
    p = _parser("sample", "Generate text from a checkpoint written by `python -m course train` (GPT or Llama).")
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
        model, tok, _ = _load_run(args)
        if tok is None:
            raise CommandError(f"{args.checkpoint} records no tokenizer: cannot turn tokens into text")
        _print_samples(
            model, tok, args.prompt, args.num_samples, args.max_new_tokens, seed=args.seed,
            temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
        )
        return 0

    return _run(go)


# ----------------------------------------------------------------------------- eval


def evaluate(argv: list[str]) -> int:
    p = _parser("eval", "Evaluate a checkpoint (GPT or Llama): val loss and bits per byte, and optionally HellaSwag.")
    p.add_argument("--checkpoint", required=True, help="ckpt.pt, or the run directory holding it")
    p.add_argument("--data", default=None, help=f"'{CHAR_DATA}' or a prepared directory (default: the run's own data)")
    p.add_argument("--batches", type=int, default=50, help="val batches to average over")
    p.add_argument("--batch-size", type=int, default=None, help="default: the run's")
    p.add_argument("--hellaswag", default=None, help="a HellaSwag .jsonl file, or 'validation' (downloaded: needs the network)")
    p.add_argument("--limit", type=int, default=None, help="HellaSwag examples to score (default: all)")
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)

    def go():
        import torch

        from course.evaluate import evaluate_loss
        from course.hellaswag import evaluate_hellaswag, load_hellaswag

        model, tok, state = _load_run(args)
        device = next(model.parameters()).device
        source = args.data or (state.get("meta") or {}).get("data")
        batch_size = args.batch_size or (state.get("train_config") or {}).get("batch_size") or 8
        block = model.config.block_size
        results = {"checkpoint": str(checkpoint_file(args.checkpoint)), "step": state["step"]}
        if source:
            val = _val_data(source, batch_size, block, device)
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
