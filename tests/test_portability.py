"""Windows and macOS from Linux: the spawn start method forced, text files as UTF-8, no POSIX-only stops."""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

from course import distributed

ROOT = Path(__file__).resolve().parents[1]

# A script as a learner on macOS or Windows would run it: spawn, and a __main__ guard.
SPAWNED = textwrap.dedent('''
    import json, multiprocessing, sys
    from pathlib import Path

    if __name__ == "__main__":
        multiprocessing.set_start_method("spawn", force=True)  # the default on macOS and Windows
        from course.distributed import launch
        from course.shards import prepare_shards, read_shard, shard_paths
        from course.tokenizer.patterns import GPT4_SPLIT_PATTERN
        from course.tokenizer.train import count_chunks

        out = Path(sys.argv[1])
        docs = [f"Document {i}: caf\\u00e9, na\\u00efve, \\u4f60\\u597d {i * 7}." * 3 for i in range(80)]
        ids = {}
        for n in (1, 2):
            prepare_shards(docs, "gpt2", out / f"p{n}", num_proc=n, progress=False)
            ids[n] = [read_shard(p).tolist() for p in shard_paths(out / f"p{n}", "train")]
        text = " ".join(docs) * 12  # > 100 kB: counted in worker processes
        same_counts = count_chunks(text, GPT4_SPLIT_PATTERN, num_proc=2) == count_chunks(text, GPT4_SPLIT_PATTERN, num_proc=1)
        code = launch(str(out / "worker.py"), nproc=2, timeout=120, out=open(out / "launch.log", "w", encoding="utf-8"))
        print(json.dumps({"start": multiprocessing.get_start_method(), "shards_equal": ids[1] == ids[2],
                          "n_train_shards": len(ids[1]), "counts_equal": same_counts, "launch": code}))
''')

WORKER = textwrap.dedent('''
    import torch, torch.distributed as dist
    from course.distributed import cleanup, setup

    info = setup("cpu")
    t = torch.tensor([float(info.rank + 1)])
    dist.all_reduce(t)
    print(f"rank {info.rank} of {info.world_size}: sum {t.item():g}", flush=True)
    cleanup()
''')


def test_data_preparation_and_the_ddp_launcher_under_spawn(tmp_path):
    (tmp_path / "main.py").write_text(SPAWNED, encoding="utf-8")
    (tmp_path / "worker.py").write_text(WORKER, encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "HOME": str(Path.home())}
    proc = subprocess.run([sys.executable, str(tmp_path / "main.py"), str(tmp_path)], capture_output=True,
                          text=True, encoding="utf-8", timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    got = json.loads(proc.stdout.strip().splitlines()[-1])
    log = (tmp_path / "launch.log").read_text(encoding="utf-8")
    assert got == {"start": "spawn", "shards_equal": True, "n_train_shards": 1, "counts_equal": True,
                   "launch": 0}, log
    assert "rank 0 of 2: sum 3" in log and "rank 1 of 2: sum 3" in log


def test_launcher_stops_a_run_where_there_are_no_process_groups(monkeypatch):
    """Windows has no os.killpg and no SIGKILL: stopping torchrun falls back to terminate/kill."""
    monkeypatch.delattr(distributed.os, "killpg")
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    said = []
    distributed._stop_tree([p], "no-such-tag", 10, said.append)
    assert p.returncode is not None and p.returncode != 0 and said == []


def _text_io_without_encoding(path: Path) -> list[str]:
    """Calls to open()/Path.open()/read_text()/write_text() in text mode that name no encoding, and
    subprocess calls that decode a child's output as text (text=True) in the locale's encoding."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        as_text = [k for k in node.keywords if k.arg in ("text", "universal_newlines")
                   and isinstance(k.value, ast.Constant) and k.value.value is True]
        if as_text:
            if not any(k.arg == "encoding" for k in node.keywords):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            continue
        if isinstance(f, ast.Name) and f.id == "open":
            mode_at = 1
        elif isinstance(f, ast.Attribute) and f.attr in ("read_text", "write_text"):
            mode_at = None
        elif isinstance(f, ast.Attribute) and f.attr == "open" and not (
                isinstance(f.value, ast.Name) and f.value.id in ("os", "Image", "tarfile", "zipfile", "gzip")):
            mode_at = 0
        else:
            continue
        keywords = {k.arg for k in node.keywords}
        if "encoding" in keywords:
            continue
        mode = None
        if mode_at is not None and len(node.args) > mode_at and isinstance(node.args[mode_at], ast.Constant):
            mode = node.args[mode_at].value
        for k in node.keywords:
            if k.arg == "mode" and isinstance(k.value, ast.Constant):
                mode = k.value.value
        if isinstance(mode, str) and "b" in mode:
            continue
        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_text_file_in_course_is_read_and_written_as_utf8():
    found = [hit for p in sorted((ROOT / "course").rglob("*.py")) for hit in _text_io_without_encoding(p)]
    assert found == [], "text I/O without encoding='utf-8' (Windows would use its ANSI code page): " + ", ".join(found)


def test_the_encoding_check_catches_what_it_should(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(textwrap.dedent('''
        from pathlib import Path
        open("a.txt")
        open("a.txt", "w")
        Path("a").read_text()
        Path("a").open("w")
        open("a.bin", "rb")
        open("a.txt", encoding="utf-8")
        Path("a").write_text("x", encoding="utf-8")
        import os; os.open("a", os.O_RDONLY)
        import subprocess; subprocess.run(["ls"], capture_output=True, text=True)
        subprocess.run(["ls"], capture_output=True, text=True, encoding="utf-8")
        subprocess.run(["ls"], capture_output=True)
    '''), encoding="utf-8")
    monkey_root = sample.parent
    global ROOT
    saved, ROOT = ROOT, monkey_root
    try:
        assert [h.split(":")[1] for h in _text_io_without_encoding(sample)] == ["3", "4", "5", "6", "11"]
    finally:
        ROOT = saved
