"""Checks for lesson 05's exercises (exercises/ex05.py): rank-strided micro-batches, when DDP
synchronises, and the all-reduce mean of a loss.

Two checks drive the learner's code where it runs, in the sandbox, through course/sandbox_harness.py
(the `harness` fixture): the loop that enters sync_context's context managers, and the ranks of the
collective checks, real gloo process groups (W threads, each a rank with its own `ProcessGroupGloo`
over one in-memory store: no network, no torchrun). Only plain data comes back; the references
are computed here.
"""

import contextlib

import pytest
import torch

LESSON = "05"


# ----------------------------------------------------------------------------- rank-strided batches


@pytest.mark.parametrize("n, world", [(8, 1), (8, 2), (8, 4), (6, 3), (12, 4)])
def test_rank_batches_are_strided_disjoint_and_complete(ex, n, world):
    items = [f"mb{i}" for i in range(n)]
    shares = [ex.rank_batches(items, r, world) for r in range(world)]
    for r, share in enumerate(shares):
        want = [items[i] for i in range(r, n, world)]
        assert list(share) == want, (
            f"{n} micro-batches, rank {r} of {world}: expected {want}, got {share} "
            "(rank r takes micro-batch r, then every world_size-th one after it)"
        )
    assert sorted(x for s in shares for x in s) == sorted(items), "together the ranks must run every micro-batch once"


def test_rank_batches_accepts_any_sequence(ex):
    assert list(ex.rank_batches(range(6), 1, 2)) == [1, 3, 5]
    assert list(ex.rank_batches((10, 20, 30, 40), 0, 2)) == [10, 30]


@pytest.mark.parametrize("n, world", [(6, 4), (5, 2), (3, 4)])
def test_rank_batches_rejects_an_unequal_split(ex, n, world):
    with pytest.raises(ValueError):  # some rank would run fewer backward passes and hang the all-reduce
        ex.rank_batches(list(range(n)), 0, world)


@pytest.mark.parametrize("rank, world", [(2, 2), (-1, 2), (0, 0)])
def test_rank_batches_rejects_a_bad_rank(ex, rank, world):
    with pytest.raises((ValueError, ZeroDivisionError)):
        ex.rank_batches(list(range(4)), rank, world)


# ----------------------------------------------------------------------------- when to sync


class FakeDDP:
    """Records which micro-steps ran inside no_sync()."""

    def __init__(self):
        self.inside = False
        self.calls = 0

    @contextlib.contextmanager
    def no_sync(self):
        self.calls += 1
        self.inside = True
        try:
            yield
        finally:
            self.inside = False


@pytest.mark.parametrize("n_micro", [1, 2, 3, 5])
def test_sync_only_after_the_last_micro_batch(ex, harness, n_micro):
    # the loop `for i: with ex.sync_context(model, i, n): backward()` runs in the sandbox
    # (a context manager can't cross as data); it reports, per micro-step, whether it ran inside no_sync()
    got = harness("sync_trace")(ex.sync_context, n_micro)
    skipped = got["inside"]
    want = [True] * (n_micro - 1) + [False]
    assert skipped == want, (
        f"{n_micro} micro-steps: no_sync() for micro-steps {[i for i, s in enumerate(want) if s]} and a sync on "
        f"micro-step {n_micro - 1} expected; got no_sync on {[i for i, s in enumerate(skipped) if s]}"
    )
    assert got["no_sync_calls"] == n_micro - 1, f"model.no_sync() called {got['no_sync_calls']} times"
    assert got["inside_after"] is False, "the model was left inside no_sync() after the step"


@pytest.mark.parametrize("micro_step, n_micro", [(3, 3), (-1, 3), (0, 0)])
def test_sync_context_rejects_a_bad_micro_step(ex, micro_step, n_micro):
    with pytest.raises(ValueError):
        ex.sync_context(FakeDDP(), micro_step, n_micro)


# ----------------------------------------------------------------------------- all-reduce mean


def _all_reduce_mean_on_ranks(ex, harness, inputs):
    """ex.all_reduce_mean(inputs[r], group=...) on len(inputs) ranks (threads with gloo groups,
    in the sandbox, where the learner's code runs); returns [(input_after, output)] per rank."""
    got = harness("run_ranks")(ex.all_reduce_mean, [t.clone() for t in inputs])
    missing = [r for r, res in enumerate(got) if res is None]
    assert not missing, f"ranks {missing} did not finish: does every rank make the same collective calls?"
    return got


@pytest.mark.parametrize("world", [2, 3])
def test_all_reduce_mean_of_a_loss(ex, harness, world):
    losses = [torch.tensor(float(r + 1) ** 2) for r in range(world)]
    got = _all_reduce_mean_on_ranks(ex, harness, losses)
    want = sum((r + 1) ** 2 for r in range(world)) / world
    for rank, (loss, out) in enumerate(got):
        assert isinstance(out, torch.Tensor), f"return a tensor, got {type(out).__name__}"
        assert out.shape == () and out.item() == pytest.approx(want), (
            f"{world} ranks with losses {[float((r + 1) ** 2) for r in range(world)]}: every rank should get "
            f"their mean {want:.4g}, rank {rank} got {out.tolist()}"
        )
        assert torch.equal(loss, losses[rank]), f"rank {rank}: the caller's tensor was changed in place"


def test_all_reduce_mean_keeps_shape_and_dtype(ex, harness):
    base = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    got = _all_reduce_mean_on_ranks(ex, harness, [base * 1, base * 2])
    want = base * 1.5
    for _, out in got:
        assert isinstance(out, torch.Tensor), f"return a tensor, got {type(out).__name__}"
        assert out.shape == (2, 3) and out.dtype == torch.float64, f"got shape {tuple(out.shape)}, {out.dtype}"
        torch.testing.assert_close(out, want)
