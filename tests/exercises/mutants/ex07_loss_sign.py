def pg_loss(logprobs, advantages, mask):
    # the wrong sign: minimising it makes rewarded completions *less* likely
    m = mask.to(logprobs.dtype)
    return (advantages.unsqueeze(1) * logprobs * m).sum() / m.sum()
