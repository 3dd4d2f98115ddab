"""Lesson 00 exercises: warm-ups that show how exercises and checks work.

Fill in each function, then run the checks from a notebook:

    import course; course.check("00")

or from a terminal: `python -m pytest tests/exercises/test_ex00.py --target exercises`.
"""

import torch


def softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax of `logits` along `dim`, computed stably.

    exp(x_i) / sum_j exp(x_j) overflows for large logits (exp(1000) is inf in
    float32). Subtract the maximum along `dim` first: the result is unchanged
    mathematically, and every exponent is then <= 0. Return a tensor of the
    same shape and dtype whose entries along `dim` are >= 0 and sum to 1.
    Do not call torch.softmax / F.softmax (the checks compare against them).
    """
    raise NotImplementedError("softmax: subtract the max, exponentiate, normalise")


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters in `model`.

    A parameter shared between two modules (e.g. tied embedding and output
    weights) counts once. With `trainable_only=True`, count only parameters
    with requires_grad=True.
    """
    raise NotImplementedError("count_parameters: sum p.numel() over the model's parameters")
