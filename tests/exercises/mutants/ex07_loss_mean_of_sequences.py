def pg_loss(logprobs, advantages, mask):
    # per-sequence mean, then the mean over sequences: a short completion's tokens weigh more
    m = mask.to(logprobs.dtype)
    per_seq = (advantages.unsqueeze(1) * logprobs * m).sum(1) / m.sum(1)
    return -per_seq.mean()
