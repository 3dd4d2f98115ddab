"""HellaSwag: can the model pick the right ending? A benchmark that needs no fine-tuning.

Used by `python -m course eval --hellaswag` and the pretraining lessons that
build on lesson 03. HellaSwag (Zellers et al., 2019): a context and four
endings, one right. A model with no instruction tuning answers by completion
loss: append each ending, measure the cross-entropy of the ending's tokens
only, and pick the ending with the lowest. `acc` uses the total loss of the
ending, `acc_norm` the mean loss per ending token (build-nanogpt's choice;
longer endings are not penalized for being long).

The real split is downloaded once from the authors' repository; offline, that
fails at once with a clear message, and a local file in the same format works.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from course import hub
from course.text import DataUnavailableError
from course.tokenizer import as_tokenizer
from course.utils import atomic_write_bytes

HELLASWAG_URL = "https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_{split}.jsonl"
HELLASWAG_SPLITS = {"validation": "val", "val": "val", "train": "train"}


def _cache_dir() -> Path:
    return Path(os.environ.get("COURSE_CACHE", Path.home() / ".cache" / "course"))


def load_hellaswag(source="validation", *, limit: int | None = None, timeout: float = 10.0) -> list[dict]:
    """HellaSwag examples: from a jsonl file in the dataset's own format, or the real split.

    source: a path to a .jsonl file (fields ctx, endings, label, ...), or a split
    name ("validation", "train") of the real dataset, downloaded once from the
    authors' repository (rowanz/hellaswag, as build-nanogpt does) into
    ~/.cache/course (or $COURSE_CACHE). Offline, or with HF_HUB_OFFLINE /
    HF_DATASETS_OFFLINE set, that fails at once with a clear message unless the
    file is already cached.
    """
    path = Path(source)
    if str(source) in HELLASWAG_SPLITS and not path.is_file():
        split = HELLASWAG_SPLITS[str(source)]
        path = _cache_dir() / f"hellaswag_{split}.jsonl"
        if not path.is_file():
            url = HELLASWAG_URL.format(split=split)
            reason = hub.offline_reason(("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
            if reason:
                raise DataUnavailableError(
                    f"HellaSwag {split} is downloaded from {url}, but offline mode is set ({reason}). "
                    "Pass a local .jsonl file in HellaSwag's format instead."
                )
            _download(url, path, timeout)
    if not path.is_file():
        raise FileNotFoundError(f"no HellaSwag file at {path} (and {str(source)!r} is not a split name: 'validation', 'train')")
    examples = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    examples.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n}: not valid JSON ({e})") from None
            if limit is not None and len(examples) >= limit:
                break
    return examples


def _download(url: str, dest: Path, timeout: float) -> None:
    """Fetch `url` to `dest` atomically; a clear DataUnavailableError when the network fails."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            data = r.read()
    except (urllib.error.URLError, OSError) as e:
        raise DataUnavailableError(
            f"cannot download HellaSwag from {url} ({e}); pass a local .jsonl file in HellaSwag's format instead"
        ) from None
    atomic_write_bytes(dest, data)


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
