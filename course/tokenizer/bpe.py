"""The two primitives of byte-pair encoding, and the exact encoder (lesson 01).

`get_stats` and `merge` are the lecture's building blocks (as in minbpe): count
adjacent pairs, replace every occurrence of one pair by a new id. Training is
"count, take the most frequent pair, merge, repeat".

`bpe_encode` turns one chunk of bytes into token ids exactly the way tiktoken
does, which is the rule every GPT tokenizer is defined by:

1. if the whole chunk is a token, that token is the answer;
2. otherwise start from single bytes and repeatedly join the adjacent pair whose
   *concatenated bytes* have the lowest rank (= lowest id); on a tie, the
   leftmost pair wins; stop when no adjacent pair is a token.

(For the four OpenAI vocabularies every token is what step 2 makes of its own
bytes, so step 1 only saves time there; it is part of tiktoken's definition, so
we keep it.) Step 2 looks up the rank of the joined bytes, not of the pair of ids: the same
token can often be formed from several splits (" the" = " t"+"he" = " th"+"e"),
and tiktoken accepts any of them. Short chunks use a small list scan (fast in
Python); long ones use a heap, so a 100,000-byte chunk costs O(n log n), not
O(n^2).

`recover_merges` runs the encoder backwards over a vocabulary given only as
"bytes -> rank" (tiktoken's files) to find the merge that made each token.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush

_NO_RANK = 1 << 62  # larger than any id: "these two parts are not a token"
LARGE_CHUNK = 256  # chunks longer than this (in bytes) use the heap


def get_stats(ids, counts=None, weight=1):
    """Count adjacent pairs in `ids`, adding `weight` per pair into `counts`.

    >>> get_stats([1, 2, 3, 1, 2])
    {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    """
    counts = {} if counts is None else counts
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + weight
    return counts


def merge(ids, pair, idx):
    """Replace every occurrence of `pair` in `ids` (left to right) by `idx`.

    >>> merge([1, 2, 3, 1, 2], (1, 2), 4)
    [4, 3, 4]
    """
    out, i, n = [], 0, len(ids)
    a, b = pair
    while i < n:
        if i < n - 1 and ids[i] == a and ids[i + 1] == b:
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def bpe_encode(piece: bytes, ranks: dict, max_rank: int | None = None) -> list[int]:
    """Token ids of one chunk, exactly as tiktoken computes them.

    `ranks` maps token bytes -> id. With `max_rank`, only merges into tokens with
    a smaller id are allowed and the whole-chunk shortcut is skipped (used to
    recover the merge that created a token).
    """
    if max_rank is None:
        rank = ranks.get(piece)
        if rank is not None:
            return [rank]
    if len(piece) > LARGE_CHUNK:
        return _bpe_heap(piece, ranks, _NO_RANK if max_rank is None else max_rank)
    return _bpe_scan(piece, ranks, _NO_RANK if max_rank is None else max_rank)


def _bpe_scan(piece: bytes, ranks: dict, limit: int) -> list[int]:
    """tiktoken's own loop: parts[i] starts at bounds[i]; r[i] ranks parts i+(i+1)."""
    get = ranks.get
    bounds = list(range(len(piece) + 1))
    r = [get(piece[i : i + 2], _NO_RANK) for i in range(len(piece) - 1)]
    r.append(_NO_RANK)  # the last part has no right neighbour
    while True:
        m = min(r)
        if m >= limit:
            break
        i = r.index(m)  # leftmost of the lowest
        del bounds[i + 1]
        del r[i + 1]
        r[i] = get(piece[bounds[i] : bounds[i + 2]], _NO_RANK) if i + 2 < len(bounds) else _NO_RANK
        if i:
            r[i - 1] = get(piece[bounds[i - 1] : bounds[i + 1]], _NO_RANK)
    return [ranks[piece[bounds[i] : bounds[i + 1]]] for i in range(len(bounds) - 1)]


def _bpe_heap(piece: bytes, ranks: dict, limit: int) -> list[int]:
    """The same merges in the same order, for long chunks: a heap of candidate pairs.

    Parts form a linked list (nxt/prv hold the start of the neighbour part). A heap
    entry (rank, start, end) proposes joining the part at `start` with the next part,
    which ends at `end`; it is stale once either part has changed, which we detect
    by checking that those two parts still span exactly start..end. (rank, start)
    ordering pops the lowest rank, leftmost first: tiktoken's rule.
    """
    n = len(piece)
    get = ranks.get
    nxt = list(range(1, n + 1))
    prv = list(range(-1, n - 1))
    alive = [True] * n
    heap = []
    for i in range(n - 1):
        rank = get(piece[i : i + 2])
        if rank is not None and rank < limit:
            heap.append((rank, i, i + 2))
    heapify(heap)
    while heap:
        _, i, end = heappop(heap)
        if not alive[i]:
            continue
        j = nxt[i]
        if j >= n or nxt[j] != end:
            continue
        alive[j] = False  # part j is absorbed into part i
        nxt[i] = end
        if end < n:
            prv[end] = i
            rank = get(piece[i : nxt[end]])
            if rank is not None and rank < limit:
                heappush(heap, (rank, i, nxt[end]))
        p = prv[i]
        if p >= 0:
            rank = get(piece[p:end])
            if rank is not None and rank < limit:
                heappush(heap, (rank, p, end))
    out, i = [], 0
    while i < n:
        out.append(ranks[piece[i : nxt[i]]])
        i = nxt[i]
    return out


def recover_merges(vocab: dict[int, bytes], ranks: dict[bytes, int]) -> dict[tuple[int, int], int]:
    """{(a, b): id} for every multi-byte token, from a bytes -> rank table."""
    merges = {}
    for idx in sorted(vocab):
        token = vocab[idx]
        if len(token) < 2:
            continue
        parts = bpe_encode(token, ranks, max_rank=idx)
        if len(parts) != 2:  # not reachable by merging lower ranks: take any lower split
            parts = next(
                (ranks[token[:k]], ranks[token[k:]])
                for k in range(1, len(token))
                if ranks.get(token[:k], idx) < idx and ranks.get(token[k:], idx) < idx
            )
        merges[tuple(parts)] = idx
    return merges
