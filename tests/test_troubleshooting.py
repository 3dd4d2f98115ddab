"""The README's Troubleshooting section quotes the messages the course really prints."""

import math
from pathlib import Path

import pytest
import torch

from course import curves, precision, selfcheck
from course.compiling import CompiledStep
from course.hellaswag_data import load_hellaswag
from course.model import GPT, GPTConfig
from course.text import DataUnavailableError

ROOT = Path(__file__).resolve().parents[1]


def troubleshooting() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Troubleshooting" in readme
    return " ".join(readme.split("## Troubleshooting", 1)[1].split())  # one line: quotes may wrap


def test_each_quoted_message_is_what_the_code_says(monkeypatch, tmp_path):
    text = troubleshooting()
    ref = selfcheck.loss_and_grads(selfcheck._tiny_model(), selfcheck._batch(), "cpu", None)
    mismatch = selfcheck.compare(ref, (ref[0] * 5, ref[1]), device="mps", dtype="float32").summary()
    nan = precision.nonfinite_message(math.nan, 7, lr=1e-3, dtype=torch.float16, checkpoint="runs/x/ckpt.pt",
                                      checkpoint_step=5)
    lines = []
    CompiledStep(GPT(GPTConfig(n_layer=1, n_embd=16, n_head=2)), "mps", log=lines.append)
    outside = str(curves.check_loss("lesson03-cpu", 300, 2.9))
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataUnavailableError) as offline:
        load_hellaswag("validation")
    said = {
        "MISMATCH: mps (float32) computes different numbers than the CPU": mismatch,
        "the loss became nan at step": nan,
        "precision float16): the run is stopped": nan,
        "last good checkpoint: runs/x/ckpt.pt (step": nan,
        "compile: running eagerly (": lines[0],
        "val loss 2.9": outside,
        "at step 300: outside the expected band (above it), expected 2.352 +- 0.067 (lesson03-cpu)": outside,
        "HellaSwag validation is downloaded from the hub (Rowan/hellaswag) or GitHub": str(offline.value),
        "but offline mode is set": str(offline.value),
    }
    for fragment, message in said.items():
        assert fragment in message, (fragment, message)
        assert fragment in text, f"README's Troubleshooting does not quote {fragment!r}"
    for name, (loss_tol, _) in selfcheck.TOLERANCES.items():
        short = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}[name]
        assert f"{short}: {loss_tol:.0e}".replace("e-0", "e-") in text, (name, loss_tol)
