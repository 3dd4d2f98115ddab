def pg_loss(logprobs, advantages, mask):
    # masks the sum but divides by every position, padding included
    m = mask.to(logprobs.dtype)
    return -(advantages.unsqueeze(1) * logprobs * m).sum() / m.numel()
