"""The measurement helpers of lesson 02, checked against tiktoken, `re` and naive loops."""

import re
import unicodedata

import pytest
import tiktoken
import torch

import course  # noqa: F401  (offline tiktoken cache)
from course import pitfalls as P

ENCODINGS = ["gpt2", "cl100k_base", "o200k_base"]


def test_parallel_sentences_are_clean_text():
    assert len(P.PARALLEL) >= 12
    scripts = set()
    for lang, text in P.PARALLEL.items():
        assert text == text.strip() and "\n" not in text, lang
        assert unicodedata.is_normalized("NFC", text), f"{lang} should be NFC-normalised"
        scripts.add(unicodedata.name(text[0]).split()[0])
    # Latin, Cyrillic, Greek, Arabic, Devanagari, Thai, CJK, Hiragana/Katakana, Hangul: many scripts
    assert {
        "LATIN",
        "CYRILLIC",
        "GREEK",
        "ARABIC",
        "DEVANAGARI",
        "THAI",
        "CJK",
        "HANGUL",
    } <= scripts


@pytest.mark.parametrize("name", ENCODINGS)
def test_token_rates_match_tiktoken(name):
    enc = tiktoken.get_encoding(name)
    for text in P.PARALLEL.values():
        n = len(enc.encode(text))
        assert P.count_tokens(text, name) == n
        assert P.tokens_per_char(text, name) == pytest.approx(n / len(text))
        assert P.tokens_per_byte(text, enc) == pytest.approx(n / len(text.encode("utf-8")))
    with pytest.raises(ValueError, match="empty"):
        P.tokens_per_char("", name)
    with pytest.raises(ValueError, match="empty"):
        P.tokens_per_byte("", name)


def test_count_table_and_format():
    texts = {"a": "hello world", "b": "12345"}
    table = P.count_table(texts, {n: n for n in ENCODINGS})
    for k, text in texts.items():
        assert table[k] == {n: len(tiktoken.get_encoding(n).encode(text)) for n in ENCODINGS}
    lines = P.format_table(table, first="text").splitlines()
    assert lines[0].split() == ["text", *ENCODINGS]
    assert lines[1].split() == ["a", *(str(table["a"][n]) for n in ENCODINGS)]


def test_digit_split_against_regex_and_tiktoken():
    for name in ("cl100k_base", "o200k_base"):
        for number in ["7", "1234", "1234567", "98765432101"]:
            assert P.digit_split(number, name) == tuple(
                len(m) for m in re.findall(r"\d{1,3}", number)
            )
    enc = tiktoken.get_encoding("gpt2")
    for number in ["1234", "2024", "31415926"]:
        assert P.digit_split(number, "gpt2") == tuple(
            len(enc.decode([i])) for i in enc.encode(number)
        )


def test_split_distribution():
    dist = P.split_distribution("cl100k_base", range(1000, 1200))
    assert dict(dist) == {"3+1": 200}
    enc = tiktoken.get_encoding("gpt2")
    dist = P.split_distribution(enc, range(1000, 10000))
    assert sum(dist.values()) == 9000
    naive = {}
    for n in range(1000, 10000):
        key = "+".join(str(len(enc.decode([i]))) for i in enc.encode(str(n)))
        naive[key] = naive.get(key, 0) + 1
    assert dict(dist) == naive
    assert len(dist) > 3  # gpt2 splits 4-digit numbers in several different ways


def test_vocab_bytes_and_extensions():
    enc = tiktoken.get_encoding("cl100k_base")
    vocab = P.vocab_bytes(enc)
    assert sorted(vocab.values()) == sorted(enc.token_byte_values())
    for i in (0, 1000, 100255):
        assert vocab[i] == enc.decode_single_token_bytes(i)
    naive = [i for i in sorted(vocab) if vocab[i].startswith(b" http") and vocab[i] != b" http"]
    assert P.extensions(enc, " http", vocab) == naive
    assert P.extensions("cl100k_base", b" http") == naive
    assert enc.encode(" https")[0] in naive
    assert P.extensions(enc, b"\x00\x01\x02 nothing starts like this") == []


def test_longest_tokens():
    enc = tiktoken.get_encoding("cl100k_base")
    longest = P.longest_tokens(enc, 5)
    lengths = [len(b) for _, b in longest]
    assert lengths == sorted(lengths, reverse=True)
    longest_ascii = max(len(b) for b in enc.token_byte_values() if b.isascii())
    assert lengths[0] == longest_ascii
    assert all(enc.decode_single_token_bytes(i) == b for i, b in longest)
    words = P.longest_tokens(enc, 3, keep=lambda b: b.strip().isalpha())
    longest_word = max(len(b) for b in enc.token_byte_values() if b.strip().isalpha())
    assert len(words[0][1]) == longest_word and all(b.strip().isalpha() for _, b in words)
    assert len(P.longest_tokens(enc, 3, keep=None)[0][1]) == max(map(len, enc.token_byte_values()))


def test_vocab_of_a_minbpe_style_tokenizer():
    class Tiny:
        vocab = {0: b"a", 1: b"b", 2: b"ab", 3: b"<|end|>"}
        special_tokens = {"<|end|>": 3}

        def encode(self, text, allowed_special="none_raise"):
            return [2 if text == "ab" else 0]

    assert P.vocab_bytes(Tiny()) == {0: b"a", 1: b"b", 2: b"ab"}
    assert P.extensions(Tiny(), b"a") == [2]


def test_token_occurrences():
    counts = P.token_occurrences(torch.tensor([[0, 2], [2, 5]]), 7)
    assert counts.tolist() == [1, 0, 2, 0, 0, 1, 0]
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        P.token_occurrences([0, 4], 4)


def test_embedding_drift_and_report():
    g = torch.Generator().manual_seed(0)
    before = torch.randn(20, 6, generator=g) * 0.02
    after = before.clone()
    seen = torch.zeros(20, dtype=torch.bool)
    seen[:12] = True
    herd = torch.randn(6, generator=g)
    after[~seen] += herd
    after[seen] += 0.5 * torch.randn(12, 6, generator=g)
    drift = P.embedding_drift(before, after)
    naive = torch.tensor(
        [
            sum((a - b) ** 2 for a, b in zip(r1, r0)) ** 0.5
            for r1, r0 in zip(after.tolist(), before.tolist())
        ]
    )
    torch.testing.assert_close(drift, naive)
    rep = P.undertrained_report(before, after, seen)
    assert rep["unseen"]["count"] == 8 and rep["seen"]["count"] == 12
    assert rep["unseen"]["drift"] == pytest.approx(herd.norm().item(), rel=1e-5)
    assert rep["unseen"]["own_drift"] < 1e-5  # a pure herd move
    assert rep["unseen"]["init_cos"] == pytest.approx(1.0, abs=1e-5)  # relative positions untouched
    assert rep["seen"]["own_drift"] > 0.1 and rep["seen"]["init_cos"] < 0.5
    with pytest.raises(ValueError, match="shapes differ"):
        P.embedding_drift(before, after[:5])
    with pytest.raises(ValueError, match="no unseen tokens"):
        P.undertrained_report(before, after, torch.ones(20, dtype=torch.bool))
