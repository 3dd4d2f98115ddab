"""The token visualiser and the playground, checked against tiktoken and an HTML parser."""

from html.parser import HTMLParser

import pytest
import tiktoken

import course  # noqa: F401  (offline tiktoken cache)
from course.viz import Playground, playground, show_tokens

ENCODINGS = ["gpt2", "cl100k_base", "o200k_base"]
MIXED = "Hello world!\n    return 1234567 + x  # café 你好 🙂\r\n\tend"


# What a whitespace marker (a `<span class="ws">` inside a token) stands for: a space is drawn
# as `·` instead of itself; tab and newline arrows come before the real tab / newline.
MARKS = {"\u00b7": " ", "\u2192": "", "\u21b5": "", "\\r": "\r"}


class Spans(HTMLParser):
    """Collect the token spans of rendered HTML: (attributes, text inside), and the text
    they stand for with whitespace markers undone (`self.unmarked`, one per span)."""

    def __init__(self):
        super().__init__()
        self.spans, self.unmarked, self._depth, self._ws = [], [], 0, 0

    def handle_starttag(self, tag, attrs):
        if tag == "span" and ("class", "tok") in attrs:
            self._depth, self._attrs, self._text, self._plain = 1, dict(attrs), [], []
        elif self._depth:
            self._depth += 1
            if tag == "span" and ("class", "ws") in attrs:
                self._ws = self._depth

    def handle_endtag(self, tag):
        if self._depth:
            if self._depth == self._ws:
                self._ws = 0
            self._depth -= 1
            if self._depth == 0:
                self.spans.append((self._attrs, "".join(self._text)))
                self.unmarked.append("".join(self._plain))

    def handle_data(self, data):
        if self._depth:
            self._text.append(data)
            self._plain.append(MARKS[data] if self._ws else data)


def spans_of(html_text):
    p = Spans()
    p.feed(html_text)
    return p.spans


def unmarked_of(html_text):
    p = Spans()
    p.feed(html_text)
    return p.unmarked


@pytest.mark.parametrize("name", ENCODINGS)
def test_ids_and_counts_match_tiktoken(name):
    enc = tiktoken.get_encoding(name)
    view = show_tokens(MIXED, name)
    assert view.ids == enc.encode(MIXED)
    assert view.count == len(enc.encode(MIXED))
    assert view.n_bytes == len(MIXED.encode("utf-8"))
    assert view.bytes_per_token == pytest.approx(len(MIXED.encode("utf-8")) / view.count)
    assert b"".join(t.bytes for t in view.tokens) == MIXED.encode("utf-8")
    # An Encoding object gives the same view as its name.
    assert show_tokens(MIXED, enc).ids == view.ids


def test_plain_text_fallback():
    view = show_tokens("Hello world!", "cl100k_base")
    assert str(view) == "cl100k_base: 3 tokens, 12 bytes, 4.00 bytes/token\nHello| world|!"
    assert repr(view) == str(view)
    # Separators, backslashes and whitespace inside tokens are escaped, so `|` only ever separates.
    enc = tiktoken.get_encoding("gpt2")
    text = "a|b\\c\nd\te"
    view = show_tokens(text, enc)
    pieces = [enc.decode_single_token_bytes(i).decode() for i in enc.encode(text)]
    expected = "|".join(
        p.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "\\n").replace("\t", "\\t")
        for p in pieces
    )
    assert view.plain() == expected
    assert str(view).splitlines()[1] == expected


@pytest.mark.parametrize("name", ENCODINGS)
def test_html_has_one_span_per_token_with_id_on_hover(name):
    enc = tiktoken.get_encoding(name)
    text = "The quick brown fox <b>&amp;</b> \"quotes\" 'and' 42"
    view = show_tokens(text, name)
    html = view._repr_html_()
    spans = spans_of(html)
    ids = enc.encode(text)
    assert [int(a["data-id"]) for a, _ in spans] == ids
    for (attrs, _), i in zip(spans, ids):
        assert attrs["title"].startswith(f"id {i} ")
        # the hover text lists the token's bytes in hex
        assert enc.decode_single_token_bytes(i).hex(" ") in attrs["title"]
        assert "background:" in attrs["style"]
    # HTML-escaped text: the spans read back as the original text (spaces drawn as a faint
    # marker `·`, one per space), and `<b>` is not markup.
    assert unmarked_of(html) == [enc.decode_single_token_bytes(i).decode() for i in ids]
    assert "".join(inner for _, inner in spans) == text.replace(" ", "\u00b7")
    assert "<b>" not in html
    assert f"{len(ids)} tokens" in html
    # neighbours never share a colour
    colours = [a["style"].split("background:")[1].split(";")[0] for a, _ in spans]
    assert all(c1 != c2 for c1, c2 in zip(colours, colours[1:]))


def test_whitespace_is_visible_in_html():
    text = "a\n\tb  c\r\n"
    enc = tiktoken.get_encoding("cl100k_base")
    view = show_tokens(text, "cl100k_base")
    html = view._repr_html_()
    inner = [t for _, t in spans_of(html)]
    assert "\u21b5\n" in "".join(inner) and "\u2192\t" in "".join(inner)
    # Every token, whitespace-only ones included, has something to see; undoing the
    # markers gives back exactly the token's text.
    pieces = [enc.decode_single_token_bytes(i).decode() for i in enc.encode(text)]
    assert any(not p.strip() for p in pieces)
    assert all(t.strip() for t in inner)
    assert unmarked_of(html) == pieces
    # The markers are in the HTML only: hover text and the plain view keep the bytes.
    escape = str.maketrans({"\n": "\\n", "\t": "\\t", "\r": "\\r"})
    assert view.plain() == "|".join(p.translate(escape) for p in pieces)
    titles = [a["title"] for a, _ in spans_of(html)]
    assert titles == [f"id {i} \u00b7 bytes {p.encode().hex(' ')}" for i, p in zip(view.ids, pieces)]


def test_lone_combining_mark_gets_a_visible_base():
    import unicodedata

    text = unicodedata.normalize("NFD", "café")
    enc = tiktoken.get_encoding("cl100k_base")
    pieces = [enc.decode_single_token_bytes(i).decode() for i in enc.encode(text)]
    assert pieces[-1] == "\u0301"  # the accent is a token of its own
    view = show_tokens(text, enc)
    assert view.plain() == "|".join(pieces[:-1] + ["\u25cc\u0301"])
    assert view.tokens[-1].text == "\u0301"  # the token itself is unchanged
    assert spans_of(view._repr_html_())[-1][1] == "\u25cc\u0301"


def test_partial_utf8_tokens_show_bytes():
    enc = tiktoken.get_encoding("gpt2")
    text = "你好"
    ids = enc.encode(text)
    raw = [enc.decode_single_token_bytes(i) for i in ids]
    assert len(ids) == 4  # each 3-byte character is split across two tokens by gpt2
    view = show_tokens(text, "gpt2")
    assert [t.partial for t in view.tokens] == [True] * 4
    assert view.plain() == "|".join("".join(f"\\x{b:02x}" for b in r) for r in raw)
    spans = spans_of(view._repr_html_())
    assert [inner for _, inner in spans] == [r.hex(" ").upper() for r in raw]
    assert "part of '你'" in spans[0][0]["title"] and "part of '你'" in spans[1][0]["title"]
    assert "part of '好'" in spans[2][0]["title"]
    # A token mixing whole characters and a stray byte shows both.
    view = show_tokens(" Привет", "gpt2")
    assert view.tokens[0].bytes == " \xd0".encode("latin-1")
    assert view.tokens[0].plain() == " \\xd0"


def test_special_tokens():
    text = "hi<|endoftext|>there"
    enc = tiktoken.get_encoding("cl100k_base")
    # Default: special-token text is shown as the ordinary text it is.
    view = show_tokens(text, "cl100k_base")
    assert view.ids == enc.encode(text, disallowed_special=())
    assert not any(t.special for t in view.tokens)
    # allowed_special="all": one special token, flagged in both views.
    view = show_tokens(text, "cl100k_base", allowed_special="all")
    assert view.ids == enc.encode(text, allowed_special="all")
    assert [t.special for t in view.tokens].count(True) == 1
    special = [a for a, _ in spans_of(view._repr_html_()) if "special token" in a["title"]]
    assert [int(a["data-id"]) for a in special] == [100257]
    with pytest.raises(ValueError, match="disallowed special token"):
        show_tokens(text, "cl100k_base", allowed_special="none_raise")


def test_bad_inputs_name_the_problem():
    with pytest.raises(TypeError, match="needs a str"):
        show_tokens(b"bytes", "gpt2")
    with pytest.raises(ValueError, match="unknown tokenizer name 'gpt5'"):
        show_tokens("x", "gpt5")
    with pytest.raises(TypeError, match="cannot use a int as a tokenizer"):
        show_tokens("x", 42)


class ByteTokenizer:
    """The simplest minbpe-style tokenizer: one token per byte, plus one special token."""

    def __init__(self):
        self.vocab = {i: bytes([i]) for i in range(256)}
        self.special_tokens = {"<|end|>": 256}

    def encode(self, text, allowed_special="none_raise"):
        if allowed_special == "all" and "<|end|>" in text:
            head, _, tail = text.partition("<|end|>")
            return self.encode(head, "all") + [256] + self.encode(tail, "all")
        return list(text.encode("utf-8"))


def test_minbpe_style_tokenizer():
    tok = ByteTokenizer()
    view = show_tokens("é<|end|>", tok, allowed_special="all")
    assert view.ids == [0xC3, 0xA9, 256]
    assert view.name == "ByteTokenizer(256)"
    assert [t.partial for t in view.tokens] == [True, True, False]
    assert view.tokens[2].special and view.tokens[2].bytes == b"<|end|>"
    assert "part of 'é'" in spans_of(view._repr_html_())[0][0]["title"]
    assert show_tokens("ab", tok, name="bytes").name == "bytes"


def test_course_regex_tokenizer():
    from course.tokenizer import RegexTokenizer

    tok = RegexTokenizer()
    tok.train("hello hello hello world, hello there! " * 20, vocab_size=262)
    tok.register_special_tokens({"<|endoftext|>": 262})
    text = "hello world<|endoftext|>hello"
    view = show_tokens(text, tok, allowed_special="all")
    assert view.ids == tok.encode(text, allowed_special="all")
    assert [t.bytes for t in view.tokens if not t.special] == [
        tok.vocab[i] for i in view.ids if i != 262
    ]
    assert [t.special for t in view.tokens].count(True) == 1
    assert show_tokens(text, tok).ids == tok.encode(text, allowed_special="none")


def test_playground_driven_from_python():
    pg = Playground()
    assert list(pg.picker.options) == ENCODINGS
    pg.text.value = "Hello world 12345"
    for name in ENCODINGS:
        pg.picker.value = name
        ids = tiktoken.get_encoding(name).encode("Hello world 12345")
        spans = spans_of(pg.html.value)
        assert [int(a["data-id"]) for a, _ in spans] == ids, name
        assert f"{name}: {len(ids)} tokens" in pg.html.value
        assert pg.counts == {name: len(ids)}
        assert pg.plain == str(show_tokens("Hello world 12345", name))
    # Typing updates the display live.
    pg.text.value = "x"
    assert pg.counts == {"o200k_base": 1}
    assert len(spans_of(pg.html.value)) == 1


def test_playground_side_by_side_and_own_tokenizer():
    own = ByteTokenizer()
    pg = playground({"own": own}, text="naïve café", compare=True)
    assert list(pg.picker.options) == ENCODINGS + ["own"]
    expected = {n: len(tiktoken.get_encoding(n).encode("naïve café")) for n in ENCODINGS}
    expected["own"] = len("naïve café".encode())
    assert pg.counts == expected
    assert pg.html.value.count('class="course-tokens"') == 4
    assert len(spans_of(pg.html.value)) == sum(expected.values())
    pg.compare_with.value = ("gpt2", "own")
    assert list(pg.counts) == ["gpt2", "own"]
    assert pg.html.value.count('class="course-tokens"') == 2
    pg.compare_with.value = ()
    assert pg.counts == {} and "select at least one" in pg.html.value
    pg.compare.value = False
    pg.picker.value = "own"
    assert pg.counts == {"own": expected["own"]}
    assert "own" in repr(pg)
    # The playground displays as its widget in Jupyter.
    bundle = pg._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_playground_accepts_list_and_single_tokenizer():
    pg = Playground([ByteTokenizer(), "gpt2"])
    assert list(pg.picker.options) == ENCODINGS + ["ByteTokenizer(256)"]
    pg = Playground({"bytes": ByteTokenizer()})
    assert list(pg.picker.options) == ENCODINGS + ["bytes"]


def test_allowed_set_treats_other_special_tokens_as_text_like_tiktoken():
    """With a set of allowed specials, the course tokenizer is shown as tiktoken shows
    cl100k_base with disallowed_special=(): the others are plain text, not an error."""
    from course.tokenizer import RegexTokenizer

    enc = tiktoken.get_encoding("cl100k_base")
    text = "a<|endoftext|>b<|fim_prefix|>c"
    expected = enc.encode(text, allowed_special={"<|endoftext|>"}, disallowed_special=())
    for tok in (RegexTokenizer.from_tiktoken("cl100k_base"), enc):
        view = show_tokens(text, tok, allowed_special={"<|endoftext|>"})
        assert view.ids == expected
        assert [t.special for t in view.tokens].count(True) == 1
