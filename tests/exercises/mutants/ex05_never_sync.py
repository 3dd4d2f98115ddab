def sync_context(model, micro_step, n_micro):
    if not 0 <= micro_step < n_micro:
        raise ValueError("micro_step out of range")
    return model.no_sync()  # the ranks' gradients never meet
