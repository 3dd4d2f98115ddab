"""Checks for lesson 04's exercises (exercises/ex04.py): MFU, gradient accumulation, the LR schedule."""

import math

import pytest
import torch

LESSON = "04"

GPT2_N = 124_439_808 - 1024 * 768  # GPT-2 124M without its position embedding


# ----------------------------------------------------------------------------- FLOPs and MFU


def test_flops_per_token_gpt2(ex):
    got = ex.flops_per_token(GPT2_N, 12, 768, 1024)
    assert got == 855_166_464, (
        f"GPT-2 124M at T=1024: 6 * {GPT2_N:,} + 12 * 12 * 768 * 1024 = 855,166,464 FLOPs/token, got {got!r}"
    )


def test_flops_per_token_counts_attention_separately(ex):
    assert ex.flops_per_token(1000, 1, 8, 0) == 6000, "with seq_len=0 only the 6N term is left: 6 * 1000"
    assert ex.flops_per_token(0, 2, 8, 16) == 12 * 2 * 8 * 16, "with no parameters only 12*L*d*T is left"


def test_mfu_known_case(ex):
    got = ex.mfu(446_000, 855_166_464, 989e12)
    assert got == pytest.approx(0.38565, abs=1e-5), f"446k tok/s x 855.2M FLOPs/token / 989 TFLOP/s = 0.3857, got {got}"
    assert ex.mfu(1.0, 2.0, 4.0) == pytest.approx(0.5), "1 token/s x 2 FLOPs/token on a 4 FLOP/s machine is 0.5"


def test_mfu_rejects_a_bad_peak(ex):
    with pytest.raises(ValueError):
        ex.mfu(1000.0, 1e6, 0.0)


# ----------------------------------------------------------------------------- gradient accumulation


def test_grad_accum_steps(ex):
    assert ex.grad_accum_steps(2**19, 16, 1024) == 32, "2**19 tokens in micro-batches of 16 x 1024 = 32 micro-batches"
    assert ex.grad_accum_steps(2**19, 64, 1024) == 8
    with pytest.raises(ValueError):
        ex.grad_accum_steps(1000, 16, 64)


def _model():
    from course.model import GPT, GPTConfig

    torch.manual_seed(0)
    return GPT(GPTConfig(block_size=8, vocab_size=40, n_layer=1, n_head=2, n_embd=16))


def _big_batch_grads(x, y):
    model = _model()
    _, loss = model(x, y)  # one forward/backward over everything: the reference
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()}


def _check_grads(model, expected, what):
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name}.grad is None after {what}: call backward on each micro-batch's loss"
        torch.testing.assert_close(
            p.grad, expected[name], rtol=1e-4, atol=1e-6,
            msg=lambda m, name=name: f"{name}: accumulated gradient != big-batch gradient ({what}). "
                                     f"Scale each micro-batch's loss by its share of the targets. {m}",
        )


def test_accumulate_gradients_equals_big_batch(ex):
    torch.manual_seed(1)
    x, y = torch.randint(0, 40, (8, 8)), torch.randint(0, 40, (8, 8))
    loss, expected = _big_batch_grads(x, y)
    model = _model()
    got = ex.accumulate_gradients(model, [(x[i : i + 2], y[i : i + 2]) for i in range(0, 8, 2)])
    _check_grads(model, expected, "4 micro-batches of 2")
    assert float(got) == pytest.approx(loss, rel=1e-5), f"should return the mean loss over all targets, {loss:.5f}"


def test_accumulate_gradients_with_padding(ex):
    # micro-batches with different numbers of real targets (-1 = padding, ignored):
    # dividing each loss by the number of micro-batches is wrong here.
    torch.manual_seed(2)
    x, y = torch.randint(0, 40, (4, 8)), torch.randint(0, 40, (4, 8))
    y[0, 2:] = -1  # 2 real targets in row 0
    y[1, 7:] = -1  # 7 in row 1
    loss, expected = _big_batch_grads(x, y)
    model = _model()
    got = ex.accumulate_gradients(model, [(x[:1], y[:1]), (x[1:], y[1:])])
    _check_grads(model, expected, "micro-batches with 2 and 23 real targets")
    assert float(got) == pytest.approx(loss, rel=1e-5)


# ----------------------------------------------------------------------------- the learning-rate schedule


def _reference_lr(step, max_lr, min_lr, warmup, max_steps):
    if step < warmup:
        return max_lr * (step + 1) / warmup
    if step >= max_steps:
        return min_lr
    return min_lr + (max_lr - min_lr) * (1 + math.cos(math.pi * (step - warmup) / (max_steps - warmup))) / 2


def test_lr_warmup_is_linear(ex):
    got = [ex.lr_at(s, 6e-4, 6e-5, 10, 100) for s in range(10)]
    want = [6e-4 * (s + 1) / 10 for s in range(10)]
    assert got == pytest.approx(want), f"warmup over 10 steps: {want[:3]} ... {want[-1]}, got {got[:3]} ... {got[-1]}"


def test_lr_cosine_landmarks(ex):
    assert ex.lr_at(10, 6e-4, 6e-5, 10, 110) == pytest.approx(6e-4), "the decay starts at max_lr"
    assert ex.lr_at(60, 6e-4, 6e-5, 10, 110) == pytest.approx(3.3e-4), "half-way through the decay: (max+min)/2"
    assert ex.lr_at(110, 6e-4, 6e-5, 10, 110) == pytest.approx(6e-5), "at max_steps: min_lr"
    assert ex.lr_at(500, 6e-4, 6e-5, 10, 110) == pytest.approx(6e-5), "after max_steps: min_lr"


def test_lr_whole_schedule(ex):
    got = [ex.lr_at(s, 1.0, 0.1, 7, 50) for s in range(60)]
    want = [_reference_lr(s, 1.0, 0.1, 7, 50) for s in range(60)]
    assert got == pytest.approx(want), "warmup 7, cosine to step 50 from 1.0 to 0.1: some steps differ"
    assert all(a >= b for a, b in zip(got[6:], got[7:])), "after warmup the rate never goes up"
