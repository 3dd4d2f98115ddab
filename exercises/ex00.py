"""Lesson 00 exercises: warm-ups that show how exercises and checks work.

Fill in each function, then run the checks from a notebook:

    import course; course.check("00")

or from a terminal: `python -m pytest tests/exercises/test_ex00.py --target exercises`.
"""

import torch


def softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax of `logits` along `dim`, computed stably.

    softmax(x)_i = exp(x_i) / sum_j exp(x_j). Written as is, it breaks: exp(89.0)
    is already inf in float32, so logits of a few hundred give inf / inf = nan.
    Adding the same constant to every x_i along `dim` leaves the result unchanged
    (why?); pick the constant so that no exponent is positive -- for each slice
    along `dim` on its own, since two rows may be a thousand apart.
    Return a tensor of the same shape and dtype whose entries along `dim` are >= 0
    and sum to 1. Build it from exp, sums and the like: do not call a softmax
    (torch.softmax, F.softmax, x.softmax, log_softmax); a check watches for them.
    """
    raise NotImplementedError("softmax: shift, exponentiate, normalise")


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters in `model` (parameters only: buffers such as
    BatchNorm's running statistics are state, not parameters).

    Numbers that exist once in memory count once. GPT-2 ties its output head to
    its token embedding: two modules, one matrix. That tie can be made by giving
    both modules the same Parameter, or by wrapping the same memory in a second
    Parameter (`head.weight = nn.Parameter(emb.weight.data)`); count the matrix
    once either way. (Which of the two does `model.parameters()` see through? A
    tensor's `data_ptr()` says where its numbers live.)
    With `trainable_only=True`, count only parameters with requires_grad=True.
    """
    raise NotImplementedError("count_parameters: numel of each distinct parameter")
