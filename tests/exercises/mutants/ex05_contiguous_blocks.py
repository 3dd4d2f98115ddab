def rank_batches(micro_batches, rank, world_size):
    items = list(micro_batches)
    if world_size < 1 or not 0 <= rank < world_size or len(items) % world_size:
        raise ValueError("bad split")
    k = len(items) // world_size
    return items[rank * k : (rank + 1) * k]  # disjoint, but blocks, not rank-strided
