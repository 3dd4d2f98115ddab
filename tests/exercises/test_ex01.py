"""Checks for lesson 01's exercises (exercises/ex01.py): the GPT tokenizer from scratch.

The expected answers come from course.tokenizer (trained the same way), from
tiktoken, and from GPT-2's own merges file.
"""

import pytest
import tiktoken

import course
from course.assets import asset_path
from course.tokenizer import GPT4_SPLIT_PATTERN, count_chunks, gpt2_bytes_to_unicode, train_naive
from course.tokenizer import BasicTokenizer as BasicReference
from course.tokenizer import RegexTokenizer as Reference

LESSON = "01"

SHAKESPEARE = course.load_tinyshakespeare()
SAMPLE = (
    "Hello world!!! I'm learning how GPT-4's tokenizer works; it's byte-level BPE.\n\n"
    "    def add(a, b):\n        return a + b  # 12345 + 678\n"
    "Ünïcödé: naïve café, Привет мир, 你好，世界, नमस्ते, 🤖👍🏽\r\n"
    "Numbers 3.14159 and 1,000,000; URLs https://example.com/a?b=c.\n   \n"
)


def _merges_as_bytes(merges):
    vocab = {i: bytes([i]) for i in range(256)}
    out = []
    for (a, b), idx in sorted(merges.items(), key=lambda kv: kv[1]):
        vocab[idx] = vocab[a] + vocab[b]
        out.append((vocab[a], vocab[b]))
    return out


@pytest.fixture(scope="module")
def cl100k():
    return tiktoken.get_encoding("cl100k_base")


# ----------------------------------------------------------------------------- 1. primitives


def test_get_stats(ex):
    assert ex.get_stats([1, 2, 3, 1, 2]) == {(1, 2): 2, (2, 3): 1, (3, 1): 1}, \
        "get_stats([1, 2, 3, 1, 2]) should count (1, 2) twice, (2, 3) and (3, 1) once"
    assert ex.get_stats([7]) == {}, "a single id has no pairs: expected {}"
    counts = {(1, 2): 5}
    out = ex.get_stats([1, 2], counts)
    assert out is counts and counts == {(1, 2): 6}, "with `counts` given, add into that dict and return it"


def test_merge(ex):
    assert ex.merge([1, 2, 3, 1, 2], (1, 2), 4) == [4, 3, 4], "merge([1,2,3,1,2], (1,2), 4) should be [4, 3, 4]"
    assert ex.merge([5, 5, 5], (5, 5), 9) == [9, 5], "scan left to right, never reuse an id: [5,5,5] -> [9, 5]"
    assert ex.merge([1, 2], (2, 1), 7) == [1, 2], "a pair that does not occur leaves ids unchanged"
    assert ex.merge([], (1, 2), 3) == [], "merging in an empty list gives an empty list"


# ----------------------------------------------------------------------------- 2. BasicTokenizer


def test_basic_tokenizer_train(ex):
    text = SHAKESPEARE[:1500]
    tok = ex.BasicTokenizer()
    tok.train(text, 256 + 40)
    expected = train_naive({text.encode("utf-8"): 1}, 256 + 40)
    got = _merges_as_bytes(tok.merges)
    want = _merges_as_bytes(expected)
    assert len(got) == 40, f"vocab_size=296 means 40 merges, got {len(got)}"
    first_bad = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), None)
    assert first_bad is None, (
        f"merge {first_bad} should join {want[first_bad]}, got {got[first_bad]} "
        "(most frequent pair; ties go to the greater pair of byte strings)"
    )
    assert all(tok.vocab[idx] == tok.vocab[a] + tok.vocab[b] for (a, b), idx in tok.merges.items()), \
        "vocab[new_id] must be vocab[a] + vocab[b] for every merge"


def test_basic_tokenizer_ties(ex):
    """Stanford CS336's worked example, as one text: its first merge is a tie ('es' and 'st' both
    occur 9 times... and with the spaces, more ties follow)."""
    text = " ".join(["low"] * 5 + ["lower"] * 2 + ["widest"] * 3 + ["newest"] * 6)
    tok = ex.BasicTokenizer()
    tok.train(text, 256 + 12)
    got = _merges_as_bytes(tok.merges)
    want = _merges_as_bytes(train_naive({text.encode("utf-8"): 1}, 256 + 12))
    first_bad = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), None)
    assert first_bad is None and len(got) == 12, (
        f"merge {first_bad} should join {want[first_bad] if first_bad is not None else ''}, got "
        f"{got[first_bad] if first_bad is not None else len(got)}: among the most frequent pairs, "
        "take the one whose (vocab[a], vocab[b]) compares greatest"
    )


def test_basic_tokenizer_encode_decode(ex):
    text = SHAKESPEARE[:1500]
    tok = ex.BasicTokenizer()
    tok.train(text, 256 + 40)
    reference = BasicReference()
    reference.train(text, 256 + 40)
    for sample in (text[:300], "First Citizen: hello there", SAMPLE):
        ids = tok.encode(sample)
        assert ids == reference.encode_ordinary(sample), f"encode({sample[:30]!r}...) differs from the reference"
        assert tok.decode(ids) == sample, "decode(encode(text)) must give the text back"
    assert tok.decode([0xE4]) == "\ufffd", "an incomplete UTF-8 sequence decodes to U+FFFD (errors='replace')"


def test_basic_tokenizer_too_small_text(ex):
    with pytest.raises(ValueError):
        ex.BasicTokenizer().train("abc", 300)


# ----------------------------------------------------------------------------- 3. RegexTokenizer


_TRAINED = {}


def _trained(ex):
    """A RegexTokenizer of yours and the reference, both trained on the same text
    (trained once per module; inside the test, so a stub shows as a failed check)."""
    if id(ex) not in _TRAINED:
        tok = ex.RegexTokenizer()
        tok.train(SHAKESPEARE[:8000], 256 + 60)
        ref = Reference()
        ref.train(SHAKESPEARE[:8000], 256 + 60)
        _TRAINED[id(ex)] = tok, ref
    return _TRAINED[id(ex)]


def test_regex_tokenizer_train(ex):
    trained, reference = _trained(ex)
    got, want = _merges_as_bytes(trained.merges), _merges_as_bytes(reference.merges)
    first_bad = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), None)
    assert len(got) == 60 and first_bad is None, (
        f"merge {first_bad} should join {want[first_bad] if first_bad is not None else ''}: count pairs inside "
        "each chunk of compiled_pattern.findall(text), summed over chunks"
    )


def test_regex_tokenizer_encode_decode(ex):
    trained, reference = _trained(ex)
    for sample in (SHAKESPEARE[8000:9500], SAMPLE):
        ids = trained.encode_ordinary(sample)
        assert ids == reference.encode_ordinary(sample), "encode_ordinary differs from the reference tokenizer"
        assert trained.decode(ids) == sample, "decode(encode_ordinary(text)) must give the text back"


# ----------------------------------------------------------------------------- 4. special tokens


def test_special_tokens(ex):
    trained, _ = _trained(ex)
    trained.register_special_tokens({"<|endoftext|>": 316, "<|end of turn|>": 317})
    assert trained.special_tokens == {"<|endoftext|>": 316, "<|end of turn|>": 317}
    assert trained.inverse_special_tokens == {316: "<|endoftext|>", 317: "<|end of turn|>"}
    text = "Hello<|endoftext|>world<|end of turn|>!"
    ids = trained.encode(text, allowed_special="all")
    assert ids == trained.encode_ordinary("Hello") + [316] + trained.encode_ordinary("world") + [317] + \
        trained.encode_ordinary("!"), "allowed_special='all': each special token becomes its id, the rest is encoded"
    assert trained.decode(ids) == text, "a special token's id decodes to its text"
    assert trained.encode(text, allowed_special="none") == trained.encode_ordinary(text), \
        "allowed_special='none' encodes special-token text as ordinary text"
    with pytest.raises(ValueError):
        trained.encode(text)  # the default, "none_raise"
    one = trained.encode("a<|endoftext|>b", allowed_special={"<|endoftext|>"})
    assert one == trained.encode_ordinary("a") + [316] + trained.encode_ordinary("b"), \
        "allowed_special={'<|endoftext|>'} turns that token into its id"
    with pytest.raises(ValueError):
        trained.encode(text, allowed_special={"<|endoftext|>"})  # <|end of turn|> is not allowed
    assert trained.encode("plain text") == trained.encode_ordinary("plain text"), \
        "text without special tokens encodes the same under every policy"


# ----------------------------------------------------------------------------- 5. GPT-4 parity


def test_bpe(ex, cl100k):
    ranks = cl100k._mergeable_ranks
    assert ex.bpe(ranks, b"hello world") == [b"hello", b" world"], "bpe(ranks, b'hello world')"
    assert ex.bpe(ranks, b" tokenization") == [cl100k.decode_single_token_bytes(t) for t in cl100k.encode(" tokenization")]
    assert ex.bpe(ranks, b"hello", max_rank=ranks[b"hello"]) == [b"h", b"ello"], \
        "with max_rank=rank('hello'), merging stops one step before 'hello': ['h', 'ello']"


def test_bpe_ties_go_left(ex):
    ranks = {b"a": 0, b"b": 1, b"aa": 2, b"ab": 3}
    assert ex.bpe(ranks, b"aaa") == [b"aa", b"a"], "two equal ranks side by side: join the leftmost pair first"
    assert ex.bpe(ranks, b"aab") == [b"aa", b"b"], "join the lowest rank first: 'aa' (2) before 'ab' (3)"


def test_recover_merges_matches_gpt2(ex):
    """The first 1000 merges recovered from gpt2's ranks are GPT-2's vocab.bpe."""
    ranks = tiktoken.get_encoding("gpt2")._mergeable_ranks
    small = {token: rank for token, rank in ranks.items() if rank < 256 + 1000}
    got = ex.recover_merges(small)
    u2b = {ch: b for b, ch in gpt2_bytes_to_unicode().items()}
    lines = asset_path("gpt2/vocab.bpe").read_text(encoding="utf-8").splitlines()[1:1001]
    expected = {}
    for line in lines:
        a, b = (bytes(u2b[ch] for ch in part) for part in line.split(" "))
        expected[(ranks[a], ranks[b])] = ranks[a + b]
    assert len(got) == 1000, f"1256 tokens of which 1000 have two or more bytes: expected 1000 merges, got {len(got)}"
    wrong = [(pair, rank) for pair, rank in got.items() if expected.get(pair) != rank]
    assert not wrong, f"{len(wrong)} merges differ from GPT-2's vocab.bpe, e.g. {wrong[0]}"


def test_gpt4_tokenizer_matches_tiktoken(ex, cl100k):
    tok = ex.GPT4Tokenizer()
    assert tok.byte_shuffle[32] == 220 and tok.byte_shuffle[ord("!")] == 0, \
        "byte_shuffle maps a byte to its token id: ' ' (32) is 220, '!' (33) is 0"
    assert tok.byte_shuffle == {b: cl100k._mergeable_ranks[bytes([b])] for b in range(256)}
    for text in (SAMPLE, SHAKESPEARE[:2000]):
        ids = tok.encode(text)
        expected = cl100k.encode(text)
        first_bad = next((i for i, (a, b) in enumerate(zip(ids, expected)) if a != b), None)
        assert ids == expected, f"ids differ from tiktoken's at position {first_bad} (of {len(expected)})"
        assert tok.decode(ids) == text
    assert tok.encode("<|endoftext|>", allowed_special="all") == [100257], "<|endoftext|> is 100257 in cl100k_base"


# ----------------------------------------------------------------------------- 6. the fast trainer (optional)


def _tie_corpora():
    """Small corpora where many pairs share the top count, so only the full tie rule decides."""
    import random

    yield "CS336's example", {b"low": 5, b"lower": 2, b"widest": 3, b"newest": 6}, 256 + 6
    yield "rotations, all once", {b"abcd": 1, b"bcda": 1, b"cdab": 1, b"dabc": 1}, 256 + 6
    yield "runs of one byte", {b"aaaaaa": 3, b"aaa": 2, b"ab": 5, b"aaab": 1}, 256 + 4
    for seed in range(4):
        rng = random.Random(seed)
        words = {bytes(rng.choice(b"abc") for _ in range(rng.randint(2, 7))): rng.randint(1, 2)
                 for _ in range(30)}
        yield f"random words over 'abc' (seed {seed})", words, 256 + 25


def _first_difference(got, want):
    got, want = _merges_as_bytes(got), _merges_as_bytes(want)
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f"merge {i} should join {w}, got {g}"
    if len(got) != len(want):
        return f"expected {len(want)} merges, got {len(got)}"
    return None


def test_train_fast_ties(ex):
    for name, counts, vocab_size in _tie_corpora():
        want = train_naive(counts, vocab_size)
        got = ex.train_fast(counts, vocab_size)
        problem = _first_difference(got, want)
        assert problem is None, f"{name} {counts}: {problem}"
        assert got == want, f"{name}: the right merges, but with the wrong ids"


def test_train_fast_shakespeare(ex):
    counts = count_chunks(SHAKESPEARE[:30_000], GPT4_SPLIT_PATTERN)
    problem = _first_difference(ex.train_fast(counts, 256 + 150), train_naive(counts, 256 + 150))
    assert problem is None, f"counted chunks of 30,000 characters of Shakespeare: {problem}"


def test_train_fast_too_small(ex):
    with pytest.raises(ValueError):
        ex.train_fast({b"ab": 3, b"c": 1}, 256 + 2)  # one merge is possible, not two
