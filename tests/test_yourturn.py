"""course.your_turn: the one-line verdict a lesson prints beside the learner's function."""

import textwrap

import pytest
import torch

import course
from course.yourturn import agree


def _module(tmp_path, lesson, body):
    (tmp_path / f"ex{lesson}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    return course.exercise(lesson, target=tmp_path)


def reference_pairs(ids):
    counts = {}
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def test_matching_answer_says_matches_and_returns_the_learners_value(tmp_path, capsys):
    mine = _module(tmp_path, "01", """
        def get_stats(ids):
            out = {}
            for a, b in zip(ids, ids[1:]):
                out[(a, b)] = out.get((a, b), 0) + 1
            return out
    """)
    got = course.your_turn(mine.get_stats, reference_pairs, [1, 2, 1, 2])
    assert capsys.readouterr().out.strip() == "✓ get_stats: yours matches the package's"
    assert got == {(1, 2): 2, (2, 1): 1}


def test_stub_says_not_done_naming_the_file_and_returns_the_reference(capsys):
    mine = course.exercise("01", target="exercises")
    ids = [1, 2, 1, 2]
    got = course.your_turn(mine.get_stats, reference_pairs, ids)
    out = capsys.readouterr().out.strip()
    assert out.startswith("· get_stats: not done yet, see exercises/ex01.py::get_stats")
    assert got == reference_pairs(ids)


def test_wrong_answer_says_differs_and_shows_both(tmp_path, capsys):
    mine = _module(tmp_path, "01", """
        def get_stats(ids):
            return {pair: 1 for pair in zip(ids, ids[1:])}
    """)
    got = course.your_turn(mine.get_stats, reference_pairs, [1, 2, 1, 2])
    out = capsys.readouterr().out
    assert out.startswith("✗ get_stats: yours differs from the package's: yours {(1, 2): 1")
    assert "the package's {(1, 2): 2" in out
    assert got == {(1, 2): 2, (2, 1): 1}, "the lesson continues with the package's answer"


def test_a_crash_is_reported_not_raised(tmp_path, capsys):
    mine = _module(tmp_path, "01", """
        def get_stats(ids):
            return ids[10 ** 6]
    """)
    got = course.your_turn(mine.get_stats, reference_pairs, [1, 2])
    out = capsys.readouterr().out
    assert out.startswith("✗ get_stats: yours raised IndexError: list index out of range")
    assert "ex01.py::get_stats" in out and str(tmp_path) not in out, "no local path in the verdict"
    assert got == {(1, 2): 1}


def test_a_file_that_does_not_import_reports_its_problem_on_every_call(tmp_path, capsys):
    mine = _module(tmp_path, "01", "def get_stats(ids)\n    return {}\n")
    got = course.your_turn(mine.get_stats, reference_pairs, [3, 4])
    out = capsys.readouterr().out
    assert out.startswith("✗ get_stats: cannot run:") and "syntax error" in out
    assert got == {(3, 4): 1}


def test_environment_variable_switches_to_the_solutions(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_EXERCISES", "solutions")
    mine = course.exercise("01")
    assert mine.__course_label__ == "solutions/ex01.py"
    course.your_turn(mine.get_stats, reference_pairs, [5, 6, 5, 6])
    assert capsys.readouterr().out.startswith("✓ get_stats: yours matches")


def test_under_the_suite_the_solution_is_checked_on_the_same_data(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("COURSE_SHADOW_SOLUTIONS", "1")
    mine = course.exercise("01", target="exercises")
    course.your_turn(mine.get_stats, reference_pairs, [1, 2, 1, 2])  # the solution agrees: silent
    assert capsys.readouterr().out.startswith("· get_stats: not done yet")
    wrong_reference = {(1, 2): 99}
    with pytest.raises(AssertionError, match="disagrees with the package"):
        course.your_turn(mine.get_stats, wrong_reference, [1, 2, 1, 2])
    extra = _module(tmp_path, "01", "def no_such_function(ids):\n    return {}\n")
    with pytest.raises(AssertionError, match="has no no_such_function"):
        course.your_turn(extra.no_such_function, reference_pairs, [1, 2])


def test_under_the_suite_a_learners_method_is_shadowed_by_the_solutions_class(monkeypatch, capsys):
    """`yours.encode` (a method of the learner's tokenizer) is checked by the solutions' class of
    the same name, given a copy of the learner's object's state."""
    from course.tokenizer import BasicTokenizer

    monkeypatch.setenv("COURSE_SHADOW_SOLUTIONS", "1")
    basic = BasicTokenizer()
    basic.train("aaabdaaabac aaabdaaabac", 256 + 3)
    mine = course.exercise("01", target="exercises")
    yours = mine.BasicTokenizer()
    yours.merges, yours.vocab = dict(basic.merges), dict(basic.vocab)
    course.your_turn(yours.encode, basic.encode, "aaabdaaabac")  # the solution agrees: silent
    assert capsys.readouterr().out.startswith("· encode: not done yet")
    with pytest.raises(AssertionError, match="disagrees with the package"):
        course.your_turn(yours.encode, [1, 2, 3], "aaabdaaabac")
    yours.merges = {}  # the state travels: with no merges the solution returns the raw bytes
    course.your_turn(yours.encode, list(b"ab"), "ab")
    assert yours.merges == {}


def test_reference_may_be_a_value_and_equal_may_be_custom(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("COURSE_SHADOW_SOLUTIONS", raising=False)
    mine = _module(tmp_path, "02", "def f(x):\n    return x.upper()\n")
    course.your_turn(mine.f, "ABC", "abc")
    course.your_turn(mine.f, "abc", "abc", equal=lambda a, b: a.lower() == b)
    assert capsys.readouterr().out.count("matches") == 2


@pytest.mark.parametrize(("a", "b", "same"), [
    (torch.ones(2, 3), torch.ones(2, 3) + 1e-7, True),
    (torch.ones(2, 3), torch.ones(3, 2), False),
    (torch.ones(2, 3), torch.ones(2, 3) * 1.01, False),
    (torch.tensor([1, 2]), torch.tensor([1, 2]), True),
    (torch.tensor([1, 2]), [1, 2], False),
    (0.1 + 0.2, 0.3, True),
    ([1, (2, 3)], [1, (2, 3)], True),
    ([1, 2], (1, 2), False),
    ({"a": torch.zeros(1)}, {"a": torch.zeros(1)}, True),
    ({"a": 1}, {"b": 1}, False),
    (b"ab", b"ab", True),
])
def test_agree(a, b, same):
    assert agree(a, b) is same
