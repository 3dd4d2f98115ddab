"""Checks for lesson 02's exercises (exercises/ex02.py)."""

import math
import re

import pytest
import tiktoken
import torch

import course  # noqa: F401  (tiktoken's files, offline)

LESSON = "02"

TEXTS = {
    "English": "The cat sleeps on the warm windowsill.",
    "Russian": "Кошка спит на тёплом подоконнике.",
    "Chinese": "猫在温暖的窗台上睡觉。",
}


@pytest.fixture(scope="module")
def cl100k():
    return tiktoken.get_encoding("cl100k_base")


@pytest.fixture(scope="module")
def gpt2():
    return tiktoken.get_encoding("gpt2")


def test_tokens_per_char(ex, cl100k):
    got = ex.tokens_per_char(TEXTS, cl100k)
    assert list(got) == list(TEXTS), "keep the keys of `texts`, in order"
    for name, text in TEXTS.items():
        expected = len(cl100k.encode(text)) / len(text)
        assert got[name] == pytest.approx(expected), (
            f"{name}: {len(cl100k.encode(text))} tokens / {len(text)} characters = {expected:.4f}, "
            f"got {got[name]} (divide by characters, len(text), not by bytes)"
        )
    assert got["Russian"] > got["English"], (
        "the same sentence costs more tokens per character in Russian"
    )


def test_tokens_per_char_empty_text(ex, cl100k):
    with pytest.raises(ValueError, match="blank_page"):  # the spec: say which text it was
        ex.tokens_per_char({"English": "hi", "blank_page": ""}, cl100k)


@pytest.mark.parametrize("number", ["7", "42", "1234", "1234567", "9876543210", "100000"])
def test_digit_split_cl100k_groups_of_three(ex, cl100k, number):
    # cl100k's split pattern cuts digit runs into \p{N}{1,3} chunks before BPE runs.
    expected = tuple(len(m) for m in re.findall(r"\d{1,3}", number))
    assert ex.digit_split(number, cl100k) == expected, f"cl100k_base splits {number} as {expected}"


def test_digit_split_gpt2_is_arbitrary(ex, gpt2):
    for number in ["1234", "2024", "7777", "314159", " 4096"]:
        expected = tuple(len(gpt2.decode([i])) for i in gpt2.encode(number))
        got = ex.digit_split(number, gpt2)
        assert got == expected, (
            f"gpt2 splits {number!r} into pieces of lengths {expected}, got {got}"
        )
    splits = {ex.digit_split(str(n), gpt2) for n in range(1000, 1100)}
    assert len(splits) > 1, "gpt2 does not split all 4-digit numbers the same way"


def test_extensions_small_vocab(ex):
    vocab = {0: b"a", 1: b"ab", 2: b"abc", 3: b"b", 4: b"ba", 5: b"xab", 6: b"abd"}
    assert ex.extensions(vocab, b"a") == [1, 2, 6], (
        "tokens that start with b'a' and are longer: ids 1, 2, 6"
    )
    assert ex.extensions(vocab, b"ab") == [2, 6], "b'ab' itself is not an extension (not longer)"
    assert ex.extensions(vocab, b"abc") == [], "nothing extends b'abc'"
    assert ex.extensions(vocab, b"q") == []


def test_extensions_cl100k(ex, cl100k):
    vocab = {}
    for i in range(cl100k.n_vocab):
        try:
            vocab[i] = cl100k.decode_single_token_bytes(i)
        except KeyError:  # ids between the ordinary and the special tokens are unused
            pass
    piece = b" http"
    expected = [
        i for i in sorted(vocab) if vocab[i][: len(piece)] == piece and len(vocab[i]) > len(piece)
    ]
    got = ex.extensions(vocab, piece)
    assert got == expected, f"{len(expected)} tokens of cl100k_base extend b' http', got {len(got)}"
    assert cl100k.encode(" https")[0] in got


def test_unseen_tokens(ex):
    assert ex.unseen_tokens(torch.tensor([0, 2, 2, 5]), 7) == [1, 3, 4, 6]
    assert ex.unseen_tokens([3, 1, 0, 2], 4) == [], "every id occurs: nothing unseen"
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 300, (5000,), generator=g)
    seen = set(ids.tolist())
    assert ex.unseen_tokens(ids, 512) == [i for i in range(512) if i not in seen]


def test_unseen_tokens_bad_ids(ex):
    with pytest.raises(ValueError):
        ex.unseen_tokens(torch.tensor([0, 1, 9]), 8)
    with pytest.raises(ValueError):
        ex.unseen_tokens(torch.tensor([-1, 1]), 8)


def _naive_drift(before, after, rows):
    deltas = [[a - b for a, b in zip(after[r].tolist(), before[r].tolist())] for r in rows]
    mean = [sum(col) / len(deltas) for col in zip(*deltas)]
    drift = sum(math.sqrt(sum(x * x for x in d)) for d in deltas) / len(deltas)
    own = sum(math.sqrt(sum((x - m) ** 2 for x, m in zip(d, mean))) for d in deltas) / len(deltas)
    return drift, own


def test_drift_stats(ex):
    g = torch.Generator().manual_seed(1)
    before = torch.randn(40, 8, generator=g) * 0.02
    after = before.clone()
    herd = torch.randn(8, generator=g)
    unseen = torch.zeros(40, dtype=torch.bool)
    unseen[30:] = True
    after[unseen] += herd  # never-seen tokens all make the same move
    after[~unseen] += 0.3 * torch.randn(30, 8, generator=g)  # seen tokens each move their own way
    for mask in (unseen, ~unseen):
        got = ex.drift_stats(before, after, mask)
        drift, own = _naive_drift(before, after, mask.nonzero().flatten().tolist())
        assert set(got) == {"drift", "own_drift"}, "return a dict with keys 'drift' and 'own_drift'"
        assert isinstance(got["drift"], float), "return Python floats (use .item())"
        assert got["drift"] == pytest.approx(drift, rel=1e-5), (
            f"mean ||after - before|| should be {drift:.5f}"
        )
        assert got["own_drift"] == pytest.approx(own, rel=1e-4, abs=1e-6), (
            f"mean ||delta - mean delta|| should be {own:.5f}"
        )
    assert ex.drift_stats(before, after, unseen)["own_drift"] < 1e-5, (
        "a pure herd move leaves no own drift"
    )


def test_drift_stats_errors(ex):
    x = torch.zeros(4, 3)
    with pytest.raises(ValueError):
        ex.drift_stats(x, torch.zeros(4, 2), torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError):
        ex.drift_stats(x, x, torch.zeros(4, dtype=torch.bool))


def _naive_heal(ids, vocab, back):
    removed = b"".join(vocab[i] for i in ids[len(ids) - back:])
    allowed = []
    for i in sorted(vocab):
        b = vocab[i]
        # a first token is fine if the generated text can still begin with `removed`
        n = min(len(b), len(removed))
        if len(b) > 0 and b[:n] == removed[:n]:
            allowed.append(i)
    return list(ids[: len(ids) - back]), removed, allowed


def test_heal_small_vocab(ex):
    vocab = {0: b"a", 1: b"b", 2: b" P", 3: b" Par", 4: b" Paris", 5: b"is", 6: b" ", 7: b"", 8: b"ar",
             9: b" Pa", 10: b"Par"}
    got = ex.heal([1, 0, 3], vocab)
    assert list(got[0]) == [1, 0] and got[1] == b" Par", "back up over the last token: keep [1, 0], remove b' Par'"
    assert list(got[2]) == [2, 3, 4, 6, 9], (
        "allowed first tokens after removing b' Par': b' Par' itself and b' Paris' (they start with it), "
        "and b' ', b' P', b' Pa' (the generation can spell the rest after them): ids [2, 3, 4, 6, 9]; "
        "not the empty token 7"
    )
    got = ex.heal([1, 0, 9, 8], vocab, back=2)
    assert list(got[0]) == [1, 0] and got[1] == b" Paar", "back=2 removes the last two tokens' bytes, b' Paar'"
    assert list(got[2]) == [2, 6, 9], "only tokens that agree with b' Paar' so far: b' ', b' P', b' Pa'"


def test_heal_cl100k(ex, cl100k):
    vocab = {}
    for i in range(cl100k.n_vocab):
        try:
            vocab[i] = cl100k.decode_single_token_bytes(i)
        except KeyError:
            pass
    for text, back in [("The capital of France is Par", 1), ('print("Hello wor', 1), ("import num", 2)]:
        ids = cl100k.encode(text)
        kept, removed, allowed = ex.heal(ids, vocab, back)
        want = _naive_heal(ids, vocab, back)
        assert (list(kept), removed) == want[:2], f"{text!r}, back={back}: kept ids and removed bytes"
        assert list(allowed) == want[2], (
            f"{text!r}, back={back}: {len(want[2])} tokens agree with {removed!r}, got {len(allowed)}"
        )
    assert cl100k.encode_single_token(" Paris") in ex.heal(cl100k.encode("The capital of France is Par"), vocab)[2]


def test_heal_bad_back(ex):
    vocab = {0: b"a", 1: b"b"}
    for back in (0, 3):
        with pytest.raises(ValueError):
            ex.heal([0, 1], vocab, back)
