"""Conversations as token sequences: the chat protocol of lesson 06 (SFT and conversation formats).

A pretrained model only continues documents. An assistant is the same model
trained on documents of one special shape: a conversation, rendered as one
token sequence with control tokens marking who speaks.

    from course.chat import chat_tokenizer, render_conversation
    tok = chat_tokenizer("gpt2")                        # gpt2 + the chat special tokens
    messages = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
    ids, mask = render_conversation(messages, tok)      # mask 1 where the model must learn

Messages are the list of `{"role", "content"}` dicts that `datasets` and
`transformers` use. Roles: "system" (first only), "user", "assistant", "tool".
An assistant message may carry `"tool_call": "calculator(12*7)"`: the
assistant's turn then ends with that call instead of an end-of-turn token, and
the next message must be the tool's output (role "tool"). The layout:

    <|system_start|>...<|system_end|>              mask 0
    <|user_start|>...<|user_end|>                  mask 0
    <|assistant_start|>                            mask 0 (the prompt primes it)
      content ... <|assistant_end|>                mask 1
      or content <|tool_call_start|>call<|tool_call_end|>   mask 1
    <|tool_output_start|>...<|tool_output_end|>    mask 0 (the tool wrote it, not the model)

The mask is the whole point of SFT: the loss is taken only where the model
must *produce* text in deployment. Learning to predict the user would waste
capacity on text it is never asked to write (and teach it to impersonate
users); learning the tool's output would teach it to make results up.

Special-token text inside content (a user typing "<|assistant_end|>") is
rendered as the plain text it is, never as the control token: only the
renderer can emit control ids, so no message can forge a turn boundary.

`format_chat(messages, "chatml" | "llama3")` renders the same messages as the
text real chat templates produce (tests check ChatML against `transformers`'
`apply_chat_template`).
"""

from __future__ import annotations

import copy
import html
from dataclasses import dataclass

ROLES = ("system", "user", "assistant", "tool")

# One start and one end token per turn kind, and a pair around tool calls.
SPECIAL_TOKENS = (
    "<|system_start|>",
    "<|system_end|>",
    "<|user_start|>",
    "<|user_end|>",
    "<|assistant_start|>",
    "<|assistant_end|>",
    "<|tool_call_start|>",
    "<|tool_call_end|>",
    "<|tool_output_start|>",
    "<|tool_output_end|>",
)
TURN = {
    "system": ("<|system_start|>", "<|system_end|>"),
    "user": ("<|user_start|>", "<|user_end|>"),
    "assistant": ("<|assistant_start|>", "<|assistant_end|>"),
    "tool": ("<|tool_output_start|>", "<|tool_output_end|>"),
}


class ChatTokenizer:
    """A base tokenizer plus the chat special tokens (build it with `chat_tokenizer`).

    - `encode(text)`: ordinary text only; special-token text becomes plain tokens.
    - `decode(ids)`: special ids decode to their text.
    - `special(name)` -> id, `special_ids` (set), `vocab_size` (base + specials).
    - `token_bytes(id)` -> the bytes one id stands for (for the mask view).
    - `inner`: the extended tiktoken `Encoding` or course tokenizer (None for chars).
    """

    def __init__(self, base, kind: str, specials: dict[str, int], inner=None):
        self.base, self.kind, self.inner = base, kind, inner
        self.specials = dict(specials)
        self.special_ids = set(self.specials.values())
        self._names = {v: k for k, v in self.specials.items()}
        if kind == "tiktoken":
            self.vocab_size = inner.n_vocab
        elif kind == "course-bpe":
            self.vocab_size = inner.vocab_size
        else:
            self.vocab_size = base.vocab_size + len(SPECIAL_TOKENS)

    def special(self, name: str) -> int:
        try:
            return self.specials[name]
        except KeyError:
            raise ValueError(f"{name!r} is not a special token of this chat tokenizer") from None

    def encode(self, text: str) -> list[int]:
        if self.kind == "tiktoken":
            return self.inner.encode_ordinary(text)
        if self.kind == "course-bpe":
            return self.inner.encode_ordinary(text)
        return self.base.encode(text)

    def decode(self, ids) -> str:
        ids = [int(i) for i in ids]
        if self.kind != "char":
            return self.inner.decode(ids)
        out, run = [], []
        for i in ids:
            if i in self._names:
                out.append(self.base.decode(run))
                out.append(self._names[i])
                run = []
            else:
                run.append(i)
        out.append(self.base.decode(run))
        return "".join(out)

    def token_bytes(self, i: int) -> bytes:
        if i in self._names:
            return self._names[i].encode("utf-8")
        if self.kind == "tiktoken":
            return self.inner.decode_single_token_bytes(i)
        if self.kind == "course-bpe":
            return self.inner.vocab[i]
        return self.base.decode([i]).encode("utf-8")

    def __repr__(self) -> str:
        return f"ChatTokenizer(kind={self.kind!r}, vocab_size={self.vocab_size})"


def chat_tokenizer(base) -> ChatTokenizer:
    """Extend `base` with SPECIAL_TOKENS, appended after its last id.

    `base`: a tiktoken `Encoding` or its name ("gpt2"), a course
    `RegexTokenizer`, or a `course.data.CharTokenizer`. For tiktoken this is
    the documented way to extend an encoding: a new `tiktoken.Encoding` with the
    same ranks and pattern and more special tokens. The base is not modified.
    """
    if isinstance(base, ChatTokenizer):
        return base
    if isinstance(base, str):
        import tiktoken

        import course  # noqa: F401  (the bundled, offline tiktoken cache)

        base = tiktoken.get_encoding(base)
    if type(base).__module__.startswith("tiktoken"):
        import tiktoken
        from tiktoken_ext.openai_public import ENCODING_CONSTRUCTORS

        if base.name not in ENCODING_CONSTRUCTORS:
            raise ValueError(
                f"cannot extend tiktoken encoding {base.name!r}: only OpenAI's named encodings "
                f"({', '.join(ENCODING_CONSTRUCTORS)}) have a public definition to extend"
            )
        # The encoding's definition through tiktoken's public constructors (its README reaches
        # for private attributes instead), plus the chat tokens after its last id.
        definition = ENCODING_CONSTRUCTORS[base.name]()
        start = base.n_vocab
        specials = {t: start + i for i, t in enumerate(SPECIAL_TOKENS)}
        inner = tiktoken.Encoding(
            name=f"{base.name}_chat",
            pat_str=definition["pat_str"],
            mergeable_ranks=definition["mergeable_ranks"],
            special_tokens={**definition["special_tokens"], **specials},
        )
        return ChatTokenizer(base, "tiktoken", specials, inner)
    from course.data import CharTokenizer
    from course.tokenizer import Tokenizer

    if isinstance(base, Tokenizer):
        inner = copy.deepcopy(base)
        start = base.vocab_size
        specials = {t: start + i for i, t in enumerate(SPECIAL_TOKENS)}
        inner.register_special_tokens({**base.special_tokens, **specials})
        return ChatTokenizer(base, "course-bpe", specials, inner)
    if isinstance(base, CharTokenizer):
        specials = {t: base.vocab_size + i for i, t in enumerate(SPECIAL_TOKENS)}
        return ChatTokenizer(base, "char", specials)
    raise TypeError(
        f"cannot extend {type(base).__name__}: pass a tiktoken Encoding or its name, "
        "a course.tokenizer tokenizer or a course.data.CharTokenizer"
    )


# ----------------------------------------------------------------------------- validation


def validate_messages(messages) -> list[dict]:
    """Check `messages` and return them; every problem is a ValueError naming the message."""
    if not isinstance(messages, (list, tuple)):
        raise ValueError(f"messages must be a list of {{'role', 'content'}} dicts, got {type(messages).__name__}")
    if not messages:
        raise ValueError("messages is empty: a conversation needs at least one message")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise ValueError(f"message {i} must be a dict with 'role' and 'content', got {type(m).__name__}")
        role = m.get("role")
        if role not in ROLES:
            raise ValueError(f"message {i}: unknown role {role!r} (expected one of {', '.join(ROLES)})")
        if "content" not in m:
            raise ValueError(f"message {i} ({role}) has no 'content'")
        if not isinstance(m["content"], str):
            raise ValueError(f"message {i} ({role}): content must be a str, got {type(m['content']).__name__}")
        extra = set(m) - {"role", "content", "tool_call"}
        if extra:
            raise ValueError(f"message {i} ({role}): unexpected keys {sorted(extra)}")
        if "tool_call" in m:
            if role != "assistant":
                raise ValueError(f"message {i}: only an assistant message can make a tool_call, not {role!r}")
            if not isinstance(m["tool_call"], str) or not m["tool_call"]:
                raise ValueError(f"message {i}: tool_call must be a non-empty str")
        if role == "system" and i != 0:
            raise ValueError(f"message {i}: a system message may only come first")
        if role == "tool":
            prev = messages[i - 1] if i > 0 else None
            if not (isinstance(prev, dict) and prev.get("role") == "assistant" and "tool_call" in prev):
                raise ValueError(f"message {i}: tool output with no assistant tool_call right before it")
        if "tool_call" in m:
            nxt = messages[i + 1] if i + 1 < len(messages) else None
            if not (isinstance(nxt, dict) and nxt.get("role") == "tool"):
                raise ValueError(f"message {i}: an assistant tool_call must be followed by a 'tool' message")
    return list(messages)


# ----------------------------------------------------------------------------- rendering


def render_conversation(
    messages, tokenizer, *, max_tokens: int | None = None, truncate: bool = False
) -> tuple[list[int], list[int]]:
    """Render `messages` as token ids and a loss mask of the same length.

    mask[i] is 1 where ids[i] is something the model must learn to produce:
    assistant content, its tool calls (with their start/end tokens) and its
    end-of-turn token. Everything else (system, user, tool output, and the
    <|assistant_start|> the prompt supplies) is 0.

    A conversation longer than `max_tokens` is an error unless `truncate=True`,
    which keeps the first `max_tokens` tokens (and their mask).
    """
    tok = chat_tokenizer(tokenizer)
    messages = validate_messages(messages)
    ids: list[int] = []
    mask: list[int] = []

    def add(new_ids, m):
        ids.extend(new_ids)
        mask.extend([m] * len(new_ids))

    for m in messages:
        role, content = m["role"], m["content"]
        start, end = TURN[role]
        learn = 1 if role == "assistant" else 0
        add([tok.special(start)], 0)
        add(tok.encode(content), learn)
        if "tool_call" in m:
            add([tok.special("<|tool_call_start|>")], 1)
            add(tok.encode(m["tool_call"]), 1)
            add([tok.special("<|tool_call_end|>")], 1)
        else:
            add([tok.special(end)], learn)
    if max_tokens is not None and len(ids) > max_tokens:
        if not truncate:
            raise ValueError(
                f"conversation is {len(ids)} tokens, longer than max_tokens={max_tokens}; "
                "pass truncate=True to keep the first max_tokens, or drop it"
            )
        ids, mask = ids[:max_tokens], mask[:max_tokens]
    return ids, mask


def render_for_completion(messages, tokenizer) -> list[int]:
    """Ids that prime the assistant's next turn: the conversation, then <|assistant_start|>.

    `messages` must end with a user or tool message (a trailing assistant
    message would be the answer itself; drop it first).
    """
    tok = chat_tokenizer(tokenizer)
    messages = validate_messages(messages)
    last = messages[-1]["role"]
    if last == "assistant":
        raise ValueError("the last message is the assistant's: drop it to ask the model for its reply")
    if last == "system":
        raise ValueError("a conversation to complete needs a user message after the system message")
    ids, _ = render_conversation(messages, tok)
    return ids + [tok.special("<|assistant_start|>")]


# ----------------------------------------------------------------------------- text templates

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def format_chat(messages, style: str = "chatml", *, add_generation_prompt: bool = False) -> str:
    """The text a real chat template makes of `messages` (tool calls not covered).

    "chatml" (OpenAI's ChatML, used by Qwen, SmolLM ...): <|im_start|>role\\n...<|im_end|>\\n.
    "llama3" (Meta's Llama 3 instruct): <|begin_of_text|>, then per message
    <|start_header_id|>role<|end_header_id|>\\n\\n content (stripped) <|eot_id|>.
    `add_generation_prompt` opens the assistant's turn, as in `apply_chat_template`.
    """
    messages = validate_messages(messages)
    if any("tool_call" in m for m in messages):
        raise ValueError("format_chat covers plain messages; tool calls are rendered by render_conversation")
    if style == "chatml":
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")
    if style == "llama3":
        text = "<|begin_of_text|>" + "".join(
            f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content'].strip()}<|eot_id|>" for m in messages
        )
        return text + ("<|start_header_id|>assistant<|end_header_id|>\n\n" if add_generation_prompt else "")
    raise ValueError(f"unknown chat style {style!r} (expected 'chatml' or 'llama3')")


# ----------------------------------------------------------------------------- seeing the mask

TRAINED, IGNORED = "#b7f0b1", "#e6e6e6"


@dataclass
class MaskView:
    """Tokens of a rendered conversation, coloured by the loss mask (green: trained on).

    In Jupyter: the course visualiser's spans (hover for ids). As text: one
    token per `|`, trained tokens wrapped in [brackets].
    """

    tokens: list
    mask: list[int]

    def plain(self) -> str:
        return "|".join(f"[{t.plain()}]" if m else t.plain() for t, m in zip(self.tokens, self.mask))

    def summary(self) -> str:
        return f"{len(self.tokens)} tokens, {sum(self.mask)} trained on (mask 1, in [brackets] / green)"

    def __str__(self) -> str:
        return f"{self.summary()}\n{self.plain()}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from course.viz import _span

        spans = "".join(_span(t, TRAINED if m else IGNORED) for t, m in zip(self.tokens, self.mask))
        return (
            '<div style="font-family:monospace;line-height:1.9">'
            f'<div style="font-family:sans-serif;font-size:90%;color:#444">{html.escape(self.summary())}</div>'
            f'<div style="white-space:pre-wrap;word-break:break-all">{spans}</div></div>'
        )


def show_mask(ids, mask, tokenizer) -> MaskView:
    """Show a rendered conversation token by token, coloured by its loss mask."""
    from course.viz import Token

    tok = chat_tokenizer(tokenizer)
    if len(ids) != len(mask):
        raise ValueError(f"ids ({len(ids)}) and mask ({len(mask)}) must have the same length")
    tokens = [Token(int(i), tok.token_bytes(int(i)), special=int(i) in tok.special_ids) for i in ids]
    return MaskView(tokens, [int(m) for m in mask])
