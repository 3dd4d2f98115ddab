# ruff: noqa: F821  (get_stats and merge come from the solution this is appended to)
def _train(chunks, vocab_size, merges, vocab):
    for idx in range(256, vocab_size):
        stats = {}
        for ids in chunks:
            get_stats(ids, stats)
        if not stats:
            raise ValueError("the text is too small")
        pair = max(stats, key=stats.get)  # ties: whichever pair was counted first
        chunks = [merge(ids, pair, idx) for ids in chunks]
        merges[pair] = idx
        vocab[idx] = vocab[pair[0]] + vocab[pair[1]]
