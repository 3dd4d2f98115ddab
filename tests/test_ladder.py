"""The speedup ladder (course.ladder, course.ladder_rungs, course.ladder_records,
course.hardware, course.ladder_cli): rung configs, MFU arithmetic, the measurements'
arithmetic against independent counts, the trainer's step inside a rung, the record's
schema and goals, and an end-to-end CPU run on a tiny model."""

import csv
import io
import json
from dataclasses import fields, replace

import pytest
import torch

from course import hardware, ladder, ladder_cli, ladder_records
from course.ladder_records import RecordError, validate_record
from course.ladder_rungs import (
    CORE_RUNGS,
    PROFILES,
    RungSettings,
    changed_fields,
    core_settings,
    ladder_rungs,
)

TEST = PROFILES["test"]


# ----------------------------------------------------------------------------- each rung changes one thing


def test_core_rungs_are_the_build_nanogpt_ladder_in_order():
    assert [r.name for r in CORE_RUNGS] == ["fp32", "tf32", "bf16", "compile", "flash", "vocab", "fused-adamw"]


def test_baseline_is_plain_fp32_with_manual_attention():
    base = core_settings(PROFILES["gpt2"])[0]
    assert base.matmul_precision == "highest" and base.autocast_dtype is None
    assert base.compile is False and base.attn_impl == "manual"
    assert base.vocab_size == 50257 and base.fused_adamw is False
    assert base.micro_batch == 16 and base.total_batch is None and base.sdpa_backend == "auto"


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_each_core_rung_toggles_exactly_its_change(profile):
    chain = core_settings(PROFILES[profile])
    expected = {  # field -> (before, after), written out from the ladder's definition
        "tf32": ("matmul_precision", "highest", "high"),
        "bf16": ("autocast_dtype", None, "bfloat16"),
        "compile": ("compile", False, True),
        "flash": ("attn_impl", "manual", "sdpa"),
        "vocab": ("vocab_size", PROFILES[profile].vocab_size, PROFILES[profile].padded_vocab),
        "fused-adamw": ("fused_adamw", False, True),
    }
    for prev, cur, rung in zip(chain, chain[1:], CORE_RUNGS[1:]):
        diff = changed_fields(prev, cur)
        name, old, new = expected[rung.name]
        assert diff == {name: (old, new)}, f"rung {rung.name} changed {diff}, expected only {name}: {old} -> {new}"


def test_rungs_1_to_4_use_manual_attention_and_5_on_sdpa():
    chain = core_settings(PROFILES["gpt2"])
    assert [s.attn_impl for s in chain] == ["manual"] * 4 + ["sdpa"] * 3


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_each_beyond_rung_changes_one_field(profile):
    top = core_settings(PROFILES[profile])[-1]
    beyond = [r for r in ladder_rungs(PROFILES[profile]) if r.beyond]
    assert [r.name for r in beyond] == ["grad-accum", "micro-batch", "cudnn-attention", "max-autotune"]
    for rung in beyond:
        diff = changed_fields(top, rung.apply(top))
        assert list(diff) == [rung.field], f"{rung.name} changed {diff}"


def test_gpt2_profile_is_build_nanogpts_setup_and_accumulates_to_2_19():
    p = PROFILES["gpt2"]
    assert (p.preset, p.micro_batch, p.seq_len) == ("gpt2", 16, 1024)
    top = core_settings(p)[-1]
    accum = next(r for r in ladder_rungs(p) if r.name == "grad-accum").apply(top)
    assert accum.tokens_per_step(1024) == 2**19 and accum.grad_accum(1024) == 32
    bigger = replace(accum, micro_batch=p.big_micro_batch)
    assert bigger.tokens_per_step(1024) == 2**19 and bigger.grad_accum(1024) == 2**19 // (64 * 1024)


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="multiple of"):
        RungSettings(micro_batch=3, total_batch=100).grad_accum(16)
    with pytest.raises(ValueError, match="attn_impl"):
        RungSettings(attn_impl="flash")
    with pytest.raises(ValueError, match="vocab_size"):
        RungSettings(vocab_size=0)
    with pytest.raises(ValueError, match="cannot hold"):
        ladder.model_config(PROFILES["gpt2"], RungSettings(vocab_size=1000))
    with pytest.raises(ValueError, match="unknown rung"):
        ladder.run_ladder(TEST, "cpu", rungs=["warp-drive"], peak_tflops=1.0, log=lambda s: None)


# ----------------------------------------------------------------------------- FLOPs and MFU


def test_flops_and_mfu_on_gpt2_124m():
    # GPT-2 124M has 124,439,808 parameters (Hugging Face's count); without the 1024 x 768
    # position embedding that is 123,653,376. 6N + 12*L*d*T with L=12, d=768, T=1024:
    n, fpt = ladder.model_flops(PROFILES["gpt2"])
    assert n == 124_439_808 - 1024 * 768 == 123_653_376
    assert fpt == 6 * 123_653_376 + 12 * 12 * 768 * 1024 == 855_166_464
    # the reference's last rung, 446k tokens/s on an H100 SXM (989 TFLOP/s dense bf16): 38.6% MFU
    from course.train import mfu

    assert mfu(446e3, fpt, 989e12) == pytest.approx(446e3 * 855_166_464 / 989e12)
    assert round(100 * mfu(446e3, fpt, 989e12), 1) == 38.6


def test_datasheet_peaks_and_slugs():
    assert hardware.datasheet_peak("NVIDIA H100 80GB HBM3")[0] == 989e12
    assert hardware.datasheet_peak("NVIDIA H100 PCIe")[0] == 756e12
    assert hardware.datasheet_peak("NVIDIA H100 NVL")[0] == 835e12
    assert hardware.datasheet_peak("NVIDIA H200")[0] == 989e12
    assert hardware.datasheet_peak("NVIDIA A100-SXM4-80GB")[0] == 312e12
    assert hardware.datasheet_peak("NVIDIA GeForce GTX 1080") is None
    assert hardware.datasheet_peak("NVIDIA L40") is None, "L40 is not an L4: names match by whole words"
    assert "989" in hardware.datasheet_peak("NVIDIA H100 80GB HBM3")[1]
    assert hardware.device_slug({"device_type": "cuda", "device_name": "NVIDIA H100 80GB HBM3"}) == "h100"
    assert hardware.device_slug({"device_type": "cuda", "device_name": "NVIDIA H200"}) == "h200"
    assert hardware.device_slug({"device_type": "cpu", "device_name": "AMD EPYC"}) == "cpu"


class FakeClock:
    """A clock that moves `tick` seconds per read: timings become exact, whatever the machine does."""

    def __init__(self, tick):
        self.t, self.tick = 0.0, tick

    def __call__(self):
        self.t += self.tick
        return self.t


@pytest.mark.parametrize("n", [16, 64])
def test_matmul_work_is_what_flop_counter_mode_counts(n):
    from torch.utils.flop_counter import FlopCounterMode

    fn, flops = hardware.matmul_work("cpu", n)
    with FlopCounterMode(display=False) as counter:
        out = fn()
    assert out.shape == (n, n)
    assert flops == counter.get_total_flops() == 2 * n**3


def test_copy_work_moves_the_bytes_it_claims():
    fn, moved = hardware.copy_work("cpu", 2**16)
    out = fn()  # dst.copy_(src) returns dst; src has the same size: read once, written once
    assert 2 * out.numel() * out.element_size() == moved == 2**16


def test_measurements_are_work_over_the_best_time(monkeypatch):
    # one read of the fake clock per start and end of a timing: every call measures exactly one tick
    monkeypatch.setattr(hardware, "clock", FakeClock(0.5))
    assert hardware.best_time(lambda: None, "cpu", repeats=3) == 0.5
    assert hardware.best_time(lambda: None, "cpu", repeats=3, inner=5) == 0.1
    assert hardware.measure_matmul_flops("cpu", 32, repeats=2) == 2 * 32**3 / 0.5
    assert hardware.measure_bandwidth("cpu", 2**16, repeats=2) == 2**16 / 0.5
    got = hardware.bandwidth_by_size("cpu", [2**16, 2**20], budget_s=0.0)
    inner = [2**22 // 2**16, 2**22 // 2**20]
    assert got == [(2**16, 2**16 / (0.5 / inner[0])), (2**20, 2**20 / (0.5 / inner[1]))]


def test_the_best_repeat_counts(monkeypatch):
    times = iter([0, 3, 10, 11, 20, 22])  # repeats of 3 s, 1 s and 2 s

    monkeypatch.setattr(hardware, "clock", lambda: next(times))
    assert hardware.best_time(lambda: None, "cpu", repeats=3) == 1


def test_cpu_peak_is_measured_and_says_so(monkeypatch):
    monkeypatch.setattr(hardware, "clock", FakeClock(0.25))
    peak, source = hardware.device_peak_flops("cpu")
    assert peak == 2 * 1024**3 / 0.25 and "measured here, not a datasheet peak" in source
    assert hardware.device_peak_flops("cpu", peak_tflops=2.5) == (2.5e12, "given on the command line: 2.5 TFLOP/s")


# ----------------------------------------------------------------------------- a rung trains with the trainer's step


def test_a_rung_steps_through_the_trainers_accumulate_gradients(monkeypatch):
    calls = []
    real = ladder.accumulate_gradients

    def spy(model, micro_batches, *, amp_dtype=None):
        calls.append(([tuple(x.shape) for x, _ in micro_batches], amp_dtype))
        return real(model, micro_batches, amp_dtype=amp_dtype)

    monkeypatch.setattr(ladder, "accumulate_gradients", spy)
    settings = replace(core_settings(TEST)[2], total_batch=2 * TEST.micro_batch * TEST.seq_len)  # bf16, accumulate 2
    out = ladder.measure_rung(settings, TEST, "cpu", ladder.gpt2_tokens(), steps=2, warmup=1)
    assert out["grad_accum"] == 2 and len(calls) == out["warmup_steps"] + out["timed_steps"]
    assert all(c == ([(TEST.micro_batch, TEST.seq_len)] * 2, torch.bfloat16) for c in calls)


def test_a_rungs_first_loss_is_the_seeded_models_loss_on_the_first_tokens():
    # independent of the ladder's data and step code: seed, build, one forward on tokens[0 : B*T+1]
    settings = core_settings(TEST)[0]
    out = ladder.measure_rung(settings, TEST, "cpu", ladder.gpt2_tokens(), steps=1, warmup=1, seed=7)
    from course.utils import seed_everything

    seed_everything(7)
    model = ladder.GPT(ladder.model_config(TEST, settings))
    n = TEST.micro_batch * TEST.seq_len
    chunk = ladder.gpt2_tokens()[: n + 1]
    _, loss = model(chunk[:-1].view(TEST.micro_batch, -1), chunk[1:].view(TEST.micro_batch, -1))
    assert out["loss_first"] == pytest.approx(loss.item(), rel=1e-5)
    assert out["loss_last"] != out["loss_first"], "the optimizer stepped: the second batch sees new weights"


def test_profile_rung_tables_the_top_ops():
    table = ladder.profile_rung(core_settings(TEST)[0], TEST, "cpu", ladder.gpt2_tokens(), steps=1, warmup=1,
                                row_limit=5)
    assert "Self CPU" in table and "aten::" in table


# ----------------------------------------------------------------------------- the ladder's bookkeeping


def test_vocab_rung_pads_the_profiles_own_vocabulary_to_a_multiple_of_64():
    # tinyshakespeare has 65 distinct characters (nanoGPT's shakespeare_char); 50257 -> 50304 for GPT-2
    text = __import__("course.assets", fromlist=["x"]).load_tinyshakespeare()
    assert PROFILES["cpu"].vocab_size == len(set(text)) == 65
    assert PROFILES["cpu"].padded_vocab == 128 and PROFILES["gpt2"].padded_vocab == 50304
    assert ladder.profile_tokens(PROFILES["cpu"]).max() == 64
    vocab = {r.name: r for r in ladder_rungs(PROFILES["cpu-quick"])}["vocab"]
    assert vocab.value == 128 and "65 -> 128" in vocab.title


def test_cpu_profiles_spend_most_flops_in_the_blocks_not_the_lm_head():
    for name in ("cpu", "cpu-quick"):
        p = PROFILES[name]
        n, fpt = ladder.model_flops(p)
        cfg = ladder.model_config(p, p.base_settings())
        head = 6 * cfg.vocab_size * cfg.n_embd
        assert head / fpt < 0.1, (name, head / fpt)


def test_bf16_is_measured_but_not_built_on_without_native_bf16(monkeypatch):
    calls = []

    def measure(settings, profile, device, tokens, **kw):
        calls.append(settings)
        return {"grad_accum": settings.grad_accum(profile.seq_len),
                "tokens_per_step": settings.tokens_per_step(profile.seq_len), "warmup_steps": 1,
                "timed_steps": 1, "ms_per_step": 1.0, "step_ms": [1.0], "tokens_per_sec": 100.0,
                "first_step_s": 0.1, "peak_mem_mb": 1.0, "loss_first": 4.0, "loss_last": 3.9}

    monkeypatch.setattr(ladder, "measure_rung", measure)
    monkeypatch.setattr(ladder, "cpu_has_fast_bf16", lambda: False)
    record = ladder.run_ladder(TEST, "cpu", rungs=["fp32", "tf32", "bf16", "compile"], peak_tflops=1.0,
                               log=lambda s: None)
    rows = {r["name"]: r for r in record["rungs"]}
    assert rows["bf16"]["kept"] is False and "not kept" in rows["bf16"]["note"]
    assert rows["bf16"]["config"]["autocast_dtype"] == "bfloat16"
    assert rows["compile"]["parent"] == "tf32" and rows["compile"]["config"]["autocast_dtype"] is None
    assert changed_fields(RungSettings(**rows["tf32"]["config"]), RungSettings(**rows["compile"]["config"])) == {
        "compile": (False, True)}
    monkeypatch.setattr(ladder, "cpu_has_fast_bf16", lambda: True)
    record = ladder.run_ladder(TEST, "cpu", rungs=["bf16", "compile"], peak_tflops=1.0, log=lambda s: None)
    rows = {r["name"]: r for r in record["rungs"]}
    assert rows["bf16"]["kept"] is True and rows["compile"]["parent"] == "bf16"


def test_beyond_rungs_are_kept_only_if_they_help(monkeypatch):
    speeds_by_rung = {"fp32": 100, "tf32": 110, "bf16": 120, "compile": 200, "flash": 300, "vocab": 310,
                      "fused-adamw": 330, "grad-accum": 331, "micro-batch": 400}
    calls = []

    def measure(settings, profile, device, tokens, **kw):
        name = ladder_rung_for(settings, profile)
        calls.append((name, settings))
        tps = speeds_by_rung[name]
        return {"grad_accum": settings.grad_accum(profile.seq_len),
                "tokens_per_step": settings.tokens_per_step(profile.seq_len), "warmup_steps": 1,
                "timed_steps": 1, "ms_per_step": 1.0, "step_ms": [1.0], "tokens_per_sec": tps,
                "first_step_s": 0.1, "peak_mem_mb": 1.0, "loss_first": 4.0, "loss_last": 3.9}

    def ladder_rung_for(settings, profile):
        chain = core_settings(profile)
        if settings in chain:
            return CORE_RUNGS[chain.index(settings)].name
        return "grad-accum" if settings.micro_batch == profile.micro_batch else "micro-batch"

    monkeypatch.setattr(ladder, "measure_rung", measure)
    monkeypatch.setattr(ladder, "cpu_has_fast_bf16", lambda: True)  # every core rung kept, as on a GPU
    record = ladder.run_ladder(TEST, "cpu", peak_tflops=1.0, log=lambda s: None)
    rows = {r["name"]: r for r in record["rungs"]}
    assert rows["grad-accum"]["kept"] is False and "not kept" in rows["grad-accum"]["note"]
    # +0.3% is under the 2% bar, so micro-batch starts from fused-adamw: no accumulation
    assert rows["micro-batch"]["parent"] == "fused-adamw"
    assert rows["micro-batch"]["config"]["total_batch"] is None
    assert rows["micro-batch"]["kept"] is True
    assert rows["micro-batch"]["speedup_vs_previous"] == pytest.approx(400 / 330)
    assert rows["micro-batch"]["speedup_vs_baseline"] == pytest.approx(4.0)
    assert rows["flash"]["speedup_vs_previous"] == pytest.approx(1.5)
    assert rows["cudnn-attention"]["status"] == "n/a"
    assert record["summary"]["best_rung"] == "micro-batch" and record["complete"] is True


def test_a_failed_rung_is_recorded_and_the_ladder_goes_on(monkeypatch):
    real = ladder.measure_rung

    def measure(settings, *a, **kw):
        if settings.matmul_precision == "high" and settings.autocast_dtype is None:
            raise RuntimeError("no TF32 here\nmore detail")
        return real(settings, *a, **kw)

    monkeypatch.setattr(ladder, "measure_rung", measure)
    record = ladder.run_ladder(TEST, "cpu", rungs=["fp32", "tf32", "bf16"], peak_tflops=1.0, log=lambda s: None)
    rows = {r["name"]: r for r in record["rungs"]}
    assert rows["tf32"]["status"] == "failed"
    assert rows["tf32"]["note"] == "RuntimeError: no TF32 here"
    assert rows["bf16"]["status"] == "ok" and rows["bf16"]["speedup_vs_previous"] is None
    assert rows["bf16"]["speedup_vs_baseline"] is not None
    validate_record(record)


def test_an_interrupted_ladder_keeps_what_it_measured(monkeypatch, tmp_path):
    real = ladder.measure_rung

    def measure(settings, *a, **kw):
        if settings.autocast_dtype:
            raise ladder.LadderInterrupted("SIGTERM")
        return real(settings, *a, **kw)

    monkeypatch.setattr(ladder, "measure_rung", measure)
    saved = []
    record = ladder.run_ladder(TEST, "cpu", peak_tflops=1.0, log=lambda s: None,
                               on_rung=lambda r: saved.append(json.dumps(r, default=str)))
    assert [r["status"] for r in record["rungs"]] == ["ok", "ok", "interrupted"]
    assert record["complete"] is False
    assert len(saved) >= 3  # written after every rung


# ----------------------------------------------------------------------------- end to end on a CPU


@pytest.fixture(scope="module")
def cpu_record():
    return ladder.run_ladder(TEST, "cpu", peak_tflops=0.5, log=lambda s: None)


def test_cpu_ladder_runs_end_to_end(cpu_record):
    rows = cpu_record["rungs"]
    assert [r["name"] for r in rows] == [r.name for r in ladder_rungs(TEST)]
    status = {r["name"]: r["status"] for r in rows}
    assert status["cudnn-attention"] == "n/a" and status["max-autotune"] == "skipped"
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 9, [(r["name"], r["status"], r["note"]) for r in rows]
    for r in ok:
        assert r["tokens_per_sec"] == pytest.approx(r["tokens_per_step"] / (r["ms_per_step"] / 1000))
        assert 0 < r["loss_last"] < 12  # a real loss on real tokens (ln 50257 = 10.8 at init)
    assert cpu_record["complete"] is True
    assert "TF32" in next(r for r in rows if r["name"] == "tf32")["note"]


def test_record_rows_differ_from_their_parent_in_one_field(cpu_record):
    rows = {r["name"]: r for r in cpu_record["rungs"]}
    for r in cpu_record["rungs"]:
        if r["parent"] is None:
            continue
        parent = RungSettings(**rows[r["parent"]]["config"])
        diff = changed_fields(parent, RungSettings(**r["config"]))
        assert list(diff) == list(r["change"]), f"{r['name']}: {diff} vs declared {r['change']}"


def test_record_mfu_and_speedups_are_consistent(cpu_record):
    n, fpt = cpu_record["model"]["n_params"], cpu_record["model"]["flops_per_token"]
    cfg = cpu_record["model"]
    assert fpt == 6 * n + 12 * cfg["n_layer"] * cfg["n_embd"] * cpu_record["profile"]["seq_len"]
    from course.model import GPT, GPTConfig

    model = GPT(GPTConfig(**{k: cfg[k] for k in ("block_size", "vocab_size", "n_layer", "n_head", "n_embd", "bias")}))
    assert n == sum(p.numel() for p in model.parameters()) - model.transformer.wpe.weight.numel()
    rows = [r for r in cpu_record["rungs"] if r["status"] == "ok"]
    base = rows[0]["tokens_per_sec"]
    for r in rows:
        assert r["mfu"] == pytest.approx(r["tokens_per_sec"] * fpt / 0.5e12)
        assert r["speedup_vs_baseline"] == pytest.approx(r["tokens_per_sec"] / base)


def test_record_schema_and_files(cpu_record, tmp_path):
    validate_record(cpu_record)
    hw, sw = cpu_record["hardware"], cpu_record["software"]
    assert hw["device_type"] == "cpu" and hw["peak_flops"] == 0.5e12
    assert sw["torch"] == torch.__version__
    paths = ladder_records.save_record(cpu_record, tmp_path, "ladder-test")
    assert {p.name for p in paths.values()} == {"ladder-test.json", "ladder-test.csv", "ladder-test.png"}
    assert ladder_records.load_record(paths["json"])["rungs"] == json.loads(json.dumps(cpu_record["rungs"]))
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    assert [r["name"] for r in rows] == [r["name"] for r in cpu_record["rungs"]]
    assert set(ladder_records.CSV_COLUMNS) == set(rows[0])
    assert rows[0]["torch"] == torch.__version__
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    table = ladder_records.format_table(cpu_record)
    assert "n/a on this device" in table and "fused-adamw" in table


def test_validate_record_names_the_problem(cpu_record):
    broken = json.loads(json.dumps(cpu_record))
    del broken["hardware"]["peak_source"]
    with pytest.raises(RecordError, match="peak_source"):
        validate_record(broken)
    broken = json.loads(json.dumps(cpu_record))
    del broken["rungs"][0]["tokens_per_sec"]
    with pytest.raises(RecordError, match="tokens_per_sec"):
        validate_record(broken)
    broken = json.loads(json.dumps(cpu_record))
    broken["schema"] = "something/else"
    with pytest.raises(RecordError, match="schema"):
        validate_record(broken)


def test_config_fields_in_the_record_are_the_settings_fields(cpu_record):
    names = {f.name for f in fields(RungSettings)}
    assert all(set(r["config"]) == names for r in cpu_record["rungs"])


# ----------------------------------------------------------------------------- the reference beside the record, and the goals


def _gpu_like(record, tps: dict, mfus: dict):
    """A copy of a measured record with chosen tokens/s and MFU, named like an H100 record."""
    rec = json.loads(json.dumps(record))
    rec["hardware"].update(device_type="cuda", device_name="NVIDIA H100 80GB HBM3", driver="550.54")
    rec["software"]["cuda"] = "12.4"
    for r in rec["rungs"]:
        if r["name"] in tps:
            r.update(status="ok", tokens_per_sec=tps[r["name"]], mfu=mfus.get(r["name"], 0.1))
    return rec


def test_merge_reference_sets_each_rung_beside_it(cpu_record):
    rec = ladder_records.merge_reference(json.loads(json.dumps(cpu_record)), {"fp32": 100.0, "tf32": 50.0}, "test")
    rows = {r["name"]: r for r in rec["rungs"]}
    assert rows["fp32"]["vs_reference"] == pytest.approx(rows["fp32"]["tokens_per_sec"] / 100)
    assert rows["tf32"]["reference_tokens_per_sec"] == 50.0
    assert rows["bf16"]["reference_tokens_per_sec"] is None and rows["bf16"]["vs_reference"] is None
    assert rows["cudnn-attention"]["vs_reference"] is None  # n/a on a CPU: no ratio
    assert rec["reference"]["source"] == "test"
    assert "vs ref" in ladder_records.format_table(rec)
    validate_record(rec)


def test_goals_met_and_missed_by_how_much(cpu_record):
    ref = dict(ladder_records.REFERENCE_H100)
    tps = {n: 0.95 * v for n, v in ref.items()}
    tps.update(tf32=0.8 * ref["tf32"], **{"fused-adamw": 480e3, "grad-accum": 470e3, "micro-batch": 520e3})
    rec = ladder_records.merge_reference(_gpu_like(cpu_record, tps, {"micro-batch": 0.45}), ref, "same run")
    goals = {g["goal"]: g for g in ladder_records.evaluate_goals(rec)}
    vs_ref, last, mfu_goal, named = goals.values()
    assert vs_ref["met"] is False and vs_ref["value"] == pytest.approx(0.8)
    assert "tf32" in vs_ref["detail"] and "fp32" not in vs_ref["detail"].split("under")[1]
    # micro-batch only changes the micro-batch of the last core rung: it counts, at 520k
    assert last["met"] is True and last["value"] == 520e3 and "micro-batch 4" in last["detail"]
    assert mfu_goal["met"] is False and mfu_goal["value"] == 0.45 and "10.0% points short" in mfu_goal["detail"]
    assert named["met"] is True
    table = ladder_records.format_goals(list(goals.values()))
    assert table.count("MISSED") == 2 and table.count("met") >= 2


def test_goals_are_unknown_without_a_reference_and_a_cpu_record_names_no_gpu(cpu_record):
    goals = ladder_records.evaluate_goals(cpu_record)
    assert goals[0]["met"] is None and "no reference" in goals[0]["detail"]
    assert goals[-1]["met"] is False and "GPU" in goals[-1]["detail"] and "driver" in goals[-1]["detail"]


# ----------------------------------------------------------------------------- the command


def test_cli_list(capsys):
    assert ladder_cli.main(["--list", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    for name in ("fp32", "tf32", "bf16", "compile", "flash", "vocab", "fused-adamw", "grad-accum"):
        assert name in out


def test_cli_writes_the_record(tmp_path, capsys):
    rc = ladder_cli.main(["--profile", "test", "--device", "cpu", "--rungs", "fp32,tf32", "--peak-tflops", "1",
                      "--out", str(tmp_path), "--name", "r"])
    assert rc == 0
    record = ladder_records.load_record(tmp_path / "r.json")
    assert [r["name"] for r in record["rungs"]] == ["fp32", "tf32"] and record["complete"]
    assert (tmp_path / "r.csv").exists() and (tmp_path / "r.png").exists()
    assert "tokens/s" in capsys.readouterr().out


def test_cli_rejects_unknown_rungs(capsys):
    assert ladder_cli.main(["--profile", "test", "--device", "cpu", "--rungs", "nope", "--no-save"]) == 2
    assert "unknown rung" in capsys.readouterr().err


# ----------------------------------------------------------------------------- spread and noise


def test_step_spread_is_the_quartiles_and_differences_are_judged_per_token():
    row = {"step_ms": [5.0, 1.0, 4.0, 2.0, 3.0], "tokens_per_step": 100}
    assert ladder_records.step_spread(row) == (2.0, 4.0)  # the 2nd and 4th of five sorted values
    assert ladder_records.step_spread({"step_ms": [3.0, 1.0]}) == (1.0, 3.0)
    slower = {"step_ms": [4.5, 5.0, 6.0], "tokens_per_step": 100}  # middle half 4.75-5.5 ms
    assert ladder_records.clearly_different(row, slower) and ladder_records.clearly_different(slower, row)
    overlapping = {"step_ms": [3.5, 4.5, 5.0], "tokens_per_step": 100}  # 4.0-4.75 touches 2-4
    assert not ladder_records.clearly_different(row, overlapping)
    # twice the tokens per step in twice the time: the same speed per token
    accumulating = {"step_ms": [2 * t for t in row["step_ms"]], "tokens_per_step": 200}
    assert not ladder_records.clearly_different(row, accumulating)
