import torch
import torch.nn.functional as F


def gpt_forward(model, idx, targets=None):
    # sums the loss over real targets but divides by every position, padding included
    if idx.size(1) > model.config.block_size:
        raise ValueError("too long")
    t = model.transformer
    x = t.wte(idx) + t.wpe(torch.arange(idx.size(1)))
    for block in t.h:
        x = block(x)
    logits = model.lm_head(t.ln_f(x))
    if targets is None:
        return logits, None
    total = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1, reduction="sum")
    return logits, total / targets.numel()
