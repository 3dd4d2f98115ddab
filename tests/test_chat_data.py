"""course.chat_data: seeded synthetic conversations, and real datasets converted from fixtures in their schema."""

import json
import re
from pathlib import Path

import pytest

from course.chat import chat_tokenizer, render_conversation, validate_messages
from course.chat_data import (
    CHARS,
    REFUSAL,
    addition,
    addition_steps,
    calculator_use,
    entities,
    entity_facts,
    final_answer,
    from_oasst1,
    from_smoltalk,
    identity,
    letter_count,
    load_chat_dataset,
    refusals,
    search_use,
    spelling,
    system_identity,
)
from course.data import CharTokenizer, DataUnavailableError

DATA = Path(__file__).parent / "data"


def test_addition_answers_are_right_in_both_formats():
    for reasoning in (False, True):
        for conv in addition(200, reasoning=reasoning, seed=1):
            a, b = map(int, conv[0]["content"].split("+"))
            assert final_answer(conv[1]["content"]) == str(a + b)
    assert addition_steps(275, 197) == "5+7=12 7+9+1=17 2+1+1=4 =472"
    assert addition_steps(999, 1) == "9+1=10 9+0+1=10 9+0+1=10 =1000"


def test_addition_steps_are_each_a_correct_column_sum():
    for conv in addition(100, reasoning=True, seed=2):
        for step in conv[1]["content"].split()[:-1]:
            lhs, rhs = step.split("=")
            assert sum(map(int, lhs.split("+"))) == int(rhs)


def test_generators_are_seeded():
    assert addition(5, seed=3) == addition(5, seed=3) != addition(5, seed=4)
    assert entities(5, seed=1) == entities(5, seed=1)


def test_letter_questions():
    words = ["strawberry", "banana", "kiwi"]
    convs = letter_count(words, 300, seed=0)
    answers = set()
    for c in convs:
        ch, word = re.fullmatch(r"(\w) in (\w+)", c[0]["content"]).groups()
        assert c[1]["content"] == str(word.count(ch))
        answers.add(c[1]["content"])
    assert "0" in answers and "3" in answers
    assert spelling(["cat"], 1)[0][1]["content"] == "c a t"


def test_people_refusals_identity_and_tools():
    people = entities(50, seed=0)
    assert len({p["name"] for p in people}) == 50
    for c in entity_facts(people, 20):
        person = next(p for p in people if c[0]["content"] == f"who is {p['name']}?")
        assert c[1]["content"] == f"a {person['job']}."
    assert all(c[1]["content"] == REFUSAL for c in refusals(people, 5))
    assert {c[1]["content"] for c in identity(10, name="Nano")} == {"I am Nano."}
    for c in system_identity(["Bo", "Al"], 10):
        assert c[0]["content"] == f"You are {c[2]['content'][5:-1]}."
    calc = calculator_use(3)[0]
    assert calc[1]["tool_call"] == f"calculator({calc[0]['content']})" and calc[2]["content"] == calc[3]["content"]
    s = search_use(people, 1)[0]
    assert s[2]["content"].startswith(s[1]["tool_call"][7:-1] + " is a ")


def test_every_synthetic_conversation_renders_with_the_char_tokenizer():
    tok = chat_tokenizer(CharTokenizer(CHARS))
    people = entities(20)
    sets = [addition(20, reasoning=True), letter_count(["apple"], 5), entity_facts(people, 5), refusals(people, 5),
            identity(5), system_identity(["Zed"], 5), calculator_use(5), search_use(people, 5)]
    for convs in sets:
        for c in convs:
            ids, mask = render_conversation(c, tok)
            assert sum(mask) > 0


# ----------------------------------------------------------------------------- real datasets


def _rows(name):
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


def test_oasst1_fixture_follows_the_best_ranked_replies():
    """tests/data/oasst1_tiny.jsonl follows OpenAssistant/oasst1's row schema (message_id, parent_id, text,
    role prompter/assistant, lang, rank, deleted, review_result, message_tree_id, ...)."""
    convs = from_oasst1(_rows("oasst1_tiny.jsonl"))
    assert convs == [
        [{"role": "user", "content": "Can you explain what a language model is?"},
         {"role": "assistant", "content": "A language model assigns probabilities to sequences of words."},
         {"role": "user", "content": "How is it trained?"},
         {"role": "assistant", "content": "By predicting the next token on a large corpus."}],
        [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "2+2 is 4."}],
    ]
    every_lang = from_oasst1(_rows("oasst1_tiny.jsonl"), lang=None)
    assert [{"role": "user", "content": "Was ist ein Sprachmodell?"},
            {"role": "assistant", "content": "Ein Programm, das Text fortsetzt."}] in every_lang


def test_oasst1_through_datasets_loader():
    import datasets

    ds = datasets.load_dataset("json", data_files=str(DATA / "oasst1_tiny.jsonl"), split="train")
    assert len(from_oasst1(ds)) == 2


def test_smoltalk_fixture():
    """tests/data/smol_smoltalk_tiny.jsonl follows HuggingFaceTB/smol-smoltalk: {'messages': [{'content', 'role'}], 'source'}."""
    convs = from_smoltalk(_rows("smol_smoltalk_tiny.jsonl"))
    assert len(convs) == 3 and convs[1][0] == {"role": "system", "content": "You are a concise assistant."}
    assert all(validate_messages(c) for c in convs)
    tok = chat_tokenizer("gpt2")
    ids, mask = render_conversation(convs[1], tok)
    assert tok.decode([i for i, m in zip(ids, mask) if m]) == "The cat sat.<|assistant_end|>You're welcome.<|assistant_end|>"
    with pytest.raises(ValueError, match="row 0: message 0: unknown role 'human'"):
        from_smoltalk([{"messages": [{"role": "human", "content": "hi"}]}])


def test_load_chat_dataset_offline_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataUnavailableError, match="offline"):
        load_chat_dataset("smol-smoltalk")
    with pytest.raises(ValueError, match="unknown chat dataset"):
        load_chat_dataset("sharegpt")
