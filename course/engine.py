"""The chat engine (lesson 06): generate an assistant's reply, running tools when it calls them.

    from course.engine import reply
    out = reply(model, tok, [{"role": "user", "content": "123*45?"}],
                tools={"calculator": calculator})
    out.text, out.messages   # final answer; the turns added (call, tool output, answer)

The loop: prime the assistant's turn (`render_for_completion`), then
generate token by token with a KV cache. `<|assistant_end|>` ends the reply.
`<|tool_call_end|>` pauses it: the engine decodes the call since
`<|tool_call_start|>`, runs it (`course.tools.run_tool`), and *forces* the
tokens `<|tool_output_start|> output <|tool_output_end|> <|assistant_start|>`
into the sequence (through the same cache, one forward), exactly as
`render_conversation` lays out a tool turn in the training data. Then the
model continues. The model never writes the tool's output; it reads it.

`complete_batch` is the fast path for evaluations: many prompts, greedy,
batched by prompt length. A reply that opens a tool call is finished by
`reply` with the `tools` given, so a tool-using model is never scored on
the empty text before its call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from course.chat import chat_tokenizer, render_for_completion
from course.generate import KVCache
from course.tools import run_tool


@dataclass
class Reply:
    """What `reply` produced: the final answer text, the messages it added, and how it stopped."""

    text: str
    messages: list[dict] = field(default_factory=list)
    tool_calls: int = 0
    stop: str = "end"  # "end" (<|assistant_end|>), "length", "context", "special", "tool_limit"


@torch.no_grad()
def reply(
    model,
    tokenizer,
    messages,
    *,
    tools: dict | None = None,
    max_new_tokens: int = 64,
    max_tool_calls: int = 3,
    temperature: float = 0.0,
    top_k: int | None = None,
    seed: int | None = None,
) -> Reply:
    """Generate the assistant's reply to `messages`, running `tools` ({name: fn(str) -> str}).

    Greedy by default (temperature 0). `max_new_tokens` counts tokens the
    model generates (not tool output). A tool call with `tools` None or an
    unknown name gets an 'error: ...' output, as a real engine would.
    """
    from course.generate import sample_next

    tok = chat_tokenizer(tokenizer)
    tools = tools or {}
    ids = render_for_completion(messages, tok)
    S = tok.special
    end, call_start, call_end = S("<|assistant_end|>"), S("<|tool_call_start|>"), S("<|tool_call_end|>")
    block = model.config.block_size
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    was_training = model.training
    model.eval()
    added: list[dict] = []
    segment: list[int] = []  # the assistant's tokens since its turn (re)started
    n_calls, stop = 0, "length"
    try:
        if len(ids) >= block:
            raise ValueError(f"the prompt is {len(ids)} tokens; the model's context is {block}")
        cache = KVCache(model.config.n_layer, block)
        logits, _ = model(torch.tensor([ids], device=device), cache=cache)
        for _ in range(max_new_tokens):
            nxt = int(sample_next(logits[:, -1, :], temperature, top_k, None, gen))
            if nxt == end:
                stop = "end"
                break
            if nxt in tok.special_ids and nxt not in (call_start, call_end):
                stop = "special"
                break
            segment.append(nxt)
            feed = [nxt]
            if nxt == call_end:
                content, call = _split_call(tok, segment, call_start, call_end)
                if n_calls >= max_tool_calls:
                    stop = "tool_limit"
                    break
                output = run_tool(call, tools)
                n_calls += 1
                added += [{"role": "assistant", "content": content, "tool_call": call}, {"role": "tool", "content": output}]
                segment = []
                feed += [S("<|tool_output_start|>"), *tok.encode(output), S("<|tool_output_end|>"), S("<|assistant_start|>")]
            if cache.pos + len(feed) > block:
                stop = "context"
                break
            logits, _ = model(torch.tensor([feed], device=device), cache=cache)
    finally:
        model.train(was_training)
    if call_start in segment:  # stopped inside an unfinished call: keep the content before it
        segment = segment[: segment.index(call_start)]
    text = tok.decode(segment)
    added.append({"role": "assistant", "content": text})
    return Reply(text=text, messages=added, tool_calls=n_calls, stop=stop)


def _split_call(tok, segment, call_start, call_end) -> tuple[str, str]:
    """The assistant's content before <|tool_call_start|> and the call text inside it."""
    if call_start not in segment:
        return tok.decode(segment[:-1]), ""
    k = segment.index(call_start)
    return tok.decode(segment[:k]), tok.decode(segment[k + 1 : -1])


@torch.no_grad()
def complete_batch(
    model, tokenizer, conversations, *, max_new_tokens: int = 32, batch_size: int = 256, tools: dict | None = None
) -> list[str]:
    """Greedy replies to many conversations at once: one str per conversation.

    Prompts of equal length run as one batch through `model.generate`; each
    reply is cut at the first special token (normally <|assistant_end|>).
    A reply that opens a tool call (<|tool_call_start|>) is run again through
    `reply` with `tools` (none: the model reads an error as the tool's output),
    so its text is the answer after the call, as `reply(...).text` would be,
    never the (usually empty) text before it.
    """
    tok = chat_tokenizer(tokenizer)
    prompts = [render_for_completion(m, tok) for m in conversations]
    call_start = tok.special("<|tool_call_start|>")
    by_len: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_len.setdefault(len(p), []).append(i)
    device = next(model.parameters()).device
    out: list[str] = [""] * len(prompts)
    calls: list[int] = []
    for length, members in sorted(by_len.items()):
        new = min(max_new_tokens, model.config.block_size - length)
        if new <= 0:
            raise ValueError(f"a prompt is {length} tokens; the model's context is {model.config.block_size}")
        for s in range(0, len(members), batch_size):
            chunk = members[s : s + batch_size]
            idx = torch.tensor([prompts[i] for i in chunk], device=device)
            gen = model.generate(idx, new, temperature=0.0)[:, length:].tolist()
            for i, row in zip(chunk, gen):
                cut = next((k for k, t in enumerate(row) if t in tok.special_ids), len(row))
                if cut < len(row) and row[cut] == call_start:
                    calls.append(i)
                out[i] = tok.decode(row[:cut])
    for i in calls:
        out[i] = reply(model, tok, conversations[i], tools=tools, max_new_tokens=max_new_tokens).text
    return out
