def mfu(tokens_per_sec, flops_per_token, peak_flops):
    # a percentage, not a fraction
    if peak_flops <= 0:
        raise ValueError("peak_flops must be positive")
    return 100 * tokens_per_sec * flops_per_token / peak_flops
