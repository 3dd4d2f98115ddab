def get_stats(ids, counts=None):
    counts = {}  # ignores the dict it was given
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts
