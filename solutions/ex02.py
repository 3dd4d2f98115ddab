"""Lesson 02 reference solutions (same API as exercises/ex02.py)."""

import torch


def tokens_per_char(texts: dict[str, str], enc) -> dict[str, float]:
    out = {}
    for name, text in texts.items():
        if not text:
            raise ValueError(f"text {name!r} is empty: tokens per character is undefined")
        out[name] = len(enc.encode(text)) / len(text)
    return out


def digit_split(number: str, enc) -> tuple[int, ...]:
    return tuple(len(enc.decode_single_token_bytes(i)) for i in enc.encode(number))


def extensions(vocab: dict[int, bytes], piece: bytes) -> list[int]:
    return sorted(i for i, b in vocab.items() if len(b) > len(piece) and b.startswith(piece))


def unseen_tokens(ids, vocab_size: int) -> list[int]:
    ids = torch.as_tensor(ids, dtype=torch.long).flatten()
    if ids.numel() and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size}); got [{ids.min()}, {ids.max()}]")
    counts = torch.bincount(ids, minlength=vocab_size)
    return (counts == 0).nonzero().flatten().tolist()


def drift_stats(before: torch.Tensor, after: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    if before.shape != after.shape:
        raise ValueError(f"shapes differ: before {tuple(before.shape)}, after {tuple(after.shape)}")
    mask = torch.as_tensor(mask, dtype=torch.bool)
    if not mask.any():
        raise ValueError("the mask selects no row")
    delta = (after - before)[mask].double()
    own = delta - delta.mean(dim=0, keepdim=True)
    return {"drift": delta.norm(dim=1).mean().item(), "own_drift": own.norm(dim=1).mean().item()}


def heal(ids, vocab: dict[int, bytes], back: int = 1) -> tuple[list[int], bytes, list[int]]:
    ids = list(ids)
    if not 1 <= back <= len(ids):
        raise ValueError(f"cannot back up over {back} tokens of a {len(ids)}-token prompt")
    removed = b"".join(vocab[i] for i in ids[-back:])
    # the first token either covers the removed bytes (and maybe more), or is a start of them
    allowed = sorted(i for i, b in vocab.items() if b and (b.startswith(removed) or removed.startswith(b)))
    return ids[:-back], removed, allowed
