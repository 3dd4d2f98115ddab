def pg_loss(logprobs, advantages, mask):
    # forgets the mask: trains the model to write the prompt (and the padding)
    return -(advantages.unsqueeze(1) * logprobs).mean()
