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
    assert torch.isfinite(got).all(), "softmax of [1000, 1001, 1002] gave inf/nan: exp(1000) overflows float32"
    torch.testing.assert_close(got, torch.softmax(x, dim=-1))


def test_softmax_is_stable_row_by_row(ex):
    # Rows far apart: one shift for the whole tensor leaves a row whose every exponent underflows.
    x = torch.tensor([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0]])
    got = ex.softmax(x)
    assert torch.isfinite(got).all(), (
        "softmax of the rows [1000, 1001, 1002] and [-1000, -1001, -1002] gave inf/nan: "
        "the shift that keeps exp in range must be taken along `dim`, for each row"
    )
    torch.testing.assert_close(got, torch.softmax(x, dim=-1))


def test_softmax_builds_it_itself(ex, harness):
    x = torch.randn(2, 5, generator=torch.Generator().manual_seed(2))
    got, used = harness("forbidden_calls")(ex.softmax, x)
    assert not used, f"the spec asks you to build softmax, not to call {', '.join(used)}"
    torch.testing.assert_close(got, torch.softmax(x, dim=-1))


def test_count_parameters(ex):
    model = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.ReLU(), torch.nn.Linear(20, 3, bias=False))
    assert ex.count_parameters(model) == 10 * 20 + 20 + 20 * 3, "Linear(10,20) + Linear(20,3,no bias) has 280 parameters"


def _model():
    emb = torch.nn.Embedding(50, 8)
    head = torch.nn.Linear(8, 50, bias=False)
    return torch.nn.ModuleDict({"emb": emb, "head": head, "norm": torch.nn.LayerNorm(8)})


def test_count_parameters_tied_and_frozen(ex):
    model = _model()
    model["head"].weight = model["emb"].weight  # GPT-2's tie: one Parameter, two modules
    assert ex.count_parameters(model) == 50 * 8 + 16, "a tied weight counts once: 400 + LayerNorm's 16"
    model["norm"].weight.requires_grad_(False)
    assert ex.count_parameters(model, trainable_only=True) == 50 * 8 + 8, \
        "trainable_only=True should skip the frozen LayerNorm weight"


def test_count_parameters_tied_through_memory(ex, harness):
    # head.weight = nn.Parameter(emb.weight.data), made where your code runs
    got = harness("call_with_ties")(ex.count_parameters, _model(), [("emb.weight", "head.weight")])
    assert got == 50 * 8 + 16, (
        "the head's weight is a second Parameter over the embedding's memory: the 400 numbers exist "
        "once (400 + LayerNorm's 16 = 416), though model.parameters() yields both"
    )


def test_count_parameters_counts_parameters_not_buffers(ex):
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    # BatchNorm's running mean and variance are buffers (state, not parameters): 20 + 8
    assert ex.count_parameters(model) == 4 * 4 + 4 + 8, "buffers such as BatchNorm's running stats are not parameters"
