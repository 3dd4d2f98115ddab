r"""Which Unicode version a split pattern follows, and how to follow an older one (lesson 01).

`\p{L}` means "letters" -- but which characters are letters depends on the
Unicode version of the regex engine. tiktoken splits with Rust's regex crate,
whose tables are older than those of a current Python `regex` (tiktoken 0.14:
Unicode 16.0; regex 2026.11: Unicode 18.0). For the ~22,000 characters added in
between, the two engines disagree: Python sees "\U0001df2b" as a letter, so
"\U0001df2b:A" splits as ["\U0001df2b", ":A"]; tiktoken sees an unassigned
character and splits ["\U0001df2b:", "A"]. Different chunks, different tokens.

To split exactly like an engine with Unicode version V, we replace each
character whose class (Lu, Ll, Lt, Lm, Lo, mark, number, other) changed after V
by a stand-in that has its *old* class in every version (U+FDD0, a permanent
non-character, for "other"), split the stand-in text, and cut the original text
at the same positions. Only text that contains such characters pays for this.

The table lists, for each version, the characters whose class changed in it and
the class they had before. It was computed from the Unicode Character Database
of each version (the `unicodedata2` package, versions 15.0.0-18.0.0, against
Python 3.11's own 14.0.0): for every code point, compare the class in version
v-1 and v. White_Space has not changed since Unicode 6.3.
"""

from __future__ import annotations

from functools import lru_cache

import regex
import tiktoken

from course.assets import use_bundled_tiktoken_cache

VERSIONS = ["14.0.0", "15.0.0", "15.1.0", "16.0.0", "17.0.0", "18.0.0"]

# A letter first assigned in each version: which of them a regex engine calls a letter
# tells its Unicode version.
PROBES = {"15.0.0": 0x1123F, "15.1.0": 0x2EBF0, "16.0.0": 0x1C89, "17.0.0": 0x88F, "18.0.0": 0xA7DD}

# A character of each class that has had that class in every Unicode version.
STAND_IN = {"u": "A", "l": "a", "t": "\u01c5", "m": "\u02b0", "o": "\u05d0", "M": "\u0300", "N": "0", "x": "\ufdd0"}

UNICODE_CHANGES = {
    "15.0.0": {
        "x": (
            "CF3 ECE 10EFD-10EFF 1123F-11241 11F00-11F10 11F12-11F3A 11F3E-11F42 11F50-11F59 1342F "
            "13440-13455 1B132 1B155 1D2C0-1D2D3 1DF25-1DF2A 1E030-1E06D 1E08F 1E4D0-1E4F9 2B739 "
            "31350-323AF "
        ),
    },
    "15.1.0": {
        "x": "2EBF0-2EE5D",
    },
    "16.0.0": {
        "x": (
            "897 1C89-1C8A A7CB-A7CD A7DA-A7DC 105C0-105F3 10D40-10D65 10D69-10D6D 10D6F-10D85 "
            "10EC2-10EC4 10EFC 11380-11389 1138B 1138E 11390-113B5 113B7-113C0 113C2 113C5 "
            "113C7-113CA 113CC-113D3 113E1-113E2 116D0-116E3 11BC0-11BE0 11BF0-11BF9 11F5A "
            "13460-143FA 16100-16139 16D40-16D6C 16D70-16D79 18CFF 1CCF0-1CCF9 1E5D0-1E5FA "
        ),
    },
    "17.0.0": {
        "l": "295",
        "x": (
            "88F C5C CDC 1ACF-1ADD 1AE0-1AEB A7CE-A7CF A7D2 A7D4 A7F1 10940-10959 10EC5-10EC7 "
            "10EFA-10EFB 11B60-11B67 11DB0-11DDB 11DE0-11DE9 16EA0-16EB8 16EBB-16ED3 16FF2-16FF6 "
            "187F8-187FF 18D09-18D1E 18D80-18DF2 1E6C0-1E6DE 1E6E0-1E6F5 1E6FE-1E6FF 2B73A-2B73F "
            "2CEA2-2CEAD 323B0-33479 "
        ),
    },
    "18.0.0": {
        "x": (
            "558 58B-58C 5C8-5C9 B53-B54 1ADE-1ADF 1AEC-1AF0 208F 209D-209F A7DD A7E2 AB6C-AB6D "
            "107BB-107BF 10ECB-10ECF 10ED9-10EEE 10EF0-10EF9 11B0A 11DF0-11DF1 1246F 12475-1247F "
            "12550-12686 18CD6-18CDA 18D1F-18D20 18E00-19191 191A0-191D2 1B123-1B128 1B168 "
            "1D127-1D128 1D250-1D252 1D25B-1D25C 1D25F 1D280-1D281 1D6A6 1DF1F-1DF24 1DF2B-1DF81 "
            "1DF90-1DF96 1DFCD-1DFFF 2B81E 3D000-3FC3F "
        ),
    },
}


def _ranges(spec: str):
    for item in spec.split():
        start, _, end = item.partition("-")
        yield int(start, 16), int(end or start, 16)


def regex_unicode_version() -> str:
    """The Unicode version of the installed `regex` module (as far as this table knows)."""
    found = VERSIONS[0]
    for version, cp in PROBES.items():
        if regex.match(r"\p{L}", chr(cp)):
            found = version
    return found


@lru_cache(maxsize=1)
def tiktoken_unicode_version() -> str:
    """The Unicode version of tiktoken's regex engine, found by asking it.

    With cl100k_base, "X:A" ends in the single token ":A" exactly when the engine
    takes X for a letter (then ":A" is a chunk of its own).
    """
    use_bundled_tiktoken_cache()
    enc = tiktoken.get_encoding("cl100k_base")
    colon_a = enc.encode_single_token(":A")
    found = VERSIONS[0]
    for version, cp in PROBES.items():
        if enc.encode_ordinary(chr(cp) + ":A")[-1] == colon_a:
            found = version
    return found


@lru_cache(maxsize=8)
def stand_ins(target: str, current: str) -> dict[str, str]:
    """{character: stand-in} that makes Unicode `current` classify like `target`."""
    if target not in VERSIONS or current not in VERSIONS:
        raise ValueError(f"unknown Unicode version; this table knows {', '.join(VERSIONS)}")
    mapping: dict[str, str] = {}
    for version in VERSIONS[VERSIONS.index(target) + 1 : VERSIONS.index(current) + 1]:
        for old_class, spec in UNICODE_CHANGES[version].items():
            for start, end in _ranges(spec):
                for cp in range(start, end + 1):
                    mapping.setdefault(chr(cp), STAND_IN[old_class])  # the class it had at `target`
    return mapping


class UnicodeDowngrade:
    """Rewrites text so that the installed `regex` classifies it like Unicode `target`."""

    def __init__(self, target: str, current: str | None = None):
        self.target = target
        self.current = current or regex_unicode_version()
        older = VERSIONS.index(target) < VERSIONS.index(self.current)
        self.table = stand_ins(target, self.current) if older else {}
        self._search = regex.compile(_char_class(self.table)).search if self.table else None
        self._translate = str.maketrans(self.table)

    def needed(self, text: str) -> bool:
        """Does `text` contain a character that the two versions classify differently?"""
        return self._search is not None and self._search(text) is not None

    def apply(self, text: str) -> str:
        """Same length as `text`, with each changed character replaced by its stand-in."""
        return text.translate(self._translate)


def _char_class(chars) -> str:
    cps = sorted(map(ord, chars))
    parts, start = [], cps[0]
    for prev, cp in zip(cps, cps[1:] + [-1]):
        if cp != prev + 1:
            a, b = regex.escape(chr(start), special_only=False), regex.escape(chr(prev), special_only=False)
            parts.append(a if start == prev else f"{a}-{b}")
            start = cp
    return "[" + "".join(parts) + "]"


@lru_cache(maxsize=8)
def downgrade(target: str | None) -> UnicodeDowngrade | None:
    """A (shared) UnicodeDowngrade to `target`, or None when no rewriting is needed."""
    if target is None:
        return None
    if target not in VERSIONS:
        raise ValueError(f"unknown Unicode version {target!r}; this table knows {', '.join(VERSIONS)}")
    d = UnicodeDowngrade(target)
    return d if d.table else None
