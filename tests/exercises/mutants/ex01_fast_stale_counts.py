# ruff: noqa: F821  (get_stats and merge come from the solution this is appended to)
def train_fast(chunk_counts, vocab_size):
    # adds the new pairs after a merge but never takes the old ones off
    vocab = {i: bytes([i]) for i in range(256)}
    words = [list(chunk) for chunk in chunk_counts]
    freq = list(chunk_counts.values())
    stats = {}
    for ids, f in zip(words, freq):
        for pair in zip(ids, ids[1:]):
            stats[pair] = stats.get(pair, 0) + f
    merges = {}
    for idx in range(256, vocab_size):
        if not stats:
            raise ValueError("the text is too small")
        pair = max(stats, key=lambda p: (stats[p], vocab[p[0]], vocab[p[1]]))
        merges[pair] = idx
        vocab[idx] = vocab[pair[0]] + vocab[pair[1]]
        del stats[pair]
        for wi, (ids, f) in enumerate(zip(words, freq)):
            new = merge(ids, pair, idx)
            if new != ids:
                for p in zip(new, new[1:]):
                    if idx in p:
                        stats[p] = stats.get(p, 0) + f
                words[wi] = new
    return merges
