def flops_per_token(n_params, n_layer, n_embd, seq_len):
    # 6N alone: attention's products have no weights, so they are forgotten
    return 6 * n_params
