def softmax(logits, dim=-1):
    e = logits.exp()  # overflows: exp(1000) is inf
    return e / e.sum(dim=dim, keepdim=True)
