"""Which architecture: GPT-2 or Llama, chosen by name or read back from a checkpoint.

Used by `python -m course train --arch gpt|llama`, `sample` and `eval`, and by
lesson 03's trainer runs. A checkpoint records its model's class name and
config (`course.checkpoint`); `load_model` turns those back into the model
that wrote them, whichever architecture it is, so a Llama trained with
`course.train.train` is sampled and evaluated exactly like a GPT.
"""

from __future__ import annotations

from course.checkpoint import CheckpointError, load_checkpoint
from course.llama import Llama, LlamaConfig
from course.model import GPT, GPTConfig
from course.tokenizer import from_spec as load_tokenizer
from course.utils import get_device

# name -> (model class, config class). A new architecture is one line here.
ARCHITECTURES: dict[str, tuple[type, type]] = {
    "gpt": (GPT, GPTConfig),
    "llama": (Llama, LlamaConfig),
}


def architecture(name: str) -> tuple[type, type]:
    """(model class, config class) of an architecture name ("gpt", "llama")."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def arch_name(model_class: str) -> str:
    """The architecture name of a model class name as checkpoints record it ("GPT" -> "gpt")."""
    for name, (cls, _) in ARCHITECTURES.items():
        if cls.__name__ == model_class:
            return name
    known = ", ".join(cls.__name__ for cls, _ in ARCHITECTURES.values())
    raise CheckpointError(f"the checkpoint holds a {model_class!r} model; this course builds {known}")


def load_model(path, device=None):
    """(model in eval mode, tokenizer or None, checkpoint state) from a checkpoint written by `train`.

    `path`: the checkpoint file or the run directory holding it.
    """
    state = load_checkpoint(path)
    if not state.get("model_config"):
        raise CheckpointError(f"{path} records no model config: cannot rebuild its model")
    model_cls, config_cls = architecture(arch_name(state.get("model_class")))
    model = model_cls(config_cls(**state["model_config"]))
    model.load_state_dict(state["model"])
    model.to(device or get_device()).eval()
    tok = load_tokenizer(state["tokenizer"]) if state.get("tokenizer") else None
    return model, tok, state
