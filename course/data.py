"""The data path in one import: text -> tokens -> shards -> batches.

Used by lessons 02 and 03 and by the commands. Each stage has its own module;
this one gathers their public names, so `from course.data import char_data,
TokenLoader, prepare_shards, ...` keeps working:

1. `course.text`: `load_text(source)` gives documents (strings) through Hugging
   Face `datasets`: the bundled tinyshakespeare (offline), local
   .txt/.jsonl/.json/.parquet files, or FineWeb-Edu streamed from the hub.
2. tokens: the tokenizer interface below (`as_tokenizer`), one adapter over
   the course's BPE, tiktoken encodings and the character tokenizer.
3. `course.shards`: `prepare_shards(docs, tokenizer, out_dir)` tokenizes
   documents into binary shards plus a meta.json (the val split held out).
4. `course.loader`: `TokenLoader` turns a token stream (an array or shards)
   into (x, y) batches, per rank, with an exact, restorable position;
   `char_data()` is nanoGPT's character-level tinyshakespeare.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# --------------------------------------------------------------------------------------
# Tokenizers: one small interface over the three kinds the course trains with.


class CharTokenizer:
    """Character-level tokenizer: one id per distinct character (nanoGPT's shakespeare_char).

    The vocabulary is the sorted set of characters in the training text (65 for
    tinyshakespeare). It has no end-of-text token, so a corpus tokenized with it
    is one long document.
    """

    def __init__(self, chars: str | Iterable[str]):
        chars = "".join(sorted(set(chars)))
        if not chars:
            raise ValueError("CharTokenizer needs at least one character")
        self.chars = chars
        self.stoi = {ch: i for i, ch in enumerate(chars)}
        self.itos = dict(enumerate(chars))

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls(set(text))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[ch] for ch in text]
        except KeyError as e:
            raise ValueError(
                f"character {e.args[0]!r} is not in this CharTokenizer's vocabulary "
                f"of {self.vocab_size} characters"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.itos[int(i)] for i in ids)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


class TokenizerWrapper:
    """The interface the data pipeline, trainer and evaluator use, whatever the tokenizer.

    - `encode(text)` -> list of ids (special tokens in the text are treated as plain text)
    - `decode(ids)` -> text
    - `vocab_size`, `eot` (the end-of-text id, or None)
    - `token_bytes()` -> int array: how many UTF-8 bytes each id stands for
      (0 for special tokens); bits per byte needs it.
    - `spec` -> a small JSON-able dict from which `load_tokenizer` rebuilds it; it
      goes into shard headers and checkpoints.

    Build one with `as_tokenizer(obj)` from a tiktoken encoding or its name,
    a course `RegexTokenizer`, or a `CharTokenizer`.
    """

    def __init__(self, inner, *, kind: str, spec: dict, vocab_size: int, eot: int | None):
        self.inner = inner
        self.kind = kind
        self.spec = spec
        self.vocab_size = int(vocab_size)
        self.eot = eot
        self._token_bytes: np.ndarray | None = None

    def encode(self, text: str) -> list[int]:
        if self.kind in ("tiktoken", "course-bpe"):
            return self.inner.encode_ordinary(text)
        return self.inner.encode(text)

    def decode(self, ids: Iterable[int]) -> str:
        ids = [int(i) for i in ids]
        return self.inner.decode(ids)

    def token_bytes(self) -> np.ndarray:
        """Number of UTF-8 bytes each token id decodes to (special tokens: 0)."""
        if self._token_bytes is None:
            out = np.zeros(self.vocab_size, dtype=np.int64)
            if self.kind == "char":
                for i, ch in self.inner.itos.items():
                    out[i] = len(ch.encode("utf-8"))
            elif self.kind == "tiktoken":
                special = set(self.inner._special_tokens.values())
                for i in range(self.vocab_size):
                    if i in special:
                        continue
                    try:
                        out[i] = len(self.inner.decode_single_token_bytes(i))
                    except KeyError:  # a hole in the id space
                        out[i] = 0
            else:  # course-bpe: vocab maps id -> bytes (special tokens: their text, but 0 here)
                for i, b in self.inner.vocab.items():
                    out[i] = len(b)
                for i in self.inner.special_tokens.values():
                    out[i] = 0
            self._token_bytes = out
        return self._token_bytes

    def __repr__(self) -> str:
        return f"TokenizerWrapper(kind={self.kind!r}, vocab_size={self.vocab_size}, eot={self.eot})"


def as_tokenizer(obj) -> TokenizerWrapper:
    """Wrap a tokenizer (or name a tiktoken encoding: "gpt2", "cl100k_base", ...)."""
    if isinstance(obj, TokenizerWrapper):
        return obj
    if isinstance(obj, str):
        import tiktoken

        import course  # noqa: F401  (points tiktoken at the bundled, offline cache)

        obj = tiktoken.get_encoding(obj)
    if isinstance(obj, CharTokenizer):
        return TokenizerWrapper(
            obj, kind="char", spec={"kind": "char", "chars": obj.chars}, vocab_size=obj.vocab_size, eot=None
        )
    if type(obj).__module__.startswith("tiktoken"):
        eot = obj._special_tokens.get("<|endoftext|>")
        return TokenizerWrapper(
            obj, kind="tiktoken", spec={"kind": "tiktoken", "name": obj.name}, vocab_size=obj.n_vocab, eot=eot
        )
    if _is_course_bpe(obj):
        specials = dict(getattr(obj, "special_tokens", {}) or {})
        spec = {"kind": "course-bpe", "model": obj.model_text()}  # self-contained
        return TokenizerWrapper(obj, kind="course-bpe", spec=spec, vocab_size=obj.vocab_size, eot=specials.get("<|endoftext|>"))
    raise TypeError(
        f"cannot use {type(obj).__name__} as a tokenizer: pass a tiktoken encoding or its name, "
        "a course.tokenizer.RegexTokenizer, or a course.data.CharTokenizer"
    )


def _is_course_bpe(obj) -> bool:
    try:
        from course.tokenizer import Tokenizer as BPETokenizer
    except ImportError:
        return False
    return isinstance(obj, BPETokenizer)


def load_tokenizer(spec: dict) -> TokenizerWrapper:
    """Rebuild a tokenizer from the `spec` recorded in a shard header or a checkpoint."""
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ValueError(f"not a tokenizer spec: {spec!r}")
    kind = spec["kind"]
    if kind == "char":
        return as_tokenizer(CharTokenizer(spec["chars"]))
    if kind == "tiktoken":
        return as_tokenizer(spec["name"])
    if kind == "course-bpe":
        from course.tokenizer import RegexTokenizer

        return as_tokenizer(RegexTokenizer().load("<tokenizer spec>", text=spec["model"]))
    raise ValueError(f"unknown tokenizer kind {kind!r} in spec (expected 'char', 'tiktoken' or 'course-bpe')")


# --------------------------------------------------------------------------------------
# The stages of the data path, re-exported (their modules import the tokenizer names above).

from course.loader import TokenLoader, char_data, fixed_batches  # noqa: E402
from course.shards import (  # noqa: E402
    HEADER_BYTES,
    SHARD_MAGIC,
    is_val_doc,
    prepare_shards,
    read_meta,
    read_shard,
    read_shard_header,
    shard_paths,
    token_dtype,
    write_shard,
)
from course.text import FINEWEB_EDU, DataUnavailableError, load_text  # noqa: E402

__all__ = [
    "FINEWEB_EDU",
    "HEADER_BYTES",
    "SHARD_MAGIC",
    "CharTokenizer",
    "DataUnavailableError",
    "TokenLoader",
    "TokenizerWrapper",
    "as_tokenizer",
    "char_data",
    "fixed_batches",
    "is_val_doc",
    "load_text",
    "load_tokenizer",
    "prepare_shards",
    "read_meta",
    "read_shard",
    "read_shard_header",
    "shard_paths",
    "token_dtype",
    "write_shard",
]
