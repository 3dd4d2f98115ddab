def heal(ids, vocab, back=1):
    ids = list(ids)
    if not 1 <= back <= len(ids):
        raise ValueError("back out of range")
    removed = b"".join(vocab[i] for i in ids[-back:])
    # only the tokens that strictly extend the removed bytes: forgets the token itself
    allowed = sorted(i for i, b in vocab.items() if len(b) > len(removed) and b.startswith(removed))
    return ids[:-back], removed, allowed
