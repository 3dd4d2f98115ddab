"""The CPU benchmark's nanoGPT reference (benchmarks/nanogpt_ref.py): its model agrees with the
course's GPT on the same weights, and its training loop runs as nanoGPT's does, in a few steps."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch

from course.model import GPT, GPTConfig

REF = Path(__file__).resolve().parents[1] / "benchmarks" / "nanogpt_ref.py"


@pytest.fixture(scope="module")
def ref():
    spec = importlib.util.spec_from_file_location("nanogpt_ref", REF)
    module = importlib.util.module_from_spec(spec)
    sys.modules["nanogpt_ref"] = module  # its dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("nanogpt_ref", None)


def test_reference_model_has_nanogpts_parameter_count(ref):
    # nanoGPT prints "number of parameters: 0.80M" for its README CPU recipe (bias=False, vocab 65):
    # per layer 2 x 128 (LayerNorm gains) + 128 x 384 + 128 x 128 + 2 x 128 x 512, plus wte and ln_f
    model = ref.GPT(ref.GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab_size=65, bias=False))
    per_layer = 2 * 128 + 128 * 384 + 128 * 128 + 2 * 128 * 512
    assert model.get_num_params() == 4 * per_layer + 65 * 128 + 128


@pytest.mark.parametrize("bias", [False, True])
def test_course_gpt_with_exact_gelu_equals_the_reference(ref, bias):
    """Two independent implementations, one set of weights: the same logits and loss."""
    torch.manual_seed(0)
    mine = GPT(GPTConfig(n_layer=2, n_head=4, n_embd=64, block_size=32, vocab_size=65, bias=bias, gelu="exact"))
    theirs = ref.GPT(ref.GPTConfig(n_layer=2, n_head=4, n_embd=64, block_size=32, vocab_size=65, bias=bias))
    theirs.load_state_dict(mine.state_dict())
    x = torch.randint(0, 65, (3, 32))
    y = torch.randint(0, 65, (3, 32))
    a, la = mine(x, y)
    b, lb = theirs(x, y)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(la, lb)
    # GPT-2's tanh GELU is a different function: the logits move (slightly)
    mine.config.gelu = "tanh"
    tanh = GPT(mine.config)
    tanh.load_state_dict(mine.state_dict())
    assert not torch.allclose(tanh(x)[0], a, atol=1e-7)


def test_gelu_must_be_known():
    with pytest.raises(ValueError, match="gelu"):
        GPTConfig(gelu="fast")


def test_reference_loop_runs_like_nanogpts(ref, tmp_path):
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 40
    data = tmp_path / "data"
    vocab = ref.prepare(str(data), text)
    assert vocab == len(set(text))
    assert (data / "train.bin").stat().st_size == 2 * int(len(text) * 0.9)  # uint16 ids, the first 90%
    lines = []
    r = ref.Recipe(max_iters=20, lr_decay_iters=20, eval_interval=10, eval_iters=4, warmup_iters=0,
                   learning_rate=1e-2, min_lr=1e-3, block_size=16, batch_size=4)
    h = ref.train(str(tmp_path / "out"), str(data), r, log=lines.append)
    assert h["iters"] == [0, 10, 20]  # evaluations at 0, every eval_interval, and at max_iters
    assert len(h["dt"]) == 21  # nanoGPT runs iterations 0..max_iters
    assert abs(h["val"][0] - math.log(vocab)) < 0.3  # an untrained model is close to uniform
    assert h["val"][-1] < h["val"][0] - 0.25  # it learns
    assert (tmp_path / "out" / "ckpt.pt").exists()  # saved when val improved
    assert sum(line.startswith("iter ") for line in lines) == 21  # --log_interval=1
