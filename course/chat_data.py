"""Conversation data for lesson 06: seeded synthetic sets, and real chat datasets as messages.

Every synthetic generator returns a list of conversations (lists of
`{"role", "content"}` messages, see `course.chat`), made offline from a seed,
so an experiment's data is the same on every machine:

- `addition`: 3-digit sums, answer-first or with worked steps first;
- `letter_count`, `spelling`: questions about the letters of words;
- `entities`, `entity_facts`, `refusals`: facts about made-up people, and
  "I do not know" answers for people the model never saw;
- `identity`, `system_identity`: who the assistant is, from data or from a
  system prompt;
- `calculator_use`, `search_use`: the same tasks solved by calling a tool.

Real data: `from_oasst1` (OpenAssistant/oasst1's message trees) and
`from_smoltalk` (HuggingFaceTB/smol-smoltalk's message lists) convert rows
to the same messages; `load_chat_dataset` fetches them with `datasets`
when online and fails fast with a clear message offline.
"""

from __future__ import annotations

import os
import random
import string

from course.chat import validate_messages

# The characters every synthetic conversation uses: a CharTokenizer over CHARS covers them all.
CHARS = string.ascii_letters + string.digits + " .,?!'()+-*/=%:"


def _conv(user: str, assistant: str, system: str | None = None) -> list[dict]:
    head = [{"role": "system", "content": system}] if system else []
    return head + [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


# ----------------------------------------------------------------------------- arithmetic


def addition_steps(a: int, b: int) -> str:
    """Column addition written out, ones first, then the sum: '7+5=12 2+4+1=7 1+3=4 =472'.

    Each step adds one column (and the carry, as '+1'); the final answer is the
    last digits of the steps read backwards. Every token of the answer then
    depends on text already written, not on a computation done in one forward pass.
    """
    da, db = str(a)[::-1], str(b)[::-1]
    n = max(len(da), len(db))
    da, db = da.ljust(n, "0"), db.ljust(n, "0")
    steps, carry = [], 0
    for x, y in zip(da, db):
        s = int(x) + int(y) + carry
        steps.append(f"{x}+{y}{'+1' if carry else ''}={s}")
        carry = s // 10
    return " ".join(steps) + f" ={a + b}"


def addition(n: int, *, digits: int = 3, reasoning: bool = False, seed: int = 0) -> list[list[dict]]:
    """n conversations 'a+b' -> the sum, answer-first ('579') or steps first (`addition_steps`)."""
    rng = random.Random(seed)
    lo, hi = 10 ** (digits - 1), 10**digits
    out = []
    for _ in range(n):
        a, b = rng.randrange(lo, hi), rng.randrange(lo, hi)
        out.append(_conv(f"{a}+{b}", addition_steps(a, b) if reasoning else str(a + b)))
    return out


def final_answer(text: str) -> str:
    """The answer at the end of a reply: what follows the last '=' (or the whole text), stripped."""
    return text.rsplit("=", 1)[-1].strip()


# ----------------------------------------------------------------------------- letters


def letter_count(words, n: int, *, seed: int = 0) -> list[list[dict]]:
    """n questions 'r in strawberry' -> '3': a letter of the word 3 times in 4, else one it lacks."""
    words = list(words)
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        w = rng.choice(words)
        absent = [c for c in string.ascii_lowercase if c not in w]
        ch = rng.choice(w) if rng.random() < 0.75 or not absent else rng.choice(absent)
        out.append(_conv(f"{ch} in {w}", str(w.count(ch))))
    return out


def spelling(words, n: int, *, seed: int = 0) -> list[list[dict]]:
    """n questions 'spell cat' -> 'c a t'."""
    words = list(words)
    rng = random.Random(seed)
    return [_conv(f"spell {w}", " ".join(w)) for w in (rng.choice(words) for _ in range(n))]


# ----------------------------------------------------------------------------- people, facts, refusals

_ON = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z"]
_NU = ["a", "e", "i", "o", "u"]
JOBS = ("baker", "pilot", "farmer", "singer", "doctor", "painter", "sailor", "judge")
REFUSAL = "I do not know who that is."


def _name(rng) -> str:
    part = lambda k: "".join(rng.choice(_ON) + rng.choice(_NU) for _ in range(k)) + rng.choice(_ON)
    return f"{part(rng.choice((1, 2))).title()} {part(rng.choice((1, 2))).title()}"


def entities(n: int, *, seed: int = 0) -> list[dict]:
    """n made-up people, distinct names: [{'name': 'Tavol Rim', 'job': 'pilot'}, ...]."""
    rng = random.Random(seed)
    seen, out = set(), []
    while len(out) < n:
        name = _name(rng)
        if name not in seen:
            seen.add(name)
            out.append({"name": name, "job": rng.choice(JOBS)})
    return out


def fact(person: dict) -> str:
    """The person's document: 'Tavol Rim is a pilot.'"""
    return f"{person['name']} is a {person['job']}."


def answer(person: dict) -> str:
    """The short answer to 'who is X?': 'a pilot.'"""
    return f"a {person['job']}."


def entity_facts(people, n: int, *, seed: int = 0) -> list[list[dict]]:
    """n questions 'who is X?' -> 'a pilot.' about `people` (sampled with replacement)."""
    rng = random.Random(seed)
    return [_conv(f"who is {p['name']}?", answer(p)) for p in (rng.choice(people) for _ in range(n))]


def refusals(people, n: int, *, seed: int = 0) -> list[list[dict]]:
    """n questions about `people` the model must not know, answered with REFUSAL."""
    rng = random.Random(seed)
    return [_conv(f"who is {p['name']}?", REFUSAL) for p in (rng.choice(people) for _ in range(n))]


def is_refusal(text: str) -> bool:
    return text.strip() == REFUSAL


# ----------------------------------------------------------------------------- identity

IDENTITY_QUESTIONS = ("who are you?", "what is your name?", "what are you called?", "tell me your name.")


def identity(n: int, *, name: str = "Nano", seed: int = 0) -> list[list[dict]]:
    """n questions about the assistant, all answered 'I am {name}.' (the identity lives in weights)."""
    rng = random.Random(seed)
    return [_conv(rng.choice(IDENTITY_QUESTIONS), f"I am {name}.") for _ in range(n)]


def system_identity(names, n: int, *, seed: int = 0) -> list[list[dict]]:
    """n conversations with system prompt 'You are {name}.' and a name question -> 'I am {name}.'."""
    names = list(names)
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        name = rng.choice(names)
        out.append(_conv(rng.choice(IDENTITY_QUESTIONS), f"I am {name}.", system=f"You are {name}."))
    return out


# ----------------------------------------------------------------------------- tool use


def calculator_use(n: int, *, digits: int = 3, seed: int = 0) -> list[list[dict]]:
    """n additions solved by calling calculator(a+b) and copying its output."""
    rng = random.Random(seed)
    lo, hi = 10 ** (digits - 1), 10**digits
    out = []
    for _ in range(n):
        a, b = rng.randrange(lo, hi), rng.randrange(lo, hi)
        out.append([
            {"role": "user", "content": f"{a}+{b}"},
            {"role": "assistant", "content": "", "tool_call": f"calculator({a}+{b})"},
            {"role": "tool", "content": str(a + b)},
            {"role": "assistant", "content": str(a + b)},
        ])
    return out


def search_use(people, n: int, *, seed: int = 0) -> list[list[dict]]:
    """n 'who is X?' questions answered by calling search(X) and reading the answer off the document."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p = rng.choice(people)
        out.append([
            {"role": "user", "content": f"who is {p['name']}?"},
            {"role": "assistant", "content": "", "tool_call": f"search({p['name']})"},
            {"role": "tool", "content": fact(p)},
            {"role": "assistant", "content": answer(p)},
        ])
    return out


# ----------------------------------------------------------------------------- real datasets

OASST1 = "OpenAssistant/oasst1"
SMOLTALK = "HuggingFaceTB/smol-smoltalk"


def from_oasst1(rows, *, lang: str | None = "en") -> list[list[dict]]:
    """OpenAssistant/oasst1 rows (one message per row, in trees) -> conversations.

    Each row has message_id, parent_id (None at a tree's root), text, role
    ("prompter" or "assistant"), lang, rank (0 = the reply human reviewers
    ranked best among its siblings; None when unranked), deleted and
    review_result. From every root prompt, follow the best-ranked surviving
    reply at each step; a thread is kept when it ends with the assistant.
    Prompter becomes "user".
    """
    rows = [r for r in rows if not r.get("deleted") and r.get("review_result", True) is not False]
    children: dict = {}
    for r in rows:
        children.setdefault(r.get("parent_id"), []).append(r)
    rank = lambda r: (r.get("rank") is None, r.get("rank") or 0, r["message_id"])
    out = []
    for root in children.get(None, []):
        if lang is not None and root.get("lang") != lang:
            continue
        thread, node = [], root
        while node is not None:
            role = {"prompter": "user", "assistant": "assistant"}.get(node.get("role"))
            if role is None:
                raise ValueError(f"oasst1 message {node.get('message_id')}: unknown role {node.get('role')!r}")
            thread.append({"role": role, "content": node["text"]})
            kids = sorted(children.get(node["message_id"], []), key=rank)
            node = kids[0] if kids else None
        while thread and thread[-1]["role"] != "assistant":
            thread.pop()
        if len(thread) >= 2:
            out.append(validate_messages(thread))
    return out


def from_smoltalk(rows) -> list[list[dict]]:
    """HuggingFaceTB/smol-smoltalk rows ({'messages': [{'role', 'content'}, ...], 'source'}) -> conversations.

    Only role and content are kept; a row that is not a valid conversation is a ValueError naming it.
    """
    out = []
    for i, row in enumerate(rows):
        msgs = [{"role": m.get("role"), "content": m.get("content")} for m in row.get("messages") or []]
        try:
            out.append(validate_messages(msgs))
        except ValueError as e:
            raise ValueError(f"smol-smoltalk row {i}: {e}") from None
    return out


def load_chat_dataset(name: str = "smol-smoltalk", *, split: str = "train", limit: int | None = 1000):
    """Conversations from a real dataset on the Hugging Face hub: 'smol-smoltalk' or 'oasst1'.

    Offline (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE set, or the hub unreachable)
    this raises `course.data.DataUnavailableError` at once.
    """
    from course.data import DataUnavailableError

    repos = {"smol-smoltalk": SMOLTALK, "oasst1": OASST1}
    if name not in repos:
        raise ValueError(f"unknown chat dataset {name!r} (expected one of {', '.join(repos)})")
    offline = any(os.environ.get(v, "0").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    if not offline:
        from course.doctor import hub_reachable

        status = hub_reachable(3.0)
        offline = status != "reachable"
    if offline:
        raise DataUnavailableError(
            f"{repos[name]} is downloaded from the Hugging Face hub, which is offline here; "
            "the synthetic sets in course.chat_data work offline"
        )
    import datasets

    ds = datasets.load_dataset(repos[name], split=split, streaming=True)
    rows = []
    for row in ds:
        rows.append(row)
        if name == "smol-smoltalk" and limit is not None and len(rows) >= limit:
            break
        if name == "oasst1" and limit is not None and len(rows) >= 20 * limit:
            break
    convs = from_smoltalk(rows) if name == "smol-smoltalk" else from_oasst1(rows)
    return convs[:limit] if limit is not None else convs
