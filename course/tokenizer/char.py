"""CharTokenizer: one id per character, nanoGPT's shakespeare_char recipe (lessons 03-04).

The smallest tokenizer that works: the vocabulary is the sorted set of
characters of the training text (65 for tinyshakespeare). It has no special
tokens, so no end-of-text token either: a corpus tokenized with it is one long
document. It speaks the same interface as the course BPE and tiktoken
(`course.tokenizer.interface`), so the data pipeline, trainer and evaluator
take it like any other.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from course.tokenizer.special import encode_with_special


class CharTokenizer:
    """Character-level tokenizer: id i is the i-th character of the sorted vocabulary."""

    name = "char"
    eot_token = None  # no special tokens at all

    def __init__(self, chars: str | Iterable[str]):
        chars = "".join(sorted(set(chars)))
        if not chars:
            raise ValueError("CharTokenizer needs at least one character")
        self.chars = chars
        self.stoi = {ch: i for i, ch in enumerate(chars)}
        self.itos = dict(enumerate(chars))
        self.spec = {"kind": "char", "chars": chars}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls(set(text))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    n_vocab = vocab_size

    @property
    def special_tokens(self) -> dict[str, int]:
        return {}

    @property
    def special_tokens_set(self) -> set[str]:
        return set()

    def encode_ordinary(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        try:
            return [self.stoi[ch] for ch in text]
        except KeyError as e:
            raise ValueError(
                f"character {e.args[0]!r} is not in this CharTokenizer's vocabulary "
                f"of {self.vocab_size} characters"
            ) from None

    def encode(self, text: str, *, allowed_special=frozenset(), disallowed_special="all") -> list[int]:
        """As tiktoken's `encode` (there are no special tokens: only a `disallowed_special`
        you pass yourself can raise)."""
        return encode_with_special(text, self.encode_ordinary, {}, allowed_special, disallowed_special)

    def token_bytes(self, token_id: int) -> bytes:
        try:
            return self.itos[int(token_id)].encode("utf-8")
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"invalid token id {token_id!r}: not in this CharTokenizer's vocabulary") from None

    def decode(self, ids: Iterable[int]) -> str:
        if hasattr(ids, "tolist"):  # a numpy array or torch tensor
            ids = ids.tolist()
        try:
            return "".join(self.itos[int(i)] for i in ids)
        except KeyError as e:
            raise ValueError(f"invalid token id {e.args[0]!r}: not in this CharTokenizer's vocabulary") from None

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        return self.decode(ids).encode("utf-8")

    def token_byte_lengths(self) -> np.ndarray:
        """UTF-8 bytes per id (int64 array): 1 for ASCII, 2-4 for other characters."""
        return np.array([len(ch.encode("utf-8")) for ch in self.chars], dtype=np.int64)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
