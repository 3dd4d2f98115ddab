import math


def lr_at(step, max_lr, min_lr, warmup_steps, max_steps):
    # the cosine's phase counted from step 0, not from the end of the warmup
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= max_steps:
        return min_lr
    ratio = step / max_steps
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (max_lr - min_lr)
