"""The speedrun under torchrun (2 ranks on gloo) and its machine options: precision, compile, processes.

The launched run uses a scale smaller than `tiny` (one layer of 32, a few dozen
steps: seconds per stage), defined in a worker script because torchrun's
processes cannot see this test's monkeypatches. It asks for bf16 autocast (the
precision `--dtype auto` picks on recent GPUs; on a CPU only when asked). Every rank is stopped after the
pretraining checkpoint at step 10, and the run resumed. Its pretraining is compared with
a one-process run of the same scale and the same micro-batches (the same global
batch, split in 2): DDP averages the 2 ranks' gradients, which must give the
parameters that one process accumulating both micro-batches reaches, bit for bit.
(One process with the whole batch as one micro-batch draws other random rows:
`course.loader.TokenLoader` seeds each micro-batch's offsets by its index.)
"""

import io
import json

import pytest
import torch

from course import speedrun
from course.distributed import DistInfo, launch
from course.speedrun_machine import SpeedrunError, choose
from course.utils import cpu_threads

MICRO = speedrun.Scale(
    "a 2-rank test run: 1 layer x 32", text_chars=60_000, vocab_size=300,
    model=dict(n_layer=1, n_head=2, n_embd=32, block_size=64), pretrain_steps=20, pretrain_batch=8, pretrain_lr=1e-2,
    eval_interval=10, sft_schedule=40, sft_chunk=10, sft_target=1.1, sft_max_steps=20, sft_batch=8,
    sft_conversations=270, rl_steps=2, rl_prompts=4, rl_group=2, eval_problems=8, cloze_items=8,
)
WORKER = f"""
import sys

import course.train
from course import speedrun
from course.speedrun import Scale

speedrun.SCALES["micro"] = {MICRO!r}
real_train, real_leave, argv = course.train.train, speedrun.leave, sys.argv[1:]


def train_killed_midway(model, data, val, cfg, **kw):  # every rank stops there, as a killed run would
    if str(cfg.checkpoint_path).endswith("pretrain/ckpt.pt"):
        real_train(model, data, val, cfg, stop_at=10, **kw)
        raise RuntimeError("killed after pretraining step 10")
    return real_train(model, data, val, cfg, **kw)


# killed, then resumed from what is on disk; in the same processes and process group, because a second
# launch costs seconds of start-up
course.train.train, speedrun.leave = train_killed_midway, lambda info: None
print(f"first attempt: exit code {{speedrun.main(argv)}}", flush=True)
course.train.train, speedrun.leave = real_train, real_leave
sys.exit(speedrun.main([*argv, "--resume"]))
"""


class Killed(RuntimeError):
    pass


def flat(path) -> torch.Tensor:
    state = torch.load(path, map_location="cpu", weights_only=False)["model"]
    return torch.cat([v.flatten().double() for v in state.values()]), state


def test_two_ranks_killed_in_pretraining_resume_and_pretrain_as_one_process(tmp_path, monkeypatch):
    one, two = tmp_path / "one", tmp_path / "two"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    buf = io.StringIO()
    code = launch(str(script), ["--scale", "micro", "--out", str(two), "--device", "cpu", "--threads", "1",
                                "--dtype", "bf16"], nproc=2, timeout=300, out=buf)
    output = buf.getvalue()
    assert code == 0, output[-4000:]
    assert output.count("error: killed after pretraining step 10") == 2  # each rank says why it stopped
    assert output.count("first attempt: exit code 2") == 2
    assert output.count("[tokenizer] done already, skipped") == 1  # the resume: rank 0 speaks, all skip it

    # the reference: one process, the same global batch in the same 2 micro-batches, stopped after pretraining
    def no_sft(*a, **k):
        raise Killed("stopped after pretraining")

    monkeypatch.setitem(speedrun.SCALES, "micro", MICRO)
    monkeypatch.setitem(speedrun.STAGE_FUNCS, "sft", no_sft)
    with cpu_threads(1), pytest.raises(Killed):
        speedrun.run(one, "micro", threads=1, quiet=True, device="cpu", grad_accum_steps=2, dtype="bf16")

    # one report, written once, by rank 0: every stage ran, rank 0 alone printed (pretraining: once per attempt)
    assert output.count("[report] finished") == 1 and output.count("[pretrain] ...") == 2
    assert not list(two.rglob("*.tmp")) and not list(two.rglob("*.tmp.*"))
    report = json.loads((two / "report.json").read_text())
    assert set(report["stages"]) == {"tokenizer", "pretrain", "sft", "rl", "eval"}
    for stage in ("pretrain", "sft"):
        assert report["training"][stage] == {"precision": "bfloat16", "dtype": "bf16", "compile": "not asked for",
                                             "world_size": 2, "grad_accum_steps": 2}, stage
    assert "pretrain in bfloat16 (`--dtype bf16`), eager (not asked for), 2 process(es)" in (two / "report.md").read_text()
    assert len(report["stages"]["sft"]["addition_checks"]) == 2  # rank 0's checks, and both ranks went on after
    for stage in ("pretrain", "sft"):  # DDP checkpoints: every rank's RNG state
        assert len(torch.load(two / stage / "ckpt.pt", map_location="cpu", weights_only=False)["rng"]) == 2

    a = json.loads((one / speedrun.STATE_FILE).read_text())["stages"]["pretrain"]["result"]
    b = report["stages"]["pretrain"]
    assert a["world_size"] == 1 and a["grad_accum_steps"] == 2
    assert (a["resumed_from_step"], b["resumed_from_step"]) == (0, 10)
    assert b["val_loss"][-1] < b["val_loss"][0] - 0.5  # it learned
    # The resumed 2-rank run against the 1-process run that never stopped: bitwise equal, not merely close: both runs compute each micro-batch's gradient with the same kernels on
    # one thread; one process adds g0 + g1, the 2 ranks all-reduce 2*g0 and 2*g1 (a sum of two numbers does
    # not depend on their order) and divide by 2 (exact for powers of two). Measured so on AVX-512 kernels.
    for key in ("val_loss", "val_bpb", "train_loss"):
        assert b[key] == a[key], key
    pa, _ = flat(one / "pretrain" / "ckpt.pt")
    pb, _ = flat(two / "pretrain" / "ckpt.pt")
    assert torch.equal(pa, pb)


def test_an_interrupted_ddp_stage_resumes_only_on_as_many_processes(tmp_path, capsys):
    out = tmp_path / "run"
    (out / "pretrain").mkdir(parents=True)
    (out / "pretrain" / "ckpt.pt").write_bytes(b"stands for a 2-process checkpoint")
    state = {"scale": "tiny", "seed": 0, "data": "tinyshakespeare", "stages": {"tokenizer": {"result": {}}},
             "world_size": 2, "dtype": "float32", "compile": False, "grad_accum_steps": 2}
    (out / speedrun.STATE_FILE).write_text(json.dumps(state))
    assert speedrun.main(["--scale", "tiny", "--out", str(out), "--resume", "--quiet"]) == 2
    assert "interrupted in pretrain on 2 process(es)" in capsys.readouterr().err
    assert json.loads((out / speedrun.STATE_FILE).read_text()) == state  # untouched


def test_scale_defaults_and_what_can_be_asked():
    cpu = DistInfo(device="cpu")
    assert choose(speedrun.SCALES["gpu"], cpu, None) == {"dtype": "auto", "compile": True, "grad_accum_steps": 1,
                                                         "world_size": 1}
    for name in ("cpu", "tiny"):
        assert choose(speedrun.SCALES[name], cpu, None)["dtype"] == "float32"
        assert choose(speedrun.SCALES[name], cpu, None)["compile"] is False
    # on resume, what the run used unless asked otherwise
    saved = {"dtype": "bf16", "compile": True, "grad_accum_steps": 4}
    assert choose(speedrun.SCALES["cpu"], cpu, saved) == {"dtype": "bf16", "compile": True, "grad_accum_steps": 4,
                                                          "world_size": 1}
    assert choose(speedrun.SCALES["cpu"], cpu, saved, dtype="fp32", compile=False)["dtype"] == "fp32"
    with pytest.raises(SpeedrunError, match="cannot be split into 3 equal micro-batches"):
        choose(speedrun.SCALES["tiny"], cpu, None, grad_accum_steps=3)
    with pytest.raises(SpeedrunError, match="cannot be shared by 2 processes"):
        choose(speedrun.SCALES["tiny"], DistInfo(rank=0, world_size=2, device="cpu"), None, grad_accum_steps=1)


def test_fp16_on_a_cpu_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "run"
    assert speedrun.main(["--scale", "tiny", "--out", str(out), "--dtype", "fp16", "--device", "cpu", "--quiet"]) == 2
    assert "float16 autocast needs a CUDA device" in capsys.readouterr().err
    assert not out.exists()
