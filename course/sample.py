"""Text in, text out: a continuation of a prompt, sampled from a model.

Used by the trainer (samples while training, lesson 03) and by `python -m
course train` / `sample`. `model.generate` (`course.generate`) works on token
ids; this is the one place that turns a text prompt into ids and the sampled
ids back into text, so every sample the course prints is made the same way.
"""

from __future__ import annotations

import torch

from course.tokenizer import as_tokenizer


def sample_text(
    model,
    tokenizer,
    prompt: str,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
) -> str:
    """The text `model` continues `prompt` with (the prompt itself not included).

    An empty prompt (or one that encodes to nothing) starts from the
    end-of-text token, as a new document would, or from id 0 for a tokenizer
    without one. A prompt longer than the model's context keeps its last
    `block_size` tokens. `seed` makes the sample repeatable.
    """
    tok = as_tokenizer(tokenizer)
    ids = tok.encode_ordinary(prompt) if prompt else []
    if not ids:
        ids = [tok.eot_token if tok.eot_token is not None else 0]
    ids = ids[-model.config.block_size :]
    device = next(model.parameters()).device
    idx = torch.tensor([ids], dtype=torch.long, device=device)
    out = model.generate(idx, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
    return tok.decode(out[0, len(ids) :].tolist())
