"""One config vocabulary: presets and command-line flags are both overrides of the config dataclasses.

Used by `python -m course train` (lesson 03's runs from a terminal). A run is
described by exactly two objects, the model's config (`GPTConfig` or
`LlamaConfig`) and `TrainConfig`. A preset is a named set of overrides of
their fields, and every field is also a flag (`n_layer` -> `--n-layer`), made
here from the dataclass itself: its type gives the parser, the comment beside
it the help. A field added to a config is a flag without further work.

    python -m course train --preset shakespeare-cpu --arch llama --n-kv-head 2 --max-steps 500
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
import types
import typing
from dataclasses import dataclass, field

from course.arch import ARCHITECTURES
from course.train import TrainConfig

CHAR_DATA = "shakespeare-char"  # in-memory tinyshakespeare, character-level (nanoGPT's recipe)


@dataclass(frozen=True)
class Preset:
    """A named recipe: where the data comes from, and overrides of the two configs."""

    about: str
    data: str | None  # CHAR_DATA, a directory made by prepare-data, or None: --data is required
    model: dict = field(default_factory=dict)  # GPTConfig / LlamaConfig fields (those --arch lacks are left out)
    train: dict = field(default_factory=dict)  # TrainConfig fields
    vocab_multiple: int = 1  # round the vocabulary up to a multiple of this (50257 -> 50304: faster matmuls)


# What `train` uses without --preset: a small model on the bundled data; TrainConfig's own defaults.
DEFAULT_PRESET = Preset(
    "a 4-layer, 128-wide model on character-level tinyshakespeare",
    data=CHAR_DATA,
    model=dict(n_layer=4, n_head=4, n_embd=128, block_size=64),
)

# karpathy/nanoGPT's README CPU recipe, as the course runs it
SHAKESPEARE_CPU = Preset(
    "karpathy/nanoGPT README, 'I only have a macbook': char-level, 4x128, T=64, B=12, 2000 iters",
    data=CHAR_DATA,
    # the exact GELU (nanoGPT's): about twice as fast as GPT-2's tanh form in torch's CPU kernels
    model=dict(n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0, gelu="exact"),
    train=dict(batch_size=12, grad_accum_steps=1, max_steps=2000, max_lr=1e-3, min_lr=1e-4,
               warmup_steps=100, weight_decay=0.1, betas=(0.9, 0.99), eval_interval=250, eval_batches=20,
               sample_interval=1000, data_order="random", reference="shakespeare-cpu"),
)

PRESETS: dict[str, Preset] = {
    "shakespeare-cpu": SHAKESPEARE_CPU,
    # The same data, batch, steps and schedule shape, tuned on a 2-core CPU: nanoGPT's lr 1e-3
    # leaves this small model under-trained in 2000 steps. Measured (val loss at step 2000, 20 fixed
    # batches, seed 1337): 4 layers at 1e-3 1.873, at 2e-3 1.755; 3 layers at 2e-3 1.775; 2 layers at
    # 2e-3 1.761, at 3e-3 1.706. Two layers halve the blocks' work per step, so this recipe reaches
    # a lower loss than nanoGPT's in about half the step time (benchmarks/bench_train_cpu.py). No
    # reference curve: shakespeare-cpu's is for its own recipe.
    "shakespeare-cpu-tuned": dataclasses.replace(
        SHAKESPEARE_CPU,
        about="the course's CPU recipe: shakespeare-cpu's data, batch and 2000 steps, 2 layers, lr 3e-3",
        model={**SHAKESPEARE_CPU.model, "n_layer": 2},
        train={**SHAKESPEARE_CPU.train, "max_lr": 3e-3, "min_lr": 3e-4, "reference": None},
    ),
    "shakespeare-gpu": Preset(
        "nanoGPT's config/train_shakespeare_char.py: a 10.7M model, minutes on one GPU",
        data=CHAR_DATA,
        model=dict(n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.2),
        train=dict(batch_size=64, grad_accum_steps=1, max_steps=5000, max_lr=1e-3, min_lr=1e-4,
                   warmup_steps=100, weight_decay=0.1, betas=(0.9, 0.99), eval_interval=250, eval_batches=200,
                   sample_interval=1000, data_order="random"),
    ),
    "gpt2-124m": Preset(
        "build-nanogpt: GPT-2 124M, ~0.5M tokens per step, 10B tokens (needs prepared FineWeb-Edu shards)",
        data=None,
        model=dict(n_layer=12, n_head=12, n_embd=768, block_size=1024, dropout=0.0),
        train=dict(batch_size=64, grad_accum_steps=8, max_steps=19073, max_lr=6e-4, min_lr=6e-5,
                   warmup_steps=715, weight_decay=0.1, betas=(0.9, 0.95), eval_interval=250, eval_batches=20,
                   sample_interval=1000, data_order="sequential", compile=True),
        vocab_multiple=64,
    ),
}

# Fields that are not flags: the vocabulary comes from the tokenizer, the sequence length
# of a run is the model's, and checkpoints go to the run directory (--out).
NOT_FLAGS = {"vocab_size", "checkpoint_path"}
TRAIN_NOT_FLAGS = NOT_FLAGS | {"block_size"}


def field_comments(cls) -> dict[str, str]:
    """{field: the comment written beside it in the class body}: the help of its flag."""
    comments = {}
    for line in inspect.getsource(cls).splitlines():
        m = re.match(r"\s+(\w+)\s*:[^#]*#\s*(.+)$", line)
        if m:
            comments[m.group(1)] = m.group(2).strip()
    return comments


def _optional(base):
    """argparse type for `base | None`: the word "none" gives None."""

    def parse(text: str):
        return None if text.strip().lower() == "none" else base(text)

    parse.__name__ = base.__name__  # argparse names the type in its error messages
    return parse


def _argument_kwargs(tp) -> dict:
    """argparse keyword arguments for a field's type."""
    args = typing.get_args(tp)
    optional = isinstance(tp, types.UnionType) and type(None) in args
    base = next(a for a in args if a is not type(None)) if optional else tp
    if base is bool:
        return {"action": argparse.BooleanOptionalAction}
    if typing.get_origin(base) is tuple:
        return {"nargs": len(typing.get_args(base)), "type": typing.get_args(base)[0], "metavar": "X"}
    if base is dict:
        return {"type": json.loads, "metavar": "JSON"}
    if optional:
        return {"type": _optional(base), "metavar": f"{base.__name__.upper()}|none"}
    return {"type": base}


def add_config_flags(group, cls, names) -> None:
    """Add --field-name flags for `names` (fields of dataclass `cls`); unset flags stay out of the namespace."""
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    for name in names:
        help_ = comments.get(name, "")
        help_ = f"{help_} (default {defaults[name]!r})" if help_ else f"default {defaults[name]!r}"
        group.add_argument(
            "--" + name.replace("_", "-"), dest=name, default=argparse.SUPPRESS,
            help=help_.replace("%", "%%"), **_argument_kwargs(hints[name]),
        )


def model_fields() -> dict[str, set[str]]:
    """{field name: the architectures whose config has it}, flags only."""
    out: dict[str, set[str]] = {}
    for arch, (_, config_cls) in ARCHITECTURES.items():
        for f in dataclasses.fields(config_cls):
            if f.name not in NOT_FLAGS:
                out.setdefault(f.name, set()).add(arch)
    return out


def train_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(TrainConfig) if f.name not in TRAIN_NOT_FLAGS]


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """Every TrainConfig field and every model config field, as flags in groups."""
    add_config_flags(parser.add_argument_group("training (TrainConfig)"), TrainConfig, train_fields())
    owners = model_fields()
    everywhere = set(ARCHITECTURES)
    shared = [n for n, archs in owners.items() if archs == everywhere]
    group = parser.add_argument_group("model (every architecture)")
    first_config = next(iter(ARCHITECTURES.values()))[1]
    add_config_flags(group, first_config, shared)
    for arch, (_, config_cls) in ARCHITECTURES.items():
        own = [f.name for f in dataclasses.fields(config_cls) if owners.get(f.name) == {arch}]
        if own:
            add_config_flags(parser.add_argument_group(f"model (--arch {arch} only)"), config_cls, own)


def given_overrides(args: argparse.Namespace, arch: str) -> tuple[dict, dict]:
    """(model overrides, train overrides): the config flags actually given on the command line.

    A flag of another architecture's config is an error, not silently ignored.
    """
    given = vars(args)
    owners = model_fields()
    model = {k: v for k, v in given.items() if k in owners}
    wrong = sorted(k for k in model if arch not in owners[k])
    if wrong:
        flags = ", ".join("--" + k.replace("_", "-") for k in wrong)
        raise ValueError(f"{flags}: not a setting of --arch {arch} (only of {', '.join(sorted(owners[wrong[0]]))})")
    train = {k: v for k, v in given.items() if k in set(train_fields())}
    return model, train
