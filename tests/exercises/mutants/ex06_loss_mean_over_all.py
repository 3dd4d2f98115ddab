import torch.nn.functional as F


def masked_loss(logits, targets, mask):
    # zeroes the masked tokens but divides by every position, trained or not
    per_token = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="none")
    return (per_token * mask.reshape(-1).float()).mean()
