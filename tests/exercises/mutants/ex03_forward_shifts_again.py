import torch
import torch.nn.functional as F


def gpt_forward(model, idx, targets=None):
    # shifts the targets although the caller already did
    if idx.size(1) > model.config.block_size:
        raise ValueError("too long")
    t = model.transformer
    x = t.wte(idx) + t.wpe(torch.arange(idx.size(1)))
    for block in t.h:
        x = block(x)
    logits = model.lm_head(t.ln_f(x))
    if targets is None:
        return logits, None
    shifted = logits[:, :-1]
    return logits, F.cross_entropy(shifted.reshape(-1, logits.size(-1)), targets[:, 1:].reshape(-1), ignore_index=-1)
