import torch.nn.functional as F


def masked_loss(logits, targets, mask):
    # averages each row, then the rows: a token in a short answer weighs more than one in a long answer
    per_token = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, T)
    m = mask.float()
    return ((per_token * m).sum(1) / m.sum(1)).mean()
