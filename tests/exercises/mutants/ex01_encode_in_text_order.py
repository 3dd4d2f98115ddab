# ruff: noqa: F821  (get_stats and merge come from the solution this is appended to)
def _encode_bytes(data, merges):
    ids = list(data)
    while len(ids) >= 2:
        pair = next((p for p in zip(ids, ids[1:]) if p in merges), None)  # leftmost known pair
        if pair is None:
            break
        ids = merge(ids, pair, merges[pair])
    return ids
