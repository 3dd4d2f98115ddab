import torch


@torch.no_grad()
def generate(model, idx, max_new_tokens, use_cache=True):
    # advances cache.pos itself, as well as the model: every new token gets the wrong position
    if idx.size(1) + max_new_tokens > model.config.block_size:
        raise ValueError("does not fit")
    model.eval()
    cache = KVCache(model.config.n_layer) if use_cache else None  # noqa: F821
    new = idx
    for _ in range(max_new_tokens):
        if use_cache:
            logits, _ = model(new, cache=cache)
            cache.pos += 1
        else:
            logits, _ = model(idx)
        new = logits[:, -1].argmax(-1, keepdim=True)
        idx = torch.cat([idx, new], dim=1)
    return idx
