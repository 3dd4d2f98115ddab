"""The one tokenizer interface (course.tokenizer.interface) on every kind of tokenizer,
checked against tiktoken's own behaviour."""

import ast
import json
from pathlib import Path

import numpy as np
import pytest
import tiktoken

import course
from course.tokenizer import (
    CharTokenizer,
    MinbpeTokenizer,
    RegexTokenizer,
    TiktokenTokenizer,
    TokenizerLike,
    as_tokenizer,
    from_spec,
)

TEXT = "To be, or not to be: that is the question.\nWhether 'tis nobler in the mind"
SPECIAL_TEXT = "hi <|endoftext|> there <|fim_prefix|>x"


@pytest.fixture(scope="module")
def shakespeare():
    return course.load_tinyshakespeare()


@pytest.fixture(scope="module")
def kinds(shakespeare):
    """One tokenizer of each kind, all behind the interface."""
    bpe = RegexTokenizer().train(shakespeare[:20_000], 300)
    bpe.register_special_tokens({"<|endoftext|>": 300, "<|fim_prefix|>": 301})
    return {
        "tiktoken": as_tokenizer("cl100k_base"),
        "course-bpe": bpe,
        "course-bpe-cl100k": RegexTokenizer.from_tiktoken("cl100k_base"),
        "char": CharTokenizer.from_text(shakespeare + SPECIAL_TEXT),
    }


KINDS = ["tiktoken", "course-bpe", "course-bpe-cl100k", "char"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_speaks_the_interface(kinds, kind):
    tok = as_tokenizer(kinds[kind])
    assert isinstance(tok, TokenizerLike)
    assert tok.n_vocab == tok.vocab_size
    ids = tok.encode(TEXT)
    assert ids == tok.encode_ordinary(TEXT)
    assert tok.decode(ids) == TEXT and tok.decode_bytes(ids) == TEXT.encode()
    assert tok.decode(np.asarray(ids)) == TEXT  # arrays work too
    assert b"".join(tok.token_bytes(i) for i in ids) == TEXT.encode()
    lengths = tok.token_byte_lengths()
    assert lengths.shape == (tok.n_vocab,) and lengths.dtype == np.int64
    assert int(lengths[ids].sum()) == len(TEXT.encode())
    for t, i in tok.special_tokens.items():
        assert lengths[i] == 0 and tok.token_bytes(i) == t.encode()
    assert tok.special_tokens_set == set(tok.special_tokens)
    assert tok.eot_token == tok.special_tokens.get("<|endoftext|>")
    with pytest.raises(ValueError, match="invalid token id"):
        tok.token_bytes(tok.n_vocab + 5)


def test_tiktoken_wrapper_agrees_with_tiktoken():
    enc = tiktoken.get_encoding("cl100k_base")
    tok = as_tokenizer(enc)
    assert as_tokenizer("cl100k_base") is tok  # one wrapper per encoding, so its caches are shared
    assert isinstance(tok, TiktokenTokenizer) and tok.encoding is enc and tok.name == "cl100k_base" and tok.n_vocab == enc.n_vocab
    assert tok.eot_token == enc.eot_token and tok.special_tokens_set == enc.special_tokens_set
    for i in [0, 220, 100255, 100257]:
        assert tok.token_bytes(i) == enc.decode_single_token_bytes(i)
    lengths = tok.token_byte_lengths()
    assert [lengths[i] for i in (0, 220, 100255)] == [len(enc.decode_single_token_bytes(i)) for i in (0, 220, 100255)]
    assert lengths[100256] == 0  # an unused id of cl100k_base


def test_eot_token_is_none_when_absent(shakespeare):
    assert CharTokenizer("ab").eot_token is None
    assert RegexTokenizer().train(shakespeare[:5000], 260).eot_token is None
    assert as_tokenizer("gpt2").eot_token == 50256


# allowed/disallowed arguments, given to every kind exactly as one gives them to tiktoken
POLICIES = [
    dict(),
    dict(allowed_special="all"),
    dict(allowed_special={"<|endoftext|>"}),
    dict(allowed_special={"<|nope|>"}),
    dict(allowed_special=set(), disallowed_special=()),
    dict(allowed_special={"<|endoftext|>"}, disallowed_special=()),
    dict(allowed_special="all", disallowed_special=()),
    dict(disallowed_special={"<|fim_prefix|>"}),
    dict(disallowed_special={"there"}),
    dict(disallowed_special=frozenset()),
]
TEXTS = [SPECIAL_TEXT, "hi <|endoftext|> there", "no special tokens", "<|endoftext|><|fim_prefix|>"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("policy", POLICIES, ids=range(len(POLICIES)))
def test_special_token_rules_are_tiktokens(kinds, kind, policy):
    """Same raise/no-raise decision as tiktoken, and each allowed special token becomes its
    id where tiktoken puts one, the rest being the tokenizer's own ordinary encoding."""
    enc = tiktoken.get_encoding("cl100k_base")
    enc_specials = {enc.encode_single_token(t): t for t in enc.special_tokens_set}
    tok = as_tokenizer(kinds[kind])
    inverse = {i: t for t, i in tok.special_tokens.items()}
    for text in TEXTS:
        try:
            theirs = enc.encode(text, **policy)
        except ValueError:
            if kind == "char" and "disallowed_special" not in policy:  # no special tokens to refuse
                assert tok.encode(text, **policy) == tok.encode_ordinary(text)
                continue
            with pytest.raises(ValueError, match="special token '"):
                tok.encode(text, **policy)
            continue
        ours = tok.encode(text, **policy)
        # the special tokens tiktoken made that this tokenizer has, in the same order
        expected = [enc_specials[i] for i in theirs if i in enc_specials and enc_specials[i] in tok.special_tokens]
        assert [inverse[i] for i in ours if i in inverse] == expected, (text, policy)
        assert tok.decode(ours) == text
        if kind in ("tiktoken", "course-bpe-cl100k"):
            assert ours == theirs


def test_minbpe_shorthands_still_work(kinds):
    tok, enc = kinds["course-bpe-cl100k"], tiktoken.get_encoding("cl100k_base")
    assert tok.encode(SPECIAL_TEXT, allowed_special="none") == enc.encode(SPECIAL_TEXT, disallowed_special=())
    with pytest.raises(ValueError, match="special token '"):
        tok.encode(SPECIAL_TEXT, allowed_special="none_raise")
    assert as_tokenizer(enc).encode(SPECIAL_TEXT, allowed_special="none") == tok.encode(
        SPECIAL_TEXT, allowed_special="none"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_spec_round_trip(kinds, kind):
    tok = as_tokenizer(kinds[kind])
    spec = json.loads(json.dumps(tok.spec))
    again = from_spec(spec)
    assert from_spec(json.loads(json.dumps(spec))) is again  # rebuilt once, then remembered
    assert type(again) is type(tok) or kind == "course-bpe-cl100k"
    for text in (TEXT, SPECIAL_TEXT):
        assert again.encode(text, allowed_special="all") == tok.encode(text, allowed_special="all")
    assert again.n_vocab == tok.n_vocab and again.eot_token == tok.eot_token
    assert again.special_tokens == tok.special_tokens
    assert np.array_equal(again.token_byte_lengths(), tok.token_byte_lengths())


def test_course_spec_is_computed_once_per_change(shakespeare):
    tok = RegexTokenizer().train(shakespeare[:5000], 270)
    spec = tok.spec
    assert tok.spec is spec  # not rebuilt on every wrap
    tok.register_special_tokens({"<|endoftext|>": 270})
    assert tok.spec is not spec and from_spec(tok.spec).eot_token == 270


def test_as_tokenizer_passes_course_tokenizers_through_and_names_bad_input():
    char = CharTokenizer("abc")
    assert as_tokenizer(char) is char
    with pytest.raises(TypeError, match="cannot use a int as a tokenizer"):
        as_tokenizer(42)
    with pytest.raises(ValueError, match="unknown tokenizer name 'gpt5'"):
        as_tokenizer("gpt5")
    with pytest.raises(ValueError, match="not a tokenizer spec"):
        from_spec({"name": "gpt2"})
    with pytest.raises(ValueError, match="unknown tokenizer kind"):
        from_spec({"kind": "sentencepiece"})


def test_minbpe_style_object():
    class Bytes:
        vocab = {i: bytes([i]) for i in range(256)}
        special_tokens = {"<|end|>": 256}

        def encode(self, text):
            return list(text.encode("utf-8"))

    tok = as_tokenizer(Bytes())
    assert isinstance(tok, MinbpeTokenizer) and tok.name == "Bytes(256)" and tok.n_vocab == 257
    assert tok.encode("é<|end|>", allowed_special="all") == [0xC3, 0xA9, 256]
    with pytest.raises(ValueError, match="special token '"):
        tok.encode("<|end|>")
    assert tok.decode([104, 105, 256]) == "hi<|end|>"
    assert tok.token_byte_lengths()[256] == 0


def test_char_tokenizer_round_trip_and_errors():
    tok = CharTokenizer.from_text("hello world")
    assert tok.decode(tok.encode("hello")) == "hello"
    assert tok.vocab_size == len(set("hello world"))
    with pytest.raises(ValueError, match="'z' is not in"):
        tok.encode("zzz")
    with pytest.raises(ValueError, match="special token 'lo'"):
        tok.encode("hello", disallowed_special={"lo"})  # as tiktoken: any string may be refused
    with pytest.raises(ValueError, match="invalid token id 99"):
        tok.decode([99])


def test_course_code_uses_public_tiktoken_api_only():
    """No private tiktoken attributes (`_special_tokens`, `_mergeable_ranks`, `_pat_str`, ...)
    anywhere in the package: tiktoken may rename them in any release."""
    root = Path(course.__file__).parent
    private = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in {
                "_special_tokens", "_mergeable_ranks", "_pat_str", "_core_bpe",
            }:
                private.append(f"{path.relative_to(root)}:{node.lineno} .{node.attr}")
    assert private == []
