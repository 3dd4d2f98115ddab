def heal(ids, vocab, back=1):
    ids = list(ids)
    if not 1 <= back <= len(ids):
        raise ValueError("back out of range")
    removed = b"".join(vocab[i] for i in ids[-back:])
    # a first token that spells only part of the removed bytes is left out
    allowed = sorted(i for i, b in vocab.items() if b.startswith(removed))
    return ids[:-back], removed, allowed
