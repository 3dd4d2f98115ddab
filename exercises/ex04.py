"""Lesson 04 exercises: measuring training speed, and the training loop's arithmetic.

Fill in each function, then run the checks from a notebook:

    import course; course.check("04")

or from a terminal: `python -m pytest tests/exercises/test_ex04.py --target exercises`.
"""

import torch


def flops_per_token(n_params: int, n_layer: int, n_embd: int, seq_len: int) -> int:
    """Training FLOPs per token of a GPT: 6N + 12 * n_layer * n_embd * seq_len.

    Every parameter takes part in one multiply-add (2 FLOPs) per token in the
    forward pass and two in the backward pass (the gradient with respect to the
    input and with respect to the weight): 6 FLOPs per parameter per token.
    Attention adds work no parameter counts: the scores q k^T and the weighted
    sum of the values, 2 * 2 * seq_len * n_embd FLOPs forward per layer, times
    3 with the backward pass: 12 * n_layer * n_embd * seq_len.
    Return an int. (GPT-2 124M without its position embedding: N = 123,653,376.)
    """
    raise NotImplementedError("flops_per_token: 6 * n_params + 12 * n_layer * n_embd * seq_len")


def mfu(tokens_per_sec: float, flops_per_token: float, peak_flops: float) -> float:
    """Model FLOPs utilization: the model FLOPs per second achieved, as a fraction of `peak_flops`.

    E.g. 446,000 tokens/s at 855e6 FLOPs/token on an H100 (989e12 FLOP/s dense
    bf16) is about 0.386. Raise ValueError if `peak_flops` is not positive.
    """
    raise NotImplementedError("mfu: tokens_per_sec * flops_per_token / peak_flops")


def grad_accum_steps(total_batch: int, micro_batch: int, seq_len: int) -> int:
    """How many micro-batches of `micro_batch` sequences of `seq_len` tokens make
    one optimizer step of `total_batch` tokens.

    GPT-3 small trains on 2**19 = 524,288 tokens per step; with micro-batches of
    16 sequences of 1024 tokens that is 32 micro-batches. Raise ValueError when
    `total_batch` is not a multiple of micro_batch * seq_len (the step would not
    have the size you asked for).
    """
    raise NotImplementedError("grad_accum_steps: total_batch // (micro_batch * seq_len), after checking it divides")


def accumulate_gradients(model: torch.nn.Module, micro_batches) -> float:
    """Forward and backward over each (x, y) in `micro_batches`, adding up gradients in `.grad`.

    `model(x, y)` returns (logits, loss) where loss is the *mean* cross-entropy
    over the targets of that micro-batch that are not -1 (-1 marks padding to
    ignore). After this function, the parameters' `.grad` must equal the
    gradient of the mean loss over *all* the non-ignored targets of all the
    micro-batches: what one forward/backward over the whole batch would give.

    loss.backward() adds into `.grad`, so scale each micro-batch's loss before
    calling backward: by its share of the step's target tokens, n_i / N, where
    n_i counts the targets != -1 in micro-batch i and N the total. (Dividing
    by the number of micro-batches is the same only when every micro-batch has
    the same number of targets.) The caller zeroes the gradients beforehand.
    Return the mean loss over all N targets as a Python float.
    """
    raise NotImplementedError("accumulate_gradients: weight each micro-batch's loss by n_i / N, then backward")


def lr_at(step: int, max_lr: float, min_lr: float, warmup_steps: int, max_steps: int) -> float:
    """Learning rate at optimizer step `step` (0-based): linear warmup, then cosine decay.

    - warmup: for step < warmup_steps, max_lr * (step + 1) / warmup_steps
      (so step 0 already moves, and step warmup_steps - 1 reaches max_lr);
    - decay: for warmup_steps <= step < max_steps, with
      ratio = (step - warmup_steps) / (max_steps - warmup_steps),
      min_lr + 0.5 * (1 + cos(pi * ratio)) * (max_lr - min_lr)
      (max_lr at the end of warmup, half-way between at the middle of the decay);
    - from max_steps on: min_lr.
    """
    raise NotImplementedError("lr_at: linear warmup, then half a cosine from max_lr down to min_lr")
