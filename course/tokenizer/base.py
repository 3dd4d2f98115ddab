"""The tokenizer object: what defines it, how it encodes, decodes, saves and loads.

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
from functools import lru_cache
from itertools import chain

import regex

from course.tokenizer import files
from course.tokenizer.bpe import bpe_encode
from course.tokenizer.patterns import ascii_pattern
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


@lru_cache(maxsize=64)
def _special_regex(tokens: tuple):
    # Longest first: where two special tokens start at the same place, the longer one wins.
    alternatives = sorted(tokens, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, alternatives)))


class Tokenizer:
    """Base class: byte-level BPE with an optional split pattern and special tokens."""

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

    @property
    def merges(self) -> dict[tuple[int, int], int]:
        """{(a, b): new_id} in learning order (treat as read-only)."""
        if self._merges is None:  # loaded from tiktoken: recover them on first use
            from course.tokenizer.regex_tokenizer import recover_merges

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
    def eot_token(self) -> int:
        """The id of "<|endoftext|>", the separator between documents."""
        try:
            return self.special_tokens["<|endoftext|>"]
        except KeyError:
            raise AttributeError(
                "this tokenizer has no '<|endoftext|>' special token; register one with "
                "tok.register_special_tokens({'<|endoftext|>': tok.vocab_size})"
            ) from None

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
        from course.tokenizer.train import count_chunks, train_fast, train_naive

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
        pieces = self._split_special(text, tuple(self.special_tokens))
        counts = count_chunks(pieces, self.pattern, num_proc)
        merges = trainers[trainer](counts, vocab_size, verbose=verbose)
        self._set_merges(merges)
        self.unicode_version = None  # encode the way we split for training
        self._rebuild_decoder()
        return self

    @staticmethod
    def _split_special(text, tokens):
        if not tokens:
            return [text]
        return _special_regex(tokens).split(text)

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

    def encode(self, text: str, allowed_special="none_raise") -> list[int]:
        """Encode text, deciding what special-token text in it means.

        allowed_special:
          "none_raise" (default) -- special-token text in `text` is an error (ValueError),
                                    as in tiktoken: it usually means untrusted input;
          "none"                 -- encode it as ordinary text;
          "all"                  -- encode every special token as its id;
          a set/list of tokens   -- encode those as ids; any other special token in
                                    the text is an error, as in tiktoken.
        Where special tokens overlap, the leftmost match wins, then the longest.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        specials = self.special_tokens
        if isinstance(allowed_special, str):
            if allowed_special == "all":
                allowed = tuple(specials)
            elif allowed_special == "none":
                return self.encode_ordinary(text)
            elif allowed_special == "none_raise":
                allowed = ()
            else:
                raise ValueError(
                    f"allowed_special={allowed_special!r} is not understood: use 'all', 'none', "
                    f"'none_raise' or a set of special tokens, e.g. {{{allowed_special!r}}}"
                )
        elif isinstance(allowed_special, (set, frozenset, list, tuple)):
            unknown = [t for t in allowed_special if t not in specials]
            if unknown:
                raise ValueError(f"not special tokens of this tokenizer: {sorted(map(str, unknown))}")
            allowed = tuple(sorted(set(allowed_special)))
        else:
            raise TypeError(f"allowed_special must be a str or a set, got {type(allowed_special).__name__}")

        disallowed = tuple(t for t in specials if t not in allowed)
        if disallowed:
            m = _special_regex(disallowed).search(text)
            if m:
                raise ValueError(
                    f"the text contains the special token {m.group()!r}. To encode it as a special "
                    f"token, pass allowed_special={{{m.group()!r}}} (or 'all'); to encode it as "
                    "ordinary text, pass allowed_special='none'."
                )
        if not allowed:
            return self.encode_ordinary(text)
        ids, start = [], 0
        for m in _special_regex(allowed).finditer(text):
            ids.extend(self.encode_ordinary(text[start : m.start()]))
            ids.append(specials[m.group()])
            start = m.end()
        ids.extend(self.encode_ordinary(text[start:]))
        return ids

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
        for key in ("compiled_pattern", "_findall", "_ascii_findall", "_cache", "_downgrade"):
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
