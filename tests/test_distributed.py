"""course.distributed and course.ddp_demo: DDP equals gradient accumulation, multi-node on localhost,
and faults that end the whole run, bounded, leaving no process and no broken checkpoint behind.

Every torchrun launch costs seconds of start-up on a small machine, so the launches
run once, concurrently, in the module fixture `runs`, and the tests read their results.
The references are written out here, independently of the code under test: a plain
single-process loop over the same micro-batches.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import re
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from course import ddp_demo
from course.distributed import (
    DEFAULT_TIMEOUT_S,
    TIMED_OUT,
    all_reduce_mean,
    backend_for,
    cpu_threads_for_workers,
    dist_timeout,
    launch,
    rank_strided,
    setup,
    torchrun_command,
)

DEMO = ["--steps", "3", "--accum", "4", "--batch", "2", "--block", "16", "--n-layer", "2", "--n-head", "2",
        "--n-embd", "16", "--lr", "3e-3", "--grad-clip", "1.0", "--seed", "7", "--ckpt-every", "1",
        "--device", "cpu"]
LAUNCH_LIMIT = 240  # seconds; a run that ends by itself returns well before (124 would mean it did not)

SLEEPER = """
import os, signal, sys, time
out, mode, rank = sys.argv[1], sys.argv[2], os.environ["RANK"]
with open(os.path.join(out, f"worker{rank}.pid"), "w") as f:
    f.write(str(os.getpid()))
if mode == "kill-agent" and rank == "1":
    time.sleep(1)
    os.kill(os.getppid(), signal.SIGKILL)  # SIGKILL to this node's torchrun: its workers become orphans
time.sleep(600)
"""


# ----------------------------------------------------------------------------- helpers


def pids_with_env(key: str, value: str) -> list[int]:
    """Live processes whose environment holds key=value (a /proc scan, no psutil)."""
    needle = f"{key}={value}".encode()
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                env = (d / "environ").read_bytes()
                state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if needle in env.split(b"\0") and state != "Z":
                found.append(int(d.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def run_launch(target: str, args, out: Path, **kw) -> dict:
    """launch(), its output captured; `left`: processes of this run still alive afterwards."""
    marker = uuid.uuid4().hex
    buf = io.StringIO()
    env = {"COURSE_TEST_RUN": marker, **kw.pop("env", {})}
    t0 = time.monotonic()
    code = launch(target, [str(a) for a in args], out=buf, env=env, timeout=kw.pop("timeout", LAUNCH_LIMIT), **kw)
    seconds = time.monotonic() - t0
    time.sleep(0.5)  # let the kernel finish reaping
    return {"code": code, "output": buf.getvalue(), "seconds": seconds, "out": out,
            "left": pids_with_env("COURSE_TEST_RUN", marker)}


def demo_args(*extra):
    return ddp_demo.parse_args([*DEMO, "--out", "unused", *extra])


def load_ckpt(path):
    return torch.load(path, weights_only=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every launch this file needs, started together (they mostly wait on each other and on start-up)."""
    if not Path("/proc/self/environ").exists():
        pytest.skip("the process checks read Linux's /proc")
    tmp = tmp_path_factory.mktemp("ddp")
    sleeper = tmp / "sleeper.py"
    sleeper.write_text(SLEEPER)
    fault = lambda mode: [*DEMO, "--fail-at", 2, "--fail-rank", 1, "--fail-mode", mode]  # noqa: E731
    jobs = {
        "hang": ("course.ddp_demo", fault("hang"), {"nproc": 2, "env": {"COURSE_DIST_TIMEOUT": "15"}}),
        "timeout": (str(sleeper), [None, "sleep"], {"nproc": 2, "timeout": 40, "grace": 5}),
        "two_ranks": ("course.ddp_demo", DEMO, {"nproc": 2}),
        "two_nodes": ("course.ddp_demo", DEMO, {"nproc": 1, "nnodes": 2}),
        "raise": ("course.ddp_demo", fault("raise"), {"nproc": 2}),
        "kill": ("course.ddp_demo", fault("kill"), {"nproc": 2}),
        "kill_agent": (str(sleeper), [None, "kill-agent"], {"nproc": 1, "nnodes": 2, "grace": 5}),
    }
    results = {}

    def go(name):
        target, args, kw = jobs[name]
        out = tmp / name
        out.mkdir()
        args = [out if a is None else a for a in args]
        if not target.endswith(".py"):
            args += ["--out", out]
        results[name] = run_launch(target, args, out, **kw)

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        list(pool.map(go, jobs))
    return results


# ----------------------------------------------------------------------------- small parts, no launch


def test_rank_strided_partitions_the_micro_batches():
    items = list("abcdefgh")
    for world in (1, 2, 4, 8):
        shares = [rank_strided(items, r, world) for r in range(world)]
        assert shares[0] == items[::world] and all(len(s) == len(items) // world for s in shares)
        assert sorted(x for s in shares for x in s) == items  # disjoint and complete
    assert rank_strided(6, 1, 3) == [1, 4]
    with pytest.raises(ValueError, match="multiple of the number of processes"):
        rank_strided(items, 0, 3)
    with pytest.raises(ValueError, match="rank 2 must be in"):
        rank_strided(items, 2, 2)


def test_timeout_backend_and_thread_settings(monkeypatch):
    monkeypatch.delenv("COURSE_DIST_TIMEOUT", raising=False)
    assert dist_timeout() == DEFAULT_TIMEOUT_S <= 60
    monkeypatch.setenv("COURSE_DIST_TIMEOUT", "12.5")
    assert dist_timeout() == 12.5
    for bad in ("soon", "-1"):
        monkeypatch.setenv("COURSE_DIST_TIMEOUT", bad)
        with pytest.raises(ValueError, match="COURSE_DIST_TIMEOUT"):
            dist_timeout()
    assert (backend_for("cuda:1"), backend_for("cpu"), backend_for("mps")) == ("nccl", "gloo", "gloo")
    assert cpu_threads_for_workers({}) == {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    assert cpu_threads_for_workers({"OMP_NUM_THREADS": "4", "OMP_WAIT_POLICY": "ACTIVE"}) == {}


def test_setup_without_torchrun_is_one_plain_process(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    info = setup("cpu")
    assert (info.rank, info.world_size, info.backend, info.is_main) == (0, 1, None, True)
    assert not dist.is_initialized()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ValueError, match="RANK=2"):
        setup("cpu")


def test_torchrun_command_lines():
    one = torchrun_command("course.ddp_demo", ["--steps", 2], nproc=2, python="py")
    assert one == ["py", "-m", "torch.distributed.run", "--nproc-per-node=2", "--standalone",
                   "-m", "course.ddp_demo", "--steps", "2"]
    node = torchrun_command("course.ddp_demo", nproc=1, nnodes=2, rdzv_endpoint="10.0.0.1:29400", python="py")
    assert "--nnodes=2" in node and "--rdzv-backend=c10d" in node
    assert "--rdzv-endpoint=10.0.0.1:29400" in node and "--standalone" not in node
    with pytest.raises(ValueError, match="rdzv_endpoint"):
        torchrun_command("m", nnodes=2)
    with pytest.raises(FileNotFoundError, match="no such script"):
        torchrun_command("missing/train.py")


def test_all_reduce_mean_over_a_gloo_group():
    """Three ranks as three threads, each with its own gloo group over one in-memory store."""
    world, store, got = 3, dist.HashStore(), {}

    def rank(r):
        pg = dist.ProcessGroupGloo(dist.PrefixStore("t", store), r, world, datetime.timedelta(seconds=30))
        vec = torch.tensor([1.0, 2.0]) * (r + 1)
        got[r] = (all_reduce_mean(float(r), group=pg), all_reduce_mean(vec, group=pg), vec)

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(world)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert sorted(got) == [0, 1, 2]
    for r, (scalar, vec_mean, vec) in got.items():
        assert isinstance(scalar, float) and scalar == pytest.approx(1.0)
        torch.testing.assert_close(vec_mean, torch.tensor([2.0, 4.0]))
        torch.testing.assert_close(vec, torch.tensor([1.0, 2.0]) * (r + 1))  # the input is left alone
    assert all_reduce_mean(2.5) == 2.5  # no group: the value itself


# ----------------------------------------------------------------------------- the references


def reference(args, world: int, grouped: bool, scale_by_count: bool = True):
    """A single process over the demo's micro-batches, written out without DDP.

    grouped: sum each "rank's" micro-batches (r, r+world, ...) first, scaled by world/accum,
    then average the ranks' sums, as DDP does; otherwise plain in-order accumulation,
    each micro-batch scaled by 1/accum. scale_by_count=False forgets that scale (a bug).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the ranks run one thread each: the same kernels, the same sums
    try:
        model = ddp_demo.make_model(args)
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
        data = ddp_demo.text_bytes()
        params = list(model.parameters())
        losses, norms, grads = [], [], None
        for step in range(args.steps):
            batch = lambda i: ddp_demo.micro_batch(data, step, i, args.batch, args.block, args.accum)  # noqa: B023,E731
            total = 0.0
            if grouped:
                sums = []
                for r in range(world):
                    for i in range(r, args.accum, world):
                        _, loss = model(*batch(i))
                        (loss * (world / args.accum if scale_by_count else 1.0)).backward()
                        total += float(loss.detach())
                    sums.append([p.grad.clone() for p in params])
                    opt.zero_grad(set_to_none=True)
                for p, *per_rank in zip(params, *sums):
                    p.grad = per_rank[0] * (1.0 / world)
                    for g in per_rank[1:]:
                        p.grad = p.grad + g * (1.0 / world)
            else:
                for i in range(args.accum):
                    _, loss = model(*batch(i))
                    (loss / args.accum if scale_by_count else loss).backward()
                    total += float(loss.detach())
            grads = {n: p.grad.clone() for n, p in model.named_parameters()}
            norms.append(float(torch.nn.utils.clip_grad_norm_(params, args.grad_clip)))
            losses.append(total / args.accum)
            opt.step()
            opt.zero_grad(set_to_none=True)
        return {"losses": losses, "norms": norms, "grads": grads, "model": model.state_dict()}
    finally:
        torch.set_num_threads(threads)


def rel_diff(a: dict, b: dict) -> float:
    num = sum(float((a[k] - b[k]).double().norm() ** 2) for k in a) ** 0.5
    return num / sum(float(b[k].double().norm() ** 2) for k in b) ** 0.5


# ----------------------------------------------------------------------------- equivalence


def test_two_ranks_equal_one_process_grouping_the_micro_gradients_bitwise(runs):
    run = runs["two_ranks"]
    assert run["code"] == 0, run["output"][-4000:]
    assert not run["left"]
    assert "step 2: loss" in run["output"]  # rank 0's lines came through the launcher
    log = json.loads((run["out"] / "log.json").read_text())
    ckpt = load_ckpt(run["out"] / "ckpt.pt")
    assert (log["world_size"], log["backend"], log["micro_batches_per_rank"], log["threads"]) == (2, "gloo", 2, 1)
    assert [s["tokens"] for s in log["steps"]] == [4 * 2 * 16 * k for k in (1, 2, 3)]
    args = demo_args()
    ref = reference(args, world=2, grouped=True)
    for name, g in ref["grads"].items():  # the last step's gradients, before clipping
        assert torch.equal(ckpt["grads"][name], g), f"gradient of {name} differs"
    for name, w in ref["model"].items():
        assert torch.equal(ckpt["model"][name], w), f"parameter {name} differs"
    assert [s["grad_norm"] for s in log["steps"]] == ref["norms"]
    # the logged loss is averaged in another order (per rank, then over ranks): equal to rounding
    assert [s["loss"] for s in log["steps"]] == pytest.approx(ref["losses"], rel=1e-6)


def test_two_ranks_match_plain_accumulation_and_would_catch_a_missing_scale(runs):
    run = runs["two_ranks"]
    assert run["code"] == 0, run["output"][-4000:]
    log = json.loads((run["out"] / "log.json").read_text())
    ckpt = load_ckpt(run["out"] / "ckpt.pt")
    args = demo_args()
    plain = reference(args, world=1, grouped=False)
    assert rel_diff(ckpt["grads"], plain["grads"]) < 1e-6  # only the summation order differs
    assert [s["grad_norm"] for s in log["steps"]] == pytest.approx(plain["norms"], rel=1e-6)
    assert [s["loss"] for s in log["steps"]] == pytest.approx(plain["losses"], rel=1e-6)
    assert rel_diff(ckpt["model"], plain["model"]) < 1e-6
    # Summing the micro-batch means instead of averaging them gives 4x the gradient, which only the
    # gradients show: AdamW divides by the gradient's own scale, so the weights barely move apart.
    wrong = reference(args, world=1, grouped=False, scale_by_count=False)
    assert rel_diff(ckpt["grads"], wrong["grads"]) > 0.5


def test_one_process_run_of_the_demo_is_plain_accumulation(tmp_path):
    """The worker without torchrun: world 1, every micro-batch in order, one process."""
    args = [*DEMO, "--out", str(tmp_path), "--steps", "2"]
    threads = torch.get_num_threads()
    try:
        assert ddp_demo.main(args) == 0
    finally:
        torch.set_num_threads(threads)
    log = json.loads((tmp_path / "log.json").read_text())
    plain = reference(ddp_demo.parse_args(args), world=1, grouped=False)
    assert log["world_size"] == 1 and log["micro_batches_per_rank"] == 4
    assert [s["loss"] for s in log["steps"]] == pytest.approx(plain["losses"], rel=1e-6)
    ckpt = load_ckpt(tmp_path / "ckpt.pt")
    assert rel_diff(ckpt["model"], plain["model"]) < 1e-6


def test_two_nodes_on_localhost_equal_one_node_with_two_ranks(runs):
    nodes, ranks = runs["two_nodes"], runs["two_ranks"]
    assert nodes["code"] == 0, nodes["output"][-4000:]
    assert not nodes["left"]
    assert re.search(r"\[node \d\] step 2: loss", nodes["output"])
    a, b = load_ckpt(nodes["out"] / "ckpt.pt"), load_ckpt(ranks["out"] / "ckpt.pt")
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    log_a = json.loads((nodes["out"] / "log.json").read_text())
    log_b = json.loads((ranks["out"] / "log.json").read_text())
    assert [s["loss"] for s in log_a["steps"]] == [s["loss"] for s in log_b["steps"]]


# ----------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "name, says",
    [
        ("raise", "injected fault: rank 1 raised at step 2"),
        ("kill", "Signal 9 (SIGKILL)"),
        ("hang", "timed out"),  # rank 0's all-reduce gave up waiting for rank 1
    ],
)
def test_a_failing_rank_ends_the_whole_run_and_keeps_the_last_checkpoint(runs, name, says):
    run = runs[name]
    assert run["code"] not in (0, TIMED_OUT), f"{name}: exit code {run['code']}\n{run['output'][-4000:]}"
    assert says.lower() in run["output"].lower(), run["output"][-4000:]
    assert "a rank failed" in run["output"]
    assert not run["left"], f"{name}: processes left behind: {run['left']}"
    ckpt = load_ckpt(run["out"] / "ckpt.pt")  # the last good checkpoint: after steps 0 and 1
    assert ckpt["step"] == 2 and len(json.loads((run["out"] / "log.json").read_text())["steps"]) == 2
    assert not list(run["out"].glob(".ckpt.pt.*.tmp"))


def test_sigkill_to_torchrun_leaves_no_orphans(runs):
    run = runs["kill_agent"]
    assert run["code"] == 128 + 9, run["output"][-4000:]
    assert "outlived torchrun" in run["output"]
    pids = [int(p.read_text()) for p in run["out"].glob("worker*.pid")]
    assert len(pids) == 2 and not any(alive(p) for p in pids)
    assert not run["left"]


def test_launch_timeout_stops_the_whole_tree(runs):
    run = runs["timeout"]
    assert run["code"] == TIMED_OUT, run["output"][-4000:]
    assert "timed out after 40 s" in run["output"]
    pids = [int(p.read_text()) for p in run["out"].glob("worker*.pid")]
    assert len(pids) == 2, "the workers had not started before the timeout"
    assert not any(alive(p) for p in pids) and not run["left"]


def test_worker_watchdog_exits_when_its_parent_dies(tmp_path):
    """setup()'s watchdog: a worker whose parent (torchrun's agent) is SIGKILLed exits by itself."""
    import subprocess
    import sys

    script = tmp_path / "orphan.py"
    script.write_text(
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    from course.distributed import _watch_parent\n"
        "    _watch_parent(0.1)\n"
        "    print(os.getpid(), flush=True)\n"
        "    time.sleep(300)\n"
        "    os._exit(0)\n"
        "time.sleep(1)  # then the parent dies, leaving the child an orphan\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    child = int(proc.stdout.readline())
    proc.wait(60)
    for _ in range(600):  # the watchdog polls every 0.1 s; allow a busy machine a minute
        if not alive(child):
            break
        time.sleep(0.1)
    orphaned = alive(child)
    if orphaned:
        os.kill(child, signal.SIGKILL)
    assert not orphaned, "the orphaned worker was still running a minute after its parent died"
    assert "is gone: exiting" in proc.stderr.read()
