"""Byte-level BPE, from scratch and exact to tiktoken (lesson 01).

    from course.tokenizer import RegexTokenizer
    tok = RegexTokenizer()                          # GPT-4 split pattern
    tok.train(text, vocab_size=4096)                # learn 3840 merges
    tok.register_special_tokens({"<|endoftext|>": 4096})
    ids = tok.encode(text); tok.decode(ids) == text
    gpt4 = RegexTokenizer.from_tiktoken("cl100k_base")   # same ids as tiktoken

The API follows karpathy's minbpe. Modules: `bpe` (get_stats, merge, the exact
encoder), `train` (naive and fast trainers), `patterns` (split regexes),
`base` (the tokenizer object), `basic` and `regex_tokenizer` (the two kinds,
and loading OpenAI's vocabularies), `files` (the .model format),
`unicode_versions` (splitting like an engine with older Unicode tables).
"""

from course.tokenizer.base import Tokenizer, replace_surrogates
from course.tokenizer.basic import BasicTokenizer
from course.tokenizer.bpe import bpe_encode, get_stats, merge
from course.tokenizer.files import TokenizerFileError
from course.tokenizer.patterns import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, O200K_SPLIT_PATTERN
from course.tokenizer.regex_tokenizer import RegexTokenizer, gpt2_bytes_to_unicode
from course.tokenizer.train import TrainingError, count_chunks, train_fast, train_naive

__all__ = [
    "BasicTokenizer",
    "GPT2_SPLIT_PATTERN",
    "GPT4_SPLIT_PATTERN",
    "O200K_SPLIT_PATTERN",
    "RegexTokenizer",
    "Tokenizer",
    "TokenizerFileError",
    "TrainingError",
    "bpe_encode",
    "count_chunks",
    "get_stats",
    "gpt2_bytes_to_unicode",
    "merge",
    "replace_surrogates",
    "train_fast",
    "train_naive",
]
