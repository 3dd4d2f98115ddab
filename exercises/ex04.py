"""Lesson 04 exercises: what a training step costs, and the training step itself.

Fill in each function, then run the checks from a notebook:

    import course; course.check("04")

or from a terminal: `python -m pytest tests/exercises/test_ex04.py --target exercises`.
The lesson runs your functions beside the package's as it goes ("your turn" cells).
"""

import torch


def flops_per_token(n_params: int, n_layer: int, n_embd: int, seq_len: int) -> int:
    """Training FLOPs (forward and backward) per token of a GPT, counted as lesson 04 counts them.

    `n_params` excludes the position embedding (a lookup, no arithmetic).
    Hints, not the answer:
    - a multiply-add is 2 FLOPs. For one token, how many multiply-adds does
      each weight take part in going forward? Going backward, a matmul needs two
      gradients (for its input and for its weight): how many multiply-adds?
    - attention's two products (queries against keys, then the weighted sum of
      values) have no weights, so no parameter counts them. For one token in a
      sequence of `seq_len`, how many multiply-adds do they take per layer? (The
      lesson counts every position of the score matrix, masked or not.) Then add
      the backward pass as you did for the weights.
    Return an int. GPT-2 124M at T=1024 (N = 123,653,376): 855,166,464.
    """
    raise NotImplementedError("flops_per_token: count the weights' work and attention's, forward and backward")


def mfu(tokens_per_sec: float, flops_per_token: float, peak_flops: float) -> float:
    """Model FLOPs utilization: the fraction of the hardware's peak FLOP/s that the model's
    useful work reaches (1.0 would be every cycle doing the model's arithmetic).

    E.g. 446,000 tokens/s of GPT-2 124M (855.2M FLOPs/token) on an H100 (989e12
    FLOP/s dense bf16) is about 0.386. Raise ValueError if `peak_flops` is not positive.
    """
    raise NotImplementedError("mfu: the model's FLOP/s as a fraction of the peak")


def grad_accum_steps(total_batch: int, micro_batch: int, seq_len: int) -> int:
    """How many micro-batches of `micro_batch` sequences of `seq_len` tokens make one
    optimizer step of `total_batch` tokens.

    GPT-3 small trains on 2**19 = 524,288 tokens per step; in micro-batches of 16
    sequences of 1024 tokens that is 32. Raise ValueError when the micro-batches
    cannot add up to exactly `total_batch` tokens (the step would not have the
    size you asked for).
    """
    raise NotImplementedError("grad_accum_steps: how many micro-batches fill one step, exactly")


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, micro_batches, *,
               amp_dtype: torch.dtype | None = None, max_norm: float = 1.0) -> tuple[float, float]:
    """One optimizer step over several micro-batches (gradient accumulation), in mixed precision.

    `micro_batches` is a list of (x, y) tensors; `model(x, y)` returns (logits, loss),
    loss being the *mean* cross-entropy over that micro-batch's targets that are
    not -1 (-1 marks padding, which the loss ignores). The step must:

    1. start from clean gradients (`.grad` may hold leftovers from before);
    2. run each micro-batch's forward pass under `torch.autocast` with `amp_dtype`
       (device type: that of x), when `amp_dtype` is not None; the backward pass
       runs outside autocast;
    3. leave in `.grad` the gradient of the mean loss over *all* the step's
       non-ignored targets: exactly what one forward/backward over the whole batch
       at once gives, also when the micro-batches hold different numbers of real
       targets (a micro-batch with none contributes nothing);
    4. clip the gradients' global norm to `max_norm`, step the optimizer, and leave
       the gradients cleared.

    Return (loss, grad_norm) as Python floats: the mean loss over all the step's
    targets, and the global gradient norm *before* clipping. Raise ValueError when
    the step has no target at all.

    Hints: `loss.backward()` adds into `.grad`, it does not replace it. Write the
    whole batch's mean as a sum over micro-batches: what weight does each
    micro-batch's mean need? Is it the same for every micro-batch? torch has a
    function that clips a global norm and tells you the norm it found.
    """
    raise NotImplementedError("train_step: accumulate so that .grad equals the big batch's, clip, step")


def lr_at(step: int, max_lr: float, min_lr: float, warmup_steps: int, max_steps: int) -> float:
    """Learning rate at optimizer step `step` (0-based): linear warmup, cosine decay, then a floor.

    - Warmup: `warmup_steps` steps rising in equal increments. Step 0 already
      gets a nonzero rate (a rate of 0 would waste a step); step
      warmup_steps - 1, the last of the warmup, reaches max_lr.
    - Decay: half a period of a cosine, from max_lr at step warmup_steps down to
      min_lr at step max_steps: slow at first, fastest half-way (where the rate
      is exactly between max_lr and min_lr), slow again at the end.
    - From max_steps on: min_lr.
    """
    raise NotImplementedError("lr_at: warmup, then half a cosine from max_lr down to min_lr, then min_lr")
