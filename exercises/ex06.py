"""Lesson 06 exercises: the chat protocol, the masked loss, the engine's tool-call parser.

Fill in each stub, then run the checks from a notebook:

    import course; course.check("06")

or from a terminal: `python -m pytest tests/exercises/test_ex06.py --target exercises`.

The checks compare your answers with `course.chat`, `course.sft` and
`course.tools` on many conversations and inputs, including the awkward ones.
"""

import torch
import torch.nn.functional as F  # noqa: F401  (you will want F.cross_entropy)


def render(messages: list[dict], encode, special: dict[str, int]) -> tuple[list[int], list[int]]:
    """Render a conversation as (ids, mask), the layout of lesson 06.

    messages: [{"role": ..., "content": str}, ...] with roles "system", "user",
    "assistant", "tool"; an assistant message may also have "tool_call": str
    (then the next message is the tool's output). encode(text) -> list of ids
    for ordinary text; special["<|user_start|>"] etc. -> the id of a special token.

    Each message becomes, in order (mask value after the colon):

      system:    <|system_start|>:0  content:0  <|system_end|>:0
      user:      <|user_start|>:0    content:0  <|user_end|>:0
      assistant: <|assistant_start|>:0  content:1  <|assistant_end|>:1
      assistant with a tool_call:
                 <|assistant_start|>:0  content:1
                 <|tool_call_start|>:1  tool_call:1  <|tool_call_end|>:1   (no <|assistant_end|>)
      tool:      <|tool_output_start|>:0  content:0  <|tool_output_end|>:0

    Return two lists of equal length. (No validation needed here.)
    """
    raise NotImplementedError("render: one (ids, mask) piece per token, mask 1 where the assistant speaks")


def masked_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the positions where mask is 1.

    logits (B, T, V), targets (B, T) token ids, mask (B, T) of 0/1 (any dtype).
    Positions with mask 0 must add nothing to the loss and get zero gradient.
    Every trained token counts the same, whichever row it is in.
    Hint: per-token losses first (F.cross_entropy has a `reduction` argument);
    think about what you divide by.
    """
    raise NotImplementedError("masked_loss: per-token cross-entropy, keep the masked ones, average them")


def parse_tool_call(text: str) -> tuple[str, str]:
    """Split a tool call 'name(argument)' into (name, argument).

    - whitespace around the whole call and around the argument is ignored;
    - the name is what comes before the first '(' and must be a Python-style
      identifier (letters, digits, underscores; not starting with a digit);
    - the call must end with ')'; the argument is everything between the first
      '(' and that final ')' -- it may contain parentheses itself:
      'calculator(2*(3+4))' -> ('calculator', '2*(3+4)');
    - anything else raises ValueError.
    """
    raise NotImplementedError("parse_tool_call: name before the first '(', argument up to the closing ')'")
