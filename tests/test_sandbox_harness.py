"""course/sandbox_harness.py, run here in-process (the exercise checks run it in the sandbox)."""

import contextlib

import pytest
import torch

from course.distributed import all_reduce_mean
from course.sandbox_harness import run_ranks, sync_trace


def test_run_ranks_gives_every_rank_the_mean_and_its_own_input():
    inputs = [torch.tensor([1.0, 2.0]) * (r + 1) for r in range(3)]
    got = run_ranks(all_reduce_mean, inputs, timeout=20)
    for r, (after, out) in enumerate(got):
        assert torch.equal(after, inputs[r])
        torch.testing.assert_close(out, torch.tensor([2.0, 4.0]))  # mean of 1, 2, 3 times [1, 2]


def test_run_ranks_raises_a_rank_s_error_as_it_was():
    def stub(t, group=None):
        raise NotImplementedError("not yet")

    with pytest.raises(NotImplementedError, match="not yet"):
        run_ranks(stub, [torch.zeros(1), torch.zeros(1)], timeout=20)


def test_sync_trace_records_which_steps_ran_inside_no_sync():
    def last_only(model, i, n):  # an independent, naive answer
        return contextlib.nullcontext() if i == n - 1 else model.no_sync()

    assert sync_trace(last_only, 3) == {"inside": [True, True, False], "no_sync_calls": 2, "inside_after": False}
    assert sync_trace(lambda m, i, n: contextlib.nullcontext(), 2)["inside"] == [False, False]
