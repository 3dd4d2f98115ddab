"""Tools an assistant can call (lesson 06): a calculator, a search over local documents.

Parameters are a lossy, fixed-size memory ("vague recollection"); the
context window is exact ("working memory"). A tool moves a task from the
first to the second: the model only has to *ask* (emit a call) and *copy*
(read the result back), which a small model learns easily, while computing a
product or recalling a fact it saw once is what it does badly.

Calls are text: `name(argument)`, e.g. `calculator(12*(3+4))` or
`search(Ada Lovelace)`. `parse_tool_call` splits one; `run_tool` runs it and
always returns text (an error is text the model reads, never an exception
that kills generation). The calculator parses arithmetic itself (no `eval`:
a model's output is untrusted input) with bounded input size, nesting,
exponents and result size, so every call finishes quickly.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from fractions import Fraction

MAX_EXPR_CHARS = 200
MAX_DIGITS = 30  # per number literal, and for every intermediate result
MAX_DEPTH = 32  # nested parentheses / unary signs


class ToolError(ValueError):
    """A tool call that cannot run; the message is what the model gets back."""


# ----------------------------------------------------------------------------- tool calls

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_tool_call(text: str) -> tuple[str, str]:
    """'calculator(2*(3+4))' -> ('calculator', '2*(3+4)').

    Surrounding whitespace is ignored; the name is an identifier; the argument
    is everything between the first '(' and the final ')' (so it may hold
    parentheses itself), stripped. Anything else is a ToolError.
    """
    if not isinstance(text, str):
        raise ToolError(f"a tool call is text, got {type(text).__name__}")
    text = text.strip()
    open_at = text.find("(")
    if open_at < 0 or not text.endswith(")"):
        raise ToolError(f"malformed tool call {text!r}: expected name(argument)")
    name = text[:open_at].strip()
    if not _NAME.fullmatch(name):
        raise ToolError(f"malformed tool call {text!r}: {name!r} is not a tool name")
    return name, text[open_at + 1 : -1].strip()


def run_tool(call_text: str, tools: dict) -> str:
    """Parse `call_text`, run the named tool from `tools` ({name: fn(arg) -> str}), return its text."""
    try:
        name, arg = parse_tool_call(call_text)
        if name not in tools:
            raise ToolError(f"no tool named {name!r} (available: {', '.join(sorted(tools)) or 'none'})")
        return str(tools[name](arg))
    except ToolError as e:
        return f"error: {e}"


# ----------------------------------------------------------------------------- calculator

_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?|\.\d+)|(\*\*|//|[-+*/%()]))")


def _lex(expr: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    expr = expr.rstrip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            bad = expr[pos:].lstrip()[:1]
            raise ToolError(f"unexpected character {bad!r} at position {len(expr) - len(expr[pos:].lstrip())}")
        if m.group(1):
            digits = m.group(1).replace(".", "")
            if len(digits) > MAX_DIGITS:
                raise ToolError(f"number too long (more than {MAX_DIGITS} digits)")
            out.append(("num", m.group(1), m.start(1)))
        else:
            out.append(("op", m.group(2), m.start(2)))
        pos = m.end()
    return out


class _Parser:
    """Recursive descent: expr = term (+|- term)*; term = unary (*|/|//|% unary)*;
    unary = (+|-) unary | power; power = atom (** unary)?; atom = number | ( expr )."""

    def __init__(self, tokens):
        self.toks, self.i, self.depth = tokens, 0, 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else ("end", "", -1)

    def take(self, op=None):
        kind, val, pos = self.peek()
        if op is not None and val != op:
            where = f"at position {pos}" if kind != "end" else "at the end"
            raise ToolError(f"expected {op!r} {where}")
        self.i += 1
        return kind, val, pos

    def expr(self) -> Fraction:
        v = self.term()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            v = _bounded(v + self.term() if op == "+" else v - self.term())
        return v

    def term(self) -> Fraction:
        v = self.unary()
        while self.peek()[1] in ("*", "/", "//", "%"):
            op = self.take()[1]
            w = self.unary()
            if op == "*":
                v = v * w
            elif w == 0:
                raise ToolError("division by zero")
            elif op == "/":
                v = v / w
            elif op == "//":
                v = Fraction(math.floor(v / w))
            else:
                v = v - w * math.floor(v / w)
            v = _bounded(v)
        return v

    def unary(self) -> Fraction:
        if self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            with self.nested():
                v = self.unary()
            return -v if op == "-" else v
        return self.power()

    def power(self) -> Fraction:
        base = self.atom()
        if self.peek()[1] == "**":
            self.take()
            with self.nested():
                exp = self.unary()
            if exp.denominator != 1:
                raise ToolError("only whole-number exponents are supported")
            if base == 0 and exp < 0:
                raise ToolError("division by zero")
            if abs(base) > 1 and abs(int(exp)) * math.log10(abs(base)) > MAX_DIGITS:
                raise ToolError(f"result too large (more than {MAX_DIGITS} digits)")
            if abs(int(exp)) > 10 * MAX_DIGITS:
                raise ToolError("exponent too large")
            base = _bounded(base ** int(exp))
        return base

    def atom(self) -> Fraction:
        kind, val, pos = self.take()
        if kind == "num":
            return Fraction(val)
        if val == "(":
            with self.nested():
                v = self.expr()
            self.take(")")
            return v
        if kind == "end":
            raise ToolError("expression ends too early")
        raise ToolError(f"unexpected {val!r} at position {pos}")

    def nested(self):
        parser = self

        class _Depth:
            def __enter__(self):
                parser.depth += 1
                if parser.depth > MAX_DEPTH:
                    raise ToolError(f"nested too deeply (more than {MAX_DEPTH} levels)")

            def __exit__(self, *exc):
                parser.depth -= 1

        return _Depth()


def _bounded(v: Fraction) -> Fraction:
    if abs(v) >= Fraction(10) ** MAX_DIGITS or v.denominator >= 10**MAX_DIGITS:
        raise ToolError(f"result too large (more than {MAX_DIGITS} digits)")
    return v


def _format(v: Fraction) -> str:
    if v.denominator == 1:
        return str(v.numerator)
    return f"{float(v):.10g}"


def calculate(expr: str) -> str:
    """Evaluate arithmetic exactly: + - * / // % ** and parentheses on decimal numbers.

    Whole results print as integers ("56088"), others to 10 significant digits
    ("0.3333333333"). Bad input raises ToolError with the reason
    ("division by zero", "unexpected 'x' at position 3", "result too large ...").
    """
    if not isinstance(expr, str):
        raise ToolError(f"an expression is text, got {type(expr).__name__}")
    if len(expr) > MAX_EXPR_CHARS:
        raise ToolError(f"expression too long ({len(expr)} characters, at most {MAX_EXPR_CHARS})")
    tokens = _lex(expr)
    if not tokens:
        raise ToolError("empty expression")
    parser = _Parser(tokens)
    value = parser.expr()
    kind, val, pos = parser.peek()
    if kind != "end":
        raise ToolError(f"unexpected {val!r} at position {pos}")
    return _format(value)


def calculator(expr: str) -> str:
    """The calculator as a tool: the result, or 'error: ...' text."""
    try:
        return calculate(expr)
    except ToolError as e:
        return f"error: {e}"


# ----------------------------------------------------------------------------- search


class DocumentStore:
    """A few short documents and a keyword search over them (IDF-weighted word overlap).

    Small on purpose: the point is where the answer comes from (the context,
    read exactly) rather than retrieval quality.
    """

    def __init__(self, docs):
        docs = list(docs.values()) if isinstance(docs, dict) else list(docs)
        if not docs or not all(isinstance(d, str) and d.strip() for d in docs):
            raise ValueError("DocumentStore needs a non-empty list of non-empty str documents")
        self.docs = docs
        self._words = [Counter(self._split(d)) for d in docs]
        df = Counter(w for words in self._words for w in words)
        self._idf = {w: math.log((1 + len(docs)) / (1 + n)) + 1.0 for w, n in df.items()}

    @staticmethod
    def _split(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+", text.lower())

    def scores(self, query: str) -> list[float]:
        q = set(self._split(query))
        return [sum(self._idf[w] for w in q if w in words) for words in self._words]

    def search(self, query: str, k: int = 1) -> list[str]:
        """The k best-matching documents (fewer if fewer match at all), best first."""
        scores = self.scores(query)
        order = sorted(range(len(self.docs)), key=lambda i: (-scores[i], i))
        return [self.docs[i] for i in order[:k] if scores[i] > 0]

    def tool(self, query: str) -> str:
        """The search as a tool: the best document, or 'no results' text."""
        hits = self.search(query, k=1)
        return hits[0] if hits else "no results"

    def __len__(self) -> int:
        return len(self.docs)
