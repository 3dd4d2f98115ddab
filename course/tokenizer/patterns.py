"""Regex split patterns: how text is cut into chunks before BPE sees it (lessons 01, 02).

BPE never merges across a chunk boundary, so the pattern decides what a token
*can* be: GPT-2's pattern cuts " dog." into " dog" and ".", so no token ever
joins a word and its punctuation. The constants below are the exact
patterns tiktoken uses, written for Python's `regex` module:

- tiktoken runs its patterns with Rust's regex engine, where `$` means "end of
  text"; in Python `$` also matches *before a final newline*. In tiktoken's
  patterns `$` only follows a possessive `\\s++`, which has already eaten that
  newline, so the two agree there; we still write Python's end-of-text `\\Z`,
  and `tiktoken_pattern` rewrites any pattern tiktoken ships that way.
- `\\s` in `regex` is Unicode White_Space, the same set Rust uses. (Python's
  built-in `re` disagrees on four ASCII control characters, \\x1c-\\x1f.)

`ascii_pattern()` rewrites a pattern for the stdlib `re` module on pure-ASCII
text, where `\\p{L}` is just [A-Za-z]: same chunks, about 25% faster. It is the
encoder's fast path, and the tests check it chunk for chunk against `regex`.
"""

from __future__ import annotations

import re
import sys

# GPT-2 (also r50k_base): contractions, optional space + letters / numbers /
# punctuation, then whitespace runs that leave the last space to the next word.
GPT2_SPLIT_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++\Z|\s+(?!\S)|\s"""
)

# GPT-4 (cl100k_base): case-insensitive contractions, numbers in groups of at most
# three digits, punctuation runs that keep their trailing newlines, newline runs.
GPT4_SPLIT_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++\Z|\s*[\r\n]|\s+(?!\S)|\s"""
)

# GPT-4o (o200k_base): words split at case changes (camelCase -> camel|Case),
# contractions attached to the word, and "/" kept with punctuation runs.
O200K_SPLIT_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

BUILTIN_PATTERNS = {
    "gpt2": GPT2_SPLIT_PATTERN,
    "gpt4": GPT4_SPLIT_PATTERN,
    "o200k": O200K_SPLIT_PATTERN,
}


def _scan(pattern: str):
    """Yield (token, inside_class) for a regex: escapes like `\\p{L}` stay whole."""
    i, depth, n = 0, 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if pattern.startswith(("\\p{", "\\P{"), i):
                j = pattern.index("}", i)
                yield pattern[i : j + 1], depth > 0
                i = j + 1
            else:
                yield pattern[i : i + 2], depth > 0
                i += 2
            continue
        if c == "[" and depth == 0:
            depth = 1
            yield c, False
            # a "]" right after "[" or "[^" is a literal, not the end of the class
            k = i + 1
            if k < n and pattern[k] == "^":
                yield "^", True
                k += 1
            if k < n and pattern[k] == "]":
                yield "]", True
                k += 1
            i = k
            continue
        if c == "]" and depth:
            depth = 0
            yield c, False
            i += 1
            continue
        yield c, depth > 0
        i += 1


def tiktoken_pattern(pat_str: str) -> str:
    """tiktoken's pattern string, rewritten so Python's `regex` splits the same way.

    The only difference that matters is `$` (outside a character class): in
    Rust it is end-of-text, in Python it also matches before a final newline.
    """
    return "".join("\\Z" if tok == "$" and not inside else tok for tok, inside in _scan(pat_str))


# ASCII meaning of the escapes the built-in patterns use, for the stdlib `re` module.
_WS = "\\t\\n\\x0b\\x0c\\r "
_ASCII_CLASS = {  # escape -> characters it stands for (inside a [...] class)
    "\\p{L}": "A-Za-z",
    "\\p{Lu}": "A-Z",
    "\\p{Ll}": "a-z",
    "\\p{Lt}": "",
    "\\p{Lm}": "",
    "\\p{Lo}": "",
    "\\p{M}": "",
    "\\p{N}": "0-9",
    "\\s": _WS,
}
_SAFE_ESCAPES = {"\\r", "\\n", "\\t", "\\Z", "\\'", '\\"', "\\/", "\\-"}


def ascii_pattern(pattern: str) -> str | None:
    """An equivalent stdlib-`re` pattern for pure-ASCII text, or None.

    Only the escapes in the built-in patterns are translated; anything else
    (`\\w`, `\\b`, other properties, ...) returns None and the caller keeps
    using `regex`. Needs Python >= 3.11 for possessive quantifiers.
    """
    if sys.version_info < (3, 11):
        return None
    out = []
    for tok, inside in _scan(pattern):
        if tok.startswith("\\"):
            if tok in _ASCII_CLASS:
                chars = _ASCII_CLASS[tok]
                if inside:
                    out.append(chars)
                else:
                    out.append(f"[{chars}]" if chars else "(?!)")
            elif tok == "\\S" and not inside:
                out.append(f"[^{_WS}]")
            elif tok in _SAFE_ESCAPES:
                out.append(tok)
            else:
                return None
        elif tok == "$" and not inside:
            out.append("\\Z")
        else:
            out.append(tok)
    result = "".join(out)
    if "[]" in result or "[^]" in result:  # a class that became empty: give up rather than guess
        return None
    try:
        re.compile(result)
    except re.error:
        return None
    return result
