# ruff: noqa: F821  (get_stats and merge come from the solution this is appended to)
def _encode_bytes(data, merges):
    ids = list(data)
    while len(ids) >= 2:
        stats = get_stats(ids)
        known = [p for p in stats if p in merges]
        if not known:
            break
        pair = max(known, key=stats.get)  # the most frequent known pair, not the earliest learned
        ids = merge(ids, pair, merges[pair])
    return ids
