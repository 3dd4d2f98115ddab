"""Reference loss curves: course.check_loss and the trainer's log say inside the band, or what usually causes a miss."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import course
from course import curves
from course.data import CharTokenizer
from course.model import GPT, GPTConfig
from course.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 20


def test_check_loss_inside_above_below_and_between_steps():
    ok = course.check_loss("lesson03-cpu", step=300, loss=2.36)
    assert ok.ok is True and "within the expected band" in str(ok) and "2.352" in str(ok)
    high = course.check_loss("lesson03-cpu", step=300, loss=2.9)
    assert high.ok is False and "outside the expected band (above it)" in str(high)
    assert "learning rate" in str(high) and "COURSE_DEVICE=cpu" in str(high) and "--dtype float32" in str(high)
    low = course.check_loss("lesson03-cpu", step=100, loss=1.2)
    assert low.ok is False and "below it" in str(low) and "validation text" in str(low)
    assert course.check_loss("lesson03-cpu", step=300, loss=math.nan).ok is False
    between = course.check_loss("lesson03-cpu", step=150, loss=2.5)
    assert between.ok is None and "100, 200, 300" in str(between)
    with pytest.raises(ValueError, match="no reference curve 'lesson99'.*lesson03-cpu"):
        course.check_loss("lesson99", 1, 1.0)


def test_every_reference_is_measured_and_its_band_holds_every_seed():
    for ref in curves.REFERENCES.values():
        assert len(ref.steps) == len(ref.loss) == len(ref.band) and len(ref.seeds) >= 3
        assert "tools/reference_curves.py" in ref.command and "no GPU" in ref.machine
        assert set(ref.runs) == set(ref.seeds)
        for seed, losses in ref.runs.items():
            for step, loss in zip(ref.steps, losses):
                assert curves.check_loss(ref.name, step, loss).ok, (ref.name, seed, step)


def test_lesson03s_committed_run_is_within_its_reference():
    """The val losses notebook 03 printed (its own run of the shakespeare-cpu preset, its own
    threads) against that preset's reference, at the reference's steps."""
    nb = json.loads((ROOT / "notebooks" / "03_gpt2_architecture.ipynb").read_text(encoding="utf-8"))
    text = "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", []))
    printed = {int(s): float(v) for s, v in re.findall(r"step\s+(\d+): val loss ([\d.]+) nats/char", text)}
    reference = curves.REFERENCES["shakespeare-cpu"]
    assert set(reference.steps) <= set(printed) and max(printed) == 2000, sorted(printed)
    for step in reference.steps:
        assert course.check_loss("shakespeare-cpu", step, printed[step]).ok, (step, printed[step])
        # and the lesson shows the trainer's own verdict (the preset names its reference)
        assert f"val loss {printed[step]:.3f} at step {step}: within the expected band" in text, step


def _tiny_run(monkeypatch, ref_loss, band, **train_overrides):
    recipe = dict(model=dict(n_layer=1, n_embd=16), train=dict(max_steps=2, batch_size=2))
    tok = CharTokenizer.from_text(TEXT)
    ref_loss = math.log(tok.vocab_size) if ref_loss is None else ref_loss
    monkeypatch.setitem(curves.REFERENCES, "tiny", curves.Reference(
        "tiny", "a test recipe", **recipe, steps=(1, 2), loss=(ref_loss, ref_loss), band=(band, band),
        seeds=(0,), command="-", machine="-"))
    ids = np.asarray(tok.encode(TEXT), dtype=np.uint16)
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=16, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=16))
    cfg = TrainConfig(**{**recipe["train"], **train_overrides}, warmup_steps=1, eval_interval=1, eval_batches=2,
                      progress=False, device="cpu", reference="tiny")
    return train(model, ids, ids, cfg)


def test_the_trainer_logs_the_comparison_at_each_evaluation(monkeypatch):
    # two steps barely move a fresh model off uniform guessing, whose loss is ln(vocab): an independent expectation
    result = _tiny_run(monkeypatch, ref_loss=None, band=0.5)
    assert len(result.notes) == 2 and all("within the expected band" in n for n in result.notes), result.notes
    result = _tiny_run(monkeypatch, ref_loss=1.0, band=0.1)
    assert all("outside the expected band (above it)" in n for n in result.notes), result.notes


def test_a_different_recipe_is_not_compared(monkeypatch):
    result = _tiny_run(monkeypatch, ref_loss=3.0, band=0.5, batch_size=3)
    assert result.notes[0] == "tiny: not compared, this run's recipe differs: batch_size=3 (reference 2)"


def test_an_unknown_reference_is_refused_before_the_run():
    with pytest.raises(ValueError, match="no reference curve 'nope'"):
        TrainConfig(reference="nope")


def test_the_speedrun_cpu_reference_is_the_speedruns_own_recipe_and_its_run_names_it(tmp_path, monkeypatch):
    import argparse

    import course.train
    from course import speedrun

    scale = speedrun.SCALES["cpu"]
    model_config = GPTConfig(vocab_size=600, dropout=0.0, **scale.model)
    train_config = speedrun.pretrain_config(scale, device="cpu", seed=0)
    assert curves.recipe_differences(curves.reference("speedrun-cpu"), model_config, train_config) == []

    class Stop(Exception):
        pass

    named = []

    def first_step(model, train_ids, val_ids, cfg, **kw):  # what stage_pretrain hands the trainer, then stop
        named.append(cfg.reference)
        raise Stop

    monkeypatch.setattr(course.train, "train", first_step)
    from course.distributed import DistInfo
    from course.speedrun_machine import Machine

    args = argparse.Namespace(seed=0, quiet=True, m=Machine(DistInfo(device="cpu"), "float32", False, 1))
    out = tmp_path / "run"
    speedrun.stage_tokenizer(out, speedrun.SCALES["tiny"], args)
    for scale_name, own_data in (("cpu", False), ("tiny", False), ("cpu", True)):
        if own_data:  # --data: other text, whose losses the reference says nothing about
            (out / speedrun.DATA_FILE).write_text(TEXT, encoding="utf-8")
        with pytest.raises(Stop):
            speedrun.stage_pretrain(out, speedrun.SCALES[scale_name], args)
    (out / speedrun.DATA_FILE).unlink()  # the bundled text again, in bf16: the fp32 curve says nothing of it
    args.m = Machine(DistInfo(device="cpu"), "bfloat16", False, 1)
    with pytest.raises(Stop):
        speedrun.stage_pretrain(out, speedrun.SCALES["cpu"], args)
    assert named == ["speedrun-cpu", None, None, None]


def test_the_speedrun_report_shows_the_trainers_verdicts():
    from course.speedrun_report import trainer_notes

    within = str(course.check_loss("lesson03-cpu", 300, 2.36))
    outside = str(course.check_loss("lesson03-cpu", 300, 2.9))
    lines = trainer_notes({"notes": [within, outside]})
    assert lines[0].startswith("**Is the pretraining loss normal?**")
    assert f"    {within}" in lines and "    val loss 2.900 at step 300: outside the expected band (above it), " \
        "expected 2.352 +- 0.067 (lesson03-cpu). What usually causes it:" in lines
    assert trainer_notes({"notes": []}) == [] and trainer_notes({}) == []  # reports from before it had notes


def test_the_committed_speedrun_report_is_within_its_reference():
    """docs/speedrun/report.json's pretraining (seed 0, 2 threads) against the curve measured on 1 thread per seed."""
    pre = json.loads((ROOT / "docs" / "speedrun" / "report.json").read_text(encoding="utf-8"))["stages"]["pretrain"]
    losses = dict(zip(pre["val_steps"], pre["val_loss"]))
    for step in curves.REFERENCES["speedrun-cpu"].steps:
        assert course.check_loss("speedrun-cpu", step, losses[step]).ok, (step, losses[step])
