import contextlib


def sync_context(model, micro_step, n_micro):
    if not 0 <= micro_step < n_micro:
        raise ValueError("micro_step out of range")
    return contextlib.nullcontext() if micro_step == 0 else model.no_sync()  # syncs before the others are added
