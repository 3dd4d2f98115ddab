"""Checks for lesson 00's warm-up exercises (exercises/ex00.py)."""

import torch

LESSON = "00"


def test_softmax_matches_torch(ex):
    torch.manual_seed(0)
    x = torch.randn(4, 7)
    got = ex.softmax(x)
    assert got.shape == x.shape, f"softmax should keep the shape {tuple(x.shape)}, got {tuple(got.shape)}"
    torch.testing.assert_close(got, torch.softmax(x, dim=-1), msg="softmax(x) should equal torch.softmax(x, -1)")


def test_softmax_other_dim(ex):
    torch.manual_seed(1)
    x = torch.randn(3, 5, 2)
    torch.testing.assert_close(ex.softmax(x, dim=1), torch.softmax(x, dim=1),
                               msg="softmax(x, dim=1) should normalise along dim 1")


def test_softmax_is_stable_for_large_logits(ex):
    x = torch.tensor([1000.0, 1001.0, 1002.0])
    got = ex.softmax(x)
    assert torch.isfinite(got).all(), "softmax of [1000, 1001, 1002] gave inf/nan: subtract the max first"
    torch.testing.assert_close(got, torch.softmax(x, dim=-1))


def test_count_parameters(ex):
    model = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.ReLU(), torch.nn.Linear(20, 3, bias=False))
    assert ex.count_parameters(model) == 10 * 20 + 20 + 20 * 3, "Linear(10,20) + Linear(20,3,no bias) has 280 parameters"


def test_count_parameters_tied_and_frozen(ex):
    emb = torch.nn.Embedding(50, 8)
    head = torch.nn.Linear(8, 50, bias=False)
    head.weight = emb.weight  # weight tying: one tensor, two modules
    model = torch.nn.ModuleDict({"emb": emb, "head": head, "norm": torch.nn.LayerNorm(8)})
    assert ex.count_parameters(model) == 50 * 8 + 16, "a tied weight counts once: 400 + LayerNorm's 16"
    model["norm"].weight.requires_grad_(False)
    assert ex.count_parameters(model, trainable_only=True) == 50 * 8 + 8, \
        "trainable_only=True should skip the frozen LayerNorm weight"
