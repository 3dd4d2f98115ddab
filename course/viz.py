"""See tokens: coloured spans in JupyterLab, `|`-separated text everywhere else.

`show_tokens(text, tokenizer)` is the lesson's magnifying glass. Every pitfall
of lesson 02 is easier to believe once you *see* where the boundaries fall:
the space glued to the front of a word, a number chopped into arbitrary chunks,
a Chinese character split across two tokens because its three UTF-8 bytes do
not all fit one vocabulary entry.

    >>> import course
    >>> from course.viz import show_tokens
    >>> print(show_tokens("Hello world!", "cl100k_base"))
    cl100k_base: 3 tokens, 12 bytes, 4.00 bytes/token
    Hello| world|!

`playground()` is the same thing, live: an ipywidgets text box, a tokenizer
picker and a side-by-side mode, in the spirit of the Tiktokenizer web app.

Any of these works as a tokenizer: a tiktoken encoding name ("gpt2",
"cl100k_base", "o200k_base", "r50k_base"), a `tiktoken.Encoding`, a
`course.tokenizer.RegexTokenizer` (or anything with minbpe's `encode` /
`vocab` / `special_tokens`): `course.tokenizer.as_tokenizer` gives them all one
interface.
"""

from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass, field

from course.tokenizer import TokenizerLike, as_tokenizer

# Pastel backgrounds, cycled by position so that neighbouring tokens always differ
# (the same choice Tiktokenizer makes; colouring by id would give two equal
# neighbours, e.g. "  " "  ", the same colour and hide the boundary).
PALETTE = (
    "#ffd6a5",
    "#caffbf",
    "#9bf6ff",
    "#bdb2ff",
    "#ffc6ff",
    "#fdffb6",
    "#a0c4ff",
    "#ffadad",
    "#d0f4de",
    "#e4c1f9",
)
# Token text is always dark on the pastel boxes, whatever the page's theme: JupyterLab's dark
# theme would otherwise draw its light text on them (contrast >= 8 on every PALETTE colour).
INK = "#1f2328"
# Whitespace markers (· space, → tab, ↵ newline) are fainter than text, yet visible (>= 3:1).
FAINT = "#5f6368"

DEFAULT_TOKENIZERS = ("gpt2", "cl100k_base", "o200k_base")

EXAMPLE_TEXT = (
    "Tokenization is at the heart of much weirdness of LLMs.\n"
    "127 + 677 = 804\n"
    "    if x == 3:\n"
    "        return .DefaultCellStyle\n"
    "Hello 世界! Привет, мир! 🙂"
)


# ----------------------------------------------------------------------------
# The token view


@dataclass
class Token:
    """One token of a `TokenView`: its id, its bytes, and how to show them."""

    id: int
    bytes: bytes
    special: bool = False
    context: str = ""  # the character(s) a partial-UTF-8 token is a piece of

    @property
    def partial(self) -> bool:
        """True when the token's bytes are not valid UTF-8 on their own (a piece of a character)."""
        try:
            self.bytes.decode("utf-8")
            return False
        except UnicodeDecodeError:
            return True

    @property
    def text(self) -> str:
        """The token as text; bytes that are not whole characters appear as \\xNN."""
        return self.bytes.decode("utf-8", errors="backslashreplace")

    def plain(self) -> str:
        """The token in the `|`-separated text view: whitespace, `|` and `\\` escaped,
        bytes that are not whole characters as \\xNN."""
        out = []
        for piece, is_bytes in _utf8_pieces(self.bytes):
            if is_bytes:
                out.append("".join(f"\\x{b:02x}" for b in piece))
            else:
                out.append(_mark_base(piece, not out).translate(_PLAIN_ESCAPES))
        return "".join(out)


_PLAIN_ESCAPES = str.maketrans({"\\": "\\\\", "|": "\\|", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _mark_base(piece: str, at_start: bool) -> str:
    """A token that starts with a combining mark (e.g. U+0301, the accent of an NFD "é") would
    draw its mark on whatever precedes it; put it on a dotted circle, the usual stand-in base."""
    if at_start and piece and unicodedata.category(piece[0]).startswith("M"):
        return "\u25cc" + piece
    return piece


def _utf8_pieces(data: bytes):
    """Split bytes into runs of valid UTF-8 text and runs of stray bytes:
    b"a\\xe4\\xb8" -> ("a", False), (b"\\xe4\\xb8", True)."""
    while data:
        try:
            yield data.decode("utf-8"), False
            return
        except UnicodeDecodeError as e:
            if e.start:
                yield data[: e.start].decode("utf-8"), False
            yield data[e.start : e.end], True
            data = data[e.end :]


@dataclass
class TokenView:
    """What `show_tokens` returns: the tokens of one text under one tokenizer.

    In JupyterLab it renders as coloured spans (hover a span to see its id and
    bytes); `str()` gives the same information as text, one `|` between tokens.
    """

    text: str
    name: str
    tokens: list[Token] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.tokens]

    @property
    def count(self) -> int:
        return len(self.tokens)

    @property
    def n_bytes(self) -> int:
        return len(self.text.encode("utf-8", errors="surrogatepass"))

    @property
    def bytes_per_token(self) -> float:
        return self.n_bytes / self.count if self.count else 0.0

    def summary(self) -> str:
        return (
            f"{self.name}: {self.count} token{'s' if self.count != 1 else ''}, "
            f"{self.n_bytes} bytes, {self.bytes_per_token:.2f} bytes/token"
        )

    def plain(self) -> str:
        """The tokens separated by `|` (`\\|` is a literal bar, `\\n` a newline)."""
        return "|".join(t.plain() for t in self.tokens)

    def __str__(self) -> str:
        return f"{self.summary()}\n{self.plain()}"

    __repr__ = __str__

    def html_tokens(self) -> str:
        """Just the coloured spans (no summary line), for embedding in other HTML.

        A line may break between two tokens (`<wbr>`), never inside one (`white-space:pre`
        on each span): a token that wrapped would look like two."""
        return "<wbr>".join(
            _span(tok, PALETTE[i % len(PALETTE)]) for i, tok in enumerate(self.tokens)
        )

    def _repr_html_(self) -> str:
        # The summary inherits the page's text colour, so it reads in light and dark themes.
        return (
            '<div class="course-tokens" style="font-family:monospace;line-height:1.9">'
            f'<div style="font-family:sans-serif;font-size:90%">{html.escape(self.summary())}</div>'
            f'<div style="overflow-x:auto">{self.html_tokens()}</div>'
            "</div>"
        )


def _mark(sign: str) -> str:
    return f'<span class="ws" style="color:{FAINT}">{sign}</span>'


# Whitespace made visible in the HTML view only (the hover text and `plain()` keep the bytes):
# a space is drawn as a faint ·, a tab and a newline keep their effect after their arrow.
_HTML_MARKS = str.maketrans(
    {
        " ": _mark("\u00b7"),
        "\t": _mark("\u2192") + "\t",
        "\n": _mark("\u21b5") + "\n",
        "\r": _mark("\\r"),
    }
)


def _span(tok: Token, colour: str) -> str:
    hexbytes = " ".join(f"{b:02x}" for b in tok.bytes)
    title = f"id {tok.id} · bytes {hexbytes}"
    if tok.special:
        title += " · special token"
    if tok.partial and tok.context:
        title += f" · part of {tok.context!r}"
    style = f"background:{colour};color:{INK};white-space:pre"
    if tok.partial:
        # A piece of a character: its stray bytes go in a dashed box as hex, never a broken glyph.
        style += ";border:1px dashed #555"
    if tok.special:
        style += ";border:2px solid #c00;font-weight:bold"
    label = "".join(
        f'<small style="font-size:75%">{" ".join(f"{b:02X}" for b in piece)}</small>'
        if is_bytes
        else html.escape(_mark_base(piece, k == 0)).translate(_HTML_MARKS)
        for k, (piece, is_bytes) in enumerate(_utf8_pieces(tok.bytes))
    )
    return (
        f'<span class="tok" data-id="{tok.id}" title="{html.escape(title, quote=True)}" '
        f'style="{style};border-radius:3px;padding:0 1px;margin:0 1px">{label}</span>'
    )


def show_tokens(
    text: str, tokenizer="cl100k_base", *, name: str | None = None, allowed_special="none"
) -> TokenView:
    """Show how `tokenizer` splits `text`: coloured spans in Jupyter, `|`-separated text elsewhere.

    `tokenizer`: a tiktoken encoding name, a `tiktoken.Encoding`, or a
    `RegexTokenizer`. `allowed_special`: as in tiktoken; the default "none"
    shows special-token text (e.g. "<|endoftext|>") as the ordinary text it is,
    "all" shows it as one special token (red border). A token that is only part
    of a character (its bytes are not valid UTF-8 alone) is shown as its bytes.
    The returned `TokenView` also has `.ids`, `.count`, `.n_bytes`, `.bytes_per_token`.
    """
    if not isinstance(text, str):
        raise TypeError(f"show_tokens needs a str, got {type(text).__name__}")
    tok = as_tokenizer(tokenizer)
    if allowed_special == "none_raise":  # tiktoken's default: special-token text is an error
        ids = tok.encode(text)
    else:  # the named special tokens become ids, any other special-token text is shown as text
        ids = tok.encode(text, allowed_special=allowed_special, disallowed_special=())
    special = set(tok.special_tokens.values())
    tokens = [Token(i, tok.token_bytes(i), special=i in special) for i in ids]
    _attach_context(text, tokens)
    return TokenView(text=text, name=name or display_name(tok), tokens=tokens)


def display_name(tokenizer) -> str:
    """What the visualiser calls a tokenizer: its name, else its class and vocabulary size."""
    tok = as_tokenizer(tokenizer)
    return tok.name or f"{type(tok).__name__}({tok.n_vocab})"


def _attach_context(text: str, tokens: list[Token]) -> None:
    """For each partial token, remember the character(s) its bytes belong to."""
    if not any(t.partial for t in tokens):
        return
    data = text.encode("utf-8", errors="surrogatepass")
    if b"".join(t.bytes for t in tokens) != data:
        return  # the tokenizer changed the text (e.g. lone surrogates); no reliable mapping
    pos = 0
    for tok in tokens:
        start, end = pos, pos + len(tok.bytes)
        pos = end
        if not tok.partial:
            continue
        while start > 0 and (data[start] & 0xC0) == 0x80:  # back up to a character start
            start -= 1
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # forward to the next one
            end += 1
        tok.context = data[start:end].decode("utf-8", errors="replace")


# ----------------------------------------------------------------------------
# The playground


class Playground:
    """A live tokenizer playground: type text, pick a tokenizer, see the tokens.

    The widgets are attributes, so a test (or a curious learner) can drive the
    playground from Python and read back what it shows:

        pg = Playground({"own": my_tokenizer})
        pg.text.value = "hello world"
        pg.picker.value = "own"
        pg.html.value       # the HTML on screen
        pg.plain            # the same as text

    `compare.value = True` switches to side-by-side mode: one column per
    tokenizer selected in `compare_with`.
    """

    def __init__(self, tokenizers=None, text: str = EXAMPLE_TEXT, compare: bool = False):
        import ipywidgets as widgets

        self.tokenizers = _named_tokenizers(tokenizers)
        names = list(self.tokenizers)
        self.text = widgets.Textarea(
            value=text, description="text", layout=widgets.Layout(width="100%", height="8em")
        )
        self.picker = widgets.Dropdown(options=names, value=names[0], description="tokenizer")
        self.compare = widgets.Checkbox(value=compare, description="side by side", indent=False)
        self.compare_with = widgets.SelectMultiple(
            options=names, value=tuple(names), description="compare", rows=min(len(names), 6)
        )
        self.html = widgets.HTML()
        for w in (self.text, self.picker, self.compare, self.compare_with):
            w.observe(self._refresh, names="value")
        self.views: list[TokenView] = []
        self._refresh()
        self.widget = widgets.VBox(
            [self.text, widgets.HBox([self.picker, self.compare, self.compare_with]), self.html]
        )

    def selected(self) -> list[str]:
        """Names of the tokenizers on screen now."""
        if self.compare.value:
            return [n for n in self.tokenizers if n in self.compare_with.value]
        return [self.picker.value]

    def _refresh(self, _change=None) -> None:
        self.views = [
            show_tokens(self.text.value, self.tokenizers[n], name=n) for n in self.selected()
        ]
        if not self.views:
            self.html.value = "<i>select at least one tokenizer to compare</i>"
            return
        if len(self.views) == 1 and not self.compare.value:
            self.html.value = self.views[0]._repr_html_()
            return
        # Columns share the width but never shrink below 12em or their widest token; when they
        # do not fit, the row scrolls sideways instead of being clipped. (width:0 + min-width:100%
        # keeps the row's own minimum width from stretching the widget past the notebook's edge.)
        cols = "".join(f'<div style="flex:1 0 12em">{v._repr_html_()}</div>' for v in self.views)
        self.html.value = (
            '<div class="course-compare" style="display:flex;gap:1em;overflow-x:auto;'
            f'width:0;min-width:100%;align-items:flex-start">{cols}</div>'
        )

    @property
    def counts(self) -> dict[str, int]:
        """Token count per tokenizer on screen."""
        return {v.name: v.count for v in self.views}

    @property
    def plain(self) -> str:
        """What is on screen, as text (summary line and `|`-separated tokens per tokenizer)."""
        return "\n".join(str(v) for v in self.views)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"Playground({', '.join(self.tokenizers)})\n{self.plain}"


def _named_tokenizers(tokenizers) -> dict[str, TokenizerLike]:
    """The picker's options: the tiktoken defaults plus whatever was passed in.

    `tokenizers` may be None, one tokenizer, a list (names are derived), or a
    dict name -> tokenizer. The defaults gpt2, cl100k_base and o200k_base are
    always offered first.
    """
    out = {n: as_tokenizer(n) for n in DEFAULT_TOKENIZERS}
    if tokenizers is None:
        return out
    if isinstance(tokenizers, dict):
        items = list(tokenizers.items())
    elif isinstance(tokenizers, (list, tuple)):
        items = [(None, t) for t in tokenizers]
    else:
        items = [(None, tokenizers)]
    for name, tok in items:
        if isinstance(tok, str) and name is None and tok in out:
            continue
        tok = as_tokenizer(tok)
        out[name or display_name(tok)] = tok
    return out


def playground(tokenizers=None, text: str = EXAMPLE_TEXT, compare: bool = False) -> Playground:
    """Open the tokenizer playground (see `Playground`); pass your own tokenizer(s) to add them:

    playground({"shakespeare-512": tok}, compare=True)
    """
    return Playground(tokenizers, text=text, compare=compare)


__all__ = ["Playground", "Token", "TokenView", "display_name", "playground", "show_tokens"]
