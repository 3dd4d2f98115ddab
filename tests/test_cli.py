"""The training commands of `python -m course`, run in-process on tiny settings."""

import dataclasses
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course.arch import ARCHITECTURES
from course.cli import main
from course.train import TrainConfig

FIXTURE = Path(__file__).parent / "data" / "hellaswag_tiny.jsonl"
COMMANDS = ["train-tokenizer", "prepare-data", "train", "sample", "eval", "rl", "speedrun"]
TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--quiet", "--device", "cpu"]


@pytest.mark.parametrize("name", COMMANDS)
def test_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        main([name, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert f"python -m course {name}" in out
    if name == "train":
        assert "shakespeare-cpu" in out


def test_help_through_python_dash_m():
    out = subprocess.run(
        [sys.executable, "-m", "course", "train", "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and "--preset" in out.stdout


def test_shakespeare_preset_trains_resumes_samples_and_evaluates(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--preset", "shakespeare-cpu", "--out", str(run), "--max-steps", "20", "--eval-interval", "10",
            "--samples", "1", "--sample-tokens", "30", "--quiet", "--device", "cpu"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "shakespeare-cpu: GPT 4x128" in out and "--- sample 1 ---" in out and "val loss" in out
    for name in ("ckpt.pt", "loss.png", "train.json"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "train.json").read_text())
    assert summary["steps"] == 20 and summary["val_steps"] == [10, 20]
    assert summary["model"]["n_embd"] == 128 and summary["model"]["block_size"] == 64
    assert summary["train"]["betas"] == [0.9, 0.99] and summary["arch"] == "gpt"  # the preset's

    # an existing run is not overwritten by accident
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err

    # resume: continues from step 20 with the run's own settings
    assert main(["train", "--out", str(run), "--resume", "--max-steps", "25", "--samples", "0", "--quiet", "--device", "cpu"]) == 0
    summary = json.loads((run / "train.json").read_text())
    assert summary["steps"] == 25 and summary["model"]["n_embd"] == 128 and summary["train"]["max_steps"] == 25
    assert summary["train"]["sample_interval"] == 1000  # the preset's, kept by the resumed run
    capsys.readouterr()

    assert main(["sample", "--checkpoint", str(run), "--prompt", "ROMEO:", "--max-new-tokens", "20", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "ROMEO:" in out

    assert main(["eval", "--checkpoint", str(run / "ckpt.pt"), "--batches", "3", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["step"] == 25 and 0 < result["val_loss"] < 5 and result["val_bpb"] > 0


def test_damaged_checkpoint_is_reported_and_kept(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "ckpt.pt").write_bytes(b"\x00" * 100)
    code = main(["train", "--preset", "shakespeare-cpu", "--out", str(run), "--resume", "--quiet", "--device", "cpu"])
    assert code == 2
    assert "damaged" in capsys.readouterr().err
    assert (run / "ckpt.pt").read_bytes() == b"\x00" * 100
    assert sorted(p.name for p in run.iterdir()) == ["ckpt.pt"]  # it stopped before training wrote anything
    assert main(["sample", "--checkpoint", str(run)]) == 2
    assert "damaged" in capsys.readouterr().err


def test_tokenizer_data_train_eval_pipeline(tmp_path, capsys):
    text = Path(__file__).parent.parent / "course" / "assets" / "tinyshakespeare.txt"
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(text.read_text(encoding="utf-8")[:60_000], encoding="utf-8")
    prefix = tmp_path / "tok" / "shake"
    assert main(["train-tokenizer", "--input", str(corpus), "--vocab-size", "300", "--out", str(prefix)]) == 0
    assert Path(str(prefix) + ".model").is_file()

    data = tmp_path / "data"
    assert main(["prepare-data", "--dataset", str(corpus), "--tokenizer", str(prefix) + ".model", "--out", str(data),
                 "--sample-by", "paragraph", "--num-proc", "1"]) == 0
    meta = json.loads((data / "meta.json").read_text())
    assert meta["vocab_size"] == 301 and meta["eot"] == 300 and meta["dtype"] == "uint16"
    capsys.readouterr()

    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run), "--max-steps", "4", "--block-size", "32",
                 "--batch-size", "4", "--eval-interval", "2", "--eval-batches", "2", "--samples", "1",
                 "--sample-tokens", "10", *TINY]) == 0
    out = capsys.readouterr().out
    assert "course-bpe tokenizer (vocab 301)" in out and "bits/byte" in out

    # gpt2 shards and HellaSwag on the fixture
    data2 = tmp_path / "data2"
    assert main(["prepare-data", "--dataset", str(corpus), "--tokenizer", "gpt2", "--out", str(data2), "--sample-by", "paragraph"]) == 0
    run2 = tmp_path / "run2"
    assert main(["train", "--data", str(data2), "--out", str(run2), "--max-steps", "2", "--block-size", "128",
                 "--batch-size", "2", "--eval-batches", "1", "--samples", "0", *TINY]) == 0
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run2), "--batches", "2", "--hellaswag", str(FIXTURE), "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["hellaswag_n"] == 6 and 0 <= result["hellaswag_acc"] <= 1
    assert result["val_bpb"] > 0


def no_network(*args, **kwargs):
    raise AssertionError("offline mode must not touch the network")


def test_every_config_field_is_a_flag(capsys):
    """Flags are made from the dataclasses: a field added to a config needs no hand copying."""
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    configs = [TrainConfig] + [config for _, config in ARCHITECTURES.values()]
    names = {f.name for config in configs for f in dataclasses.fields(config)}
    names -= {"vocab_size", "checkpoint_path"}  # from the tokenizer and from --out
    missing = sorted(n for n in names if "--" + n.replace("_", "-") not in out)
    assert not missing, f"config fields without a flag: {missing}"


def test_llama_trains_resumes_samples_and_evaluates(tmp_path, capsys):
    run = tmp_path / "llama"
    args = ["train", "--arch", "llama", "--preset", "shakespeare-cpu", "--out", str(run), "--max-steps", "4",
            "--eval-interval", "2", "--eval-batches", "2", "--batch-size", "4", "--samples", "1",
            "--sample-tokens", "10", "--n-kv-head", "1", "--betas", "0.8", "0.9", *TINY]
    assert main(args) == 0
    assert "shakespeare-cpu: Llama 1x32" in capsys.readouterr().out
    summary = json.loads((run / "train.json").read_text())
    assert summary["arch"] == "llama" and summary["model"]["n_kv_head"] == 1 and summary["model"]["n_head"] == 2
    assert summary["train"]["betas"] == [0.8, 0.9] and summary["val_steps"] == [2, 4]
    state = torch.load(run / "ckpt.pt", weights_only=True)
    assert state["model_class"] == "Llama" and state["model_config"]["n_kv_head"] == 1

    assert main(["train", "--out", str(run), "--resume", "--arch", "gpt", "--quiet", "--device", "cpu"]) == 2
    assert "holds a llama model" in capsys.readouterr().err
    assert main(["train", "--out", str(run), "--resume", "--max-steps", "6", "--samples", "0", "--quiet",
                 "--device", "cpu"]) == 0
    summary = json.loads((run / "train.json").read_text())
    assert summary["steps"] == 6 and summary["model"]["n_kv_head"] == 1 and summary["train"]["betas"] == [0.8, 0.9]
    capsys.readouterr()

    assert main(["sample", "--checkpoint", str(run), "--prompt", "ROMEO:", "--max-new-tokens", "10", "--device", "cpu"]) == 0
    assert "ROMEO:" in capsys.readouterr().out
    assert main(["eval", "--checkpoint", str(run), "--batches", "2", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["step"] == 6 and 0 < result["val_loss"] < 5 and result["val_bpb"] > 0


def test_clear_errors(tmp_path, capsys, monkeypatch):
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r"), *TINY]) == 2
    assert "prepare-data" in capsys.readouterr().err
    assert main(["train", "--preset", "gpt2-124m", "--out", str(tmp_path / "r2")]) == 2
    assert "needs --data" in capsys.readouterr().err
    assert main(["train", "--n-kv-head", "2", "--out", str(tmp_path / "r3"), *TINY]) == 2
    assert "--n-kv-head: not a setting of --arch gpt" in capsys.readouterr().err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    assert main(["prepare-data", "--dataset", "fineweb-edu", "--out", str(tmp_path / "fw")]) == 2
    assert "FineWeb-Edu" in capsys.readouterr().err
    assert main(["prepare-data", "--tokenizer", "nonsense", "--out", str(tmp_path / "x")]) == 2
    assert "unknown tokenizer" in capsys.readouterr().err


def test_train_prints_the_trainers_last_sample_once_and_it_matches_the_checkpoint(tmp_path, capsys, monkeypatch):
    """Sample 1 at the end of `train` is the trainer's last sample, reused rather than made again;
    both end-of-run samples must equal what `sample` draws from the saved checkpoint."""
    import course.commands as commands

    calls = []
    real = commands.sample_text
    monkeypatch.setattr(commands, "sample_text", lambda *a, **k: calls.append(k["seed"]) or real(*a, **k))
    run = tmp_path / "run"
    assert main(["train", "--preset", "shakespeare-cpu", "--out", str(run), "--max-steps", "12", "--eval-interval", "0",
                 "--sample-interval", "12", "--samples", "2", "--sample-tokens", "25", "--quiet", "--device", "cpu"]) == 0
    trained = capsys.readouterr().out
    assert calls == [1338]  # only sample 2 was drawn at the end; sample 1 came from the trainer
    assert main(["sample", "--checkpoint", str(run), "--num-samples", "2", "--max-new-tokens", "25", "--prompt", "\n",
                 "--temperature", "1.0", "--top-k", "200", "--seed", "1337", "--device", "cpu"]) == 0
    drawn = capsys.readouterr().out
    tail = trained[trained.index("--- sample 1 ---"):]
    assert tail == drawn and tail.count("--- sample") == 2
    summary = json.loads((run / "train.json").read_text())
    assert summary["train"]["sample_interval"] == 12


def test_the_tuned_cpu_recipe_differs_from_nanogpts_only_where_the_benchmark_says():
    """benchmarks/README.md compares the two presets as 'the same data, batch and 2000 steps,
    2 layers and lr 3e-3': nothing else may differ."""
    from course.presets import PRESETS

    base, tuned = PRESETS["shakespeare-cpu"], PRESETS["shakespeare-cpu-tuned"]
    assert tuned.data == base.data
    assert {k for k in base.model | tuned.model if base.model.get(k) != tuned.model.get(k)} == {"n_layer"}
    assert tuned.model["n_layer"] == 2
    changed = {k for k in base.train | tuned.train if base.train.get(k) != tuned.train.get(k)}
    assert changed == {"max_lr", "min_lr", "reference"}
    assert (tuned.train["max_lr"], tuned.train["min_lr"], tuned.train["reference"]) == (3e-3, 3e-4, None)
