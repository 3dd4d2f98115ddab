"""Lesson 01 exercises: build the GPT tokenizer yourself (the minbpe exercise).

Work in order; each step uses the previous ones. Run the checks from a notebook:

    import course; course.check("01")

or from a terminal: `python -m pytest tests/exercises/test_ex01.py --target exercises`.

1. `get_stats` and `merge`: the two primitives of byte-pair encoding.
2. `BasicTokenizer`: train / encode / decode on raw bytes.
3. `RegexTokenizer`: split text with a regex first, so merges never cross chunks.
4. Special tokens in `RegexTokenizer`: register_special_tokens, encode(allowed_special=...).
5. `bpe`, `recover_merges` and `GPT4Tokenizer`: load OpenAI's cl100k_base from
   tiktoken's files and produce exactly tiktoken's ids.
6. (optional, the hard one) `train_fast`: the same merges as your trainer, without
   recounting every pair before every merge.

Write plain Python (no `course.tokenizer`, no tiktoken encode calls inside your
answers: the checks compare against them). Keep the attribute names below.
"""

import regex

# GPT-4's split pattern (cl100k_base), in Python `regex` syntax.
GPT4_SPLIT_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++\Z|\s*[\r\n]|\s+(?!\S)|\s"""
)


# ----------------------------------------------------------------------------- 1. primitives


def get_stats(ids, counts=None):
    """Count consecutive pairs in the list `ids`.

    Return a dict {(a, b): number of times b directly follows a}. If `counts` is
    given, add into it (and return it) instead of starting a new dict, so that
    the counts of many chunks can be summed.
    e.g. get_stats([1, 2, 3, 1, 2]) == {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    """
    raise NotImplementedError("get_stats: loop over zip(ids, ids[1:])")


def merge(ids, pair, idx):
    """Replace every occurrence of `pair` in `ids` by the new id `idx`.

    Scan left to right; after replacing a pair, continue after it (so
    merge([5, 5, 5], (5, 5), 9) == [9, 5]). Return a new list.
    e.g. merge([1, 2, 3, 1, 2], (1, 2), 4) == [4, 3, 4]
    """
    raise NotImplementedError("merge: walk through ids, emitting idx where ids[i], ids[i+1] == pair")


# ----------------------------------------------------------------------------- 2. BasicTokenizer


class BasicTokenizer:
    """Byte-level BPE on the whole text (no splitting).

    Attributes (keep these names):
      merges: {(a, b): new_id}, in the order the merges were learned
      vocab:  {id: bytes} for every token, 0..255 being the single bytes
    """

    def __init__(self):
        self.merges = {}
        self.vocab = {i: bytes([i]) for i in range(256)}

    def train(self, text, vocab_size, verbose=False):
        """Learn `vocab_size - 256` merges from `text`.

        Start from the UTF-8 bytes of `text` (list(text.encode("utf-8"))). Repeat:
        count pairs, pick the most frequent pair, give it the next id (256, 257,
        ...), merge it everywhere, record it in `merges` and `vocab`.
        Ties: among pairs with the highest count, pick the one whose byte strings
        (vocab[a], vocab[b]) compare greatest, i.e.
            max(stats, key=lambda p: (stats[p], self.vocab[p[0]], self.vocab[p[1]]))
        (the rule of Stanford CS336; the checks depend on it). If no pair is left
        before reaching vocab_size, raise ValueError saying the text is too small.
        """
        raise NotImplementedError("BasicTokenizer.train: get_stats, max, merge, repeat")

    def encode(self, text):
        """Token ids of `text`: start from its bytes and apply the learned merges,
        always the earliest-learned merge present first (the pair with the lowest
        merges[pair]), until no learned pair is left."""
        raise NotImplementedError("BasicTokenizer.encode: repeatedly merge the pair with the lowest merge id")

    def decode(self, ids):
        """Text of `ids`: join the tokens' bytes and decode as UTF-8 with
        errors="replace" (a sequence cut inside a character must not crash)."""
        raise NotImplementedError("BasicTokenizer.decode: b''.join(vocab[i] ...).decode('utf-8', errors='replace')")


# ----------------------------------------------------------------------------- 3-4. RegexTokenizer


class RegexTokenizer:
    """Split the text with a regex, then byte-level BPE inside each chunk.

    Attributes (keep these names): pattern, compiled_pattern, merges, vocab,
    special_tokens ({text: id}) and inverse_special_tokens ({id: text}).
    """

    def __init__(self, pattern=None):
        self.pattern = GPT4_SPLIT_PATTERN if pattern is None else pattern
        self.compiled_pattern = regex.compile(self.pattern)
        self.merges = {}
        self.vocab = {i: bytes([i]) for i in range(256)}
        self.special_tokens = {}
        self.inverse_special_tokens = {}

    def train(self, text, vocab_size, verbose=False):
        """Like BasicTokenizer.train, but on the chunks `self.compiled_pattern.findall(text)`:
        count pairs inside every chunk (summed over all chunks), merge inside every
        chunk; no pair ever spans two chunks. Same tie rule, same error."""
        raise NotImplementedError("RegexTokenizer.train: a list of id-lists, one per chunk")

    def register_special_tokens(self, special_tokens):
        """Set `special_tokens` ({"<|endoftext|>": 100257, ...}) and `inverse_special_tokens`."""
        raise NotImplementedError("register_special_tokens: store the dict and its inverse")

    def decode(self, ids):
        """Like BasicTokenizer.decode; a special token's id decodes to its text."""
        raise NotImplementedError("RegexTokenizer.decode: vocab bytes, or the special token's UTF-8 text")

    def encode_ordinary(self, text):
        """Ids of `text`, ignoring special tokens: split into chunks, encode each
        chunk's bytes as BasicTokenizer.encode does, concatenate."""
        raise NotImplementedError("encode_ordinary: findall, then encode each chunk")

    def encode(self, text, allowed_special="none_raise"):
        """Ids of `text`, with special tokens handled by `allowed_special`:

          "all"        -- every registered special token in the text becomes its id;
          "none"       -- special-token text is encoded as ordinary text;
          "none_raise" -- raise ValueError if any special token's text occurs in `text`
                          (the default, as in tiktoken: it often means untrusted input);
          a set of str -- those special tokens become ids; the text of any other
                          registered special token raises ValueError (as in tiktoken).
        Split the text on the allowed special tokens (e.g. regex.split with a
        capturing group of regex.escape'd tokens), encode the pieces in between
        with encode_ordinary, and emit the special ids in place.
        """
        raise NotImplementedError("RegexTokenizer.encode: split on special tokens, encode_ordinary the rest")


# ----------------------------------------------------------------------------- 5. GPT-4 parity


def bpe(mergeable_ranks, token, max_rank=None):
    """Split the bytes `token` into parts the way GPT tokenizers do.

    `mergeable_ranks` maps token bytes -> rank (= token id; lower = learned earlier).
    Start from single bytes. Repeatedly find the adjacent pair of parts whose
    concatenation has the lowest rank (the leftmost one if two are equal) and join
    it; stop when no adjacent concatenation is in `mergeable_ranks`, or, if
    `max_rank` is given, when the lowest rank is >= max_rank. Return the list
    of parts (bytes).
    e.g. with cl100k_base's ranks, bpe(ranks, b"hello world") == [b"hello", b" world"]
    """
    raise NotImplementedError("bpe: join the lowest-rank adjacent pair until none is left")


def recover_merges(mergeable_ranks):
    """The merges {(rank_a, rank_b): rank} behind a tiktoken rank table.

    tiktoken stores only "bytes -> rank". For every token of 2+ bytes, run
    `bpe(mergeable_ranks, token, max_rank=rank)`: merging only lower ranks ends
    with exactly two parts, and those are the pair that was merged into it.
    """
    raise NotImplementedError("recover_merges: bpe(..., max_rank=rank) gives the two parents")


class GPT4Tokenizer(RegexTokenizer):
    """OpenAI's cl100k_base, from tiktoken's data, giving exactly tiktoken's ids.

    In __init__: call RegexTokenizer.__init__ with GPT4_SPLIT_PATTERN; get the ranks
    with `import course, tiktoken; tiktoken.get_encoding("cl100k_base")._mergeable_ranks`;
    set
      self.mergeable_ranks = that dict (bytes -> rank),
      self.vocab = {rank: bytes},
      self.byte_shuffle = {byte value: rank of that single byte} -- NOT the identity:
          GPT-2 ordered its first 256 ids printable characters first, so a space
          (byte 32) is id 220,
    and register the encoding's special tokens (`._special_tokens`).
    Override encode_ordinary: for each chunk, if its bytes are a token use that
    rank, otherwise the ranks of `bpe(self.mergeable_ranks, chunk_bytes)`.
    (Encoding with ranks directly needs no merges; recover_merges is how you would
    get minbpe-style merges, e.g. to train further or to save.)
    """

    def __init__(self):
        raise NotImplementedError("GPT4Tokenizer: load cl100k_base's ranks and special tokens from tiktoken")


# ----------------------------------------------------------------------------- 6. a fast trainer (optional)


def train_fast(chunk_counts, vocab_size):
    """The merges {(a, b): new_id} that RegexTokenizer.train learns, found fast.

    `chunk_counts` is {chunk as UTF-8 bytes: how often it occurs}, e.g. the
    counted chunks of a text: {b"First": 1, b" the": 812, ...}. Return exactly the
    merges your trainer learns from the text they came from (same ids 256, 257, ...,
    same tie rule, same ValueError when no pair is left), in the order learned.

    The trainer of step 3 recounts every pair of every chunk before each merge,
    although one merge changes very little. Decide what to keep from one merge to
    the next so that a merge costs work only where the merged pair occurs:
      - which chunks can a merge of (a, b) change at all? how would you find them
        without looking at every chunk?
      - which pair counts can it change, and by how much? (a chunk that occurs
        c times changes each count by a multiple of c)
      - beware: get_stats counts overlapping pairs (b"aaa" holds (a, a) twice),
        while merge replaces them left to right without overlap.
    Checked against the naive trainer on small corpora full of ties, and on
    Shakespeare. (Stanford CS336 asks the same of its first assignment.)
    """
    raise NotImplementedError("train_fast: keep the pair counts between merges; update only what a merge touches")
