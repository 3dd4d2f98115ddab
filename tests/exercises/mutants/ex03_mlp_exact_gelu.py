import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    # the exact GELU, where GPT-2 uses the tanh approximation
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))
