class KVCache:
    # writes at pos + 1: every cached position is one slot off, the first slot stays zero
    def __init__(self, n_layer):
        self.pos = 0
        self.k = [None] * n_layer
        self.v = [None] * n_layer

    def update(self, layer, k, v):
        B, H, T, D = k.shape
        end = self.pos + 1 + T
        if self.k[layer] is None:
            self.k[layer] = k.new_zeros(B, H, 256, D)
            self.v[layer] = v.new_zeros(B, H, 256, D)
        self.k[layer][:, :, self.pos + 1 : end] = k
        self.v[layer][:, :, self.pos + 1 : end] = v
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]
