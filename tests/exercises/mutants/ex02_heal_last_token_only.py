def heal(ids, vocab, back=1):
    ids = list(ids)
    if not 1 <= back <= len(ids):
        raise ValueError("back out of range")
    removed = vocab[ids[-1]]  # looks at the last token only, whatever `back` says
    allowed = sorted(i for i, b in vocab.items() if b and (b.startswith(removed) or removed.startswith(b)))
    return ids[:-back], removed, allowed
