"""Lesson 07 exercises: group advantages, the masked policy-gradient loss, a robust answer verifier.

Fill in each stub, then run the checks from a notebook:

    import course; course.check("07")

or from a terminal: `python -m pytest tests/exercises/test_ex07.py --target exercises`.

The checks compare your answers with `course.rl` and `course.rl_tasks` and
with values worked out by hand, including the awkward cases: groups where
every sample got the same reward, padding, malformed answers.
"""

import torch


def group_advantages(rewards: torch.Tensor, normalize_std: bool = True) -> torch.Tensor:
    """Advantages for rewards shaped (groups, G): G samples of the same prompt per row.

    Each reward minus the mean of its own row (the group is the baseline).
    With normalize_std, also divide by the row's *population* standard deviation
    (divide by G, not G - 1). A row whose rewards are all equal has std 0: its
    advantages must be exactly 0 (not nan, not inf). Return a float tensor of the same shape.

    [[1, 0, 0, 1]] -> [[1, -1, -1, 1]];  [[1, 1, 1, 1]] -> [[0, 0, 0, 0]]
    """
    raise NotImplementedError("group_advantages: centre each row on its mean, then divide by its std")


def pg_loss(logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The policy-gradient loss, averaged over completion tokens.

    logprobs (N, T): log-probability of each token (with gradient); advantages
    (N,): one per sequence, shared by all its tokens; mask (N, T): 1 on the
    completion tokens the model sampled, 0 on prompt and padding.

    loss = - sum over (i, t) of advantages[i] * logprobs[i, t] * mask[i, t],
           divided by the number of 1s in the mask (every completion token
           counts the same, whichever sequence it is in).
    Masked positions must get exactly zero gradient. Return a 0-dim tensor.
    """
    raise NotImplementedError("pg_loss: -advantage x log-prob on completion tokens, per-token mean")


def parse_answer(text: str) -> int | None:
    """The integer a completion ends with, or None if it is malformed.

    Take what follows the last '=' (the whole text if there is none). Ignore
    spaces around it and one trailing '.'; accept a leading '+' or '-' and
    thousands separators in groups of three ('1,234' -> 1234). Anything else is
    malformed -> None: an empty answer, letters, two numbers ('12 13'),
    misplaced commas ('1,23').

    '9+7=16 4+9+1=14 =146' -> 146;  ' =146. ' -> 146;  '=146 or 147' -> None
    """
    raise NotImplementedError("parse_answer: the text after the last '=', checked strictly")
