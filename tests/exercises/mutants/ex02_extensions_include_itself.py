def extensions(vocab, piece):
    return sorted(i for i, b in vocab.items() if b.startswith(piece))  # the piece itself too
