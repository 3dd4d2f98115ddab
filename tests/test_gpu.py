"""The CUDA variants: code paths that only a GPU really exercises (lesson 04's GPU section).

Marked `cuda`; they run on a CUDA GPU and skip elsewhere, saying why. The GPU
run (`benchmarks/ladder_gpu.py`) runs them with `-m cuda`; its --dry-run
rehearses them on the CPU by setting COURSE_GPU_TESTS_ON_CPU=1, which checks
the tests themselves but measures nothing about a GPU. The references are
independent of the path under test: recompute without a cache, eager
without compile, fp32 without autocast, foreach AdamW without fusing.
"""

import os

import pytest
import torch

from course.ladder import run_ladder
from course.ladder_records import validate_record
from course.ladder_rungs import CORE_NAMES, PROFILES
from course.model import GPT, GPTConfig
from course.train import fused_adamw_available, make_optimizer

pytestmark = pytest.mark.cuda


@pytest.fixture(scope="module")
def device():
    if torch.cuda.is_available():
        return "cuda"
    if os.environ.get("COURSE_GPU_TESTS_ON_CPU") == "1":
        return "cpu"  # the dry run's rehearsal of these tests, not a GPU check
    pytest.skip("needs a CUDA GPU (the GPU run's test pass: benchmarks/ladder_gpu.py)")


def _model(device, **kw):
    torch.manual_seed(0)
    cfg = dict(block_size=32, vocab_size=97, n_layer=2, n_head=2, n_embd=32, dropout=0.0)
    return GPT(GPTConfig(**{**cfg, **kw})).to(device)


def test_kv_cache_generation_equals_recompute(device):
    model = _model(device)
    prompt = torch.randint(0, 97, (2, 5), generator=torch.Generator().manual_seed(1)).to(device)
    cached = model.generate(prompt, 20, temperature=0, use_cache=True)
    recomputed = model.generate(prompt, 20, temperature=0, use_cache=False)
    assert torch.equal(cached, recomputed)


def test_sdpa_attention_matches_the_manual_one(device):
    x = torch.randint(0, 97, (2, 32), device=device)
    with torch.no_grad():
        manual, _ = _model(device, attn_impl="manual")(x)
        sdpa, _ = _model(device, attn_impl="sdpa")(x)
    torch.testing.assert_close(sdpa, manual, rtol=1e-4, atol=1e-4)


def test_compiled_bf16_forward_matches_eager_fp32(device):
    model = _model(device).eval()
    x = torch.randint(0, 97, (2, 32), device=device)
    with torch.no_grad():
        ref, _ = model(x)
        compiled = torch.compile(model, backend="inductor" if device == "cuda" else "eager")
        with torch.autocast(device, dtype=torch.bfloat16):
            got, _ = compiled(x)
    assert got.dtype == torch.bfloat16  # autocast reached the lm_head
    torch.testing.assert_close(got.float(), ref, rtol=0.05, atol=0.05)


def test_fused_adamw_step_equals_the_foreach_step(device):
    if not fused_adamw_available(device):
        pytest.skip(f"torch {torch.__version__} has no fused AdamW for {device}")
    x = torch.randint(0, 97, (2, 32), device=device)
    params = []
    for fused in (False, True):
        model = _model(device)
        opt = make_optimizer(model, lr=1e-2, weight_decay=0.1, fused=fused)
        for _ in range(3):
            _, loss = model(x, x)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        params.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    # each step moves a weight by up to lr = 1e-2; the two orders of rounding may differ by 1% of that
    torch.testing.assert_close(params[1], params[0], rtol=1e-4, atol=1e-4)


def test_every_ladder_rung_runs_on_the_device(device):
    record = run_ladder(PROFILES["test"], device, peak_tflops=1.0, log=lambda s: None)
    validate_record(record)
    status = {r["name"]: r for r in record["rungs"]}
    failed = {n: r["note"] for n, r in status.items() if r["status"] == "failed"}
    assert not failed
    assert all(status[n]["status"] == "ok" for n in CORE_NAMES if n != "fused-adamw" or fused_adamw_available(device))
    if device == "cuda":
        assert status["cudnn-attention"]["status"] in ("ok", "n/a")


def test_device_self_check_agrees_with_the_cpu_in_autos_precision(device):
    """The doctor's self-check on the GPU in the precision --dtype auto picks for it (bf16 from compute
    capability 8.0, fp16 before): the loss and gradients agree with the CPU's within its tolerance."""
    from course.precision import autocast_dtype, dtype_name
    from course.selfcheck import self_check

    result = self_check(device)
    assert result.dtype == dtype_name(autocast_dtype(device, "auto"))
    assert result.ok, result.summary()
    assert self_check(device, dtype="float32").ok  # and in fp32 (TF32 matmuls included)


def test_the_trainer_in_the_precisions_auto_picks_and_compiled(device):
    """What --dtype auto picks on a T4 (fp16 with a grad scaler) and from compute capability 8.0 (bf16),
    and --compile, through the trainer for real: finite losses that follow an eager fp32 run's."""
    import math

    from tiny_gpt import ids, tiny_model

    from course.train import TrainConfig, train

    def run(**kw):
        cfg = TrainConfig(max_steps=30, batch_size=8, warmup_steps=3, max_lr=3e-3, eval_interval=15, eval_batches=4,
                          progress=False, device=device, **kw)
        return train(tiny_model(), ids(), ids(), cfg)

    reference = run(dtype="float32")
    runs = {"bfloat16": run(dtype="bfloat16")}
    if device == "cuda":  # fp16 autocast needs CUDA
        runs["float16"] = run(dtype="float16")
        runs["compiled"] = run(dtype="auto", compile=True)
        assert runs["compiled"].notes == [], runs["compiled"].notes  # compiled, no fallback
    for name, result in runs.items():
        assert all(math.isfinite(x) for x in result.losses), name
        assert result.val_losses[-1] < math.log(40) - 0.3, (name, result.val_losses)  # below uniform guessing
        assert abs(result.val_losses[-1] - reference.val_losses[-1]) < 0.05 * reference.val_losses[-1], (
            name, result.val_losses, reference.val_losses)
