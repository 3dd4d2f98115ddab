def grad_accum_steps(total_batch, micro_batch, seq_len):
    # rounds down silently instead of refusing a step of the wrong size
    return total_batch // (micro_batch * seq_len)
