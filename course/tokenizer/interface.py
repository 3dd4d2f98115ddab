"""One tokenizer interface for every tokenizer of the course (lessons 02-04).

The course meets three kinds of tokenizer: tiktoken's encodings (GPT-2's,
GPT-4's ...), its own BPE (`Tokenizer`, `RegexTokenizer`, `BasicTokenizer`)
and the character tokenizer (`CharTokenizer`). The data pipeline, trainer,
evaluator, visualiser and the pitfalls of lesson 02 all see them through the
interface below, named after tiktoken's own methods. The course's classes
implement it themselves; tiktoken encodings are wrapped (`TiktokenTokenizer`),
and so is any minbpe-style object with `encode` and a `vocab` dict
(`MinbpeTokenizer`, e.g. your own tokenizer from exercise 01).

    tok = as_tokenizer("cl100k_base")          # or an Encoding, a RegexTokenizer ...
    tok.encode(text)                           # tiktoken's rules for special tokens
    tok.encode_ordinary(text)                  # special-token text is just text
    tok.decode(ids); tok.decode_bytes(ids)
    tok.token_bytes(id)                        # the bytes of one token
    tok.token_byte_lengths()                   # bytes per id, an array (bits per byte)
    tok.n_vocab == tok.vocab_size; tok.eot_token   # None without "<|endoftext|>"
    tok.special_tokens; tok.special_tokens_set
    from_spec(tok.spec)                        # the same tokenizer, rebuilt from JSON

`spec` is what shard metadata and checkpoints store, once; `from_spec`
remembers what it rebuilt, so loading many shards or checkpoints of one run
does not rebuild the tokenizer each time.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Protocol, runtime_checkable

import numpy as np
import tiktoken

from course.assets import use_bundled_tiktoken_cache
from course.tokenizer.base import Tokenizer
from course.tokenizer.char import CharTokenizer
from course.tokenizer.regex_tokenizer import RegexTokenizer
from course.tokenizer.special import encode_with_special, resolve_special


@runtime_checkable
class TokenizerLike(Protocol):
    """What every course tokenizer offers (see the module docstring)."""

    name: str | None
    spec: dict

    def encode(self, text: str, *, allowed_special=..., disallowed_special=...) -> list[int]: ...
    def encode_ordinary(self, text: str) -> list[int]: ...
    def decode(self, ids) -> str: ...
    def decode_bytes(self, ids) -> bytes: ...
    def token_bytes(self, token_id: int) -> bytes: ...
    def token_byte_lengths(self) -> np.ndarray: ...
    @property
    def n_vocab(self) -> int: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def eot_token(self) -> int | None: ...
    @property
    def special_tokens(self) -> dict[str, int]: ...
    @property
    def special_tokens_set(self) -> set[str]: ...


def get_encoding(name: str) -> tiktoken.Encoding:
    """`tiktoken.get_encoding(name)`, read from the course's bundled (offline) files."""
    use_bundled_tiktoken_cache()
    try:
        return tiktoken.get_encoding(name)
    except ValueError as e:
        raise ValueError(
            f"unknown tokenizer name {name!r}: use a tiktoken encoding name "
            "(e.g. gpt2, cl100k_base, o200k_base) or pass a tokenizer object"
        ) from e


def _as_list(ids) -> list[int]:
    return ids.tolist() if hasattr(ids, "tolist") else [int(i) for i in ids]


class _SpecialTokens:
    """What both wrappers derive from their `special_tokens` dict (name -> id)."""

    special_tokens: dict[str, int]

    @property
    def eot_token(self) -> int | None:
        return self.special_tokens.get("<|endoftext|>")

    @property
    def special_tokens_set(self) -> set[str]:
        return set(self.special_tokens)


class TiktokenTokenizer(_SpecialTokens):
    """A `tiktoken.Encoding` behind the course interface (the encoding is `.encoding`)."""

    def __init__(self, encoding: tiktoken.Encoding):
        self.encoding = encoding
        self.name = encoding.name
        self.special_tokens = {t: encoding.encode_single_token(t) for t in encoding.special_tokens_set}
        self.spec = {"kind": "tiktoken", "name": encoding.name}
        self._byte_lengths = None

    @property
    def n_vocab(self) -> int:
        return self.encoding.n_vocab

    vocab_size = n_vocab

    def encode(self, text: str, *, allowed_special=frozenset(), disallowed_special="all") -> list[int]:
        allowed, disallowed = resolve_special(self.special_tokens, allowed_special, disallowed_special)
        return self.encoding.encode(text, allowed_special=set(allowed), disallowed_special=disallowed)

    def encode_ordinary(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)

    def decode(self, ids) -> str:
        return self.encoding.decode(_as_list(ids))

    def decode_bytes(self, ids) -> bytes:
        return self.encoding.decode_bytes(_as_list(ids))

    def token_bytes(self, token_id: int) -> bytes:
        try:
            return self.encoding.decode_single_token_bytes(token_id)
        except (KeyError, TypeError, OverflowError):
            raise ValueError(f"invalid token id {token_id!r}: not in {self.name}'s vocabulary") from None

    def token_byte_lengths(self) -> np.ndarray:
        if self._byte_lengths is None:
            special = set(self.special_tokens.values())
            out = np.zeros(self.n_vocab, dtype=np.int64)
            for i in range(self.n_vocab):
                if i not in special:
                    try:
                        out[i] = len(self.encoding.decode_single_token_bytes(i))
                    except KeyError:  # a hole in the id space (cl100k_base has some)
                        pass
            self._byte_lengths = out
        return self._byte_lengths

    def __repr__(self) -> str:
        return f"TiktokenTokenizer({self.name!r}, n_vocab={self.n_vocab})"


class MinbpeTokenizer(_SpecialTokens):
    """A minbpe-style tokenizer (`encode`, a `vocab` dict id -> bytes, maybe `special_tokens`)
    behind the course interface: e.g. the one you write in exercise 01. It cannot be
    stored (`spec` is None): save it in its own format."""

    spec = None

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.vocab = tokenizer.vocab
        self.special_tokens = dict(getattr(tokenizer, "special_tokens", None) or {})
        name = getattr(tokenizer, "name", None)
        self.name = name if isinstance(name, str) and name else f"{type(tokenizer).__name__}({len(self.vocab)})"

    @property
    def n_vocab(self) -> int:
        return max([*self.vocab, *self.special_tokens.values()]) + 1

    vocab_size = n_vocab

    def encode_ordinary(self, text: str) -> list[int]:
        inner = getattr(self.tokenizer, "encode_ordinary", None)
        return list(inner(text) if inner is not None else self.tokenizer.encode(text))

    def encode(self, text: str, *, allowed_special=frozenset(), disallowed_special="all") -> list[int]:
        return encode_with_special(
            text, self.encode_ordinary, self.special_tokens, allowed_special, disallowed_special
        )

    def token_bytes(self, token_id: int) -> bytes:
        try:
            return self.vocab[token_id]
        except KeyError:
            for text, i in self.special_tokens.items():
                if i == token_id:
                    return text.encode("utf-8")
            raise ValueError(f"invalid token id {token_id!r}: not in {self.name}'s vocabulary") from None

    def decode_bytes(self, ids) -> bytes:
        return b"".join(map(self.token_bytes, _as_list(ids)))

    def decode(self, ids) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def token_byte_lengths(self) -> np.ndarray:
        out = np.zeros(self.n_vocab, dtype=np.int64)
        for i, b in self.vocab.items():
            out[i] = len(b)
        for i in self.special_tokens.values():
            out[i] = 0
        return out

    def __repr__(self) -> str:
        return f"MinbpeTokenizer({self.name})"


@lru_cache(maxsize=16)
def _tiktoken(name: str) -> TiktokenTokenizer:
    return TiktokenTokenizer(get_encoding(name))


def as_tokenizer(obj) -> TokenizerLike:
    """`obj` behind the course interface: a tiktoken encoding name ("gpt2", "cl100k_base",
    ...) or `tiktoken.Encoding`, a course tokenizer (returned as it is), or a minbpe-style
    object with `encode` and a `vocab` dict."""
    if isinstance(obj, (Tokenizer, CharTokenizer, TiktokenTokenizer, MinbpeTokenizer)):
        return obj
    if isinstance(obj, str):
        return _tiktoken(obj)
    if isinstance(obj, tiktoken.Encoding):
        cached = _tiktoken(obj.name) if obj.name in tiktoken.list_encoding_names() else None
        return cached if cached is not None and cached.encoding is obj else TiktokenTokenizer(obj)
    if callable(getattr(obj, "encode", None)) and isinstance(getattr(obj, "vocab", None), dict):
        return MinbpeTokenizer(obj)
    raise TypeError(
        f"cannot use a {type(obj).__name__} as a tokenizer: pass a tiktoken encoding or its name, "
        "a course.tokenizer tokenizer (RegexTokenizer, BasicTokenizer, CharTokenizer), or an "
        "object with .encode and a .vocab dict (id -> bytes)"
    )


_SPECS_REMEMBERED = 16
_from_spec_cache: dict[str, TokenizerLike] = {}


def from_spec(spec: dict) -> TokenizerLike:
    """Rebuild a tokenizer from its `spec` (as stored in shard metadata or a checkpoint).

    The result is remembered: the same spec gives the same object, so treat it as
    read-only (copy it before registering special tokens or training it further).
    """
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ValueError(f"not a tokenizer spec: {spec!r}")
    key = json.dumps(spec, sort_keys=True)
    tok = _from_spec_cache.get(key)
    if tok is None:
        tok = _build(spec)
        if len(_from_spec_cache) >= _SPECS_REMEMBERED:
            del _from_spec_cache[next(iter(_from_spec_cache))]  # forget the oldest
        _from_spec_cache[key] = tok
    return tok


def _build(spec: dict) -> TokenizerLike:
    kind = spec["kind"]
    if kind == "char":
        return CharTokenizer(spec["chars"])
    if kind == "tiktoken":
        return _tiktoken(spec["name"])
    if kind == "course-bpe":
        return RegexTokenizer().load("<tokenizer spec>", text=spec["model"])
    raise ValueError(f"unknown tokenizer kind {kind!r} in spec (expected 'char', 'tiktoken' or 'course-bpe')")
