"""`python -m course doctor`, the assets it verifies, and the CLI entry point."""

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course import assets, cli, doctor

ROOT = Path(__file__).resolve().parents[1]


def test_doctor_offline_passes():
    # No HF_HUB_OFFLINE: the hub probe must run and give up by itself. That it is bounded by its
    # timeout whatever the network does is tested in test_hub_tables.py, without a wall clock here.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    proc = subprocess.run([sys.executable, "-m", "course", "doctor"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for field in ["python", "torch", "device", "bundled data", "tokenizer tables", "hugging face hub"]:
        assert field in proc.stdout, f"doctor's report lacks {field!r}"
    assert "6/6 files verified" in proc.stdout
    # the device self-check ran, on this machine's device (the CPU here, so fp32 against the CPU)
    check = next((line for line in proc.stdout.splitlines() if "device self-check" in line), "")
    assert re.search(r"device self-check\s+cpu \(float32\) agrees with the CPU: loss \d", check.strip()), proc.stdout
    assert "--dtype auto: float32" in proc.stdout
    hub_line = next(line for line in proc.stdout.splitlines() if "hugging face hub" in line)
    assert re.search(r"hugging face hub\s+(reachable$|unreachable \()", hub_line.strip()), hub_line


def test_hub_probe_gives_up_within_its_timeout(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def hang(*args, **kwargs):  # a network that answers long after the probe's timeout
        time.sleep(3)
        raise TimeoutError("no answer")

    monkeypatch.setattr(socket, "create_connection", hang)
    t0 = time.perf_counter()
    answer = doctor.hub_reachable(timeout=0.5)
    assert time.perf_counter() - t0 < 2
    assert answer.startswith("unreachable")


def test_hub_probe_honours_offline_mode(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "HF_HUB_OFFLINE" in doctor.hub_reachable()


def test_missing_asset_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(assets, "ASSETS_DIR", tmp_path)
    with pytest.raises(assets.AssetError, match="tinyshakespeare.*missing.*tinyshakespeare.txt"):
        assets.load_tinyshakespeare()
    assert doctor.main([]) == 1
    err = capsys.readouterr().err
    assert "PROBLEMS" in err and "tinyshakespeare.txt" in err


def test_damaged_asset_is_caught(tmp_path, monkeypatch):
    (tmp_path / "tinyshakespeare.txt").write_text("First Citizen:\n", encoding="utf-8")
    monkeypatch.setattr(assets, "ASSETS_DIR", tmp_path)
    with pytest.raises(assets.AssetError, match="damaged"):
        assets.verify_asset("tinyshakespeare")


def test_bundled_assets_match_manifest():
    for name in assets.MANIFEST:
        assets.verify_asset(name)  # raises on a missing or changed file
    text = assets.load_tinyshakespeare()
    assert len(text) == 1_115_394 and text.startswith("First Citizen:")


def test_tiktoken_uses_bundled_cache_offline():
    code = ("import os, course, tiktoken; assert os.environ['TIKTOKEN_CACHE_DIR'].endswith('tiktoken_cache');"
            "print(tiktoken.get_encoding('cl100k_base').encode('hello world'))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert proc.stdout.strip() == "[15339, 1917]", proc.stderr


def test_user_tiktoken_cache_is_respected(tmp_path):
    code = "import os, course; print(os.environ['TIKTOKEN_CACHE_DIR'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "TIKTOKEN_CACHE_DIR": str(tmp_path)})
    assert proc.stdout.strip() == str(tmp_path)


def test_cli_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_cli_unknown_command(capsys):
    assert cli.main(["trian"]) == 2
    assert "unknown command 'trian'" in capsys.readouterr().err


def test_every_command_resolves_and_has_help():
    """Each registered command imports and answers --help (argparse exits 0)."""
    import importlib

    for name, (target, _) in cli.COMMANDS.items():
        module, func = target.split(":")
        fn = getattr(importlib.import_module(module), func)
        with pytest.raises(SystemExit) as exit_info:
            fn(["--help"])
        assert exit_info.value.code == 0, f"python -m course {name} --help failed"
