"""HellaSwag: can the model pick the right ending? A benchmark that needs no fine-tuning.

Used by `python -m course eval --hellaswag` and the pretraining lessons that
build on lesson 03. HellaSwag (Zellers et al., 2019): a context and four
endings, one right. A model with no instruction tuning answers by completion
loss: append each ending, measure the cross-entropy of the ending's tokens
only, and pick the ending with the lowest. `acc` uses the total loss of the
ending, `acc_norm` the mean loss per ending token (build-nanogpt's choice;
longer endings are not penalized for being long).

The real split comes from the Hugging Face hub, or the authors' GitHub files
as a fallback (`course.hellaswag_data`: both formats, a checksum, the cache);
offline, that fails at once with a clear message, and a local file works.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from course.hellaswag_data import (  # noqa: F401  (the loading API, importable from here as before)
    HELLASWAG_SPLITS,
    HELLASWAG_URL,
    HUB_REPO,
    load_hellaswag,
)
from course.tokenizer import as_tokenizer


def render_example(example: dict, tokenizer, max_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(tokens (4, L), mask (4, L), label): context + each ending, right-padded with 0.

    mask is 1 on the ending's tokens: the only ones whose loss counts. Each ending
    is encoded with a leading space (" " + ending), as it follows the context's
    last word; encoding context and ending separately keeps the context's tokens
    identical across the four rows. Rows longer than `max_len` keep their last
    `max_len` tokens (the start of the context goes first).
    """
    tok = as_tokenizer(tokenizer)
    for key in ("ctx", "endings", "label"):
        if key not in example:
            raise ValueError(f"HellaSwag example is missing {key!r} (has {sorted(example)})")
    ctx = tok.encode_ordinary(example["ctx"])
    rows, masks = [], []
    for ending in example["endings"]:
        end = tok.encode_ordinary(" " + ending)
        if max_len is not None and len(end) + 1 > max_len:
            raise ValueError(f"an ending of {len(end)} tokens does not fit in {max_len} positions")
        row, m = ctx + end, [0] * len(ctx) + [1] * len(end)
        if max_len is not None:
            row, m = row[-max_len:], m[-max_len:]
        rows.append(row)
        masks.append(m)
    width = max(map(len, rows))
    tokens = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (r, m) in enumerate(zip(rows, masks)):
        tokens[i, : len(r)] = torch.tensor(r)
        mask[i, : len(m)] = torch.tensor(m)
    return tokens, mask, int(example["label"])


@torch.inference_mode()
def completion_losses(model, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: (sum, mean) cross-entropy of the masked (ending) tokens given everything before them."""
    logits, _ = model(tokens)
    shift_logits = logits[:, :-1, :].float()
    shift_tokens = tokens[:, 1:]
    losses = F.cross_entropy(shift_logits.transpose(1, 2), shift_tokens, reduction="none")  # (rows, L-1)
    shift_mask = mask[:, 1:].to(losses.dtype)
    total = (losses * shift_mask).sum(dim=1)
    return total, total / shift_mask.sum(dim=1)


def evaluate_hellaswag(model, tokenizer, examples, *, device=None, progress: bool = False) -> dict:
    """acc and acc_norm of `model` on HellaSwag-style `examples` (a list, a .jsonl path or a split name).

    Contexts longer than the model's block_size keep their last tokens (the
    ending must fit). Returns {"acc", "acc_norm", "n", "predictions"}:
    predictions[i] = (label, pred by sum loss, pred by mean loss).
    """
    if isinstance(examples, (str, Path)):
        examples = load_hellaswag(examples)
    if not examples:
        raise ValueError("no HellaSwag examples to evaluate")
    device = device or next(model.parameters()).device
    block = model.config.block_size
    was_training = model.training
    model.eval()
    preds = []
    try:
        for ex in tqdm(examples, desc="hellaswag", disable=not progress):
            tokens, mask, label = render_example(ex, tokenizer, max_len=block)
            total, mean = completion_losses(model, tokens.to(device), mask.to(device))
            preds.append((label, int(total.argmin()), int(mean.argmin())))
    finally:
        model.train(was_training)
    n = len(preds)
    return {
        "acc": sum(p[0] == p[1] for p in preds) / n,
        "acc_norm": sum(p[0] == p[2] for p in preds) / n,
        "n": n,
        "predictions": preds,
    }


def cloze_items(text: str, n: int, *, seed: int = 0, max_chars: int = 60) -> list[dict]:
    """HellaSwag-format items from any text: a line as context, the next line among 3 others as endings.

    The speedrun's multiple choice on held-out lines of its pretraining text (no download needed)."""
    import random

    lines = [ln.strip() for ln in text.splitlines()]
    pairs = [(a, b) for a, b in zip(lines, lines[1:]) if a and b and len(b) <= max_chars and ":" not in b]
    rng = random.Random(seed)
    picked = rng.sample(pairs, min(n, len(pairs)))
    pool = [b for _, b in pairs]
    items = []
    for ctx, ending in picked:
        wrong = []
        while len(wrong) < 3:
            w = rng.choice(pool)
            if w != ending and w not in wrong:
                wrong.append(w)
        label = rng.randrange(4)
        endings = wrong[:label] + [ending] + wrong[label:]
        items.append({"ctx": ctx, "endings": endings, "label": label})
    return items
