"""Training byte-level BPE: a naive trainer for reading, a fast one for using (lesson 01).

Both take the training text already cut into chunks and *counted*
(`count_chunks`): tinyshakespeare has 263k chunks but only 15k distinct ones,
so every pair count below is "occurrences in a chunk x how often the chunk
occurs". Both return the same merges, because both pick the pair to merge by
the same rule:

    the highest count; on a tie, the lexicographically greater pair of byte
    strings (vocab[a], vocab[b])  -- the rule of Stanford CS336; and on a tie of
    that too (two tokens with equal bytes), the smaller ids.

`train_naive` recounts every pair after every merge: O(corpus) per merge. It
also takes the chunks uncounted, as (chunk, 1) pairs with repeats, so lesson 01
can time the first speedup (counting distinct chunks) on its own; and
`train_fast(..., heap=False)` scans every pair count for the best one instead of
keeping a heap, to time the last.
`train_fast` counts once and then updates only what a merge changed: the chunks
that contain the merged pair (an index pair -> chunks finds them) and the pairs
around each occurrence. The next pair comes from a heap. Entries are never
removed when a count drops; a popped entry whose count is out of date is pushed
back with the current count ("lazy invalidation"), and only pairs that gained
count (they all contain the new token) are pushed after a merge.

The fast trainer stores a chunk as a `str` with one character per token id
(chr(id)), so that "does this chunk contain the pair?" and "merge every
occurrence" are `pair in s` and `s.replace(pair, new)` -- loops in C -- and a
pair is a 2-character string, a compact dict key.
"""

from __future__ import annotations

import os
import sys
from collections import Counter, defaultdict
from collections.abc import Mapping
from heapq import heapify, heappop, heappush
from operator import add

import regex

from course.tokenizer.bpe import get_stats, merge
from course.tokenizer.patterns import BUILTIN_PATTERNS, ascii_pattern

MAX_VOCAB = 0x110000  # the fast trainer writes token ids as characters


class TrainingError(ValueError):
    """The text cannot produce the requested vocabulary."""


def _too_small(n_merges_done, vocab_size):
    largest = 256 + n_merges_done
    return TrainingError(
        f"the training text is too small for vocab_size={vocab_size}: after {n_merges_done} merges "
        f"every chunk is a single token, so no pair is left to merge. The largest vocabulary this "
        f"text supports is {largest}; use more text or a smaller vocab_size."
    )


def _check_vocab_size(vocab_size):
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
        raise TypeError(f"vocab_size must be an int, got {type(vocab_size).__name__}")
    if not 256 <= vocab_size <= MAX_VOCAB:
        raise ValueError(f"vocab_size must be between 256 (the bytes) and {MAX_VOCAB}, got {vocab_size}")


def _progress(total, verbose):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="BPE merges", unit="merge", disable=not verbose, mininterval=0.25)


# ----------------------------------------------------------------------------------------------
# Pre-tokenisation: text -> {chunk bytes: count}


def _count_serial(text, pattern):
    if pattern is None:
        return Counter({text: 1}) if text else Counter()
    fast = ascii_pattern(pattern) if text.isascii() else None
    if fast is not None:
        import re

        return Counter(re.findall(fast, text))
    return Counter(regex.findall(pattern, text))


def _count_pieces(args):
    pieces, pattern = args
    counts = Counter()
    for piece in pieces:
        counts.update(_count_serial(piece, pattern))
    return counts


# A cut between a letter and " letter" leaves every chunk of the built-in patterns
# intact: the letter ends its chunk and " letter" starts the next one in all of them.
_SAFE_CUT = regex.compile(r"\p{L}(?= \p{L})")


def _cut(text, parts):
    """`text` in about `parts` pieces, cut only at safe places."""
    cuts, n = [0], len(text)
    for k in range(1, parts):
        m = _SAFE_CUT.search(text, k * n // parts)
        if m is not None and m.end() > cuts[-1]:
            cuts.append(m.end())
    cuts.append(n)
    return [text[a:b] for a, b in zip(cuts, cuts[1:])]


def count_chunks(text, pattern, num_proc=None):
    """Split text with `pattern` and count each distinct chunk: {chunk as UTF-8 bytes: count}.

    `text` is a str, or a list of str (documents) whose chunks never run into each
    other. `pattern=None` keeps each text whole (BasicTokenizer). Large inputs are
    counted in `num_proc` processes (default: all cores, up to 8, over 4 MB of text);
    one long text is cut only with the built-in patterns, where we know a safe place.
    """
    pieces = [text] if isinstance(text, str) else list(text)
    total = sum(map(len, pieces))
    if num_proc is None:
        num_proc = min(os.cpu_count() or 1, 8) if total > 4_000_000 else 1
    if num_proc > 1 and pattern is not None and total > 100_000:
        share = total / num_proc
        jobs, group, size = [], [], 0
        for piece in pieces:
            if len(piece) > share and pattern in BUILTIN_PATTERNS.values():
                parts = _cut(piece, round(len(piece) / share))
            else:
                parts = [piece]
            for part in parts:
                group.append(part)
                size += len(part)
                if size >= share:
                    jobs.append((group, pattern))
                    group, size = [], 0
        if group:
            jobs.append((group, pattern))
        import multiprocessing as mp

        # fork is fastest where it is safe (Linux); spawn where it is the default (macOS, Windows) or
        # where the program chose it (then its workers re-import this module, which must work)
        chosen = mp.get_start_method(allow_none=True)
        method = "spawn" if chosen == "spawn" or not sys.platform.startswith("linux") else "fork"
        counts = Counter()
        with mp.get_context(method).Pool(min(num_proc, len(jobs))) as pool:
            for part in pool.imap_unordered(_count_pieces, jobs):
                counts.update(part)
    else:
        counts = _count_pieces((pieces, pattern))
    return {chunk.encode("utf-8"): c for chunk, c in counts.items()}


# ----------------------------------------------------------------------------------------------
# The naive trainer: recount everything, every merge (the lecture's algorithm)


def train_naive(chunk_counts, vocab_size, verbose=False):
    """Merges {(a, b): new_id} learned by recounting all pairs before each merge.

    `chunk_counts` is {chunk bytes: count}, or an iterable of (chunk, count) pairs
    in which a chunk may repeat (the same merges, more work).
    """
    _check_vocab_size(vocab_size)
    vocab = {i: bytes([i]) for i in range(256)}
    items = chunk_counts.items() if isinstance(chunk_counts, Mapping) else chunk_counts
    chunks = [(list(chunk), count) for chunk, count in items if len(chunk) > 1]
    merges = {}
    with _progress(vocab_size - 256, verbose) as bar:
        for idx in range(256, vocab_size):
            stats = {}
            for ids, count in chunks:
                get_stats(ids, stats, count)
            if not stats:
                raise _too_small(idx - 256, vocab_size)
            # highest count, then the greater pair of byte strings, then the smaller ids
            pair = max(stats, key=lambda p: (stats[p], vocab[p[0]], vocab[p[1]], -p[0], -p[1]))
            chunks = [(merge(ids, pair, idx), count) for ids, count in chunks]
            chunks = [(ids, count) for ids, count in chunks if len(ids) > 1]
            merges[pair] = idx
            vocab[idx] = vocab[pair[0]] + vocab[pair[1]]
            bar.update(1)
    return merges


# ----------------------------------------------------------------------------------------------
# The fast trainer


_REVERSE = bytes(range(255, -1, -1))


def _desc_key(token: bytes) -> str:
    """A string that sorts in the *reverse* order of `token` (for a min-heap that wants the max).

    Each byte b becomes chr(255 - b), and a final chr(256) -- bigger than all of
    them -- makes a prefix sort after its extensions, as it must when reversed.
    """
    return token.translate(_REVERSE).decode("latin-1") + "\u0100"


def train_fast(chunk_counts, vocab_size, verbose=False, heap=True):
    """The same merges as `train_naive`, updating pair counts incrementally.

    `heap=False` finds each best pair by scanning all pair counts (O(pairs) per
    merge) instead of popping it from the heap: the same merges, slower.
    """
    _check_vocab_size(vocab_size)
    vocab = [bytes([i]) for i in range(256)]
    keys = [_desc_key(b) for b in vocab]
    words, counts = [], []
    for chunk, count in chunk_counts.items():
        if len(chunk) > 1:
            words.append(chunk.decode("latin-1"))  # byte b -> chr(b): a token-id string
            counts.append(count)

    pair_count = defaultdict(int)  # "ab" -> weighted count
    where = defaultdict(list)  # "ab" -> indices of words that contain it (may be stale)
    for wi, w in enumerate(words):
        c = counts[wi]
        pairs = list(map(add, w[:-1], w[1:]))
        for p in pairs:
            pair_count[p] += c
        for p in dict.fromkeys(pairs):
            where[p].append(wi)
    use_heap = heap
    heap = [(-c, keys[ord(p[0])], keys[ord(p[1])], p) for p, c in pair_count.items()] if use_heap else []
    heapify(heap)

    merges = {}
    with _progress(vocab_size - 256, verbose) as bar:
        for idx in range(256, vocab_size):
            if use_heap:  # the best pair: pop until an entry matches the current count
                while heap:
                    neg, ka, kb, p = heappop(heap)
                    c = pair_count.get(p, 0)
                    if c == -neg:
                        break
                    if c > 0:
                        heappush(heap, (-c, ka, kb, p))
                else:
                    raise _too_small(idx - 256, vocab_size)
            else:  # the same order as the heap's entries, found by a scan
                p = min(pair_count, key=lambda q: (-pair_count[q], keys[ord(q[0])], keys[ord(q[1])], q), default=None)
                if p is None or pair_count[p] <= 0:
                    raise _too_small(idx - 256, vocab_size)
            a, b = ord(p[0]), ord(p[1])
            new = chr(idx)
            merges[(a, b)] = idx
            vocab.append(vocab[a] + vocab[b])
            keys.append(_desc_key(vocab[-1]))

            gained = {}  # pairs whose count went up; all of them contain `new`
            A, B = p
            for wi in where.pop(p, ()):
                w = words[wi]
                i = w.find(p)
                if i < 0:
                    continue  # stale index entry: an earlier merge removed the pair
                c = counts[wi]
                if w.find(p, i + 2) < 0:  # one occurrence (the usual case): x A B y -> x C y
                    words[wi] = w[:i] + new + w[i + 2 :]
                    if i:
                        x = w[i - 1]
                        pair_count[x + A] -= c
                        q = x + new
                        pair_count[q] += c
                        where[q].append(wi)
                        gained[q] = True
                    if i + 2 < len(w):
                        y = w[i + 2]
                        pair_count[B + y] -= c
                        q = new + y
                        pair_count[q] += c
                        where[q].append(wi)
                        gained[q] = True
                else:
                    words[wi] = _merge_all(w, p, new, c, pair_count, where, wi, gained)
            del pair_count[p]
            for q in gained if use_heap else ():
                heappush(heap, (-pair_count[q], keys[ord(q[0])], keys[ord(q[1])], q))
            bar.update(1)
    return merges


def _merge_all(w, p, new, c, pair_count, where, wi, gained):
    """Merge every occurrence of `p` in a word, touching only the pairs next to each one.

    w = P0 p P1 p P2 ... (p = AB). Pairs inside the Pk do not change; around
    each occurrence (x, A), (A, B), (B, y) disappear and (x, C), (C, y) appear,
    where x/y is the neighbouring character -- another occurrence when Pk is empty.
    """
    A, B = p
    parts = w.split(p)
    last = len(parts) - 1
    new_pairs = {}
    for k in range(last):  # occurrence k sits between parts[k] and parts[k+1]
        left, right = parts[k], parts[k + 1]
        pair_count[p] -= c
        if left:
            pair_count[left[-1] + A] -= c
            q = left[-1] + new
            pair_count[q] += c
            new_pairs[q] = True
        if right:
            pair_count[B + right[0]] -= c
            q = new + right[0]
        elif k + 1 < last:  # the next occurrence follows immediately
            pair_count[B + A] -= c
            q = new + new
        else:
            continue
        pair_count[q] += c
        new_pairs[q] = True
    for q in new_pairs:
        where[q].append(wi)
        gained[q] = True
    return new.join(parts)
