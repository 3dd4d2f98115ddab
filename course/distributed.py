"""Data parallelism with PyTorch's own engine: torchrun + DistributedDataParallel (lesson 05).

Lesson 05 (notebooks/05_ddp.ipynb) and `course.ddp_demo` use this module. Data
parallelism runs one copy of the model per process ("rank"); every rank reads
different micro-batches, and after the backward pass the gradients are averaged
over the ranks (an all-reduce), so every copy takes the same optimizer step.
The pieces, and why each is here:

- `setup()`: what a worker started by `torchrun` calls first. torchrun tells
  each process who it is through the environment (RANK, WORLD_SIZE,
  LOCAL_RANK, MASTER_ADDR/PORT); `setup` reads it, picks the backend by device
  (NCCL for CUDA GPUs, one per process; gloo on CPU) and joins the group with a
  *short* timeout (`dist_timeout()`, 60 s unless COURSE_DIST_TIMEOUT says
  otherwise). PyTorch's default is 30 minutes: a rank that died or stopped
  talking would leave the others waiting for half an hour. On CPU it also
  gives each process one thread, because several processes whose threads
  spin-wait for each other on a few cores run far slower than one thread each.
- `rank_strided()`: which of a step's micro-batches this rank runs: i, i+W, ...
  Together the ranks see every micro-batch exactly once, whatever W divides.
- `all_reduce_mean()`: the mean of a number over the ranks, for logging (the
  loss every rank prints is then the loss of the whole step).
- `launch()`: runs `python -m torch.distributed.run` (torchrun) from Python or
  a notebook, streams its output live, returns the exit code, and never leaves
  a process behind: on timeout or interrupt it stops the whole tree, SIGTERM
  first. torchrun starts each worker in a session of its own, so if torchrun
  itself is killed (SIGKILL cannot be caught) its workers would run on as
  orphans; `launch` tags every process it starts and stops whatever carries the
  tag once torchrun is gone, and `setup` adds a watchdog in each worker that
  exits when its parent disappears.
"""

from __future__ import annotations

import datetime
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

TIMEOUT_ENV = "COURSE_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 60.0
LAUNCH_TAG_ENV = "COURSE_LAUNCH_ID"  # set by `launch` on every process it starts
TIMED_OUT = 124  # launch's exit code when it stopped a run that ran past its timeout (as timeout(1))


def dist_timeout() -> float:
    """Seconds a collective (and joining the group) may wait for the other ranks.

    COURSE_DIST_TIMEOUT overrides the 60 s default. Long enough for a slow rank
    to catch up (an evaluation or checkpoint on rank 0 while the others wait at
    the next all-reduce: raise it for big models), short enough that a dead or
    silent peer ends the run within about a minute instead of PyTorch's 30.
    """
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{TIMEOUT_ENV} must be positive, got {raw!r}")
    return value


def backend_for(device) -> str:
    """'nccl' for CUDA devices (GPU-to-GPU all-reduce over NVLink / InfiniBand), 'gloo' otherwise."""
    return "nccl" if str(device).split(":")[0] == "cuda" else "gloo"


def cpu_threads_for_workers(env=None) -> dict:
    """Environment settings for CPU workers: one OpenMP thread each, threads that sleep when idle.

    Values already set are kept (set OMP_NUM_THREADS yourself to give each
    rank more threads). OMP_WAIT_POLICY must be in the environment before the
    worker starts: OpenMP reads it once, when torch loads.
    """
    env = os.environ if env is None else env
    out = {}
    if not env.get("OMP_NUM_THREADS"):
        out["OMP_NUM_THREADS"] = "1"
    if not env.get("OMP_WAIT_POLICY"):
        out["OMP_WAIT_POLICY"] = "PASSIVE"
    return out


@dataclass(frozen=True)
class DistInfo:
    """Who this process is in the run. world_size 1: a plain single process (no group)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints logs."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r} (is this process started by torchrun?)") from None


def setup(device: str | None = None, *, timeout: float | None = None, watch_parent: bool = True) -> DistInfo:
    """Join the process group torchrun set up for this process; a no-op without torchrun.

    Reads RANK, WORLD_SIZE and LOCAL_RANK. With WORLD_SIZE > 1: on CUDA each
    process takes GPU LOCAL_RANK and NCCL; otherwise the device is the CPU and
    the backend gloo (MPS is for one process: gloo cannot all-reduce MPS
    tensors, and several processes sharing one Apple GPU gain nothing).
    `timeout` (seconds, default `dist_timeout()`) bounds every collective.
    Without torchrun (no WORLD_SIZE, or 1) this returns rank 0 of 1 on
    `device` or `course.utils.get_device()` and creates no group.
    """
    import torch

    from course.utils import get_device

    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK={rank} must be in [0, WORLD_SIZE={world})")
    device = device or get_device()
    kind = device.split(":")[0]
    if kind == "cpu" and not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(1)  # see cpu_threads_for_workers; launch() sets it before torch loads
    if world == 1:
        return DistInfo(device=device)
    import torch.distributed as dist

    if kind == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"LOCAL_RANK {local_rank} but this machine has {torch.cuda.device_count()} GPU(s): "
                "start at most one process per GPU (--nproc-per-node)"
            )
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    else:
        device = "cpu"
    backend = backend_for(device)
    if not dist.is_initialized():
        seconds = dist_timeout() if timeout is None else float(timeout)
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=seconds))
    if watch_parent and "TORCHELASTIC_RUN_ID" in os.environ:
        _watch_parent()
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=device, backend=backend)


def cleanup() -> None:
    """Leave the process group (if any): call at the end of a worker so it exits cleanly."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _watch_parent(interval: float = 1.0) -> None:
    """Exit this worker when its parent (torchrun's agent) is gone: a killed agent cannot stop us."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                print(f"[rank {os.environ.get('RANK')}] torchrun (pid {parent}) is gone: exiting", file=sys.stderr)
                os._exit(1)

    threading.Thread(target=watch, name="course-parent-watchdog", daemon=True).start()


# ----------------------------------------------------------------------------- what each rank does


def rank_strided(items, rank: int, world_size: int) -> list:
    """This rank's share of a step's micro-batches: items rank, rank + W, rank + 2W, ...

    Each rank gets the same number (DDP averages the ranks' gradients with
    equal weights, and every rank must run the same number of backward passes),
    so len(items) must be a multiple of world_size: ValueError otherwise.
    An int n stands for range(n).
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} must be in [0, world_size={world_size})")
    items = list(range(items)) if isinstance(items, int) else list(items)
    if len(items) % world_size:
        raise ValueError(
            f"{len(items)} micro-batches cannot be shared equally by {world_size} ranks: "
            "make the number of micro-batches per step (grad_accum_steps) a multiple of the number of processes"
        )
    return items[rank::world_size]


def all_reduce_mean(value, group=None):
    """The mean of `value` over the ranks of `group` (default: the whole run), for logging.

    A number gives a float, a tensor a new tensor (the input is left as it is).
    Without a process group this is the value itself.
    """
    import torch
    import torch.distributed as dist

    if group is None and not (dist.is_available() and dist.is_initialized()):
        return float(value) if not isinstance(value, torch.Tensor) else value.detach().clone()
    world = dist.get_world_size(group)
    if isinstance(value, torch.Tensor):
        t = value.detach().clone()
    else:
        try:
            backend = dist.get_backend(group)
        except ValueError:  # a group made directly (e.g. ProcessGroupGloo(store, rank, size)) is not registered
            backend = group.name()
        on = "cuda" if backend == "nccl" else "cpu"
        t = torch.tensor(float(value), dtype=torch.float64 if on == "cpu" else torch.float32, device=on)
    dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
    t /= world
    return t if isinstance(value, torch.Tensor) else float(t)


# ----------------------------------------------------------------------------- the launcher


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def torchrun_command(
    target: str,
    args=(),
    *,
    nproc: int = 2,
    nnodes: int = 1,
    rdzv_endpoint: str | None = None,
    rdzv_id: str = "course",
    python: str | None = None,
    extra=(),
) -> list[str]:
    """The torchrun command line `launch` runs: a module (`course.ddp_demo`) or a script path.

    One node: `--standalone` (a private rendezvous on a free local port).
    Several: a c10d rendezvous at `rdzv_endpoint` (host:port of the machine that
    hosts it); every node runs the same command and the rendezvous numbers them.
    """
    if nproc < 1 or nnodes < 1:
        raise ValueError(f"need nproc >= 1 and nnodes >= 1, got {nproc}, {nnodes}")
    cmd = [python or sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}"]
    if nnodes == 1 and rdzv_endpoint is None:
        cmd.append("--standalone")
    else:
        if rdzv_endpoint is None:
            raise ValueError("several nodes need rdzv_endpoint='HOST:PORT' (node 0's address)")
        # with c10d the rendezvous hands out node ranks (first come, first served): no --node-rank
        cmd += [f"--nnodes={nnodes}", "--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint}",
                f"--rdzv-id={rdzv_id}"]
    cmd += [str(x) for x in extra]
    is_script = target.endswith(".py") or os.sep in target
    if is_script:
        if not Path(target).is_file():
            raise FileNotFoundError(f"no such script: {target}")
        cmd.append(str(target))
    else:
        cmd += ["-m", target]
    return cmd + [str(a) for a in args]


def _proc_pids_with_env(key: str, value: str) -> list[int]:
    """Pids of this user's processes whose environment holds key=value (Linux /proc; [] elsewhere)."""
    needle = f"{key}={value}".encode()
    pids = []
    proc = Path("/proc")
    if not proc.is_dir():
        return pids
    for d in proc.iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            env = (d / "environ").read_bytes()
        except OSError:  # gone, or not ours
            continue
        if needle in env.split(b"\0"):
            pids.append(int(d.name))
    return pids


def _signal_all(pids, sig) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


SIGKILL = getattr(signal, "SIGKILL", signal.SIGTERM)  # Windows has no SIGKILL


def _signal_group(p, hard: bool) -> None:
    """SIGTERM (or SIGKILL) torchrun's process group; on Windows, which has no process groups to
    signal, terminate (or kill) torchrun itself."""
    killpg = getattr(os, "killpg", None)
    if killpg is None:
        (p.kill if hard else p.terminate)()
        return
    try:
        killpg(p.pid, SIGKILL if hard else signal.SIGTERM)
    except ProcessLookupError:
        pass


def _stop_tree(procs, tag: str, grace: float, say) -> None:
    """SIGTERM each torchrun's process group (torchrun passes it on to its workers), then SIGKILL."""
    for p in procs:
        if p.poll() is None:
            _signal_group(p, hard=False)
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"launch: torchrun (pid {p.pid}) ignored SIGTERM for {grace:.0f} s: SIGKILL")
            _signal_group(p, hard=True)
            p.wait()
    _sweep(tag, grace, say)


def _sweep(tag: str, grace: float, say) -> None:
    """Stop every process still carrying this launch's tag: workers orphaned by a killed torchrun."""
    left = _proc_pids_with_env(LAUNCH_TAG_ENV, tag)
    if not left:
        return
    say(f"launch: {len(left)} worker process(es) outlived torchrun (pids {left}): SIGTERM")
    _signal_all(left, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = _proc_pids_with_env(LAUNCH_TAG_ENV, tag)
    if left:
        say(f"launch: SIGKILL to pids {left}")
        _signal_all(left, SIGKILL)


def launch(
    target: str,
    args=(),
    *,
    nproc: int = 2,
    nnodes: int = 1,
    host_rdzv: bool | None = None,
    rdzv_endpoint: str | None = None,
    rdzv_id: str | None = None,
    env: dict | None = None,
    timeout: float | None = None,
    grace: float = 10.0,
    out=None,
    torchrun_args=(),
) -> int:
    """Run `target` (a module such as "course.ddp_demo", or a .py path) under torchrun; return its exit code.

    nproc processes per node. nnodes > 1 without rdzv_endpoint starts every
    node here, each its own torchrun meeting at a c10d rendezvous on
    127.0.0.1 (multi-node, rehearsed on one machine); with
    rdzv_endpoint="HOST:PORT" and rdzv_id="JOB" it starts this machine's node
    of a real multi-machine run (the same call on each machine; host_rdzv=True
    on the one at HOST). Output (stdout and stderr of
    torchrun and all ranks) is written line by line to `out` (default
    sys.stdout) as it comes, prefixed by the node when there are several.

    Exit code: torchrun's (0: every rank succeeded; 1: a rank failed; its
    traceback is in the output); 128 + N when torchrun died of signal N;
    124 when `timeout` seconds passed and the run was stopped. On timeout,
    interrupt (KeyboardInterrupt, re-raised) or a failed node, every process
    is stopped: SIGTERM to each torchrun's group (torchrun forwards it to its
    workers), SIGKILL after `grace` seconds, then any process started by this
    launch that is still alive (found by the COURSE_LAUNCH_ID tag in its
    environment) gets the same. Workers get one CPU thread each and
    OMP_WAIT_POLICY=PASSIVE unless `env` or the environment set them.
    """
    out = out or sys.stdout
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            out.write(line if line.endswith("\n") else line + "\n")
            if hasattr(out, "flush"):
                out.flush()

    tag = uuid.uuid4().hex
    root = str(Path(__file__).resolve().parents[1])  # workers import this same `course`
    child_env = dict(os.environ)
    child_env.update(cpu_threads_for_workers(child_env))
    child_env.update({k: str(v) for k, v in (env or {}).items()})
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (root, child_env.get("PYTHONPATH")) if p)
    child_env["PYTHONUNBUFFERED"] = "1"
    child_env.setdefault("PYTHONIOENCODING", "utf-8")  # what the pipe is decoded as, on Windows too
    child_env[LAUNCH_TAG_ENV] = tag

    local_nodes = nnodes > 1 and rdzv_endpoint is None
    if local_nodes:
        rdzv_endpoint = f"127.0.0.1:{free_port()}"
        nodes = list(range(nnodes))
    else:
        nodes = [0]
    cmds = []
    for k in nodes:
        extra = list(torchrun_args)
        if local_nodes:  # every "node" is this machine: say which one hosts the rendezvous store
            extra += [f"--rdzv-conf=is_host={int(k == 0)}", "--local-addr=127.0.0.1"]
        elif host_rdzv is not None:
            extra += [f"--rdzv-conf=is_host={int(host_rdzv)}"]
        cmds.append(torchrun_command(target, args, nproc=nproc, nnodes=nnodes, rdzv_endpoint=rdzv_endpoint,
                                     rdzv_id=rdzv_id or tag[:12], extra=extra))

    lines: queue.Queue = queue.Queue()
    procs = []

    def pump(p, prefix):
        for line in p.stdout:
            lines.put(prefix + line)
        lines.put(None)

    try:
        for k, cmd in zip(nodes, cmds):
            p = subprocess.Popen(cmd, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, text=True, encoding="utf-8", errors="replace", bufsize=1,
                                 start_new_session=True)  # its own process group: we can signal the tree
            procs.append(p)
            prefix = f"[node {k}] " if len(nodes) > 1 else ""
            threading.Thread(target=pump, args=(p, prefix), daemon=True).start()
        deadline = None if timeout is None else time.monotonic() + timeout
        open_streams, ended_at, swept, first_bad = len(procs), None, False, None
        while open_streams:
            wait = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
            try:
                line = lines.get(timeout=wait)
            except queue.Empty:
                line = ""
            if line is None:
                open_streams -= 1
            elif line:
                say(line)
            if deadline is not None and time.monotonic() >= deadline:
                say(f"launch: timed out after {timeout:g} s: stopping every process of this run")
                _stop_tree(procs, tag, grace, say)
                return TIMED_OUT
            if ended_at is None and all(p.poll() is not None for p in procs):
                ended_at = time.monotonic()
            if ended_at is not None and not swept and time.monotonic() - ended_at > 1.0:
                # torchrun is gone but its output pipe is still open: orphaned workers hold it
                _sweep(tag, grace, say)
                swept = True
            failed = [p for p in procs if p.poll() not in (None, 0)]
            if failed and first_bad is None:
                first_bad = failed[0].returncode  # what stopping the other nodes does to them is not the cause
                if any(p.poll() is None for p in procs):
                    say(f"launch: a node exited with code {first_bad}: stopping the others")
                    _stop_tree(procs, tag, grace, say)
        codes = [p.wait() for p in procs]
    except BaseException:  # KeyboardInterrupt (the notebook's stop button) or anything else: leave nothing behind
        say("launch: interrupted: stopping every process of this run")
        _stop_tree(procs, tag, grace, say)
        raise
    _sweep(tag, grace, say)
    code = first_bad if first_bad is not None else next((c for c in codes if c != 0), 0)
    if code < 0:
        say(f"launch: torchrun was killed by signal {-code} ({signal.Signals(-code).name})")
        code = 128 - code
    elif code:
        say(f"launch: torchrun exited with code {code}: a rank failed (its error is above)")
    return code
