def render(messages, encode, special):
    # trains on <|assistant_start|> too (the prompt supplies it; the model never generates it)
    turn = {"system": ("<|system_start|>", "<|system_end|>"), "user": ("<|user_start|>", "<|user_end|>"),
            "assistant": ("<|assistant_start|>", "<|assistant_end|>"),
            "tool": ("<|tool_output_start|>", "<|tool_output_end|>")}
    ids, mask = [], []
    for msg in messages:
        start, end = turn[msg["role"]]
        learn = 1 if msg["role"] == "assistant" else 0
        body = encode(msg["content"])
        ids += [special[start]] + body
        mask += [learn] * (1 + len(body))
        if "tool_call" in msg:
            call = [special["<|tool_call_start|>"]] + encode(msg["tool_call"]) + [special["<|tool_call_end|>"]]
            ids += call
            mask += [1] * len(call)
        else:
            ids.append(special[end])
            mask.append(learn)
    return ids, mask
