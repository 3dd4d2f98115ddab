"""The course's BPE tokenizer object: what defines it, how it encodes, decodes, saves and loads.

Lesson 01 builds it; lesson 02 and the training data (lesson 03 on) use it
through the interface every course tokenizer shares (`course.tokenizer.interface`).

A byte-level BPE tokenizer is fully defined by four things, and the file
written by `save` holds exactly these:

- `pattern`: the regex that cuts text into chunks (None: the whole text is one chunk);
- the byte order: which id each of the 256 bytes has (the identity for tokenizers
  we train; a permutation for GPT-2's family, see `RegexTokenizer.from_tiktoken`);
- `merges`: {(a, b): new_id}, in the order they were learned;
- `special_tokens`: {"<|endoftext|>": id, ...}, text that maps to one id and is
  never produced by merging.

Everything else (`vocab`, the bytes->id ranks used by the encoder, a chunk
cache) is derived and rebuilt whenever one of those changes.

Encoding is `split into chunks -> BPE each chunk -> concatenate`. Text repeats,
chunks repeat even more (" the", "\\n", ","), so each distinct chunk is encoded
once and remembered: after the first few kilobytes, encoding is mostly the
regex split plus dictionary lookups.
"""

from __future__ import annotations

import re
from itertools import chain

import numpy as np
import regex

import course.tokenizer.files as files
from course.tokenizer.bpe import bpe_encode, recover_merges
from course.tokenizer.patterns import ascii_pattern
from course.tokenizer.special import encode_with_special, split_special
from course.tokenizer.train import count_chunks, train_fast, train_naive
from course.tokenizer.unicode_versions import downgrade
from course.utils import atomic_write_text

CACHE_SIZE = 1 << 18  # distinct chunks remembered (the cache is emptied when full)
CACHE_CHUNK_CHARS = 128  # longer chunks are rare; encoding them is not remembered


def replace_surrogates(text: str) -> str:
    """What tiktoken does with text that is not valid Unicode: lone surrogates become U+FFFD.

    (A high+low surrogate pair written as two characters is joined into the one
    character it stands for.) Only called when UTF-8 encoding has failed.
    """
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class _ChunkCache(dict):
    """chunk (str) -> tuple of token ids; a miss runs BPE and remembers the answer."""

    def __init__(self, ranks):
        super().__init__()
        self.ranks = ranks

    def __missing__(self, chunk):
        ids = tuple(bpe_encode(chunk.encode("utf-8"), self.ranks))
        if len(chunk) <= CACHE_CHUNK_CHARS:
            if len(self) >= CACHE_SIZE:
                self.clear()
            self[chunk] = ids
        return ids


class Tokenizer:
    """Base class: byte-level BPE with an optional split pattern and special tokens."""

    name: str | None = None  # e.g. "cl100k_base" for a tokenizer loaded from tiktoken

    def __init__(self, pattern: str | None = None):
        self._byte_ids = list(range(256))
        self._merges: dict | None = {}
        self._vocab_override = None  # id -> bytes, when given directly (tiktoken)
        self.special_tokens: dict[str, int] = {}
        self.inverse_special_tokens: dict[int, str] = {}
        self.pattern = pattern
        self.unicode_version = None
        self._rebuild()

    # -- what defines the tokenizer -------------------------------------------------------------

    @property
    def pattern(self) -> str | None:
        """The split regex (Python `regex` syntax), or None for no splitting."""
        return self._pattern

    @pattern.setter
    def pattern(self, pattern: str | None):
        if pattern is not None and not isinstance(pattern, str):
            raise TypeError(f"pattern must be a str or None, got {type(pattern).__name__}")
        self._pattern = pattern or None
        self._spec = None
        if self._pattern is None:
            self.compiled_pattern = None
            self._findall = self._ascii_findall = None
        else:
            try:
                self.compiled_pattern = regex.compile(self._pattern)
            except regex.error as e:
                raise ValueError(f"invalid split pattern {pattern!r}: {e}") from None
            self._findall = self.compiled_pattern.findall
            fast = ascii_pattern(self._pattern)
            self._ascii_findall = re.compile(fast).findall if fast else None

    @property
    def unicode_version(self) -> str | None:
        """The Unicode version whose letter/number/mark classes the pattern follows.

        None: whatever the installed `regex` module has. Tokenizers loaded from
        tiktoken follow tiktoken's (older) engine, see `unicode_versions`.
        """
        return self._unicode_version

    @unicode_version.setter
    def unicode_version(self, version: str | None):
        self._downgrade = downgrade(version)  # checks the version
        self._unicode_version = version
        self._spec = None

    @property
    def merges(self) -> dict[tuple[int, int], int]:
        """{(a, b): new_id} in learning order (treat as read-only)."""
        if self._merges is None:  # loaded from tiktoken: recover them on first use
            self._merges = recover_merges(self._vocab_override, self._ranks)
        return self._merges

    @property
    def byte_shuffle(self) -> dict[int, int]:
        """{byte value: its token id}. The identity, except for GPT-2-family tokenizers."""
        return dict(enumerate(self._byte_ids))

    @property
    def vocab(self) -> dict[int, bytes]:
        """{id: bytes} for every token, special tokens included (as their UTF-8 text)."""
        return self._vocab

    @property
    def vocab_size(self) -> int:
        """Number of ids an embedding table needs: the largest id + 1 (like tiktoken's n_vocab)."""
        return self._vocab_size

    n_vocab = vocab_size

    @property
    def eot_token(self) -> int | None:
        """The id of "<|endoftext|>", the separator between documents; None if there is none
        (register one with `tok.register_special_tokens({"<|endoftext|>": tok.vocab_size})`)."""
        return self.special_tokens.get("<|endoftext|>")

    @property
    def special_tokens_set(self) -> set[str]:
        """The special tokens' texts (as tiktoken's `Encoding.special_tokens_set`)."""
        return set(self.special_tokens)

    def register_special_tokens(self, special_tokens: dict[str, int]):
        """Set the special tokens (replacing any registered before): {"<|endoftext|>": 4096}."""
        if not isinstance(special_tokens, dict):
            raise TypeError("special_tokens must be a dict {text: id}")
        seen = {}
        for token, idx in special_tokens.items():
            if not isinstance(token, str) or not token:
                raise ValueError(f"a special token must be a non-empty str, got {token!r}")
            try:
                token.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"special token {token!r} is not valid Unicode") from None
            if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
                raise ValueError(f"special token {token!r}: id must be a non-negative int, got {idx!r}")
            if idx in self._mergeable:
                raise ValueError(
                    f"special token {token!r}: id {idx} is already an ordinary token "
                    f"(ordinary ids are 0..{max(self._mergeable)}); pick an id >= {max(self._mergeable) + 1}"
                )
            if idx in seen:
                raise ValueError(f"special tokens {seen[idx]!r} and {token!r} share the id {idx}")
            seen[idx] = token
        self.special_tokens = dict(special_tokens)
        self.inverse_special_tokens = {v: k for k, v in self.special_tokens.items()}
        self._rebuild_decoder()

    # -- derived tables ----------------------------------------------------------------------

    def _rebuild(self):
        """Recompute vocab, ranks and caches from the byte order and the merges."""
        if self._vocab_override is not None:
            mergeable = dict(self._vocab_override)
        else:
            mergeable = {idx: bytes([b]) for b, idx in enumerate(self._byte_ids)}
            for (a, b), idx in self._merges.items():
                mergeable[idx] = mergeable[a] + mergeable[b]
        self._mergeable = mergeable
        # bytes -> id; where two ids have equal bytes the first learned (smaller id) wins
        self._ranks = {}
        for idx in sorted(mergeable, reverse=True):
            self._ranks[mergeable[idx]] = idx
        self._cache = _ChunkCache(self._ranks)
        self._rebuild_decoder()

    def _rebuild_decoder(self):
        self._vocab = dict(self._mergeable)
        for token, idx in self.special_tokens.items():
            self._vocab[idx] = token.encode("utf-8")
        self._vocab_size = max(self._vocab) + 1
        self._spec = self._byte_lengths = None

    def _set_merges(self, merges, byte_ids=None):
        self._merges = dict(merges)
        self._byte_ids = list(range(256)) if byte_ids is None else list(byte_ids)
        self._vocab_override = None
        self._rebuild()

    # -- training -------------------------------------------------------------------------------

    def train(self, text: str, vocab_size: int, verbose: bool = False, *, trainer="fast", num_proc=None):
        """Learn `vocab_size - 256` merges from `text`.

        Registered special tokens are cut out of the text first, so no merge ever
        crosses one (register them before training if the text contains them).
        `trainer="naive"` uses the slow, readable trainer (same result);
        `verbose=True` shows a progress bar.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        trainers = {"fast": train_fast, "naive": train_naive}
        if trainer not in trainers:
            raise ValueError(f"trainer must be 'fast' or 'naive', got {trainer!r}")
        for token, idx in self.special_tokens.items():
            if idx < vocab_size:
                raise ValueError(
                    f"special token {token!r} has id {idx}, inside the vocabulary being trained "
                    f"(ids 0..{vocab_size - 1}); give special tokens ids >= vocab_size"
                )
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = replace_surrogates(text)
        pieces = split_special(text, self.special_tokens)
        counts = count_chunks(pieces, self.pattern, num_proc)
        merges = trainers[trainer](counts, vocab_size, verbose=verbose)
        self.unicode_version = None  # encode the way we split for training
        self._set_merges(merges)  # rebuilds vocab, ranks and decoder once
        return self

    # -- encoding ------------------------------------------------------------------------------

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode text, treating special-token text like any other text."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        try:
            return self._encode_chunks(text)
        except UnicodeEncodeError:  # lone surrogates: replace them, as tiktoken does
            return self._encode_chunks(replace_surrogates(text))

    def _encode_chunks(self, text):
        if not text:
            return []
        if self._findall is None:
            return bpe_encode(text.encode("utf-8"), self._ranks)
        if self._ascii_findall is not None and text.isascii():
            chunks = self._ascii_findall(text)
        elif self._downgrade is not None and self._downgrade.needed(text):
            # split a stand-in text that an older Unicode engine would see, cut the real one
            spans = self.compiled_pattern.finditer(self._downgrade.apply(text))
            chunks = [text[m.start() : m.end()] for m in spans]
        else:
            chunks = self._findall(text)
        return list(chain.from_iterable(map(self._cache.__getitem__, chunks)))

    def encode(self, text: str, *, allowed_special=frozenset(), disallowed_special="all") -> list[int]:
        """Encode text, deciding what special-token text in it means, exactly as tiktoken does.

        allowed_special:    "all", or a set of special tokens that become their ids
                            (default: none; names this tokenizer lacks are ignored).
        disallowed_special: "all" (default: every special token not allowed), or a set:
                            their text in `text` is a ValueError -- it usually means
                            untrusted input. `()`: encode it as ordinary text.
        Shorthands from minbpe: allowed_special="none" (= disallowed_special=()) and
        "none_raise" (= the default). Overlapping special tokens: leftmost, then longest.
        See `course.tokenizer.special`.
        """
        return encode_with_special(
            text, self.encode_ordinary, self.special_tokens, allowed_special, disallowed_special
        )

    # -- decoding -------------------------------------------------------------------------------

    def decode_bytes(self, ids) -> bytes:
        """The bytes the ids stand for (special tokens as their UTF-8 text)."""
        if hasattr(ids, "tolist"):  # a numpy array or torch tensor
            ids = ids.tolist()
        try:
            return b"".join(map(self._vocab.__getitem__, ids))
        except KeyError as e:
            raise ValueError(f"invalid token id {e.args[0]!r}: not in this tokenizer's vocabulary") from None
        except TypeError:
            bad = next(i for i in ids if not isinstance(i, int))
            raise ValueError(f"token ids must be ints, got {bad!r}") from None

    def decode(self, ids) -> str:
        """Text from ids. Bytes that are not valid UTF-8 (a token sequence cut inside a
        character) become U+FFFD, as in tiktoken."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes of one token (a special token: its UTF-8 text); tiktoken's
        `decode_single_token_bytes`."""
        try:
            return self._vocab[token_id]
        except (KeyError, TypeError):
            raise ValueError(f"invalid token id {token_id!r}: not in this tokenizer's vocabulary") from None

    def token_byte_lengths(self) -> np.ndarray:
        """How many bytes of text each id stands for, as an int64 array of length
        `vocab_size` (special tokens and unused ids: 0). Bits per byte needs it."""
        if self._byte_lengths is None:
            out = np.zeros(self.vocab_size, dtype=np.int64)
            for i, b in self._mergeable.items():
                out[i] = len(b)
            self._byte_lengths = out
        return self._byte_lengths

    # -- the spec: what data files and checkpoints store to rebuild this tokenizer --------------

    @property
    def spec(self) -> dict:
        """{"kind": "course-bpe", "model": the .model text}: self-contained and JSON-able
        (`course.tokenizer.from_spec` rebuilds the tokenizer). Computed once per change."""
        if self._spec is None:
            self._spec = {"kind": "course-bpe", "model": self.model_text()}
        return self._spec

    # -- files -------------------------------------------------------------------------------

    def model_text(self) -> str:
        """Everything that defines this tokenizer, as the text of its .model file."""
        merges = sorted(self.merges.items(), key=lambda kv: kv[1])
        if [idx for _, idx in merges] != list(range(256, 256 + len(merges))):
            raise ValueError("merges must create ids 256, 257, ... in order to be saved")
        return files.model_text(
            self.pattern, self._byte_ids, self.special_tokens, [p for p, _ in merges], self.unicode_version
        )

    def save(self, file_prefix):
        """Write `file_prefix.model` (to load) and `file_prefix.vocab` (to read)."""
        prefix = str(file_prefix)
        atomic_write_text(prefix + ".model", self.model_text())
        files.write_vocab(prefix + ".vocab", self._mergeable, self.merges, self.special_tokens)
        return prefix + ".model"

    def load(self, model_file, text=None):
        """Load a .model file written by `save` (or by minbpe) into this tokenizer.
        With `text`, load those contents (e.g. from `model_text()`) instead of reading
        `model_file`, which then only names them in error messages."""
        data = files.read_model(model_file, text)
        merges = {pair: 256 + i for i, pair in enumerate(data["merges"])}
        self.special_tokens, self.inverse_special_tokens = {}, {}
        self.pattern = data["pattern"]
        self.unicode_version = data["unicode_version"]
        self._set_merges(merges, data["byte_ids"])
        self.register_special_tokens(data["special_tokens"])
        return self

    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("compiled_pattern", "_findall", "_ascii_findall", "_cache", "_downgrade", "_spec"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        pattern = state.pop("_pattern")
        self.__dict__.update(state)
        self.pattern = pattern
        self.unicode_version = state["_unicode_version"]
        self._cache = _ChunkCache(self._ranks)

    def __repr__(self):
        n_merges = len(self._mergeable) - 256
        return (
            f"{type(self).__name__}(vocab_size={self.vocab_size}, merges={n_merges}, "
            f"special_tokens={len(self.special_tokens)}, pattern={'None' if self.pattern is None else 'regex'})"
        )
