"""The tokenizer file: a small, line-based text format (UTF-8), readable by eye (lesson 01).

    course-bpe v1
    pattern "'(?i:[sdmt]|ll|ve|re)|..."        a JSON string, or null (no splitting)
    bytes identity                             or 256 ids: the id of byte 0, 1, ..., 255
    unicode native                             or a version, e.g. 16.0.0 (see unicode_versions)
    special_tokens 2
    "<|endoftext|>" 4096                       JSON string (may contain spaces), id
    "<|end of turn|>" 4097
    merges 3840
    101 32                                     merge i joins these two ids into id 256 + i
    ...

JSON strings make any pattern or special token safe to store (spaces, quotes,
newlines). `bytes` exists for tokenizers like GPT-2's, whose first 256 ids are
not the byte values (see `RegexTokenizer.from_tiktoken`). minbpe's "minbpe v1"
files load too. Every problem is reported with the file name and line number.
"""

from __future__ import annotations

import json
from pathlib import Path

from course.tokenizer.unicode_versions import VERSIONS
from course.utils import atomic_write_text

MAGIC = "course-bpe v1"
MINBPE_MAGIC = "minbpe v1"


class TokenizerFileError(ValueError):
    """A tokenizer file is corrupt, truncated or not a tokenizer file."""

    def __init__(self, path, line, problem):
        self.path, self.line = str(path), line
        super().__init__(f"{path}, line {line}: {problem}")


def model_text(pattern, byte_ids, special_tokens, merges, unicode_version=None) -> str:
    """The contents of a .model file. `merges` are pairs in id order (256, 257, ...)."""
    lines = [MAGIC, f"pattern {json.dumps(pattern, ensure_ascii=False)}"]
    if list(byte_ids) == list(range(256)):
        lines.append("bytes identity")
    else:
        lines.append("bytes " + " ".join(map(str, byte_ids)))
    lines.append(f"unicode {unicode_version or 'native'}")
    lines.append(f"special_tokens {len(special_tokens)}")
    for token, idx in sorted(special_tokens.items(), key=lambda kv: kv[1]):
        lines.append(f"{json.dumps(token, ensure_ascii=False)} {idx}")
    lines.append(f"merges {len(merges)}")
    lines.extend(f"{a} {b}" for a, b in merges)
    return "\n".join(lines) + "\n"


class _Lines:
    """Reads a file line by line, remembering the line number for error messages.
    `text`, when given, is the file's contents already in memory; `path` then only
    names them in errors."""

    def __init__(self, path, text=None):
        self.path = Path(path)
        if text is not None:
            raw = text.encode("utf-8")
        else:
            try:
                raw = self.path.read_bytes()
            except FileNotFoundError:
                raise FileNotFoundError(f"tokenizer file not found: {self.path}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            raise TokenizerFileError(self.path, line, "not valid UTF-8") from None
        self.lines = text.split("\n")
        if self.lines and self.lines[-1] == "":
            self.lines.pop()  # the newline that ends the last line
        self.i = 0

    def error(self, problem, line=None):
        return TokenizerFileError(self.path, self.i if line is None else line, problem)

    def next(self, what):
        if self.i >= len(self.lines):
            raise TokenizerFileError(
                self.path, self.i + 1, f"the file ends here, but {what} was expected (truncated?)"
            )
        self.i += 1
        return self.lines[self.i - 1]

    def keyword(self, key, what):
        line = self.next(what)
        head, _, rest = line.partition(" ")
        if head != key:
            raise self.error(f"expected {what} (a line starting with {key!r}), found {line[:60]!r}")
        return rest

    def count(self, key, what):
        rest = self.keyword(key, what)
        if not rest.isdigit():
            raise self.error(f"expected the number of {key}, found {rest[:60]!r}")
        return int(rest)


def _int(lines, s, what):
    if not s.isdigit():
        raise lines.error(f"{what} must be a non-negative integer, found {s[:60]!r}")
    return int(s)


def _merge_line(lines, line, i):
    parts = line.split(" ")
    if len(parts) != 2:
        raise lines.error(f"expected a merge 'id id', found {line[:60]!r}")
    a, b = (_int(lines, p, "a merged id") for p in parts)
    new = 256 + i
    if a >= new or b >= new:
        raise lines.error(f"merge {i} (token {new}) uses id {max(a, b)}, which does not exist yet")
    return a, b


def read_model(path, text=None):
    """Parse a .model file -> dict(pattern, byte_ids, special_tokens, merges).
    With `text`, parse those contents instead of reading `path` (which names them in errors)."""
    lines = _Lines(path, text)
    magic = lines.next("the header line")
    if magic == MINBPE_MAGIC:
        return _read_minbpe(lines)
    if magic != MAGIC:
        raise lines.error(f"not a tokenizer file: expected the header {MAGIC!r}, found {magic[:60]!r}")

    rest = lines.keyword("pattern", "the pattern")
    try:
        pattern = json.loads(rest)
    except json.JSONDecodeError:
        raise lines.error("the pattern is not a valid JSON string") from None
    if pattern is not None and not isinstance(pattern, str):
        raise lines.error("the pattern must be a JSON string or null")

    rest = lines.keyword("bytes", "the byte order")
    if rest == "identity":
        byte_ids = list(range(256))
    else:
        fields = rest.split(" ")
        byte_ids = [_int(lines, f, "a byte id") for f in fields]
        if len(byte_ids) != 256 or sorted(byte_ids) != list(range(256)):
            raise lines.error("the byte order must list each of the ids 0..255 exactly once")


    unicode_version = lines.keyword("unicode", "the Unicode version")
    if unicode_version == "native":
        unicode_version = None
    elif unicode_version not in VERSIONS:
        raise lines.error(f"unknown Unicode version {unicode_version!r}: expected 'native' or one of {VERSIONS}")

    special_tokens, where = {}, {}
    for _ in range(lines.count("special_tokens", "the number of special tokens")):
        line = lines.next("a special token")
        head, sep, idx = line.rpartition(" ")
        try:
            token = json.loads(head) if sep else None
        except json.JSONDecodeError:
            token = None
        if not isinstance(token, str) or not token:
            raise lines.error(f"expected a special token as '\"text\" id', found {line[:60]!r}")
        if token in special_tokens:
            raise lines.error(f"special token {token!r} appears twice")
        special_tokens[token] = _int(lines, idx, "a special token id")
        where[token] = lines.i

    n_merges = lines.count("merges", "the number of merges")
    merges = [_merge_line(lines, lines.next(f"merge {i} of {n_merges}"), i) for i in range(n_merges)]
    if lines.i < len(lines.lines):
        raise lines.error(f"unexpected text after the {n_merges} merges", line=lines.i + 1)
    _check_specials(lines, special_tokens, 256 + n_merges, where)
    return dict(
        pattern=pattern, byte_ids=byte_ids, unicode_version=unicode_version, special_tokens=special_tokens, merges=merges
    )


def _read_minbpe(lines):
    pattern = lines.next("the pattern") or None
    n_special = _int(lines, lines.next("the number of special tokens"), "the number of special tokens")
    special_tokens, where = {}, {}
    for _ in range(n_special):
        parts = lines.next("a special token").split(" ")
        if len(parts) != 2 or not parts[0]:
            raise lines.error("expected 'token id' (minbpe files cannot hold spaces in special tokens)")
        special_tokens[parts[0]] = _int(lines, parts[1], "a special token id")
        where[parts[0]] = lines.i
    merges = []
    while lines.i < len(lines.lines):
        merges.append(_merge_line(lines, lines.next("a merge"), len(merges)))
    _check_specials(lines, special_tokens, 256 + len(merges), where)
    return dict(
        pattern=pattern, byte_ids=list(range(256)), unicode_version=None, special_tokens=special_tokens, merges=merges
    )


def _check_specials(lines, special_tokens, n_mergeable, where):
    seen = {}
    for token, idx in special_tokens.items():
        if idx < n_mergeable:
            raise lines.error(
                f"special token {token!r} has id {idx}, which is an ordinary token's id", where[token]
            )
        if idx in seen:
            raise lines.error(f"special tokens {seen[idx]!r} and {token!r} share the id {idx}", where[token])
        seen[idx] = token


def render_token(token: bytes) -> str:
    """Bytes -> printable text for the .vocab file (control characters escaped)."""
    import unicodedata

    s = token.decode("utf-8", errors="replace")
    return "".join(
        ch if unicodedata.category(ch)[0] != "C" else f"\\u{ord(ch):04x}" for ch in s
    )


def write_vocab(path, vocab, merges, special_tokens):
    """The human-readable companion file: one token per line, with the merge that made it."""
    made_from = {idx: pair for pair, idx in merges.items()}
    lines = []
    for idx in sorted(vocab):
        if idx in made_from:
            a, b = made_from[idx]
            lines.append(
                f"[{render_token(vocab[a])}][{render_token(vocab[b])}] -> [{render_token(vocab[idx])}] {idx}"
            )
        else:
            lines.append(f"[{render_token(vocab[idx])}] {idx}")
    for token, idx in sorted(special_tokens.items(), key=lambda kv: kv[1]):
        lines.append(f"special {json.dumps(token, ensure_ascii=False)} {idx}")
    atomic_write_text(path, "\n".join(lines) + "\n")
