"""The device self-check: one fixed batch on the CPU and on the device, a dtype-aware tolerance, a fallback."""

import torch

from course import doctor, selfcheck, utils
from course.selfcheck import TOLERANCES, compare, self_check


def test_cpu_agrees_with_itself_in_fp32_and_in_bf16():
    for dtype in ("float32", "bfloat16"):
        result = self_check("cpu", dtype)
        assert result.ok, result.summary()
        assert result.dtype == dtype and result.tolerance == TOLERANCES[dtype]
    assert result.summary().startswith("cpu (bfloat16) agrees with the CPU: loss ")


def _perturbed(reference, loss_factor=1.0, grad_factor=1.0):
    loss, grads = reference
    return loss * loss_factor, {n: g * grad_factor for n, g in grads.items()}


def test_the_tolerance_follows_the_precision():
    model, batch = selfcheck._tiny_model(), selfcheck._batch()
    reference = selfcheck.loss_and_grads(model, batch, "cpu", None)
    off_by_5_percent = _perturbed(reference, grad_factor=1.05)  # gradients 5% off: fine for bf16 only
    assert compare(reference, off_by_5_percent, device="cuda", dtype="bfloat16").ok
    assert not compare(reference, off_by_5_percent, device="cuda", dtype="float32").ok
    assert not compare(reference, _perturbed(reference, loss_factor=1.1), device="mps", dtype="bfloat16").ok


def test_a_device_computing_wrong_numbers_is_flagged_with_the_fallback(monkeypatch):
    real = selfcheck.loss_and_grads

    def mps_bug(model, batch, device, dtype):  # what LLMs-from-scratch #791 saw: 19.9 on MPS, 3.8 on CPU
        loss, grads = real(model, batch, "cpu", dtype)
        return (loss * 5, grads) if device == "mps" else (loss, grads)

    monkeypatch.setattr(selfcheck, "loss_and_grads", mps_bug)
    monkeypatch.setattr(selfcheck, "get_device", lambda: "mps")
    result = self_check()
    assert not result.ok and result.device == "mps" and result.dtype == "float32"
    assert "MISMATCH: mps (float32)" in result.summary() and "COURSE_DEVICE=cpu" in result.summary()
    report, problems = [], []
    doctor.check_device_numbers("mps", report, problems)
    assert ("device self-check", "MISMATCH (see PROBLEMS)") in report
    assert len(problems) == 1 and "COURSE_DEVICE=cpu" in problems[0]


def test_nan_on_the_device_is_a_mismatch():
    model, batch = selfcheck._tiny_model(), selfcheck._batch()
    reference = selfcheck.loss_and_grads(model, batch, "cpu", None)
    assert not compare(reference, _perturbed(reference, grad_factor=float("nan")), device="mps", dtype="float32").ok


def test_course_device_is_honoured_and_a_missing_device_is_a_doctor_problem(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU machine ...
    monkeypatch.setenv("COURSE_DEVICE", "cpu")  # ... where the learner asks for the CPU
    assert utils.get_device() == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    report, problems = [], []
    doctor.check_device(report, problems)
    assert len(problems) == 1 and "COURSE_DEVICE='cuda'" in problems[0] and "not available" in problems[0]


def test_the_doctor_names_the_precision_auto_picks_on_a_t4_and_an_a100(monkeypatch):
    checked = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # a T4 claims it (emulated)
    monkeypatch.setattr(doctor, "check_device_numbers", lambda device, report, problems: checked.append(device))
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    rows = {}
    for capability in ((7, 5), (8, 0)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None, c=capability: c)
        report, problems = [], []
        doctor.check_device(report, problems)
        rows[capability] = dict(report)["precision"]
        assert problems == []
    assert rows[(7, 5)] == ("--dtype auto: float16 autocast (compute capability 7.5: no bf16 tensor cores: "
                            "fp16 with a grad scaler)")
    assert rows[(8, 0)] == "--dtype auto: bfloat16 autocast (compute capability 8.0: bf16 tensor cores)"
    assert checked == ["cuda", "cuda"]  # and the self-check runs on the GPU (in auto's precision: self_check)
