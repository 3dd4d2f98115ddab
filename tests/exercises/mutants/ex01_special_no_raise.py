class RegexTokenizer(RegexTokenizer):  # noqa: F821
    def encode(self, text, allowed_special="none_raise"):
        if allowed_special in ("none", "none_raise"):
            return self.encode_ordinary(text)  # never refuses special-token text
        return super().encode(text, allowed_special)
