# ruff: noqa: F821  (get_stats and merge come from the solution this is appended to)
def train_fast(chunk_counts, vocab_size):
    vocab = {i: bytes([i]) for i in range(256)}
    words = [list(chunk) for chunk in chunk_counts]
    freq = list(chunk_counts.values())
    merges = {}
    for idx in range(256, vocab_size):
        stats = {}
        for ids, f in zip(words, freq):
            for pair in zip(ids, ids[1:]):
                stats[pair] = stats.get(pair, 0) + f
        if not stats:
            raise ValueError("the text is too small")
        pair = max(stats, key=stats.get)  # ties: the first pair counted
        merges[pair] = idx
        vocab[idx] = vocab[pair[0]] + vocab[pair[1]]
        words = [merge(ids, pair, idx) for ids in words]
    return merges
