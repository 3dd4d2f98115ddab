"""Checks for lesson 06's exercises (exercises/ex06.py).

`render` is compared with `course.chat.render_conversation`, `masked_loss`
with a naive loop over positions (and `course.sft.masked_cross_entropy`),
`parse_tool_call` with `course.tools.parse_tool_call`.
"""

import pytest
import torch

from course.chat import chat_tokenizer, render_conversation
from course.data import CharTokenizer
from course.tools import ToolError
from course.tools import parse_tool_call as course_parse

LESSON = "06"

TOK = chat_tokenizer(CharTokenizer("abcdefghijklmnopqrstuvwxyz0123456789+*=?.,() "))

CONVERSATIONS = {
    "one exchange": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello."}],
    "system and two turns": [
        {"role": "system", "content": "be kind"},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "thanks"},
        {"role": "assistant", "content": "you are welcome."},
    ],
    "tool call": [
        {"role": "user", "content": "what is 12*7?"},
        {"role": "assistant", "content": "let me check", "tool_call": "calculator(12*7)"},
        {"role": "tool", "content": "84"},
        {"role": "assistant", "content": "84"},
    ],
    "empty contents": [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}],
}


def _render(ex, messages):
    out = ex.render(messages, TOK.encode, dict(TOK.specials))
    assert isinstance(out, tuple) and len(out) == 2, "render must return a tuple (ids, mask)"
    ids, mask = out
    assert len(ids) == len(mask), f"ids ({len(ids)}) and mask ({len(mask)}) must have the same length"
    return list(ids), [int(m) for m in mask]


@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_render_ids(ex, name):
    ids, _ = _render(ex, CONVERSATIONS[name])
    want, _ = render_conversation(CONVERSATIONS[name], TOK)
    assert TOK.decode(ids) == TOK.decode(want), "the token sequence differs from the layout in the docstring"
    assert ids == want


@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_render_mask(ex, name):
    ids, mask = _render(ex, CONVERSATIONS[name])
    want_ids, want = render_conversation(CONVERSATIONS[name], TOK)
    if ids != want_ids:
        pytest.fail("fix the ids first (test_render_ids)", pytrace=False)
    trained = TOK.decode([i for i, m in zip(ids, mask) if m])
    should = TOK.decode([i for i, m in zip(ids, want) if m])
    assert mask == want, f"the mask trains on {trained!r}; it should train on exactly {should!r}"


def test_render_trains_on_the_end_of_turn_not_the_start(ex):
    ids, mask = _render(ex, CONVERSATIONS["one exchange"])
    start, end = TOK.special("<|assistant_start|>"), TOK.special("<|assistant_end|>")
    assert mask[ids.index(end)] == 1, "the model must learn to end its turn: mask 1 on <|assistant_end|>"
    assert mask[ids.index(start)] == 0, "<|assistant_start|> is given by the prompt, never generated: mask 0"


def test_render_does_not_train_on_tool_output(ex):
    ids, mask = _render(ex, CONVERSATIONS["tool call"])
    a, b = ids.index(TOK.special("<|tool_output_start|>")), ids.index(TOK.special("<|tool_output_end|>"))
    assert not any(mask[a : b + 1]), "the tool writes its output, not the model: mask 0 on the whole tool turn"
    call_end = ids.index(TOK.special("<|tool_call_end|>"))
    assert mask[call_end] == 1, "the model must learn to close its tool call: mask 1 on <|tool_call_end|>"


def _naive(logits, targets, mask):
    total, n = 0.0, 0
    for b in range(logits.size(0)):
        for t in range(logits.size(1)):
            if mask[b, t]:
                total -= torch.log_softmax(logits[b, t].double(), -1)[targets[b, t]].item()
                n += 1
    return total / n


CASES = {
    "some masked": (2, 6, 11, [[0, 1, 1, 0, 1, 1], [1, 0, 0, 0, 0, 1]]),
    "uneven rows": (3, 5, 7, [[1, 1, 1, 1, 1], [0, 0, 0, 0, 1], [0, 1, 0, 0, 0]]),
    "nothing masked": (2, 4, 5, [[1, 1, 1, 1], [1, 1, 1, 1]]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_masked_loss_value(ex, name):
    B, T, V, mask = CASES[name]
    g = torch.Generator().manual_seed(len(name))
    logits = torch.randn(B, T, V, generator=g) * 3
    targets = torch.randint(0, V, (B, T), generator=g)
    mask = torch.tensor(mask)
    got = ex.masked_loss(logits, targets, mask)
    assert got.dim() == 0, "return one number (a 0-dim tensor)"
    assert got.item() == pytest.approx(_naive(logits, targets, mask), rel=1e-5), (
        "the loss must be the mean over trained (mask 1) tokens: every trained token counts the same"
    )


def test_masked_loss_ignores_masked_positions(ex, harness):
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 5, 9, generator=g)
    targets = torch.randint(0, 9, (2, 5), generator=g)
    mask = torch.tensor([[1, 0, 1, 0, 0], [0, 0, 1, 1, 0]])
    # the gradient is taken in the sandbox, where the learner's autograd graph lives
    loss, grad = harness("loss_and_grad")(ex.masked_loss, logits, targets, mask.bool())
    assert grad.shape == logits.shape
    assert torch.all(grad[mask == 0] == 0), "masked positions must get exactly zero gradient"
    assert torch.any(grad[mask == 1] != 0), "unmasked positions must get a gradient"
    other = targets.clone()
    other[mask == 0] = (other[mask == 0] + 1) % 9
    assert ex.masked_loss(logits, other, mask).item() == pytest.approx(loss.item()), (
        "changing the target at a masked position changed the loss"
    )


CALLS = ["calculator(2*(3+4))", "search(Ada Lovelace)", "  search( padded )  ", "f()", "calc((1+2)*(3+4))",
         "tool_2(x)", "calculator(max(1, 2))"]
BAD = ["calculator", "calculator(2", "(2+3)", "2x(3)", "calc(1) extra", "my tool(1)", "", ")("]


@pytest.mark.parametrize("text", CALLS)
def test_parse_tool_call(ex, text):
    got = ex.parse_tool_call(text)
    assert tuple(got) == course_parse(text), f"parse_tool_call({text!r})"


@pytest.mark.parametrize("text", BAD)
def test_parse_tool_call_rejects(ex, text):
    with pytest.raises(ToolError):
        course_parse(text)  # the reference rejects it too
    with pytest.raises(ValueError):
        ex.parse_tool_call(text)
