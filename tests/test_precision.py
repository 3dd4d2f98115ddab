"""Precision that fits the GPU: --dtype auto per device (mocked), the fp16 grad scaler, NaN stops the run."""

import math

import pytest
import torch
from tiny_gpt import ids, tiny_model

from course import precision
from course.checkpoint import load_checkpoint
from course.model import GPT, GPTConfig
from course.optim import clip_and_step
from course.precision import NonFiniteLoss, autocast_dtype, grad_scaler
from course.train import TrainConfig, accumulate_gradients, train


@pytest.fixture
def gpu(monkeypatch):
    """Pretend a CUDA GPU of a given compute capability is present (and claims bf16, as a T4 does)."""

    def install(capability):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # emulated on a T4

    return install


@pytest.mark.parametrize("name, capability", [("T4", (7, 5)), ("V100", (7, 0))])
def test_auto_picks_fp16_with_a_scaler_on_gpus_without_bf16_tensor_cores(gpu, name, capability):
    gpu(capability)
    dtype = autocast_dtype("cuda", "auto")
    assert dtype is torch.float16, name
    assert isinstance(grad_scaler("cuda", dtype), torch.amp.GradScaler)


@pytest.mark.parametrize("name, capability", [("A100", (8, 0)), ("RTX 4090", (8, 9)), ("H100", (9, 0))])
def test_auto_picks_bf16_without_a_scaler_from_ampere_on(gpu, name, capability):
    gpu(capability)
    assert autocast_dtype("cuda:0", "auto") is torch.bfloat16, name
    assert grad_scaler("cuda", torch.bfloat16) is None


@pytest.mark.parametrize("device", ["cpu", "mps"])
def test_auto_is_fp32_on_cpu_and_mps_unless_asked(device):
    assert autocast_dtype(device, "auto") is None
    assert autocast_dtype(device, "bfloat16") is torch.bfloat16
    assert autocast_dtype(device, "float32") is None
    with pytest.raises(ValueError, match="float16 autocast needs a CUDA device"):
        autocast_dtype(device, "float16")
    with pytest.raises(ValueError, match="dtype must be"):
        autocast_dtype(device, "half-ish")


def test_scaler_scales_what_is_backpropagated_not_the_loss():
    x = torch.randint(0, 40, (2, 16))
    y = torch.randint(0, 40, (2, 16))
    plain, scaled = tiny_model(), tiny_model()
    loss_plain = accumulate_gradients(plain, [(x, y)])
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    loss_scaled = accumulate_gradients(scaled, [(x, y)], scaler=scaler)
    assert float(loss_scaled) == pytest.approx(float(loss_plain), rel=1e-6)
    for (n, a), b in zip(plain.named_parameters(), scaled.parameters()):
        torch.testing.assert_close(b.grad, 1024.0 * a.grad, rtol=1e-5, atol=1e-7, msg=n)


def test_scaler_step_unscales_and_skips_an_overflowed_step():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(4))
    opt = torch.optim.SGD([w], lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=8.0)
    before = w.detach().clone()
    scaler.scale((0.5 * w).sum()).backward()  # true gradient 0.5, scaled to 4.0
    assert torch.equal(w.grad, torch.full((4,), 4.0))
    norm = clip_and_step(opt, [w], None, scaler=scaler)
    assert norm == pytest.approx(math.sqrt(4 * 0.5**2))  # the norm of the true gradient
    torch.testing.assert_close(w.detach(), before - 0.1 * 0.5)
    assert w.grad is None
    good = w.detach().clone()
    scaler.scale((w * torch.tensor([1.0, float("inf"), 0.0, 0.0])).sum()).backward()  # an fp16 overflow
    clip_and_step(opt, [w], 1.0, scaler=scaler)
    torch.testing.assert_close(w.detach(), good)  # step skipped
    assert scaler.get_scale() == 4.0  # and the scale halved (backoff 0.5)


class FlakyGPT(GPT):
    """A GPT whose loss becomes nan from its `bad_from`-th forward on."""

    bad_from = 4
    calls = 0

    def forward(self, idx, targets=None, **kw):
        logits, loss = super().forward(idx, targets, **kw)
        type(self).calls += 1
        if loss is not None and type(self).calls >= self.bad_from:
            loss = loss * float("nan")
        return logits, loss


def test_nan_loss_stops_the_run_with_a_diagnosis(tmp_path):
    torch.manual_seed(0)
    FlakyGPT.calls = 0
    model = FlakyGPT(GPTConfig(block_size=16, vocab_size=40, n_layer=1, n_head=2, n_embd=16))
    path = tmp_path / "ckpt.pt"
    cfg = TrainConfig(max_steps=10, batch_size=2, warmup_steps=1, eval_interval=0, progress=False, device="cpu",
                      checkpoint_path=str(path), checkpoint_interval=2)
    with pytest.raises(NonFiniteLoss) as info:
        train(model, ids(), None, cfg)
    msg = str(info.value)
    assert "the loss became nan at step 3" in msg and "precision float32" in msg
    assert f"last good checkpoint: {path} (step 2)" in msg
    assert isinstance(info.value, FloatingPointError)  # what callers caught before
    state = load_checkpoint(path)
    assert state["step"] == 2 and all(torch.isfinite(v).all() for v in state["model"].values())


def test_diagnosis_names_the_scaler_for_fp16_and_says_when_there_is_no_checkpoint():
    msg = precision.nonfinite_message(float("inf"), 7, lr=1e-3, dtype=torch.float16, checkpoint=None)
    assert "at step 7" in msg and "precision float16" in msg and "grad scaler" in msg
    assert "no checkpoint was written" in msg


def test_the_train_command_passes_dtype_through_and_defaults_to_auto(tmp_path, capsys, monkeypatch):
    from course import commands
    from course.presets import PRESETS, given_overrides

    parser = commands._train_parser()
    _, given = given_overrides(parser.parse_args([]), "gpt")
    assert "dtype" not in given and TrainConfig().dtype == "auto"  # no flag: TrainConfig's auto
    assert all(p.train.get("dtype", "auto") == "auto" for p in PRESETS.values())  # and no preset overrides it
    _, given = given_overrides(parser.parse_args(["--dtype", "float16"]), "gpt")
    assert TrainConfig(**given).dtype == "float16"
    # a typo is refused when the config is made, before any data loads or any step runs
    out = tmp_path / "run"
    monkeypatch.setattr(commands, "_train_data", lambda *a: pytest.fail("data loaded before the dtype was checked"))
    assert commands.train(["--dtype", "half", "--max-steps", "1", "--out", str(out), "--quiet"]) == 2
    assert "dtype must be 'auto', 'float32', 'bfloat16' or 'float16', got 'half'" in capsys.readouterr().err
    assert not out.exists()
