"""Supervised fine-tuning batches and the masked loss (lesson 06).

SFT is next-token prediction on rendered conversations (`course.chat`) with
one change: only the tokens the assistant must produce are scored. A rendered
conversation `(ids, mask)` becomes inputs `x = ids[:-1]` and targets
`y = ids[1:]`, with y set to -1 wherever mask[1:] is 0. The model's loss
already ignores -1 targets, so the course trainer trains SFT unchanged:

    from course.sft import SFTBatches
    from course.train import TrainConfig, train
    batches = SFTBatches(examples, batch_size=64, seed=0)   # examples: [(ids, mask), ...]
    train(model, batches, None, TrainConfig(max_steps=500, batch_size=64))

Why -1 and not a zero weight: an ignored target contributes exactly zero to
the loss *and* is left out of the mean's denominator, so the loss is the mean
over trained tokens only, however much padding or prompt a batch holds, and
gradient accumulation weighs micro-batches by their trained tokens.

Batching: conversations have different lengths. "pad" puts one per row and
pads to the longest in the batch (pad targets -1: they cost compute, never
signal). "pack" concatenates whole conversations into rows of `block_size`,
wasting less compute; attention then crosses conversation boundaries inside
a row (as in nanoGPT pretraining), which small models tolerate and which the
turn tokens make visible to the model. Either way the order is a seeded
shuffle per epoch, and `state_dict()` makes a resumed run exact.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def sft_pair(ids, mask) -> tuple[list[int], list[int]]:
    """(inputs, targets) of one rendered conversation: targets -1 where the mask is 0."""
    if len(ids) != len(mask):
        raise ValueError(f"ids ({len(ids)}) and mask ({len(mask)}) must have the same length")
    if len(ids) < 2:
        raise ValueError("a conversation needs at least 2 tokens to make one (input, target) pair")
    x = [int(i) for i in ids[:-1]]
    y = [int(t) if m else -1 for t, m in zip(ids[1:], mask[1:])]
    return x, y


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the positions where `mask` is 1 (and only those).

    logits (B, T, V), targets (B, T) ids, mask (B, T) of 0/1. Masked positions
    contribute exactly zero loss and zero gradient; the mean divides by the
    number of trained positions, not by B * T.
    """
    if logits.shape[:2] != targets.shape or targets.shape != mask.shape:
        raise ValueError(f"shapes differ: logits {tuple(logits.shape)}, targets {tuple(targets.shape)}, mask {tuple(mask.shape)}")
    keep = mask.reshape(-1).bool()
    n = int(keep.sum())
    if n == 0:
        raise ValueError("the mask is all zeros: no position to learn from")
    per_token = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1), reduction="none")
    return (per_token * keep).sum() / n


class SFTBatches:
    """Batches of rendered conversations for `course.train.train`: `next_batch() -> (x, y)`.

    examples: a list of (ids, mask) pairs (from `render_conversation`).
    mode "pad": `batch_size` conversations per batch, padded to the longest
    (or to `block_size` with `fixed_length=True`); "pack": rows of exactly
    `block_size` tokens filled with whole conversations. A conversation longer
    than block_size + 1 tokens is an error: render it with `max_tokens` (and
    `truncate=True` if cutting it is what you want).
    """

    def __init__(
        self,
        examples,
        batch_size: int,
        block_size: int | None = None,
        *,
        mode: str = "pad",
        fixed_length: bool = False,
        seed: int = 0,
        pad_id: int = 0,
        device=None,
    ):
        if mode not in ("pad", "pack"):
            raise ValueError(f"mode must be 'pad' or 'pack', got {mode!r}")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        pairs = [sft_pair(ids, mask) for ids, mask in examples]
        if not pairs:
            raise ValueError("no examples")
        longest = max(len(x) for x, _ in pairs)
        if block_size is None:
            if mode == "pack" or fixed_length:
                raise ValueError(f"mode={mode!r} (fixed_length={fixed_length}) needs a block_size")
            block_size = longest
        if longest > block_size:
            raise ValueError(
                f"a conversation has {longest + 1} tokens, more than block_size + 1 = {block_size + 1}; "
                "render with max_tokens (truncate=True to cut) or raise block_size"
            )
        if not any(t != -1 for _, y in pairs for t in y):
            raise ValueError("no example has a trained token (mask all zeros)")
        from course.utils import get_device

        self.pairs, self.B, self.T = pairs, batch_size, block_size
        self.mode, self.fixed_length, self.seed, self.pad_id = mode, fixed_length, seed, pad_id
        self.device = device or get_device()
        self.epoch, self.pos = 0, 0
        self._order = self._order_of(0)

    def _order_of(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.pairs))

    def _take(self) -> tuple[list[int], list[int]]:
        if self.pos >= len(self._order):
            self.epoch, self.pos = self.epoch + 1, 0
            self._order = self._order_of(self.epoch)
        pair = self.pairs[self._order[self.pos]]
        self.pos += 1
        return pair

    def _peek_len(self) -> int:
        if self.pos >= len(self._order):
            return len(self.pairs[self._order_of(self.epoch + 1)[0]][0])
        return len(self.pairs[self._order[self.pos]][0])

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        rows = []
        if self.mode == "pad":
            rows = [self._take() for _ in range(self.B)]
        else:
            for _ in range(self.B):
                x, y = [], []
                while not x or len(x) + self._peek_len() <= self.T:
                    px, py = self._take()
                    x, y = x + px, y + py
                rows.append((x, y))
        width = self.T if (self.mode == "pack" or self.fixed_length) else max(len(x) for x, _ in rows)
        xb = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        yb = torch.full((len(rows), width), -1, dtype=torch.long)
        for r, (x, y) in enumerate(rows):
            xb[r, : len(x)] = torch.tensor(x)
            yb[r, : len(y)] = torch.tensor(y)
        return xb.to(self.device), yb.to(self.device)

    def batches_per_epoch(self) -> int:
        return -(-len(self.pairs) // self.B)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos, "seed": self.seed, "n": len(self.pairs)}

    def load_state_dict(self, state: dict) -> None:
        if state.get("seed") != self.seed or state.get("n") != len(self.pairs):
            raise ValueError(
                f"loader state is for seed {state.get('seed')} and {state.get('n')} examples, "
                f"this loader has seed {self.seed} and {len(self.pairs)}"
            )
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
        self._order = self._order_of(self.epoch)

    def __repr__(self) -> str:
        return f"SFTBatches({len(self.pairs)} conversations, batch_size={self.B}, block_size={self.T}, mode={self.mode!r})"


def val_batches(examples, batch_size: int, n_batches: int | None = None, *, device=None) -> list:
    """Fixed (x, y) batches for the trainer's `val_data` (a list of tuples): the examples in order,
    padded per batch; the last batch may be smaller."""
    loader = SFTBatches(examples, batch_size, seed=0, device=device)
    out = []
    for start in range(0, len(loader.pairs), batch_size):
        loader._order, loader.pos = np.arange(start, min(start + batch_size, len(loader.pairs))), 0
        loader.B = len(loader._order)
        out.append(loader.next_batch())
        if n_batches is not None and len(out) >= n_batches:
            break
    return out


def finetune(model, conversations, tokenizer, cfg, *, mode: str = "pad", block_size: int | None = None, **train_kwargs):
    """Render `conversations`, batch them and run the course trainer on them: SFT in one call.

    `cfg` is a `course.train.TrainConfig` (its batch_size, seed and device are
    used for the batches); extra keyword arguments go to `train` (resume,
    stop_at, callback ...). Returns the trainer's `TrainResult`.
    """
    from course.chat import chat_tokenizer, render_conversation
    from course.train import train

    tok = chat_tokenizer(tokenizer)
    limit = model.config.block_size + 1
    examples = [render_conversation(m, tok, max_tokens=limit) for m in conversations]
    batches = SFTBatches(
        examples, cfg.batch_size, block_size, mode=mode, seed=cfg.seed, device=cfg.device or None
    )
    return train(model, batches, None, cfg, **train_kwargs)
