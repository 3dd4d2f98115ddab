"""Checks for lesson 05's exercises (exercises/ex05.py): rank-strided micro-batches, when DDP
synchronises, and the all-reduce mean of a loss.

The collective checks run real gloo process groups: W threads of this process, each a rank
with its own `ProcessGroupGloo` over one in-memory store (no network, no torchrun).
"""

import contextlib
import datetime
import threading

import pytest
import torch
import torch.distributed as dist

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
def test_sync_only_after_the_last_micro_batch(ex, n_micro):
    model = FakeDDP()
    skipped = []
    for i in range(n_micro):
        with ex.sync_context(model, i, n_micro):
            skipped.append(model.inside)
    want = [True] * (n_micro - 1) + [False]
    assert skipped == want, (
        f"{n_micro} micro-steps: no_sync() for micro-steps {[i for i, s in enumerate(want) if s]} and a sync on "
        f"micro-step {n_micro - 1} expected; got no_sync on {[i for i, s in enumerate(skipped) if s]}"
    )
    assert model.calls == n_micro - 1


@pytest.mark.parametrize("micro_step, n_micro", [(3, 3), (-1, 3), (0, 0)])
def test_sync_context_rejects_a_bad_micro_step(ex, micro_step, n_micro):
    with pytest.raises(ValueError):
        ex.sync_context(FakeDDP(), micro_step, n_micro)


def _run_ranks(world, fn, timeout=60):
    """fn(rank, group) in `world` threads, each with its own gloo group; returns {rank: result}."""
    store, results, errors = dist.HashStore(), {}, {}

    def body(rank):
        try:
            group = dist.ProcessGroupGloo(dist.PrefixStore("ex05", store), rank, world, datetime.timedelta(seconds=20))
            results[rank] = fn(rank, group)
        except BaseException as e:  # noqa: BLE001 - reported below, with the rank
            errors[rank] = e

    threads = [threading.Thread(target=body, args=(r,), daemon=True) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    if errors:
        rank, err = sorted(errors.items())[0]
        raise err if isinstance(err, NotImplementedError) else AssertionError(f"rank {rank} raised {err!r}") from err
    assert len(results) == world, "some ranks did not finish: does every rank make the same collective calls?"
    return results


# ----------------------------------------------------------------------------- all-reduce mean


@pytest.mark.parametrize("world", [2, 3])
def test_all_reduce_mean_of_a_loss(ex, world):
    def rank_fn(rank, group):
        loss = torch.tensor(float(rank + 1) ** 2)
        before = loss.clone()
        out = ex.all_reduce_mean(loss, group=group)
        return before, loss, out

    got = _run_ranks(world, rank_fn)
    want = sum((r + 1) ** 2 for r in range(world)) / world
    for rank, (before, loss, out) in got.items():
        assert isinstance(out, torch.Tensor), f"return a tensor, got {type(out).__name__}"
        assert out.item() == pytest.approx(want), (
            f"{world} ranks with losses {[float((r + 1) ** 2) for r in range(world)]}: every rank should get "
            f"their mean {want:.4g}, rank {rank} got {out.item():.4g}"
        )
        assert torch.equal(loss, before), f"rank {rank}: the caller's tensor was changed in place"


def test_all_reduce_mean_keeps_shape_and_dtype(ex):
    def rank_fn(rank, group):
        x = torch.arange(6, dtype=torch.float64).reshape(2, 3) * (rank + 1)
        return ex.all_reduce_mean(x, group=group)

    got = _run_ranks(2, rank_fn)
    want = torch.arange(6, dtype=torch.float64).reshape(2, 3) * 1.5
    for out in got.values():
        assert out.shape == (2, 3) and out.dtype == torch.float64, f"got shape {tuple(out.shape)}, {out.dtype}"
        torch.testing.assert_close(out, want)
