"""Lesson 01 reference solutions: the GPT tokenizer in plain Python (minbpe-style).

Deliberately simple: the fast, exact versions live in `course.tokenizer`, and the
checks compare these answers against them and against tiktoken.
"""

import regex

GPT4_SPLIT_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++\Z|\s*[\r\n]|\s+(?!\S)|\s"""
)


# ----------------------------------------------------------------------------- 1. primitives


def get_stats(ids, counts=None):
    counts = {} if counts is None else counts
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge(ids, pair, idx):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _train(chunks, vocab_size, merges, vocab):
    """Shared by both tokenizers: `chunks` is a list of id-lists; merges never cross them."""
    if vocab_size < 256:
        raise ValueError("vocab_size must be at least 256")
    for idx in range(256, vocab_size):
        stats = {}
        for ids in chunks:
            get_stats(ids, stats)
        if not stats:
            raise ValueError(
                f"the text is too small: only {idx - 256} merges are possible, vocab_size={vocab_size} needs more"
            )
        pair = max(stats, key=lambda p: (stats[p], vocab[p[0]], vocab[p[1]]))
        chunks = [merge(ids, pair, idx) for ids in chunks]
        merges[pair] = idx
        vocab[idx] = vocab[pair[0]] + vocab[pair[1]]


def _encode_bytes(data, merges):
    ids = list(data)
    while len(ids) >= 2:
        stats = get_stats(ids)
        pair = min(stats, key=lambda p: merges.get(p, float("inf")))
        if pair not in merges:
            break
        ids = merge(ids, pair, merges[pair])
    return ids


# ----------------------------------------------------------------------------- 2. BasicTokenizer


class BasicTokenizer:
    def __init__(self):
        self.merges = {}
        self.vocab = {i: bytes([i]) for i in range(256)}

    def train(self, text, vocab_size, verbose=False):
        self.merges, self.vocab = {}, {i: bytes([i]) for i in range(256)}
        _train([list(text.encode("utf-8"))], vocab_size, self.merges, self.vocab)
        if verbose:
            print(f"learned {len(self.merges)} merges")

    def encode(self, text):
        return _encode_bytes(text.encode("utf-8"), self.merges)

    def decode(self, ids):
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")


# ----------------------------------------------------------------------------- 3-4. RegexTokenizer


class RegexTokenizer:
    def __init__(self, pattern=None):
        self.pattern = GPT4_SPLIT_PATTERN if pattern is None else pattern
        self.compiled_pattern = regex.compile(self.pattern)
        self.merges = {}
        self.vocab = {i: bytes([i]) for i in range(256)}
        self.special_tokens = {}
        self.inverse_special_tokens = {}

    def train(self, text, vocab_size, verbose=False):
        self.merges, self.vocab = {}, {i: bytes([i]) for i in range(256)}
        chunks = [list(ch.encode("utf-8")) for ch in self.compiled_pattern.findall(text)]
        _train(chunks, vocab_size, self.merges, self.vocab)
        if verbose:
            print(f"learned {len(self.merges)} merges")

    def register_special_tokens(self, special_tokens):
        self.special_tokens = dict(special_tokens)
        self.inverse_special_tokens = {v: k for k, v in special_tokens.items()}

    def decode(self, ids):
        parts = []
        for i in ids:
            if i in self.inverse_special_tokens:
                parts.append(self.inverse_special_tokens[i].encode("utf-8"))
            else:
                parts.append(self.vocab[i])
        return b"".join(parts).decode("utf-8", errors="replace")

    def _encode_chunk(self, data):
        return _encode_bytes(data, self.merges)

    def encode_ordinary(self, text):
        ids = []
        for chunk in self.compiled_pattern.findall(text):
            ids.extend(self._encode_chunk(chunk.encode("utf-8")))
        return ids

    def encode(self, text, allowed_special="none_raise"):
        if allowed_special == "all":
            allowed = set(self.special_tokens)
        elif allowed_special in ("none", "none_raise"):
            allowed = set()
        elif isinstance(allowed_special, (set, frozenset, list, tuple)):
            allowed = set(allowed_special)
        else:
            raise ValueError(f"allowed_special={allowed_special!r} not understood")
        if allowed_special != "none":
            for token in self.special_tokens:
                if token not in allowed and token in text:
                    raise ValueError(f"the text contains the special token {token!r}")
        if not allowed:
            return self.encode_ordinary(text)
        # longest first, so that of two tokens starting at the same place the longer wins
        alternatives = sorted(allowed, key=len, reverse=True)
        split = regex.split("(" + "|".join(regex.escape(t) for t in alternatives) + ")", text)
        ids = []
        for k, piece in enumerate(split):
            if k % 2:  # odd positions hold the captured special tokens
                ids.append(self.special_tokens[piece])
            else:
                ids.extend(self.encode_ordinary(piece))
        return ids


# ----------------------------------------------------------------------------- 5. GPT-4 parity


def bpe(mergeable_ranks, token, max_rank=None):
    parts = [bytes([b]) for b in token]
    while True:
        min_idx, min_rank = None, None
        for i in range(len(parts) - 1):
            rank = mergeable_ranks.get(parts[i] + parts[i + 1])
            if rank is not None and (min_rank is None or rank < min_rank):
                min_idx, min_rank = i, rank
        if min_rank is None or (max_rank is not None and min_rank >= max_rank):
            break
        parts = parts[:min_idx] + [parts[min_idx] + parts[min_idx + 1]] + parts[min_idx + 2 :]
    return parts


def recover_merges(mergeable_ranks):
    merges = {}
    for token, rank in mergeable_ranks.items():
        if len(token) == 1:
            continue
        a, b = bpe(mergeable_ranks, token, max_rank=rank)
        merges[(mergeable_ranks[a], mergeable_ranks[b])] = rank
    return merges


class GPT4Tokenizer(RegexTokenizer):
    def __init__(self):
        import tiktoken

        import course  # noqa: F401  (tiktoken's files, offline)

        super().__init__(GPT4_SPLIT_PATTERN)
        enc = tiktoken.get_encoding("cl100k_base")
        self.mergeable_ranks = enc._mergeable_ranks
        self.vocab = {rank: token for token, rank in self.mergeable_ranks.items()}
        self.byte_shuffle = {b: self.mergeable_ranks[bytes([b])] for b in range(256)}
        self.register_special_tokens(enc._special_tokens)

    def _encode_chunk(self, data):
        if data in self.mergeable_ranks:
            return [self.mergeable_ranks[data]]
        return [self.mergeable_ranks[part] for part in bpe(self.mergeable_ranks, data)]


# ----------------------------------------------------------------------------- 6. a fast trainer


def train_fast(chunk_counts, vocab_size):
    """Keep the pair counts between merges, and for each pair the chunks that hold it.
    A merge recounts only those chunks: their old pairs come off the counts, the
    merged chunk's pairs go back on, each times the chunk's count."""
    if vocab_size < 256:
        raise ValueError("vocab_size must be at least 256")
    vocab = {i: bytes([i]) for i in range(256)}
    words = [list(chunk) for chunk in chunk_counts]
    freq = list(chunk_counts.values())
    stats, where = {}, {}
    for wi, ids in enumerate(words):
        for pair in zip(ids, ids[1:]):
            stats[pair] = stats.get(pair, 0) + freq[wi]
            where.setdefault(pair, set()).add(wi)
    merges = {}
    for idx in range(256, vocab_size):
        if not stats:
            raise ValueError(
                f"the text is too small: only {idx - 256} merges are possible, vocab_size={vocab_size} needs more"
            )
        pair = max(stats, key=lambda p: (stats[p], vocab[p[0]], vocab[p[1]]))
        merges[pair] = idx
        vocab[idx] = vocab[pair[0]] + vocab[pair[1]]
        for wi in where.pop(pair):
            old, f = words[wi], freq[wi]
            new = merge(old, pair, idx)
            for p in zip(old, old[1:]):
                stats[p] -= f
                if not stats[p]:
                    del stats[p]
            for p in zip(new, new[1:]):
                stats[p] = stats.get(p, 0) + f
                where.setdefault(p, set()).add(wi)
            words[wi] = new
    return merges
