"""Tests for course.tokenizer: exact parity with tiktoken, the two trainers, special
tokens, save/load, and no quadratic blow-ups.

References come from outside the code under test: tiktoken (ids and text), the
Stanford CS336 handout (merges), GPT-2's own merges file, minbpe's
merge-in-order encoder rewritten here from get_stats/merge, and the naive trainer.
"""

from __future__ import annotations

import pickle
import re
import sys
from pathlib import Path

import pytest
import regex
import tiktoken
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiktoken_ext.openai_public import ENCODING_CONSTRUCTORS

import course
from course.assets import asset_path
from course.tokenizer import (
    GPT2_SPLIT_PATTERN,
    GPT4_SPLIT_PATTERN,
    O200K_SPLIT_PATTERN,
    BasicTokenizer,
    RegexTokenizer,
    TokenizerFileError,
    TrainingError,
    count_chunks,
    get_stats,
    gpt2_bytes_to_unicode,
    merge,
    replace_surrogates,
    train_fast,
    train_naive,
)
from course.tokenizer.base import _ChunkCache
from course.tokenizer.bpe import _NO_RANK, _bpe_heap, _bpe_scan
from course.tokenizer.patterns import ascii_pattern, tiktoken_pattern
from course.tokenizer.train import _desc_key
from course.tokenizer.unicode_versions import (
    PROBES,
    VERSIONS,
    regex_unicode_version,
    stand_ins,
    tiktoken_unicode_version,
)

ENCODINGS = ["gpt2", "r50k_base", "cl100k_base", "o200k_base"]
CORPUS = Path(__file__).parent / "data" / "tokenizer_corpus.txt"
HYPOTHESIS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def shakespeare():
    return course.load_tinyshakespeare()


@pytest.fixture(scope="module")
def corpus():
    return CORPUS.read_bytes().decode("utf-8")  # bytes, so the \r\n lines stay as they are


@pytest.fixture(scope="module")
def pairs():
    """{name: (our tokenizer, tiktoken's encoding)} for the four encodings."""
    return {name: (RegexTokenizer.from_tiktoken(name), tiktoken.get_encoding(name)) for name in ENCODINGS}


@pytest.fixture(scope="module")
def basic(shakespeare):
    return BasicTokenizer().train(shakespeare[:3000], 300)


@pytest.fixture(scope="module")
def trained(shakespeare):
    tok = RegexTokenizer()
    tok.train(shakespeare[:300_000], vocab_size=1024)
    return tok


EDGE_CASES = [
    "",
    " ",
    "\n",
    "\r\n",
    "hello world",
    "hi \n",  # `$` vs `\Z`: Python's `$` would match before the final newline
    "hi  \n\n",
    "x\n\n\n",
    "a" * 300,
    " " * 300 + "x",
    "  \t\t  \n  x",
    "'s 'S 'ſ 'll 'LL 've 'RE 'd 'm 't",
    "don't DON'T You'Re",
    "1 12 123 1234 12345 123456789",
    "٣٤٥ १२३ ⅷ ½",
    "\x1c\x1d\x1e\x1f x",  # whitespace to Python's str.isspace, not to Unicode
    "\x85 \xa0 \u2028 \u3000 x",
    "\ud800",  # lone surrogates are replaced by U+FFFD, as in tiktoken
    "a\udfffb",
    "\ud83d\ude00 joined",
    "👩‍👩‍👧‍👦🏳️‍🌈",
    "e\u0301\u0301\u0301",
    "camelCaseHTTPServer getURLForID",
    "<|endoftext|> <|fim_prefix|>",
    "\U00016d40x\U0001e4d0y",  # letters added in Unicode 15/16
    "\U0001df2b:A \u088f:A \ua7dd:A",  # letters of Unicode 17/18, unknown to tiktoken's engine
    "aʕb ʕA Aʕ'S",  # U+0295 went from Ll to Lo in Unicode 17: o200k splits case changes
]


# ---------------------------------------------------------------------------- parity with tiktoken


@pytest.mark.parametrize("name", ENCODINGS)
def test_parity_tinyshakespeare(pairs, shakespeare, name):
    tok, enc = pairs[name]
    ids = tok.encode_ordinary(shakespeare)
    ref = enc.encode_ordinary(shakespeare)
    assert ids == ref, f"{name}: first difference at token {next(i for i, (a, b) in enumerate(zip(ids, ref)) if a != b)}"
    assert tok.decode(ids) == shakespeare


@pytest.mark.parametrize("name", ENCODINGS)
def test_parity_corpus(pairs, corpus, name):
    tok, enc = pairs[name]
    assert tok.encode_ordinary(corpus) == enc.encode_ordinary(corpus)
    assert tok.encode(corpus, allowed_special="all") == enc.encode(corpus, allowed_special="all")
    assert tok.decode(tok.encode_ordinary(corpus)) == corpus
    for line in corpus.splitlines(keepends=True):
        assert tok.encode_ordinary(line) == enc.encode_ordinary(line), f"{name}: {line!r}"


@pytest.mark.parametrize("name", ENCODINGS)
@pytest.mark.parametrize("text", EDGE_CASES, ids=range(len(EDGE_CASES)))
def test_parity_edge_cases(pairs, name, text):
    tok, enc = pairs[name]
    ids = tok.encode_ordinary(text)
    assert ids == enc.encode_ordinary(text)
    assert tok.decode(ids) == enc.decode(ids) == replace_surrogates(text)


SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"])
FRAGMENTS = st.sampled_from(
    [" ", "  ", "   ", "\n", "\n\n", "\r\n", "\r", "\t", " \n", "'s", "'S", "'ll", "'ſ", "'", "0",
     "123", "45678", "hello", "Hello", "HELLO", "camelCase", "é", "e\u0301", "👍🏽", "中文", "Ωμέγα",
     "!!!", "...", "/", "$", "\\", "\u00a0", "\u2028", "\x1c", "\x85", "\u200d", "ǅ", "ﬁ", "१२"]
)
ANY_TEXT = st.text(st.one_of(st.characters(), SURROGATES), max_size=40)
STRUCTURED = st.lists(st.one_of(FRAGMENTS, st.characters(), st.text(max_size=4)), max_size=25).map("".join)


@settings(max_examples=1000, **HYPOTHESIS)
@given(text=ANY_TEXT)
def test_parity_random_text(pairs, text):
    for name in ENCODINGS:
        tok, enc = pairs[name]
        ids = tok.encode_ordinary(text)
        assert ids == enc.encode_ordinary(text), name
        assert tok.decode(ids) == replace_surrogates(text)


@settings(max_examples=1000, **HYPOTHESIS)
@given(text=STRUCTURED)
def test_parity_structured_text(pairs, text):
    for name in ENCODINGS:
        tok, enc = pairs[name]
        assert tok.encode_ordinary(text) == enc.encode_ordinary(text), name


SPECIAL_FRAGMENTS = st.sampled_from(["<|endoftext|>", "<|fim_prefix|>", "<|endofprompt|>", "<|", "|>", "x", " "])


@settings(max_examples=300, **HYPOTHESIS)
@given(text=st.lists(st.one_of(SPECIAL_FRAGMENTS, FRAGMENTS), max_size=12).map("".join))
def test_parity_with_special_tokens(pairs, text):
    for name in ENCODINGS:
        tok, enc = pairs[name]
        assert tok.encode(text, allowed_special="all") == enc.encode(text, allowed_special="all"), name
        assert tok.encode(text, allowed_special="none") == enc.encode(text, disallowed_special=()), name


@pytest.mark.parametrize("name", ENCODINGS)
def test_tiktoken_tokenizer_basics(pairs, name):
    tok, enc = pairs[name]
    assert tok.vocab_size == tok.n_vocab == enc.n_vocab
    assert tok.eot_token == enc.eot_token
    assert tok.special_tokens == {t: enc.encode_single_token(t) for t in enc.special_tokens_set}
    assert tok.special_tokens_set == enc.special_tokens_set
    for idx in range(0, enc.n_vocab, 997):
        assert tok.vocab[idx] == tok.token_bytes(idx) == enc.decode_single_token_bytes(idx)


def test_gpt2_byte_order_and_recovered_merges(pairs):
    """GPT-2's ids follow bytes_to_unicode (printable bytes first), and the merges we
    recover from tiktoken's ranks are exactly the 50,000 lines of GPT-2's vocab.bpe."""
    tok, enc = pairs["gpt2"]
    order = list(gpt2_bytes_to_unicode())
    assert [tok.byte_shuffle[b] for b in order] == list(range(256))
    assert tok.byte_shuffle[ord(" ")] == enc.encode_ordinary(" ")[0] == 220
    u2b = {ch: b for b, ch in gpt2_bytes_to_unicode().items()}
    lines = asset_path("gpt2/vocab.bpe").read_text(encoding="utf-8").splitlines()[1:]
    real = [tuple(bytes(u2b[ch] for ch in part) for part in line.split(" ")) for line in lines if line]
    ours = [(tok.vocab[a], tok.vocab[b]) for (a, b), _ in sorted(tok.merges.items(), key=lambda kv: kv[1])]
    assert len(real) == len(ours) == 50_000
    assert ours == real


def test_recovered_merges_rebuild_cl100k(pairs):
    tok, _ = pairs["cl100k_base"]
    for (a, b), idx in list(tok.merges.items())[::101]:
        assert tok.vocab[a] + tok.vocab[b] == tok.vocab[idx] and a < idx and b < idx


# ------------------------------------------------------------------------- Unicode versions


def test_unicode_versions_detected():
    assert regex_unicode_version() in VERSIONS and tiktoken_unicode_version() in VERSIONS
    table = stand_ins("16.0.0", "18.0.0")
    assert table["\U0001df2b"] == "\ufdd0" and table["ʕ"] == "a"  # unassigned before; Ll before 17.0
    assert len(table) == 4_700 + 12_860  # the characters whose class changed in 17.0 and 18.0


def test_every_changed_character_encodes_like_tiktoken(pairs):
    """All characters the two Unicode versions classify differently, in contexts that
    expose the class: letters (":A" is a token), digits, case changes, contractions."""
    engine, ours = tiktoken_unicode_version(), regex_unicode_version()
    if VERSIONS.index(engine) >= VERSIONS.index(ours):
        changed = [chr(cp) for cp in PROBES.values()]  # nothing to emulate: still check the probes
    else:
        changed = sorted(stand_ins(engine, ours))
    contexts = ["{c}:A", "{c}123", "a{c}a", "A{c}a", "a{c}A", "'{c}", " {c}x", "a{c}'s", "\n{c}"]
    for name in ("cl100k_base", "o200k_base", "gpt2"):
        tok, enc = pairs[name]
        for context in contexts:
            text = "|".join(context.format(c=c) for c in changed)
            assert tok.encode_ordinary(text) == enc.encode_ordinary(text), (name, context)


# ------------------------------------------------------------------------- patterns


def test_builtin_patterns_match_tiktoken(pairs, corpus):
    """Our constants split exactly like the patterns tiktoken ships."""
    for name, ours in [("gpt2", GPT2_SPLIT_PATTERN), ("cl100k_base", GPT4_SPLIT_PATTERN), ("o200k_base", O200K_SPLIT_PATTERN)]:
        theirs = tiktoken_pattern(ENCODING_CONSTRUCTORS[name]()["pat_str"])
        for text in [corpus, *EDGE_CASES[:17]]:
            assert regex.findall(ours, text) == regex.findall(theirs, text), name


def test_tiktoken_pattern_rewrites_only_dollar():
    assert tiktoken_pattern(r"\s++$|[$]x") == r"\s++\Z|[$]x"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="the stdlib re has possessive quantifiers from 3.11")
@settings(max_examples=500, **HYPOTHESIS)
@given(text=st.text(st.characters(max_codepoint=127), max_size=60))
def test_ascii_fast_path_splits_like_regex(text):
    for pattern in (GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, O200K_SPLIT_PATTERN):
        fast = ascii_pattern(pattern)
        assert fast is not None
        assert re.findall(fast, text) == regex.findall(pattern, text)


@settings(max_examples=300, **HYPOTHESIS)
@given(piece=st.lists(st.sampled_from([b"a", b"b", b" ", b"ab", b"the", b" the", b"\xe4", b"\xb8", b"1", b"\n"]),
                      min_size=2, max_size=120).map(b"".join))
def test_heap_bpe_equals_scan_bpe(pairs, piece):
    """The O(n log n) heap version makes the same merges as tiktoken's list scan."""
    ranks = pairs["cl100k_base"][0]._ranks
    assert _bpe_heap(piece, ranks, _NO_RANK) == _bpe_scan(piece, ranks, _NO_RANK)


def test_ascii_fast_path_refuses_unknown_escapes():
    assert ascii_pattern(r"\w+|\s+") is None
    assert ascii_pattern(r"\p{Greek}+") is None


# ------------------------------------------------------------------------ trainers


def test_cs336_handout_example():
    """Stanford CS336 assignment 1, section 2.4: the first six merges of the example."""
    counts = {b"low": 5, b"lower": 2, b"widest": 3, b"newest": 6}
    expected = [(b"s", b"t"), (b"e", b"st"), (b"o", b"w"), (b"l", b"ow"), (b"w", b"est"), (b"n", b"e")]
    for trainer in (train_naive, train_fast):
        merges = trainer(counts, 256 + 6)
        vocab = {i: bytes([i]) for i in range(256)}
        for (a, b), idx in merges.items():
            vocab[idx] = vocab[a] + vocab[b]
        assert [(vocab[a], vocab[b]) for a, b in merges] == expected, trainer.__name__


def test_tie_break_prefers_greater_pair():
    # every pair occurs once: the lexicographically greatest pair of byte strings wins
    merges = train_fast({b"ab": 1, b"ba": 1, b"ca": 1}, 257)
    assert list(merges) == [(ord("c"), ord("a"))]
    merges = train_naive({b"ab": 1, b"ba": 1, b"ca": 1}, 257)
    assert list(merges) == [(ord("c"), ord("a"))]


@settings(max_examples=200, **HYPOTHESIS)
@given(a=st.binary(max_size=6), b=st.binary(max_size=6))
def test_desc_key_reverses_byte_order(a, b):
    assert (a < b) == (_desc_key(a) > _desc_key(b))


TIE_WORDS = st.dictionaries(st.binary(min_size=1, max_size=12).map(lambda s: bytes(97 + x % 3 for x in s)),
                            st.integers(1, 3), min_size=1, max_size=12)


@settings(max_examples=300, **HYPOTHESIS)
@given(words=TIE_WORDS, extra=st.integers(0, 40))
def test_naive_equals_fast_with_ties(words, extra):
    """Three letters and tiny counts: almost every merge is decided by the tie-break."""
    try:
        expected = train_naive(words, 256 + extra)
    except TrainingError:
        with pytest.raises(TrainingError):
            train_fast(words, 256 + extra)
        return
    assert list(train_fast(words, 256 + extra).items()) == list(expected.items())
    assert list(train_fast(words, 256 + extra, heap=False).items()) == list(expected.items())


def test_naive_equals_fast_on_runs_and_long_chunks():
    words = {b"aaaaaaaaaaaaaaaabababababab  aaab" * 20: 3, b"aaaa": 5, b"abab": 2, b"ba" * 40: 1}
    assert list(train_fast(words, 275).items()) == list(train_naive(words, 275).items())


def test_naive_equals_fast_on_shakespeare(shakespeare):
    counts = count_chunks(shakespeare[:40_000], GPT4_SPLIT_PATTERN)
    assert list(train_fast(counts, 350).items()) == list(train_naive(counts, 350).items())


def test_each_speedup_keeps_the_merges(shakespeare):
    """Lesson 01 times the speedups one at a time: uncounted chunks, counted chunks,
    incremental counts found by a scan, and the heap all learn the same merges."""
    text = shakespeare[:20_000]
    counts = count_chunks(text, GPT4_SPLIT_PATTERN)
    every = [(m.group().encode("utf-8"), 1) for m in regex.finditer(GPT4_SPLIT_PATTERN, text)]
    assert len(every) > len(counts)
    expected = list(train_naive(counts, 300).items())
    assert list(train_naive(every, 300).items()) == expected
    assert list(train_fast(counts, 300, heap=False).items()) == expected
    with pytest.raises(TrainingError):
        train_fast({b"ab": 2}, 258, heap=False)


def test_basic_tokenizer_trainers_agree(shakespeare):
    text = shakespeare[:5000]
    a = BasicTokenizer().train(text, 320)
    b = BasicTokenizer().train(text, 320, trainer="naive")
    assert a.merges == b.merges
    assert a.decode(a.encode(text)) == text
    assert len(a.encode(text)) < len(text.encode("utf-8")) * 0.7


def test_too_small_corpus_is_a_clear_error():
    for trainer in ("fast", "naive"):
        with pytest.raises(TrainingError, match="too small.*largest vocabulary this text supports is 259"):
            RegexTokenizer().train("abcd", 1000, trainer=trainer)
    with pytest.raises(ValueError, match="vocab_size must be between 256"):
        RegexTokenizer().train("hello", 100)


def test_verbose_shows_progress_bar(capsys):
    RegexTokenizer().train("hello hello world " * 20, 262, verbose=True)
    assert "BPE merges" in capsys.readouterr().err


def test_encoder_equals_merges_in_order(trained, shakespeare, corpus):
    """For a trained tokenizer, tiktoken's rank rule gives the same ids as applying the
    learned merges in order (minbpe's encoder, written here from get_stats/merge)."""

    def minbpe_encode(text):
        out = []
        for chunk in regex.findall(trained.pattern, text):
            ids = list(chunk.encode("utf-8"))
            while len(ids) >= 2:
                stats = get_stats(ids)
                pair = min(stats, key=lambda p: trained.merges.get(p, float("inf")))
                if pair not in trained.merges:
                    break
                ids = merge(ids, pair, trained.merges[pair])
            out.extend(ids)
        return out

    for text in (shakespeare[300_000:330_000], corpus):
        assert trained.encode_ordinary(text) == minbpe_encode(text)


def test_training_compresses(trained, shakespeare):
    held_out = shakespeare[-50_000:]
    ids = trained.encode_ordinary(held_out)
    assert trained.decode(ids) == held_out
    assert len(held_out.encode()) / len(ids) > 2.0, "1024 tokens should give > 2 bytes per token"


def test_parallel_pretokenisation_counts_the_same(shakespeare, corpus):
    text = shakespeare[:150_000] + corpus * 5 + shakespeare[-50_000:]
    for pattern in (GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, O200K_SPLIT_PATTERN):
        assert count_chunks(text, pattern, num_proc=3) == count_chunks(text, pattern, num_proc=1)
    docs = [shakespeare[i : i + 7000] for i in range(0, 210_000, 7000)] + [corpus]
    assert count_chunks(docs, r"\w+|\W+", num_proc=2) == count_chunks(docs, r"\w+|\W+", num_proc=1)


def test_training_never_merges_across_special_tokens():
    tok = RegexTokenizer()
    tok.register_special_tokens({"<|endoftext|>": 1000})
    tok.train("<|endoftext|>" * 5 + "ab ab", 257)  # unsplit, "<|" (5 times) would win over "ab" (2)
    assert tok.vocab[256] == b"ab"


# ---------------------------------------------------------------------------- round trips


@settings(max_examples=500, **HYPOTHESIS)
@given(text=st.one_of(ANY_TEXT, STRUCTURED))
def test_round_trip_trained(trained, text):
    assert trained.decode(trained.encode_ordinary(text)) == replace_surrogates(text)


@settings(max_examples=200, **HYPOTHESIS)
@given(text=STRUCTURED)
def test_round_trip_basic(basic, text):
    assert basic.decode(basic.encode(text)) == text


def test_decode_partial_utf8_like_tiktoken(pairs):
    tok, enc = pairs["cl100k_base"]
    ids = enc.encode("👍")
    for k in range(len(ids) + 1):
        assert tok.decode(ids[:k]) == enc.decode(ids[:k])


def test_decode_bad_ids(trained):
    with pytest.raises(ValueError, match="invalid token id 99999"):
        trained.decode([1, 99999])
    with pytest.raises(TypeError):
        trained.encode(b"bytes are not text")


def test_pickle_round_trip(trained, corpus):
    copy = pickle.loads(pickle.dumps(trained))
    assert copy.encode_ordinary(corpus) == trained.encode_ordinary(corpus)


# ---------------------------------------------------------------------------- special tokens

POLICY_TEXT = "hi <|endoftext|> there <|fim_prefix|>x"


POLICIES = [  # (our arguments, tiktoken's arguments that mean the same)
    (dict(allowed_special="all"), dict(allowed_special="all")),
    (dict(allowed_special="none"), dict(disallowed_special=())),
    (dict(allowed_special="none_raise"), dict()),
    (dict(), dict()),
    (dict(allowed_special={"<|endoftext|>"}), dict(allowed_special={"<|endoftext|>"})),
    (dict(allowed_special=["<|endoftext|>", "<|fim_prefix|>"]), dict(allowed_special={"<|endoftext|>", "<|fim_prefix|>"})),
    (dict(allowed_special=set()), dict(allowed_special=set())),
    (dict(allowed_special={"<|nope|>"}), dict(allowed_special={"<|nope|>"})),  # unknown: ignored
    (dict(disallowed_special=()), dict(disallowed_special=())),
    (dict(allowed_special={"<|endoftext|>"}, disallowed_special=()), dict(allowed_special={"<|endoftext|>"}, disallowed_special=())),
    (dict(allowed_special="all", disallowed_special=()), dict(allowed_special="all", disallowed_special=())),
    (dict(disallowed_special={"<|fim_prefix|>"}), dict(disallowed_special={"<|fim_prefix|>"})),
    (dict(disallowed_special={"there"}), dict(disallowed_special={"there"})),  # any string may be refused
    (dict(allowed_special="none", disallowed_special={"there"}), dict(disallowed_special={"there"})),
]


@pytest.mark.parametrize("ours, theirs", POLICIES, ids=range(len(POLICIES)))
@pytest.mark.parametrize(
    "text", [POLICY_TEXT, "hi <|endoftext|> there", "no special tokens here", "<|endoftext|><|endoftext|>"]
)
def test_special_token_policy_matrix(pairs, ours, theirs, text):
    """Each policy behaves exactly like the matching tiktoken call: same ids, or both raise."""
    tok, enc = pairs["cl100k_base"]
    try:
        expected = enc.encode(text, **theirs)
    except ValueError:
        with pytest.raises(ValueError, match="special token '"):
            tok.encode(text, **ours)
        return
    assert tok.encode(text, **ours) == expected


def test_special_token_policy_errors(pairs):
    tok, _ = pairs["cl100k_base"]
    with pytest.raises(ValueError, match="not understood"):
        tok.encode("x", allowed_special="<|endoftext|>")
    with pytest.raises(ValueError, match="not understood"):
        tok.encode("x", disallowed_special="none")
    with pytest.raises(TypeError, match="allowed_special"):
        tok.encode("x", allowed_special=3)
    with pytest.raises(ValueError, match=r"allowed_special=\{'<\|endoftext\|>'\}"):
        tok.encode("<|endoftext|>")


def test_longest_special_token_wins(trained):
    tok = pickle.loads(pickle.dumps(trained))
    tok.register_special_tokens({"<s>": 2000, "<s><s>": 2001, "ab": 2002, "bc": 2003, "end of turn": 2004})
    assert tok.encode("<s><s><s>", allowed_special="all") == [2001, 2000]
    assert tok.encode("abc", allowed_special="all") == [2002] + tok.encode_ordinary("c")
    assert tok.encode("x end of turn", allowed_special="all") == tok.encode_ordinary("x ") + [2004]
    assert tok.decode([2004, 2001]) == "end of turn<s><s>"


def test_register_special_tokens_validates(trained):
    tok = pickle.loads(pickle.dumps(trained))
    with pytest.raises(ValueError, match="already an ordinary token"):
        tok.register_special_tokens({"<|endoftext|>": 100})
    with pytest.raises(ValueError, match="share the id"):
        tok.register_special_tokens({"<a>": 2000, "<b>": 2000})
    with pytest.raises(ValueError, match="non-empty str"):
        tok.register_special_tokens({"": 2000})


def test_eot_token_and_vocab_size(trained):
    tok = pickle.loads(pickle.dumps(trained))
    assert tok.vocab_size == 1024
    assert tok.eot_token is None  # as in the course interface: None when absent
    tok.register_special_tokens({"<|endoftext|>": 1024})
    assert tok.eot_token == 1024 and tok.vocab_size == 1025
    assert tok.encode("a<|endoftext|>b", allowed_special="all")[1] == 1024


# ---------------------------------------------------------------------------- save / load


def _custom_tokenizer(shakespeare):
    tok = RegexTokenizer(pattern=GPT2_SPLIT_PATTERN)
    tok.train(shakespeare[:50_000], 400)
    tok.register_special_tokens({"<|endoftext|>": 400, "<|end of turn|>": 401, 'say "hi"\n': 405, "ünï 🚀": 410})
    return tok


def test_save_load_round_trip(tmp_path, shakespeare, corpus):
    tok = _custom_tokenizer(shakespeare)
    path = tok.save(tmp_path / "shakespeare")
    assert path == str(tmp_path / "shakespeare.model")
    assert (tmp_path / "shakespeare.vocab").read_text(encoding="utf-8").count("\n") == 400 + 4
    loaded = RegexTokenizer().load(path)
    assert loaded.pattern == GPT2_SPLIT_PATTERN  # the loaded pattern, not the default
    assert loaded.merges == tok.merges and loaded.special_tokens == tok.special_tokens
    assert loaded.vocab == tok.vocab
    text = corpus + "<|end of turn|>" + 'say "hi"\n' + "ünï 🚀"
    assert loaded.encode(text, allowed_special="all") == tok.encode(text, allowed_special="all")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shakespeare.model", "shakespeare.vocab"]


def test_save_load_tiktoken_byte_order(tmp_path, pairs, corpus):
    tok, enc = pairs["gpt2"]
    loaded = RegexTokenizer().load(tok.save(tmp_path / "gpt2"))
    assert loaded.byte_shuffle == tok.byte_shuffle != {b: b for b in range(256)}
    assert loaded.unicode_version == tok.unicode_version
    text = corpus + EDGE_CASES[-2]
    assert loaded.encode(text, allowed_special="all") == enc.encode(text, allowed_special="all")


def test_save_load_basic(tmp_path, basic):
    tok = basic
    loaded = BasicTokenizer().load(tok.save(tmp_path / "basic"))
    assert loaded.pattern is None and loaded.merges == tok.merges
    assert loaded.encode("To be, or not to be") == tok.encode("To be, or not to be")


def test_load_minbpe_file(tmp_path):
    (tmp_path / "m.model").write_text(
        "minbpe v1\n" + GPT4_SPLIT_PATTERN + "\n1\n<|endoftext|> 258\n104 105\n256 256\n", encoding="utf-8"
    )
    tok = RegexTokenizer().load(tmp_path / "m.model")
    assert tok.pattern == GPT4_SPLIT_PATTERN
    assert tok.merges == {(104, 105): 256, (256, 256): 257}
    assert tok.encode("hihi hi!<|endoftext|>", allowed_special="all") == [257, 32, 256, 33, 258]


CORRUPTIONS = [
    # (what to do with the lines, line number the error must name, words in the message)
    (lambda L: ["bpe v0"] + L[1:], 1, "not a tokenizer file"),
    (lambda L: L[:1] + ["pattern not json"] + L[2:], 2, "JSON"),
    (lambda L: L[:2] + ["bytes 1 2 3"] + L[3:], 3, "byte order"),
    (lambda L: L[:3] + ["unicode 9.9"] + L[4:], 4, "unknown Unicode version"),
    (lambda L: L[:4] + ["special_tokens lots"] + L[5:], 5, "number of special_tokens"),
    (lambda L: L[:5] + ["<|endoftext|> 400"] + L[6:], 6, "special token"),
    (lambda L: L[:5] + ['"<|endoftext|>" 3'] + L[6:], 6, "ordinary token"),
    (lambda L: L[:9] + ["merges many"] + L[10:], 10, "number of merges"),
    (lambda L: L[:10] + ["1 x"] + L[11:], 11, "non-negative integer"),
    (lambda L: L[:12] + ["5 9999"] + L[13:], 13, "does not exist yet"),
    (lambda L: L[:12] + ["5 6 7"] + L[13:], 13, "expected a merge"),
    (lambda L: L[:-5], None, "truncated"),
    (lambda L: L[:9], 10, "truncated"),
    (lambda L: L + ["99 98"], None, "unexpected text"),
]


@pytest.mark.parametrize("mutate, line, words", CORRUPTIONS, ids=range(len(CORRUPTIONS)))
def test_corrupt_file_names_file_and_line(tmp_path, shakespeare, mutate, line, words):
    path = Path(_custom_tokenizer(shakespeare).save(tmp_path / "tok"))
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]
    assert lines[9].startswith("merges ")  # header, pattern, bytes, unicode, 1 + 4 special tokens, merges
    bad = mutate(lines)
    path.write_text("\n".join(bad) + "\n", encoding="utf-8")
    expected_line = line if line is not None else len(bad) + (0 if words == "unexpected text" else 1)
    with pytest.raises(TokenizerFileError, match=words) as info:
        RegexTokenizer().load(path)
    assert str(path) in str(info.value) and f"line {expected_line}:" in str(info.value), str(info.value)


def test_not_utf8_file(tmp_path):
    path = tmp_path / "bad.model"
    path.write_bytes(b"course-bpe v1\npattern \"\xff\xfe\"\n")
    with pytest.raises(TokenizerFileError, match=r"bad\.model, line 2: not valid UTF-8"):
        RegexTokenizer().load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.model"):
        RegexTokenizer().load(tmp_path / "nothing.model")


# ---------------------------------------------------------------------------- no blow-ups


class CountedRank(int):
    """A token id that counts how often it is compared: the work BPE does to pick merges."""

    comparisons = 0

    def _counted(op):
        def compare(self, other):
            CountedRank.comparisons += 1
            return getattr(int, op)(self, other)

        return compare

    __lt__, __le__, __gt__, __ge__ = map(_counted, ["__lt__", "__le__", "__gt__", "__ge__"])
    __eq__, __ne__ = _counted("__eq__"), _counted("__ne__")
    __hash__ = int.__hash__


def bpe_work(tok, text):
    """(ids, comparisons of ranks) for encoding `text` with a fresh chunk cache."""
    cache = _ChunkCache({b: CountedRank(i) for b, i in tok._ranks.items()})
    chunks = [text] if tok.pattern is None else regex.findall(tok.pattern, text)
    CountedRank.comparisons = 0
    ids = [int(i) for chunk in chunks for i in cache[chunk]]
    return ids, CountedRank.comparisons


LONG = {"letters": "a" * 20_000, "spaces": " " * 100_000, "mixed": "ab" * 10_000 + " " * 50_000 + "x"}


@pytest.mark.parametrize("text", LONG.values(), ids=LONG.keys())
def test_long_inputs_encode_exactly(pairs, trained, text):
    for tok, enc in [pairs["cl100k_base"], pairs["o200k_base"], (trained, None)]:
        tok._cache.clear()
        ids = tok.encode_ordinary(text)
        if enc is not None:
            assert ids == enc.encode_ordinary(text)
        assert tok.decode(ids) == text


@pytest.mark.parametrize("which, word", [("cl100k", "a"), ("cl100k", "ab"), ("basic", "the "), ("basic", "to be ")])
def test_long_chunks_cost_n_log_n_not_n_squared(pairs, basic, which, word):
    """Encoding one long chunk: the comparisons BPE makes grow like n log n. Four times
    the text costs about 4.3 times the comparisons; tiktoken's list scan, used for short
    chunks, would cost 16 times (it does 41.5M comparisons on 8,000 "a"s)."""
    tok = pairs["cl100k_base"][0] if which == "cl100k" else basic
    short, long = word * 2_000, word * 8_000
    ids_short, work_short = bpe_work(tok, short)
    ids_long, work_long = bpe_work(tok, long)
    assert tok.decode(ids_long) == long and tok.decode(ids_short) == short
    assert len(ids_long) < len(long)  # merges happened, so comparisons were made
    assert work_short > 0 and work_long / work_short < 6, (work_short, work_long)


def test_long_input_basic_tokenizer(basic):
    ids = basic.encode("e" * 20_000)
    assert basic.decode(ids) == "e" * 20_000


def test_model_text_round_trips_in_memory_and_matches_the_saved_file(tmp_path):
    """`model_text()` is exactly what `save` writes, and `load(name, text=...)` reads it
    back without a file; errors in such text name the given source and line."""
    tok = RegexTokenizer(GPT2_SPLIT_PATTERN)
    tok.train("the cat sat on the mat, the end " * 20, vocab_size=266)
    tok.register_special_tokens({"<|end of text|>": 266})
    path = tok.save(tmp_path / "t")
    text = tok.model_text()
    assert text == Path(path).read_text(encoding="utf-8")
    back = RegexTokenizer().load("<memory>", text=text)
    assert back.merges == tok.merges and back.pattern == tok.pattern
    assert back.special_tokens == {"<|end of text|>": 266}
    sample = "the mat<|end of text|>cat"
    assert back.encode(sample, allowed_special="all") == tok.encode(sample, allowed_special="all")
    with pytest.raises(ValueError, match=r"<memory>, line 2: "):
        RegexTokenizer().load("<memory>", text=text.replace("pattern ", "patern ", 1))
