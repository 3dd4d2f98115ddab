"""`python -m course <command>`: one entry point for the course's tools.

Each command lives in the module that owns its lesson and is imported only
when it is run, so `python -m course --help` and `doctor` stay fast (no torch
import until a command needs it). A command is a function `main(argv) -> int`
that builds its own argparse parser, so `--help` works everywhere.
"""

from __future__ import annotations

import importlib
import sys

# name -> ("module:function", one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "setup": ("course.install:main", "create .venv, install the known-good versions, run doctor (no bash needed)"),
    "doctor": ("course.doctor:main", "check this environment (versions, device, bundled data, network)"),
    "train-tokenizer": ("course.commands:train_tokenizer", "train a byte-level BPE tokenizer on text files"),
    "prepare-data": ("course.commands:prepare_data", "tokenize a dataset into training shards"),
    "train": ("course.commands:train", "train a GPT model (presets: --preset shakespeare-cpu, ...)"),
    "sample": ("course.commands:sample", "generate text from a checkpoint"),
    "eval": ("course.commands:evaluate", "evaluate a checkpoint (val loss, bits per byte, HellaSwag)"),
    "ladder": ("course.ladder_cli:main", "run the training speedup ladder and record the results"),
    "rl": ("course.rl_cli:main", "improve a chat model with RL on a verifiable task (GRPO-style)"),
    "speedrun": ("course.speedrun:main", "the whole pipeline: tokenizer, pretraining, SFT, RL, eval, report"),
    "grade": ("course.grade:main", "grade a class's exercise submissions safely (instructors)"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: python -m course <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run `python -m course <command> --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"python -m course: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    target, _ = COMMANDS[name]
    module_name, func_name = target.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest) or 0)
