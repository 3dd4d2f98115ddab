"""Compile that falls back: each missing capability and a failing first step give eager, with a reason."""

import importlib.util
import shutil

import torch
from tiny_gpt import TEXT, ids, tiny_model

from course import compiling
from course.compiling import CompiledStep, why_not_compile
from course.data import CharTokenizer
from course.model import GPT, GPTConfig
from course.train import TrainConfig, accumulate_gradients, train


def test_windows_and_mps_run_eagerly():
    assert "Windows" in why_not_compile("cuda", platform="win32")
    assert "MPS" in why_not_compile("mps", platform="darwin")


def test_cuda_without_triton(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "triton" else real(name, *a))
    assert "triton" in why_not_compile("cuda", platform="linux")


def test_cpu_without_a_cxx_compiler(monkeypatch):
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert "C++ compiler" in why_not_compile("cpu", platform="linux")
    monkeypatch.setenv("CXX", "/opt/my/g++")
    monkeypatch.setattr(shutil, "which", lambda name: name if name == "/opt/my/g++" else None)
    assert why_not_compile("cpu", platform="linux") is None


def test_a_missing_capability_means_eager_with_one_line(monkeypatch):
    lines = []
    model = tiny_model()
    step = CompiledStep(model, "mps", log=lines.append, compile_fn=lambda m: 1 / 0)
    assert step.model is model and not step.compiled
    assert lines == ["compile: running eagerly (torch.compile's MPS backend is experimental)"]
    assert CompiledStep(model, "cpu", enabled=False, log=lines.append).model is model
    assert len(lines) == 1  # not asked for: nothing to say


def test_torch_compile_raising_means_eager_with_its_first_line(monkeypatch):
    monkeypatch.setattr(compiling, "why_not_compile", lambda *a, **k: None)
    lines = []

    def no_backend(model):
        raise RuntimeError("Dynamo is not supported on Python 3.14+\n(a long explanation)")

    model = tiny_model()
    step = CompiledStep(model, "cpu", log=lines.append, compile_fn=no_backend)
    assert step.model is model and not step.compiled
    assert lines == ["compile: running eagerly (torch.compile failed: RuntimeError: Dynamo is not supported "
                     "on Python 3.14+)"]


class Broken(torch.nn.Module):
    """What a compiled module whose compilation fails at the first call looks like."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, *args, **kw):
        raise RuntimeError("backend compiler failed\nC++ compile error: long story")


def test_failure_at_the_first_step_falls_back_to_eager_and_repeats_it(monkeypatch):
    monkeypatch.setattr(compiling, "why_not_compile", lambda *a, **k: None)
    lines = []
    model = tiny_model()
    step = CompiledStep(model, "cpu", log=lines.append, compile_fn=Broken)
    assert step.compiled
    x = torch.randint(0, 40, (2, 16))
    batch = [(x, x)]
    loss = step(lambda m: accumulate_gradients(m, batch))
    assert not step.compiled and step.model is model
    assert lines == ["compile: running eagerly (the first compiled step failed: RuntimeError: backend compiler failed)"]
    reference = tiny_model()
    assert float(loss) == float(accumulate_gradients(reference, batch))
    for a, b in zip(model.parameters(), reference.parameters()):
        assert torch.equal(a.grad, b.grad)


class Counting(torch.nn.Module):
    """A stand-in compiled module: runs the model, and counts the calls made with and without grad."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.calls = {"train": 0, "no_grad": 0}

    def forward(self, *args, **kw):
        self.calls["train" if torch.is_grad_enabled() else "no_grad"] += 1
        return self.model(*args, **kw)


def test_trainer_falls_back_and_matches_an_eager_run(monkeypatch):
    monkeypatch.setattr(compiling, "why_not_compile", lambda *a, **k: None)
    monkeypatch.setattr(torch, "compile", Broken)
    cfg = dict(max_steps=4, batch_size=2, warmup_steps=1, eval_interval=2, eval_batches=2, progress=False,
               device="cpu")
    compiled = train(tiny_model(), ids(), ids(), TrainConfig(**cfg, compile=True))
    eager = train(tiny_model(), ids(), ids(), TrainConfig(**cfg))
    assert compiled.losses == eager.losses and compiled.val_losses == eager.val_losses
    assert compiled.notes == ["compile: running eagerly (the first compiled step failed: "
                              "RuntimeError: backend compiler failed)"]


def test_trainer_steps_compiled_but_evaluates_the_plain_module(monkeypatch):
    made = []
    monkeypatch.setattr(compiling, "why_not_compile", lambda *a, **k: None)
    monkeypatch.setattr(torch, "compile", lambda m: made.append(Counting(m)) or made[-1])
    tok = CharTokenizer.from_text(TEXT)  # samples need one: generation runs too, and must not go through `made`
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=16, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=16))
    result = train(model, ids(), ids(), TrainConfig(max_steps=3, batch_size=2, warmup_steps=1, eval_interval=1,
                                                    eval_batches=2, progress=False, device="cpu", compile=True,
                                                    sample_interval=1, sample_tokens=5),
                   tokenizer=tok)
    assert len(made) == 1 and made[0].calls == {"train": 3, "no_grad": 0}
    assert len(result.val_losses) == 3 and result.notes == []
    assert [step for step, _ in result.samples] == [1, 2, 3] and all(len(text) == 5 for _, text in result.samples)
