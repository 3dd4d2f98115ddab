import torch


def group_advantages(rewards, normalize_std=True):
    # forgets groups whose rewards are all equal: 0 / 0 = nan
    r = torch.as_tensor(rewards, dtype=torch.float32)
    centred = r - r.mean(dim=1, keepdim=True)
    if not normalize_std:
        return centred
    return centred / r.std(dim=1, unbiased=False, keepdim=True)
