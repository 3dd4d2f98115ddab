"""Measuring a language model on held-out text: loss per token and bits per byte.

Used by lesson 03 (the trainer reports val loss and bits per byte) and by
`python -m course eval`. Loss in nats per *token* depends on the tokenizer: a
tokenizer with longer tokens has fewer, harder predictions to make, so two
models with different tokenizers cannot be compared by loss. Bits per byte
can: it is the total cross-entropy of a text, converted to bits, divided by
the text's length in UTF-8 bytes, which no tokenizer changes:

    bpb = sum over tokens of -ln p(token)  /  (ln 2 * sum over tokens of bytes(token))

Special tokens (end-of-text) stand for no bytes; they are left out of both sums,
as nanochat does. A model that knew nothing about bytes, giving each of the 256
byte values probability 1/256, scores exactly 8 bits per byte.

    text -> tokens -> shards -> batches -> model -> loss -> checkpoint
                                                    ^^^^
(HellaSwag, the multiple-choice benchmark, is in `course.hellaswag`.)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course.precision import autocast

LN2 = math.log(2.0)


def bits_per_byte(total_nats: float, total_bytes: int) -> float:
    """Cross-entropy summed over tokens (nats) -> bits per UTF-8 byte of the text."""
    if total_bytes <= 0:
        raise ValueError("bits per byte needs a positive number of bytes")
    return total_nats / (LN2 * total_bytes)


@torch.inference_mode()
def evaluate_loss(model, batches, *, token_bytes: torch.Tensor | None = None, amp_dtype=None) -> dict:
    """Mean loss per target token over (x, y) batches, and bits per byte if `token_bytes` is given.

    `token_bytes[i]` is the number of UTF-8 bytes token i stands for (0 for special
    tokens; `tok.token_byte_lengths()` of a `course.tokenizer` tokenizer). Targets equal to -1 are ignored.
    Returns {"loss", "bpb" (or None), "tokens", "bytes"}. The model is put back in
    the mode it was in. The model is called without targets: the per-token
    losses below are the only cross-entropy computed.
    """
    was_training = model.training
    model.eval()
    nats = torch.zeros((), dtype=torch.float64)
    bpb_nats = torch.zeros((), dtype=torch.float64)
    n_tokens, n_bytes = 0, 0
    try:
        for x, y in batches:
            with autocast(x.device, amp_dtype):
                logits, _ = model(x)
            per_token = F.cross_entropy(
                logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1), ignore_index=-1, reduction="none"
            )
            valid = y.reshape(-1) != -1
            nats += per_token[valid].sum().double().cpu()
            n_tokens += int(valid.sum())
            if token_bytes is not None:
                tb = token_bytes.to(y.device)[y.reshape(-1).clamp(min=0)]
                counted = valid & (tb > 0)
                bpb_nats += per_token[counted].sum().double().cpu()
                n_bytes += int(tb[counted].sum())
    finally:
        model.train(was_training)
    if n_tokens == 0:
        raise ValueError("no target tokens to evaluate")
    return {
        "loss": float(nats) / n_tokens,
        "bpb": bits_per_byte(float(bpb_nats), n_bytes) if token_bytes is not None and n_bytes else None,
        "tokens": n_tokens,
        "bytes": n_bytes,
    }


def unigram_bpb(train_ids, val_ids, val_bytes: int, vocab: int) -> float:
    """Bits per byte of the best model that ignores context: token frequencies (add-one) from train.

    The baseline a language model must beat to show it uses context at all."""
    import numpy as np

    counts = np.bincount(train_ids, minlength=vocab).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return bits_per_byte(float(-logp[val_ids].sum()), val_bytes)
