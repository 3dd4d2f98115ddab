"""Special tokens in text: tiktoken's `allowed_special` / `disallowed_special` rules (lessons 01, 02).

A special token such as "<|endoftext|>" is text that maps to one id and is
never produced by merging. Text from users can *contain* that string, so every
encoder must decide what it means. tiktoken's answer, which every tokenizer of
the course follows (the course BPE, the character tokenizer and tiktoken
itself, see `course.tokenizer.interface`):

- `allowed_special`: the special tokens that become their id ("all", or a set;
  default: none). Names that are not special tokens of the tokenizer are
  ignored, as in tiktoken.
- `disallowed_special`: strings whose presence in the text is an error
  (default "all": every special token not allowed). Pass `()` to encode the
  other special-token text as ordinary text.
- everything else is ordinary text.

Two shorthands from minbpe are kept for lesson 01: `allowed_special="none"`
(special-token text is ordinary text, i.e. `disallowed_special=()`) and
`"none_raise"` (the default: raise on special-token text).

Where two special tokens overlap, the leftmost match wins, then the longest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from functools import lru_cache


@lru_cache(maxsize=64)
def special_regex(tokens: frozenset[str]) -> re.Pattern:
    """A regex that finds any of `tokens` (longest first where two start at the same place)."""
    alternatives = sorted(tokens, key=lambda t: (-len(t), t))
    return re.compile("|".join(map(re.escape, alternatives)))


def resolve_special(
    special_tokens: Collection[str], allowed_special, disallowed_special
) -> tuple[frozenset[str], frozenset[str]]:
    """(allowed, disallowed) as sets of strings, from the arguments `encode` was given."""
    specials = frozenset(special_tokens)
    if isinstance(allowed_special, str):
        if allowed_special == "all":
            allowed = specials
        elif allowed_special in ("none", "none_raise"):
            allowed = frozenset()
            if allowed_special == "none" and isinstance(disallowed_special, str) and disallowed_special == "all":
                disallowed_special = ()
        else:
            raise ValueError(
                f"allowed_special={allowed_special!r} is not understood: use 'all', 'none', "
                f"'none_raise' or a set of special tokens, e.g. {{{allowed_special!r}}}"
            )
    elif isinstance(allowed_special, Collection):
        allowed = frozenset(allowed_special)
    else:
        raise TypeError(f"allowed_special must be 'all' or a set of str, got {type(allowed_special).__name__}")
    if isinstance(disallowed_special, str):
        if disallowed_special != "all":
            raise ValueError(
                f"disallowed_special={disallowed_special!r} is not understood: use 'all', () or a set of str"
            )
        disallowed = specials - allowed
    elif isinstance(disallowed_special, Collection):
        disallowed = frozenset(disallowed_special)
    else:
        raise TypeError(
            f"disallowed_special must be 'all' or a set of str, got {type(disallowed_special).__name__}"
        )
    for name, tokens in (("allowed_special", allowed), ("disallowed_special", disallowed)):
        bad = next((t for t in tokens if not isinstance(t, str) or not t), None)
        if bad is not None:
            raise TypeError(f"{name} must hold non-empty str, got {bad!r}")
    return allowed, disallowed


def check_disallowed(text: str, disallowed: frozenset[str]) -> None:
    """Raise ValueError if `text` contains any of the `disallowed` strings."""
    if not disallowed:
        return
    m = special_regex(disallowed).search(text)
    if m:
        raise ValueError(
            f"the text contains the special token {m.group()!r}. To encode it as a special "
            f"token, pass allowed_special={{{m.group()!r}}} (or 'all'); to encode it as "
            "ordinary text, pass disallowed_special=() (or allowed_special='none')."
        )


def encode_with_special(
    text: str,
    encode_ordinary: Callable[[str], list[int]],
    special_tokens: Mapping[str, int],
    allowed_special=frozenset(),
    disallowed_special="all",
) -> list[int]:
    """tiktoken's `encode` for any tokenizer that has an `encode_ordinary` and a {text: id} table."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    allowed, disallowed = resolve_special(special_tokens, allowed_special, disallowed_special)
    check_disallowed(text, disallowed)
    allowed = frozenset(t for t in allowed if t in special_tokens)  # unknown names: ignored
    if not allowed:
        return encode_ordinary(text)
    ids, start = [], 0
    for m in special_regex(allowed).finditer(text):
        ids.extend(encode_ordinary(text[start : m.start()]))
        ids.append(special_tokens[m.group()])
        start = m.end()
    ids.extend(encode_ordinary(text[start:]))
    return ids


def split_special(text: str, tokens: Collection[str]) -> list[str]:
    """The pieces of `text` between occurrences of `tokens` (training never merges across them)."""
    if not tokens:
        return [text]
    return special_regex(frozenset(tokens)).split(text)
