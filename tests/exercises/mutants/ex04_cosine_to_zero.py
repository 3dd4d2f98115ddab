import math


def lr_at(step, max_lr, min_lr, warmup_steps, max_steps):
    # a full-period cosine: back up to max_lr at the end instead of down to min_lr
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= max_steps:
        return min_lr
    ratio = (step - warmup_steps) / (max_steps - warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(2 * math.pi * ratio)) * (max_lr - min_lr)
