import torch


def unseen_tokens(ids, vocab_size):
    ids = torch.as_tensor(ids, dtype=torch.long).flatten()
    seen = set(ids.tolist())
    return [i for i in range(vocab_size) if i not in seen]
