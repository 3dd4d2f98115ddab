def flops_per_token(n_params, n_layer, n_embd, seq_len):
    # the forward pass only
    return 2 * n_params + 4 * n_layer * n_embd * seq_len
