def all_reduce_mean(tensor, group=None):
    return tensor.clone()  # this rank's value only
