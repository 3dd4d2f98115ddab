"""course.tools and course.engine: the calculator, tool-call parsing, search, and the engine's tool loop."""

import random
import re
from fractions import Fraction

import pytest
import torch
import torch.nn as nn

from course.chat import chat_tokenizer, render_conversation, render_for_completion
from course.data import CharTokenizer
from course.engine import complete_batch, reply
from course.model import GPT, GPTConfig
from course.tools import DocumentStore, ToolError, calculate, calculator, parse_tool_call, run_tool


def _random_expr(rng, depth=0):
    if depth > 3 or rng.random() < 0.3:
        return str(rng.randrange(0, 1000))
    op = rng.choice(["+", "-", "*", "/"])
    left, right = _random_expr(rng, depth + 1), _random_expr(rng, depth + 1)
    if rng.random() < 0.2:
        left = f"-{left}"
    return f"({left}{op}{right})"


def _reference(expr):
    """Python evaluates the same text with exact fractions (test-only eval on generated input)."""
    return eval(re.sub(r"(\d+)", r"Fraction(\1)", expr), {"Fraction": Fraction})


def test_calculator_agrees_with_python_on_random_expressions():
    rng = random.Random(0)
    checked = 0
    for _ in range(300):
        expr = _random_expr(rng)
        try:
            want = _reference(expr)
        except ZeroDivisionError:
            with pytest.raises(ToolError, match="division by zero"):
                calculate(expr)
            continue
        got = calculate(expr)
        if want.denominator == 1:
            assert got == str(want.numerator), expr
        else:
            assert float(got) == pytest.approx(float(want), rel=1e-9), expr
        checked += 1
    assert checked > 200


@pytest.mark.parametrize(
    "expr, want",
    [("2+3*4", "14"), ("(2+3)*4", "20"), ("2**10", "1024"), ("2**3**2", "512"), ("-2**2", "-4"),
     ("7//2", "3"), ("-7//2", "-4"), ("7%3", "1"), ("-7%3", "2"), ("1/3", "0.3333333333"),
     ("0.1+0.2", "0.3"), (" 12 * 45 ", "540"), ("2**-2", "0.25"), ("--3", "3")],
)
def test_calculator_values(expr, want):
    assert calculate(expr) == want
    assert eval(expr) == pytest.approx(float(want))  # Python's own arithmetic agrees


@pytest.mark.parametrize(
    "expr, match",
    [("1/0", "division by zero"), ("5%0", "division by zero"), ("0**-1", "division by zero"),
     ("2**0.5", "whole-number exponents"), ("9**99", "too large"), ("2**99999", "too large"),
     ("10**29*100", "too large"), ("1" * 31, "number too long"), ("1+" * 150 + "1", "expression too long"),
     ("(" * 40 + "1" + ")" * 40, "nested too deeply"), ("-" * 40 + "1", "nested too deeply"),
     ("", "empty expression"), ("   ", "empty expression"), ("2+", "ends too early"), ("(2+3", "expected ')'"),
     ("2+3)", "unexpected ')' at position 3"), ("__import__('os')", "unexpected character '_' at position 0"),
     ("2 x 3", "unexpected character 'x' at position 2"), ("1e5", "unexpected character 'e'"), ("*3", "unexpected '\\*'")],
)
def test_calculator_refuses_bad_expressions_with_the_reason(expr, match):
    with pytest.raises(ToolError, match=re.escape(match) if "(" in match or ")" in match else match):
        calculate(expr)
    out = calculator(expr)
    assert out.startswith("error: ")


def test_calculator_input_types():
    with pytest.raises(ToolError, match="is text"):
        calculate(12)


@pytest.mark.parametrize(
    "text, want",
    [("calculator(2*(3+4))", ("calculator", "2*(3+4)")), ("  search( Ada Lovelace ) ", ("search", "Ada Lovelace")),
     ("f()", ("f", "")), ("f((1))", ("f", "(1)"))],
)
def test_parse_tool_call(text, want):
    assert parse_tool_call(text) == want


@pytest.mark.parametrize("text", ["calculator", "calculator(2", "(2+3)", "2x(3)", "calc(1) extra", "my tool(1)", ""])
def test_parse_tool_call_rejects_malformed_calls(text):
    with pytest.raises(ToolError, match="malformed tool call"):
        parse_tool_call(text)


def test_run_tool_always_returns_text():
    tools = {"calculator": calculator}
    assert run_tool("calculator(6*7)", tools) == "42"
    assert run_tool("calculator(6/0)", tools) == "error: division by zero"
    assert run_tool("weather(Paris)", tools) == "error: no tool named 'weather' (available: calculator)"
    assert run_tool("6*7", tools).startswith("error: malformed tool call")


def test_document_store_search():
    store = DocumentStore(["Ada Lovelace wrote the first program.", "Alan Turing defined computability.",
                           "The cat sat on the mat."])
    assert store.search("who was Ada Lovelace?") == ["Ada Lovelace wrote the first program."]
    assert store.search("Turing", k=3) == ["Alan Turing defined computability."]
    assert store.tool("quantum chromodynamics") == "no results"
    assert len(store) == 3
    with pytest.raises(ValueError, match="non-empty"):
        DocumentStore([])


# ----------------------------------------------------------------------------- the engine's tool loop

TOK = chat_tokenizer(CharTokenizer("abcdefghijklmnopqrstuvwxyz0123456789+*=?.() :'"))


class ScriptedModel(nn.Module):
    """A stand-in model that 'says' a fixed script, one token per step, and records what it was fed."""

    def __init__(self, script, block_size=128):
        super().__init__()
        self.config = type("Cfg", (), {"block_size": block_size, "n_layer": 1})()
        self.script, self.fed, self.w = list(script), [], nn.Parameter(torch.zeros(1))

    def forward(self, idx, cache=None):
        self.fed += idx[0].tolist()
        cache.pos += idx.size(1)
        logits = torch.zeros(1, idx.size(1), TOK.vocab_size)
        if self.script:
            logits[0, -1, self.script.pop(0)] = 1.0
        return logits, None


def _says(*parts):
    out = []
    for p in parts:
        out += [TOK.special(p)] if p.startswith("<|") else TOK.encode(p)
    return out


def test_engine_runs_the_tool_and_feeds_its_output_back():
    user = [{"role": "user", "content": "what is 6*7?"}]
    model = ScriptedModel(_says("let me see", "<|tool_call_start|>", "calculator(6*7)", "<|tool_call_end|>",
                                "it is 42.", "<|assistant_end|>"))
    out = reply(model, TOK, user, tools={"calculator": calculator})
    assert out.text == "it is 42." and out.stop == "end" and out.tool_calls == 1
    assert out.messages == [
        {"role": "assistant", "content": "let me see", "tool_call": "calculator(6*7)"},
        {"role": "tool", "content": "42"},
        {"role": "assistant", "content": "it is 42."},
    ]
    # what the model read is exactly the training layout of the whole conversation
    full, _ = render_conversation(user + out.messages, TOK)
    assert model.fed == full[:-1]  # everything but the final <|assistant_end|>, which it only emitted


def test_engine_reports_tool_errors_to_the_model_and_stops_at_limits():
    user = [{"role": "user", "content": "hi"}]
    call = _says("<|tool_call_start|>", "search(x)", "<|tool_call_end|>")
    model = ScriptedModel(call + _says("sorry", "<|assistant_end|>"))
    out = reply(model, TOK, user, tools={})
    assert out.messages[1] == {"role": "tool", "content": "error: no tool named 'search' (available: none)"}
    assert out.text == "sorry"
    looping = ScriptedModel(call * 5)
    out = reply(looping, TOK, user, tools={"search": lambda q: "nothing"}, max_tool_calls=2, max_new_tokens=200)
    assert out.stop == "tool_limit" and out.tool_calls == 2
    rambling = ScriptedModel(_says("abcabcabcabc"))
    out = reply(rambling, TOK, user, max_new_tokens=5)
    assert out.stop == "length" and out.text == "abcab"
    other = ScriptedModel(_says("ab", "<|user_start|>"))
    assert reply(other, TOK, user).stop == "special"


def test_reply_runs_a_real_gpt_with_its_kv_cache_and_matches_generate():
    """The engine drives the course's own GPT (not only a scripted stand-in): with no tool call,
    its greedy reply is the tokens `GPT.generate` gives, cut at the first special token."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=48, vocab_size=TOK.vocab_size, n_layer=2, n_head=2, n_embd=32))
    messages = [{"role": "user", "content": "what is 2+2?"}]
    prompt = render_for_completion(messages, TOK)
    out = reply(model, TOK, messages, max_new_tokens=12)
    full = model.generate(torch.tensor([prompt]), 12, temperature=0.0)[0, len(prompt):].tolist()
    cut = next((k for k, t in enumerate(full) if t in TOK.special_ids), len(full))
    assert out.text == TOK.decode(full[:cut])


class TranscriptModel(nn.Module):
    """A stand-in that continues any prefix of the given rendered conversations greedily, through
    either path the engine uses (`generate` for batches, the cached forward for `reply`); after any
    other prefix it ends its turn. It answers right only if it is fed exactly the training layout."""

    def __init__(self, conversations, block_size=128):
        super().__init__()
        self.config = type("Cfg", (), {"block_size": block_size, "n_layer": 1})()
        self.w = nn.Parameter(torch.zeros(1))
        self.table, self.seq = {}, []
        for messages in conversations:
            ids, _ = render_conversation(messages, TOK)
            self.table.update({tuple(ids[:k]): ids[k] for k in range(1, len(ids))})

    def _next(self, prefix):
        return self.table.get(tuple(prefix), TOK.special("<|assistant_end|>"))

    def forward(self, idx, cache=None):
        self.seq = (self.seq if cache.pos else []) + idx[0].tolist()
        cache.pos += idx.size(1)
        logits = torch.zeros(1, idx.size(1), TOK.vocab_size)
        logits[0, -1, self._next(self.seq)] = 1.0
        return logits, None

    def generate(self, idx, max_new_tokens, temperature=1.0):
        rows = [row.tolist() for row in idx]
        for row in rows:
            for _ in range(max_new_tokens):
                row.append(self._next(row))
        return torch.tensor(rows)


def test_complete_batch_finishes_tool_calls_with_the_engine():
    """A tool-using model evaluated in a batch is scored on its answer after the tool ran (as
    `reply` gives it), not on the empty text before its call."""
    calc = [{"role": "user", "content": "6*7"}, {"role": "assistant", "content": "", "tool_call": "calculator(6*7)"},
            {"role": "tool", "content": "42"}, {"role": "assistant", "content": "42"}]
    plain = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    model = TranscriptModel([calc, plain])
    questions = [calc[:1], plain[:1]]
    got = complete_batch(model, TOK, questions, max_new_tokens=24, tools={"calculator": calculator})
    assert got == ["42", "hello"]
    assert got == [reply(model, TOK, q, tools={"calculator": calculator}, max_new_tokens=24).text for q in questions]
    # without the tool the model reads an error instead of "42", and this one then has nothing to say
    assert complete_batch(model, TOK, questions, max_new_tokens=24) == ["", "hello"]
