"""The README's Troubleshooting section quotes the messages the course really prints."""

import math
from pathlib import Path

import pytest
import torch

from course import curves, grading, hellaswag_data, precision, selfcheck
from course.compiling import CompiledStep
from course.hellaswag_data import load_hellaswag
from course.model import GPT, GPTConfig
from course.text import DataUnavailableError
from course.train import TrainConfig
from course.utils import get_device

ROOT = Path(__file__).resolve().parents[1]


def troubleshooting() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Troubleshooting" in readme
    return " ".join(readme.split("## Troubleshooting", 1)[1].split())  # one line: quotes may wrap


def _both_sources_down(monkeypatch, cache) -> str:
    """The message when neither the hub nor GitHub answers; then a copy cached as if downloaded."""
    import urllib.error
    import urllib.request

    def gone(url, timeout):
        raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)

    with monkeypatch.context() as m:
        m.delenv("HF_HUB_OFFLINE", raising=False)
        m.delenv("HF_DATASETS_OFFLINE", raising=False)
        m.setenv("COURSE_CACHE", str(cache))
        m.setattr(hellaswag_data, "_hub_records", lambda split: (_ for _ in ()).throw(ConnectionError("503")))
        m.setattr(urllib.request, "urlopen", gone)
        with pytest.raises(DataUnavailableError) as down:
            load_hellaswag("validation")
        fixture = ROOT / "tests" / "data" / "hellaswag_tiny.jsonl"
        lines = fixture.read_text(encoding="utf-8").splitlines()
        m.setattr(hellaswag_data, "_hub_records", lambda split: pytest.fail("GitHub only"))
        m.setattr(hellaswag_data, "_fetch", lambda split, timeout: (
            [hellaswag_data.parse_github_line(x) for x in lines], "fixture"))
        m.setattr(hellaswag_data, "EXPECTED_EXAMPLES", {})
        load_hellaswag("validation")  # cached, with its checksum
    return str(down.value)


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
    both_down = _both_sources_down(monkeypatch, tmp_path)
    cached = tmp_path / "hellaswag_val.jsonl"
    cached.write_text(cached.read_text(encoding="utf-8").replace("roof", "ruff"), encoding="utf-8")
    with pytest.raises(DataUnavailableError) as changed:
        load_hellaswag("validation")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError) as no_gpu:
        get_device("cuda")
    not_compared = str(curves.check_run("lesson03-cpu", 300, 2.4, GPTConfig(), TrainConfig()))
    setup_sh = (ROOT / "setup.sh").read_text(encoding="utf-8")
    said = {
        "cannot download HellaSwag from the hub": both_down,
        "nor from GitHub": both_down,
        "HTTP Error 404": both_down,
        "reported taken down": both_down,
        "does not match the checksum recorded when it was downloaded": str(changed.value),
        "device 'cuda' was asked for but is not available here": str(no_gpu.value),
        "not compared": not_compared,
        "setup.sh: unknown option": setup_sh,
        "course.check runs the exercise file in a locked-in process, which needs Linux or macOS":
            grading.why_no_sandbox("win32"),
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
