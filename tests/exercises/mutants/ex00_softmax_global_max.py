def softmax(logits, dim=-1):
    e = (logits - logits.max()).exp()  # one shift for the whole tensor, not per row
    return e / e.sum(dim=dim, keepdim=True)
