def gpt_num_params(config, tied=True):
    # forgets the position embedding
    C, V, b = config.n_embd, config.vocab_size, int(config.bias)
    layernorm = C + C * b
    block = 2 * layernorm + (4 * C * C + 4 * C * b) + (8 * C * C + 5 * C * b)
    total = V * C + config.n_layer * block + layernorm
    return total if tied else total + V * C
