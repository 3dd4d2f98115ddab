import torch


def group_advantages(rewards, normalize_std=True):
    # divides by the sample std (G - 1), torch's default, not the population std
    r = torch.as_tensor(rewards, dtype=torch.float32)
    centred = r - r.mean(dim=1, keepdim=True)
    if not normalize_std:
        return centred
    std = r.std(dim=1, keepdim=True)
    return torch.where(std == 0, torch.zeros_like(centred), centred / std.clamp_min(1e-12))
