"""BasicTokenizer: byte-level BPE on the raw text, no splitting (lesson 01's first version)."""

from __future__ import annotations

from course.tokenizer.base import Tokenizer


class BasicTokenizer(Tokenizer):
    """BPE over the whole text as one sequence of bytes.

    Merges may cross word boundaries ("e t" can become one token), which is why
    real tokenizers split text first (see RegexTokenizer). Good for learning,
    not for use: encoding treats the whole text as one long chunk.
    """

    def __init__(self):
        super().__init__(pattern=None)
