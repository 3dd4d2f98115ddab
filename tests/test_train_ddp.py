"""`python -m course train` under torchrun trains the model the same command trains in one process.

The flags are the global batch (batch_size x block_size x grad_accum_steps tokens
per step, whatever the number of ranks), so 2 ranks each running half of every
step's micro-batches must reach the parameters that one process accumulating all
of them reaches. Parameters are compared, not only losses: with AdamW a missing
division by the accumulation count moves the loss by only ~1e-5 in a few steps.
"""

import io
import json

import numpy as np
import torch

from course.cli import main
from course.distributed import launch

B, T, A, STEPS = 4, 32, 4, 4
FLAGS = ["--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--block-size", str(T), "--batch-size", str(B),
         "--max-steps", str(STEPS), "--warmup-steps", "1", "--max-lr", "1e-2", "--eval-interval", "0",
         "--eval-batches", "1", "--samples", "0", "--threads", "1", "--quiet", "--device", "cpu"]


def params(run) -> dict:
    return torch.load(run / "ckpt.pt", map_location="cpu", weights_only=False)["model"]


def test_two_ranks_train_the_model_one_process_trains(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train", "--out", str(one), "--grad-accum-steps", str(A), *FLAGS]) == 0
    out = io.StringIO()
    code = launch("course", ["train", "--out", str(two), "--grad-accum-steps", str(A), *FLAGS],
                  nproc=2, timeout=300, out=out)
    assert code == 0, out.getvalue()[-3000:]
    assert out.getvalue().count("custom: GPT") == 1  # only rank 0 prints

    a, b = (json.loads((run / "train.json").read_text()) for run in (one, two))
    assert (a["world_size"], b["world_size"]) == (1, 2)
    for s in (a, b):  # every step recorded; tokens are the global batch, counted once
        assert [r["step"] for r in s["log"]] == list(range(STEPS))
        assert [r["tokens"] for r in s["log"]] == [(k + 1) * B * T * A for k in range(STEPS)]
    assert a["log"][-1]["loss"] < a["log"][0]["loss"] - 0.1  # the model did learn something
    for key in ("loss", "grad_norm", "lr"):
        np.testing.assert_allclose([r[key] for r in b["log"]], [r[key] for r in a["log"]], rtol=1e-6, err_msg=key)

    pa, pb = params(one), params(two)
    assert pa.keys() == pb.keys()
    flat_a = torch.cat([pa[k].flatten().double() for k in pa])
    flat_b = torch.cat([pb[k].flatten().double() for k in pa])
    # relative to the whole model: single elements whose exact gradient is 0 (the key bias: softmax
    # ignores a constant added to every score) get float noise, which AdamW normalizes to lr-sized steps
    rel = float((flat_a - flat_b).norm() / flat_a.norm())
    assert rel <= 1e-6, rel
    ckpt = torch.load(two / "ckpt.pt", map_location="cpu", weights_only=False)
    assert len(ckpt["rng"]) == 2 and ckpt["loader"]["steps_taken"] == STEPS * A
    assert not (two / "train.json.tmp").exists()


def test_ranks_that_cannot_share_the_micro_batches_stop_with_a_clear_error(tmp_path):
    out = io.StringIO()
    code = launch("course", ["train", "--out", str(tmp_path / "run"), "--grad-accum-steps", "3", *FLAGS],
                  nproc=2, timeout=120, out=out)
    text = out.getvalue()
    assert code != 0
    assert "grad_accum_steps=3 cannot be shared by 2 processes" in text, text[-3000:]
    assert not (tmp_path / "run" / "ckpt.pt").exists()
