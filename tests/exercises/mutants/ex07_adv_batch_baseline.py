import torch


def group_advantages(rewards, normalize_std=True):
    # one baseline for the whole batch instead of one per group
    r = torch.as_tensor(rewards, dtype=torch.float32)
    centred = r - r.mean()
    if not normalize_std:
        return centred
    std = r.std(unbiased=False)
    return centred / std if std > 0 else torch.zeros_like(centred)
