def bpe(mergeable_ranks, token, max_rank=None):
    parts = [bytes([b]) for b in token]
    while True:
        min_idx, min_rank = None, None
        for i in range(len(parts) - 1):
            rank = mergeable_ranks.get(parts[i] + parts[i + 1])
            if rank is not None and (min_rank is None or rank <= min_rank):  # ties go right
                min_idx, min_rank = i, rank
        if min_rank is None or (max_rank is not None and min_rank >= max_rank):
            break
        parts = parts[:min_idx] + [parts[min_idx] + parts[min_idx + 1]] + parts[min_idx + 2 :]
    return parts
