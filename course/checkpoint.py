"""Checkpoints: what the course writes to disk during training and reads back.

Used by lessons 03 and 04 (training runs) and by `python -m course train /
sample / eval`. A checkpoint holds everything an exact resume needs: the
weights, the optimizer's moments, the step, the loader's position, every
process's RNG state (Python, NumPy, torch, CUDA/MPS), the run's configs and
the tokenizer spec. Only plain tensors, numbers, strings, lists and dicts go
in, so `torch.load(..., weights_only=True)` reads it and no pickled code runs.
Files are written atomically: a crash leaves the old checkpoint or the new
one, never half of one.

Rebuilding a model from a checkpoint needs the model classes; that lives in
`course.arch.load_model`, so that this module depends on no architecture.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from course.utils import atomic_write

CHECKPOINT_FORMAT = "course-checkpoint-v1"
CHECKPOINT_NAME = "ckpt.pt"  # the file inside a run directory
IGNORED_CONFIG_FIELDS = ("dropout", "attn_impl")  # they do not change the weights


class CheckpointError(ValueError):
    """A checkpoint or weights file that cannot be read, or does not fit the model/run it is loaded into."""


def checkpoint_file(path) -> Path:
    """`path` itself, or the checkpoint inside it when `path` is a run directory."""
    p = Path(path)
    return p / CHECKPOINT_NAME if p.is_dir() else p


# ----------------------------------------------------------------------------- RNG state


def rng_state() -> dict:
    """This process's random state: Python, NumPy, torch (and CUDA / MPS when in use)."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if hasattr(torch, "mps") and torch.backends.mps.is_available():
        state["mps"] = torch.mps.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what `rng_state` recorded (after a round trip through torch.save/load)."""
    random.setstate(tuple(x if not isinstance(x, list) else tuple(x) for x in state["python"]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "mps" in state and hasattr(torch, "mps") and torch.backends.mps.is_available():
        torch.mps.set_rng_state(state["mps"])


# ----------------------------------------------------------------------------- save and load


def config_dict(config) -> dict:
    """A model config as a plain dict (`to_dict()`, a dataclass, or its attributes)."""
    if hasattr(config, "to_dict"):
        return config.to_dict()
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    return dict(vars(config))


def save_checkpoint(
    path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    step: int,
    train_config=None,
    loader=None,
    history: dict | None = None,
    tokenizer: dict | None = None,
    meta: dict | None = None,
    rng: list | None = None,
    scaler=None,
) -> Path:
    """Write everything a resume needs, atomically (temp file + rename).

    `step` is the number of optimizer steps done (the next step to run).
    `train_config`: the run's `TrainConfig` (any dataclass). `tokenizer`: the
    tokenizer's spec, the one place a run records it. `rng`: the RNG states of
    every process (default: this process's only). `scaler`: fp16's GradScaler, whose
    scale a resumed run continues from.
    """
    state = {
        "format": CHECKPOINT_FORMAT,
        "step": int(step),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_class": type(model).__name__,
        "model_config": config_dict(model.config) if hasattr(model, "config") else None,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "train_config": dataclasses.asdict(train_config) if train_config is not None else None,
        "loader": loader.state_dict() if loader is not None and hasattr(loader, "state_dict") else None,
        "rng": rng if rng is not None else [rng_state()],  # one per process
        "history": history or {},
        "tokenizer": tokenizer,
        "meta": meta or {},
        "scaler": scaler.state_dict() if scaler is not None else None,
        "torch_version": str(torch.__version__),
    }
    path = Path(path)
    # streaming torch.save into the temp file keeps big checkpoints cheap
    atomic_write(path, lambda f: torch.save(state, f))
    return path


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint with `weights_only=True`; a clear CheckpointError if it is not one."""
    path = checkpoint_file(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001  (torch raises many kinds for damaged files)
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        why = next((ln for ln in lines if "WeightsUnpickler error" in ln), lines[0] if lines else "")
        raise CheckpointError(
            f"cannot read checkpoint {path}: it is damaged, truncated or not a course checkpoint "
            f"({type(e).__name__}: {why})"
        ) from e
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a course checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    return state


def check_compatible(state: dict, model: nn.Module, path="checkpoint") -> None:
    """Raise CheckpointError naming every config field where checkpoint and model differ."""
    if state.get("model_class") != type(model).__name__:
        raise CheckpointError(
            f"{path} holds a {state.get('model_class')} but the model is a {type(model).__name__}"
        )
    saved = state.get("model_config")
    mine = config_dict(model.config) if hasattr(model, "config") else None
    if saved is not None and mine is not None:
        diff = {k: (saved.get(k), mine.get(k)) for k in set(saved) | set(mine) if saved.get(k) != mine.get(k)}
        diff = {k: v for k, v in diff.items() if k not in IGNORED_CONFIG_FIELDS}
        if diff:
            desc = ", ".join(f"{k}: checkpoint {a!r} vs model {b!r}" for k, (a, b) in sorted(diff.items()))
            raise CheckpointError(f"{path} does not match the model ({desc})")
    own = model.state_dict()
    missing = sorted(set(own) - set(state["model"]))
    extra = sorted(set(state["model"]) - set(own))
    bad = [k for k in own if k in state["model"] and state["model"][k].shape != own[k].shape]
    if missing or extra or bad:
        raise CheckpointError(
            f"{path} does not match the model's parameters (missing {missing[:3]}, unexpected {extra[:3]}, "
            f"wrong shape {bad[:3]})"
        )
