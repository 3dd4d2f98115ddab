"""Checks for lesson 07's exercises (exercises/ex07.py).

`group_advantages` is compared with values worked out by hand and with
`course.rl.group_advantages`, `pg_loss` with a naive loop over tokens (and
`course.rl.policy_loss`), `parse_answer` with `course.rl_tasks.parse_answer`
on well-formed and malformed completions.
"""

import math

import pytest
import torch

from course.rl import group_advantages as course_advantages
from course.rl import policy_loss
from course.rl_tasks import parse_answer as course_parse

LESSON = "07"

S = math.sqrt(0.75 * 0.25)  # the population std of one 1 and three 0s
BY_HAND = {
    "half right": ([[1, 0, 0, 1]], [[1, -1, -1, 1]]),
    "one right": ([[0, 1, 0, 0]], [[-0.25 / S, 0.75 / S, -0.25 / S, -0.25 / S]]),
    "all right": ([[1, 1, 1, 1]], [[0, 0, 0, 0]]),
    "all wrong": ([[0, 0, 0]], [[0, 0, 0]]),
    "two groups": ([[1, 0], [0.5, 0.5]], [[1, -1], [0, 0]]),
}


def _adv(ex, rewards, **kw):
    got = ex.group_advantages(torch.tensor(rewards, dtype=torch.float32), **kw)
    assert isinstance(got, torch.Tensor), "return a tensor"
    assert tuple(got.shape) == tuple(torch.tensor(rewards).shape), "one advantage per reward, same shape"
    return got.float()


@pytest.mark.parametrize("name", list(BY_HAND))
def test_group_advantages_by_hand(ex, name):
    rewards, want = BY_HAND[name]
    got = _adv(ex, rewards)
    assert torch.isfinite(got).all(), "a group with equal rewards has std 0: its advantages must be 0, not nan"
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float32), atol=1e-5, rtol=1e-5)


def test_group_advantages_without_std(ex):
    got = _adv(ex, [[1, 0, 0, 0], [2, 2, 2, 2]], normalize_std=False)
    torch.testing.assert_close(got, torch.tensor([[0.75, -0.25, -0.25, -0.25], [0.0, 0, 0, 0]]))


def test_group_advantages_each_group_is_its_own_baseline(ex):
    g = torch.Generator().manual_seed(0)
    rewards = torch.rand(6, 8, generator=g) + torch.arange(6).unsqueeze(1)  # groups at different levels
    for std in (True, False):
        got = _adv(ex, rewards.tolist(), normalize_std=std)
        torch.testing.assert_close(got, course_advantages(rewards, normalize_std=std), atol=1e-5, rtol=1e-5)
        assert got.sum(1).abs().max() < 1e-4, "each group's advantages sum to zero"


def _naive_loss(logprobs, adv, mask):
    total, n = 0.0, 0
    for i in range(logprobs.size(0)):
        for t in range(logprobs.size(1)):
            if mask[i, t]:
                total -= adv[i].item() * logprobs[i, t].item()
                n += 1
    return total / n


LOSS_CASES = {
    "ragged completions": [[0, 0, 1, 1, 1, 0], [0, 1, 1, 1, 1, 1], [0, 0, 0, 1, 0, 0]],
    "one long, one short": [[0, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1]],
}


@pytest.mark.parametrize("name", list(LOSS_CASES))
def test_pg_loss_value(ex, name):
    mask = torch.tensor(LOSS_CASES[name], dtype=torch.float32)
    g = torch.Generator().manual_seed(len(name))
    logprobs = -torch.rand(mask.shape, generator=g) * 3
    adv = torch.randn(mask.size(0), generator=g)
    got = ex.pg_loss(logprobs, adv, mask)
    assert isinstance(got, torch.Tensor) and got.dim() == 0, "return one number (a 0-dim tensor)"
    want = _naive_loss(logprobs, adv, mask)
    assert want == pytest.approx(policy_loss(logprobs, adv, mask).item(), rel=1e-6)
    assert got.item() == pytest.approx(want, rel=1e-5), (
        "loss = -sum(A_i * logp_it * mask_it) / number of completion tokens"
    )


def test_pg_loss_gradient(ex, harness):
    mask = torch.tensor([[0, 1, 1, 0], [0, 0, 1, 1], [1, 1, 1, 1]], dtype=torch.float32)
    logprobs = -torch.rand(3, 4, generator=torch.Generator().manual_seed(3))
    adv = torch.tensor([1.5, -0.5, 0.0])
    _, grad = harness("loss_and_grad")(ex.pg_loss, logprobs, adv, mask)
    want = -adv.unsqueeze(1) * mask / mask.sum()
    assert torch.all(grad[mask == 0] == 0), "prompt and padding tokens must get exactly zero gradient"
    torch.testing.assert_close(grad, want, msg="d loss / d logp_it must be -A_i / (number of completion tokens)")


WELL_FORMED = ["9+7=16 4+9+1=14 =146", "146", " =146. ", "=+146", "= 1,146", "=-3", "7+5=12 =12", "0",
               "=1,234,567", "=007"]
MALFORMED = ["", "=", "=14 6", "=146 or 147", "=1,46", "=abc", "12=", "=12..", "=1,2345", "= .", "=12a"]


@pytest.mark.parametrize("text", WELL_FORMED)
def test_parse_answer(ex, text):
    assert course_parse(text) is not None
    assert ex.parse_answer(text) == course_parse(text), f"parse_answer({text!r})"


@pytest.mark.parametrize("text", MALFORMED)
def test_parse_answer_rejects_malformed(ex, text):
    assert course_parse(text) is None  # the reference rejects it too
    assert ex.parse_answer(text) is None, f"parse_answer({text!r}) must be None: the answer is malformed"
