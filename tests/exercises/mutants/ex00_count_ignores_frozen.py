def count_parameters(model, trainable_only=False):
    seen, total = set(), 0
    for p in model.parameters():
        if (p.data_ptr(), p.numel()) not in seen:
            seen.add((p.data_ptr(), p.numel()))
            total += p.numel()
    return total
