class BasicTokenizer(BasicTokenizer):  # noqa: F821
    def decode(self, ids):
        # decodes each token on its own: a character split over two tokens becomes two U+FFFD
        return "".join(self.vocab[i].decode("utf-8", errors="replace") for i in ids)
