def tokens_per_char(texts, enc):
    out = {}
    for name, text in texts.items():
        if not text:
            raise ValueError(f"text {name!r} is empty")
        out[name] = len(enc.encode(text)) / len(text.encode("utf-8"))  # bytes, not characters
    return out
