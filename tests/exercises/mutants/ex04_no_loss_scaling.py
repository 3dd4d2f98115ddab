import contextlib

import torch


def train_step(model, optimizer, micro_batches, *, amp_dtype=None, max_norm=1.0):
    # no scaling at all: the gradients of the micro-batches' means add up (k times too big)
    micro_batches = list(micro_batches)
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for x, y in micro_batches:
        amp = torch.autocast(x.device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
        with amp:
            _, loss = model(x, y)
        loss.backward()
        total += loss.item() / len(micro_batches)  # reports the mean, but the gradients add up
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total, float(norm)
