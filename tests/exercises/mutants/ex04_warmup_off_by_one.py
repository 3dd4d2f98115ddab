import math


def lr_at(step, max_lr, min_lr, warmup_steps, max_steps):
    # warmup from step / warmup: step 0 gets a rate of 0 and the warmup never reaches max_lr
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    if step >= max_steps:
        return min_lr
    ratio = (step - warmup_steps) / (max_steps - warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (max_lr - min_lr)
