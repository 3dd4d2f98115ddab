import torch
import torch.nn.functional as F


def top_p_filter(logits, p):
    # keeps a token while the mass *including* it is < p: drops the token that crosses p
    if p >= 1.0:
        return logits.clone()
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = F.softmax(sorted_logits.float(), dim=-1)
    remove_sorted = torch.cumsum(probs, dim=-1) >= p
    remove_sorted[..., 0] = False
    remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))
