import torch.nn.functional as F


def gpt_forward(model, idx, targets=None):
    # token embeddings only: forgets wpe
    if idx.size(1) > model.config.block_size:
        raise ValueError("too long")
    t = model.transformer
    x = t.wte(idx)
    for block in t.h:
        x = block(x)
    logits = model.lm_head(t.ln_f(x))
    if targets is None:
        return logits, None
    return logits, F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
