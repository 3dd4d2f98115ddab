"""RegexTokenizer: split text with a regex, then BPE each chunk; and GPT's own tokenizers (lesson 01).

`RegexTokenizer.from_tiktoken("cl100k_base")` loads OpenAI's tokenizer from
tiktoken's data and encodes token-for-token like tiktoken. Two details make that
exact:

1. **Byte order.** GPT-2's vocabulary was stored as *printable characters*: its
   `bytes_to_unicode()` maps each byte to a visible character, printable bytes
   ("!".."~", "¡".."¬", "®".."ÿ") first, then the other 68 bytes (control
   characters, space, ...). Token ids follow that order, so id 0 is "!" (byte 33)
   and a space (byte 32) is id 220. tiktoken's files keep the same ids, and
   cl100k/o200k kept the same first 256. So byte b is token `byte_shuffle[b]`,
   not b; we store that permutation and everything else just works.
2. **Merges.** tiktoken stores only "bytes -> rank", not which two tokens were
   merged. We encode with ranks directly (see `bpe.bpe_encode`), and recover the
   merge that created each token (for `merges` and `save`) by running BPE on the
   token's own bytes with only lower ranks allowed: the last two parts are its merge
   (`bpe.recover_merges`).
3. **Unicode version.** tiktoken's regex engine may know fewer characters than
   Python's `regex` (16.0 vs 18.0 today); the tokenizer then classifies the
   newer characters the old way (see `unicode_versions`).
"""

from __future__ import annotations

from tiktoken_ext.openai_public import ENCODING_CONSTRUCTORS

from course.assets import use_bundled_tiktoken_cache
from course.tokenizer.base import Tokenizer
from course.tokenizer.patterns import GPT4_SPLIT_PATTERN, tiktoken_pattern
from course.tokenizer.unicode_versions import (
    VERSIONS,
    regex_unicode_version,
    tiktoken_unicode_version,
)

TIKTOKEN_ENCODINGS = ("gpt2", "r50k_base", "cl100k_base", "o200k_base")


def gpt2_bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (from openai/gpt-2's encoder.py).

    The order of this dict is the order of GPT-2's first 256 token ids.
    """
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class RegexTokenizer(Tokenizer):
    """Split with a regex (GPT-4's by default), then byte-level BPE inside each chunk."""

    def __init__(self, pattern: str | None = None):
        super().__init__(pattern=GPT4_SPLIT_PATTERN if pattern is None else pattern)

    @classmethod
    def from_tiktoken(cls, name: str = "cl100k_base") -> RegexTokenizer:
        """OpenAI's tokenizer `name` (gpt2, r50k_base, cl100k_base, o200k_base), from tiktoken's data.

        The vocabulary, split pattern and special tokens come from the constructors
        tiktoken registers for OpenAI's encodings (its public plugin interface,
        `tiktoken_ext.openai_public`), read from the course's bundled, offline copy.
        """
        if name not in TIKTOKEN_ENCODINGS:
            raise ValueError(f"unknown encoding {name!r}; choose one of {', '.join(TIKTOKEN_ENCODINGS)}")
        use_bundled_tiktoken_cache()
        definition = ENCODING_CONSTRUCTORS[name]()  # what tiktoken.Encoding is built from
        ranks = definition["mergeable_ranks"]  # bytes -> rank; the rank is the token id
        vocab = {rank: token for token, rank in ranks.items()}
        if sorted(vocab) != list(range(len(vocab))) or len(vocab) != len(ranks):
            raise ValueError(f"{name}: token ids are not 0..{len(ranks) - 1}; cannot represent it")
        tok = cls(pattern=tiktoken_pattern(definition["pat_str"]))
        engine, ours = tiktoken_unicode_version(), regex_unicode_version()
        if VERSIONS.index(engine) < VERSIONS.index(ours):
            tok.unicode_version = engine  # classify characters as tiktoken's older tables do
        tok._byte_ids = [ranks[bytes([b])] for b in range(256)]
        tok._vocab_override = vocab
        tok._merges = None  # recovered on first use (takes a second or two)
        tok._rebuild()
        tok.register_special_tokens(dict(definition["special_tokens"]))
        tok.name = name
        return tok
