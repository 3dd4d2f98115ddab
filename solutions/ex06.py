"""Lesson 06 reference answers (same API as exercises/ex06.py)."""

import re

import torch
import torch.nn.functional as F

_TURN = {
    "system": ("<|system_start|>", "<|system_end|>"),
    "user": ("<|user_start|>", "<|user_end|>"),
    "assistant": ("<|assistant_start|>", "<|assistant_end|>"),
    "tool": ("<|tool_output_start|>", "<|tool_output_end|>"),
}


def render(messages: list[dict], encode, special: dict[str, int]) -> tuple[list[int], list[int]]:
    ids, mask = [], []

    def add(new, m):
        ids.extend(new)
        mask.extend([m] * len(new))

    for msg in messages:
        start, end = _TURN[msg["role"]]
        learn = 1 if msg["role"] == "assistant" else 0
        add([special[start]], 0)
        add(encode(msg["content"]), learn)
        if "tool_call" in msg:
            add([special["<|tool_call_start|>"]], 1)
            add(encode(msg["tool_call"]), 1)
            add([special["<|tool_call_end|>"]], 1)
        else:
            add([special[end]], learn)
    return ids, mask


def masked_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    per_token = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="none")
    keep = mask.reshape(-1).to(per_token.dtype)
    return (per_token * keep).sum() / keep.sum()


def parse_tool_call(text: str) -> tuple[str, str]:
    text = text.strip()
    open_at = text.find("(")
    if open_at < 0 or not text.endswith(")"):
        raise ValueError(f"malformed tool call {text!r}")
    name = text[:open_at].strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"malformed tool call {text!r}: bad name {name!r}")
    return name, text[open_at + 1 : -1].strip()
