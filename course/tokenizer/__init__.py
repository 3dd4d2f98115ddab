"""Tokenizers: byte-level BPE from scratch and exact to tiktoken (lesson 01), and the
one interface every tokenizer of the course speaks (lessons 02-04).

    from course.tokenizer import RegexTokenizer
    tok = RegexTokenizer()                          # GPT-4 split pattern
    tok.train(text, vocab_size=4096)                # learn 3840 merges
    tok.register_special_tokens({"<|endoftext|>": 4096})
    ids = tok.encode(text); tok.decode(ids) == text
    gpt4 = RegexTokenizer.from_tiktoken("cl100k_base")   # same ids as tiktoken

    from course.tokenizer import as_tokenizer, from_spec
    enc = as_tokenizer("gpt2")                      # tiktoken, same interface as `tok`
    from_spec(tok.spec)                             # rebuilt from what a checkpoint stores

The BPE API follows karpathy's minbpe. Modules: `bpe` (get_stats, merge, the
exact encoder, recovering merges), `train` (naive and fast trainers),
`patterns` (split regexes), `special` (tiktoken's rules for special-token
text), `base` (the tokenizer object), `basic` and `regex_tokenizer` (the two
kinds, and loading OpenAI's vocabularies), `files` (the .model format),
`unicode_versions` (splitting like an engine with older Unicode tables),
`char` (the character tokenizer) and `interface` (`as_tokenizer`, `from_spec`).
"""

from course.tokenizer.base import Tokenizer, replace_surrogates
from course.tokenizer.basic import BasicTokenizer
from course.tokenizer.bpe import bpe_encode, get_stats, merge, recover_merges
from course.tokenizer.char import CharTokenizer
from course.tokenizer.files import TokenizerFileError
from course.tokenizer.interface import (
    MinbpeTokenizer,
    TiktokenTokenizer,
    TokenizerLike,
    as_tokenizer,
    from_spec,
    get_encoding,
)
from course.tokenizer.patterns import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, O200K_SPLIT_PATTERN
from course.tokenizer.regex_tokenizer import RegexTokenizer, gpt2_bytes_to_unicode
from course.tokenizer.train import TrainingError, count_chunks, train_fast, train_naive

__all__ = [
    "BasicTokenizer",
    "CharTokenizer",
    "GPT2_SPLIT_PATTERN",
    "GPT4_SPLIT_PATTERN",
    "MinbpeTokenizer",
    "O200K_SPLIT_PATTERN",
    "RegexTokenizer",
    "TiktokenTokenizer",
    "Tokenizer",
    "TokenizerFileError",
    "TokenizerLike",
    "TrainingError",
    "as_tokenizer",
    "bpe_encode",
    "count_chunks",
    "from_spec",
    "get_encoding",
    "get_stats",
    "gpt2_bytes_to_unicode",
    "merge",
    "recover_merges",
    "replace_surrogates",
    "train_fast",
    "train_naive",
]
