import contextlib

import torch


def train_step(model, optimizer, micro_batches, *, amp_dtype=None, max_norm=1.0):
    # steps but leaves the gradients in .grad
    micro_batches = list(micro_batches)
    counts = [int((y != -1).sum()) for _, y in micro_batches]
    total = sum(counts)
    if total == 0:
        raise ValueError("no targets")
    optimizer.zero_grad(set_to_none=True)
    loss_sum = 0.0
    for (x, y), n in zip(micro_batches, counts):
        if n == 0:
            continue
        amp = torch.autocast(x.device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
        with amp:
            _, loss = model(x, y)
        (loss * n / total).backward()
        loss_sum += loss.item() * n / total
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return loss_sum, float(norm)
