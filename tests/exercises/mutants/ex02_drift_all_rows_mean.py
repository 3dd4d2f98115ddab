import torch


def drift_stats(before, after, mask):
    if before.shape != after.shape:
        raise ValueError("shapes differ")
    mask = torch.as_tensor(mask, dtype=torch.bool)
    if not mask.any():
        raise ValueError("the mask selects no row")
    delta_all = (after - before).double()
    delta = delta_all[mask]
    own = delta - delta_all.mean(dim=0, keepdim=True)  # the mean of every row, not of the group
    return {"drift": delta.norm(dim=1).mean().item(), "own_drift": own.norm(dim=1).mean().item()}
