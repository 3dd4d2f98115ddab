class BasicTokenizer(BasicTokenizer):  # noqa: F821
    def decode(self, ids):
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="ignore")  # drops broken bytes
