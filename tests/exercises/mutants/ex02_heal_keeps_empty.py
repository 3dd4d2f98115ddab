def heal(ids, vocab, back=1):
    ids = list(ids)
    if not 1 <= back <= len(ids):
        raise ValueError("back out of range")
    removed = b"".join(vocab[i] for i in ids[-back:])
    allowed = sorted(i for i, b in vocab.items() if b.startswith(removed) or removed.startswith(b))
    return ids[:-back], removed, allowed
