"""Checks for lesson 04's exercises (exercises/ex04.py): FLOPs and MFU, the training step
(accumulation, autocast, clipping), the LR schedule. The training step is checked against one
forward/backward over the whole batch, written here with torch alone."""

import math

import pytest
import torch

LESSON = "04"

GPT2_N = 124_439_808 - 1024 * 768  # GPT-2 124M without its position embedding


# ----------------------------------------------------------------------------- FLOPs and MFU


def test_flops_per_token_gpt2(ex):
    got = ex.flops_per_token(GPT2_N, 12, 768, 1024)
    assert got == 855_166_464, f"GPT-2 124M at T=1024 is 855,166,464 FLOPs/token (lesson 04, section 1), got {got!r}"


def test_flops_per_token_counts_weights_and_attention_separately(ex):
    assert ex.flops_per_token(1000, 1, 8, 0) == 6000, (
        "1000 weights and no attention (seq_len=0): 6000 FLOPs, 2 forward and 4 backward per weight")
    assert ex.flops_per_token(0, 2, 8, 16) == 3072, (
        "no weights, 2 layers, d=8, T=16: attention alone is 3072 FLOPs per token, forward and backward")


def test_mfu_known_case(ex):
    got = ex.mfu(446_000, 855_166_464, 989e12)
    assert got == pytest.approx(0.38565, abs=1e-5), f"446k tok/s x 855.2M FLOPs/token / 989 TFLOP/s = 0.3857, got {got}"
    assert ex.mfu(1.0, 2.0, 4.0) == pytest.approx(0.5), "1 token/s x 2 FLOPs/token on a 4 FLOP/s machine is 0.5"


def test_mfu_rejects_a_bad_peak(ex):
    with pytest.raises(ValueError):
        ex.mfu(1000.0, 1e6, 0.0)


def test_grad_accum_steps(ex):
    assert ex.grad_accum_steps(2**19, 16, 1024) == 32, "2**19 tokens in micro-batches of 16 x 1024 = 32 micro-batches"
    assert ex.grad_accum_steps(2**19, 64, 1024) == 8
    with pytest.raises(ValueError):
        ex.grad_accum_steps(1000, 16, 64)


# ----------------------------------------------------------------------------- the training step

VOCAB = 40


def _model():
    from course.model import GPT, GPTConfig

    torch.manual_seed(0)
    return GPT(GPTConfig(block_size=8, vocab_size=VOCAB, n_layer=1, n_head=2, n_embd=16))


def _sgd(model):
    # plain SGD: the update is the gradient itself, so a gradient off by a factor shows in the weights
    # (Adam would divide most of that factor away)
    return torch.optim.SGD(model.parameters(), lr=0.1)


def _big_batch_step(x, y, max_norm):
    """The reference, with torch alone: one forward/backward over the whole batch, clip, SGD step."""
    model = _model()
    _, loss = model(x, y)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item()
    clip = min(1.0, max_norm / (norm + 1e-6))
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.1 * clip * p.grad
    return loss.item(), norm, [p.detach().clone() for p in model.parameters()]


def _batch(seed, rows=8):
    torch.manual_seed(seed)
    return torch.randint(0, VOCAB, (rows, 8)), torch.randint(0, VOCAB, (rows, 8))


class _StaleGrads(torch.nn.Module):
    """The model with leftover gradients (from an earlier step, an evaluation...) in every `.grad`.

    Pickling drops `.grad`, so the leftovers are put back when the model is unpickled in the sandbox."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self._fill()

    def _fill(self):
        for p in self.parameters():
            p.grad = torch.full_like(p, 0.5)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._fill()

    def forward(self, x, y):
        return self.inner(x, y)


def _check_step(ex, x, y, micro, what, max_norm=1e9, stale=False):
    want_loss, want_norm, want_params = _big_batch_step(x, y, max_norm)
    # leftovers from an earlier step or an evaluation: the step must not add onto them
    model = _StaleGrads(_model()) if stale else _model()
    out = ex.train_step(model, _sgd(model), micro, max_norm=max_norm)
    assert isinstance(out, tuple) and len(out) == 2, f"return (loss, grad_norm), got {out!r}"
    loss, norm = out
    assert float(loss) == pytest.approx(want_loss, rel=1e-5), (
        f"{what}: the loss should be the mean over all the step's targets, {want_loss:.5f}, got {float(loss):.5f}")
    assert float(norm) == pytest.approx(want_norm, rel=1e-4), (
        f"{what}: the gradient norm before clipping should be the whole batch's, {want_norm:.5f}, got {float(norm):.5f}")
    for (name, p), want in zip(model.named_parameters(), want_params):
        torch.testing.assert_close(p.detach(), want, rtol=1e-4, atol=1e-6, msg=lambda m, name=name: (
            f"{name} after the step differs from the big-batch step ({what}). {m}"))
    for name, p in model.named_parameters():
        assert p.grad is None or not p.grad.any(), f"{name}.grad is not cleared after the step"


def test_train_step_equals_one_big_batch(ex):
    x, y = _batch(1)
    _check_step(ex, x, y, [(x[i : i + 2], y[i : i + 2]) for i in range(0, 8, 2)], "4 micro-batches of 2")


def test_train_step_with_padding(ex):
    # micro-batches with different numbers of real targets (-1 = padding, ignored)
    x, y = _batch(2, rows=4)
    y[0, 2:] = -1  # 2 real targets in row 0
    y[1, 7:] = -1  # 7 in row 1
    _check_step(ex, x, y, [(x[:1], y[:1]), (x[1:], y[1:])], "micro-batches with 2 and 23 real targets")


def test_train_step_with_a_micro_batch_of_padding_only(ex):
    x, y = _batch(3, rows=4)
    y[2:] = -1
    _check_step(ex, x, y, [(x[:2], y[:2]), (x[2:], y[2:])], "a second micro-batch with no real target")


def test_train_step_starts_from_clean_gradients(ex):
    x, y = _batch(4)
    _check_step(ex, x, y, [(x[:4], y[:4]), (x[4:], y[4:])], "stale .grad before the step", stale=True)


def test_train_step_clips_and_returns_the_norm_before_clipping(ex):
    x, y = _batch(5)
    _check_step(ex, x, y, [(x[:4], y[:4]), (x[4:], y[4:])], "max_norm=0.05", max_norm=0.05)


def test_train_step_rejects_a_step_with_no_targets(ex):
    x, y = _batch(6, rows=2)
    y[:] = -1
    model = _model()
    with pytest.raises(ValueError):
        ex.train_step(model, _sgd(model), [(x, y)])


class _Probe(torch.autograd.Function):
    """Identity on the loss that counts, in a buffer, backward passes run with autocast on."""

    @staticmethod
    def forward(ctx, loss, counts):
        ctx.counts = counts
        return loss.clone()

    @staticmethod
    def backward(ctx, grad):
        ctx.counts[0] += 1
        ctx.counts[1] += float(torch.is_autocast_enabled("cpu"))
        return grad, None


class _Probed(torch.nn.Module):
    """The model, counting in buffers (they come back from the sandbox with the module):
    forward passes, those under bf16 autocast, those under any autocast; backward passes, those under autocast."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.register_buffer("fwd", torch.zeros(3))
        self.register_buffer("bwd", torch.zeros(2))

    def forward(self, x, y):
        on = torch.is_autocast_enabled("cpu")
        self.fwd += torch.tensor([1.0, float(on and torch.get_autocast_dtype("cpu") == torch.bfloat16), float(on)])
        _, loss = self.inner(x, y)
        return None, _Probe.apply(loss, self.bwd)


@pytest.mark.parametrize("amp_dtype", [torch.bfloat16, None])
def test_train_step_autocasts_the_forward_only(ex, amp_dtype):
    x, y = _batch(7, rows=4)
    model = _Probed(_model())
    ex.train_step(model, _sgd(model), [(x[:2], y[:2]), (x[2:], y[2:])], amp_dtype=amp_dtype)
    fwd, bf16, any_autocast = model.fwd.tolist()
    assert fwd == 2, f"2 micro-batches: 2 forward passes, saw {fwd:.0f}"
    want = 2 if amp_dtype is not None else 0
    assert bf16 == any_autocast == want, (
        f"amp_dtype={amp_dtype}: want {want} of the 2 forward passes under autocast to it, "
        f"saw {any_autocast:.0f} under autocast, {bf16:.0f} of them to bfloat16")
    n_bwd, bwd_autocast = model.bwd.tolist()
    assert n_bwd == 2, f"one backward per micro-batch, saw {n_bwd:.0f}"
    assert bwd_autocast == 0, f"backward should run outside autocast: {bwd_autocast:.0f} of 2 ran inside it"


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
