import contextlib

import torch


def train_step(model, optimizer, micro_batches, *, amp_dtype=None, max_norm=1.0):
    # divides each micro-batch's mean by the number of micro-batches: wrong when they hold different
    # numbers of real targets (padding)
    micro_batches = list(micro_batches)
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for x, y in micro_batches:
        amp = torch.autocast(x.device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
        with amp:
            _, loss = model(x, y)
        (loss / len(micro_batches)).backward()
        total += loss.item() / len(micro_batches)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total, float(norm)
