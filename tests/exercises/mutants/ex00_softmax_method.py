def softmax(logits, dim=-1):
    return logits.softmax(dim)
