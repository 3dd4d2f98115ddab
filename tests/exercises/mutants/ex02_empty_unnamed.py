def tokens_per_char(texts, enc):
    out = {}
    for name, text in texts.items():
        if not text:
            raise ValueError("empty text")  # does not say which one
        out[name] = len(enc.encode(text)) / len(text)
    return out
