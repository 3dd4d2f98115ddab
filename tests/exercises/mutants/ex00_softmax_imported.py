from torch.nn.functional import softmax as _softmax


def softmax(logits, dim=-1):
    return _softmax(logits, dim=dim)
