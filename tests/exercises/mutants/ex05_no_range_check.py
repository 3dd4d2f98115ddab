import contextlib


def sync_context(model, micro_step, n_micro):
    return model.no_sync() if micro_step < n_micro - 1 else contextlib.nullcontext()
