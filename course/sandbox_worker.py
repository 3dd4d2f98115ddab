"""The process a learner's exercise file runs in (exercise checks of lessons 00-05).

Started by course/sandbox.py as `python -I -c ...` in a fresh folder holding a copy
of the submission. Before any learner code runs it locks itself in, with whatever
this OS allows (and says which in its first message):

    own network namespace (no network;     Linux, as root or with user namespaces
      only its own loopback, for gloo)
    own mount namespace: the repository    Linux, as root
      read-only, solutions and the class
      folder hidden behind empty tmpfs
    an unprivileged user id of its own     as root (so it can write nowhere of ours,
                                           and every process it makes can be killed)
    rlimits on CPU, memory, processes, file size, open files        everywhere (POSIX)

Then it imports torch, imports exNN.py and serves requests: get an attribute, call a
function. Requests arrive pickled (made by the grader, so safe to load here);
answers go back as JSON through course.wire.encode, which the grader decodes into
plain data only. Nothing this process says is trusted, so nothing here needs to be
tamper-proof: it only has to be correct for honest code.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import json
import os
import pickle
import random
import re
import resource
import signal
import sys
import traceback
from pathlib import Path

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
MS_MOVE = 8192
PR_SET_PDEATHSIG = 1


def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _mount(libc, src, target, fstype, flags, data=None):
    enc = lambda s: None if s is None else str(s).encode()
    if libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}: {os.strerror(ctypes.get_errno())}")


def lock_in(cfg: dict) -> list[str]:
    """Apply every isolation this OS offers; return what is in force, in words."""
    inforce = []
    libc = _libc() if sys.platform.startswith("linux") else None
    uid = cfg.get("uid")
    if libc is not None:
        inforce += _namespaces(libc, cfg)
    else:
        inforce.append("network and file system NOT isolated (not Linux)")
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        inforce.append(f"own unprivileged user id {uid}")
    elif libc is not None:
        _drop_capabilities(libc)
    if libc is not None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid, which clears it
    if os.getppid() != cfg["parent"]:
        os._exit(3)  # the grader is already gone
    limits = [
        ("RLIMIT_CPU", cfg["cpu_s"]),
        ("RLIMIT_AS", _address_space() + (cfg["memory_mb"] << 20)),  # on top of Python + torch
        ("RLIMIT_NPROC", cfg["nproc"]),
        ("RLIMIT_FSIZE", cfg["file_mb"] << 20),
        ("RLIMIT_NOFILE", 256),
        ("RLIMIT_CORE", 0),
    ]
    for name, value in limits:
        if hasattr(resource, name):
            soft, hard = resource.getrlimit(getattr(resource, name))
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(getattr(resource, name), (value, value))
    inforce.append(f"limits: {cfg['cpu_s']} s CPU, {cfg['memory_mb']} MB more memory, "
                   f"{cfg['nproc']} processes, {cfg['file_mb']} MB per file")
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-big file is an error, not a kill
    return inforce


def _namespaces(libc, cfg) -> list[str]:
    """Own network namespace (no network) and mount namespace (a read-only view of
    every file system but our folder; solutions and the class folder hidden)."""
    if os.geteuid() != 0:  # an unprivileged user namespace gives the same powers, inside it
        if not _try_in_child(lambda: _enter_user_namespace(libc)):
            return ["network and file system NOT isolated (user namespaces not allowed here)"]
        _enter_user_namespace(libc)
    elif libc.unshare(CLONE_NEWNS | CLONE_NEWNET) != 0:
        return [f"network and file system NOT isolated (unshare: {os.strerror(ctypes.get_errno())})"]
    inforce = ["no network (own network namespace)"]
    try:
        _loopback_up()
    except OSError as e:
        inforce.append(f"its loopback is down ({e}): gloo process groups will fail")
    try:
        _mount(libc, "none", "/", None, MS_REC | MS_PRIVATE)
        if os.geteuid() == 0:
            _make_reachable(libc, cfg["needed"], os.path.join(cfg["own"], "stage"))
        for path in cfg["hide"]:
            if os.path.isdir(path):
                _mount(libc, "tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k")
        _mount(libc, cfg["own"], cfg["own"], None, MS_BIND | MS_REC)
        skipped = []
        for point, opts in _mounts():
            if point == cfg["own"] or point.startswith(("/proc", "/sys", "/dev")) or "ro" in opts:
                continue
            keep = sum(flag for name, flag in MOUNT_FLAGS.items() if name in opts)
            try:
                _mount(libc, None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | keep)
            except OSError:
                skipped.append(point)
        inforce.append("read-only file system except its own folder; solutions and class folder hidden"
                       + (f" (still writable: {', '.join(skipped[:5])})" if skipped else ""))
    except OSError as e:
        inforce.append(f"file system NOT read-only ({e})")
    return inforce


def _loopback_up() -> None:
    """Bring up `lo` in the new network namespace (it starts down). It reaches only this
    namespace, i.e. the sandbox's own processes: gloo process groups between its threads
    (lesson 05's checks, course/sandbox_harness.py) need it; nothing outside is reachable."""
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        name = b"lo".ljust(16, b"\0")
        flags = struct.unpack_from("H", fcntl.ioctl(s, siocgifflags, name + bytes(24)), 16)[0]
        fcntl.ioctl(s, siocsifflags, name + struct.pack("H", flags | iff_up) + bytes(22))


def _enter_user_namespace(libc) -> None:
    real_uid, real_gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{real_uid} {real_uid} 1"),
                       ("gid_map", f"{real_gid} {real_gid} 1")):
        with open(f"/proc/self/{name}", "w", encoding="utf-8") as f:
            f.write(text)
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    _mount(libc, "none", "/", None, MS_REC | MS_PRIVATE)


def _try_in_child(step) -> bool:
    """Whether `step` works here, tried in a throwaway child: a half-made user namespace
    (allowed to create, not to map, as some distributions do) can't be undone."""
    pid = os.fork()
    if pid == 0:
        try:
            step()
            os._exit(0)
        except BaseException:
            os._exit(1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def _make_reachable(libc, needed, stage) -> None:
    """Python, its packages and this course must stay readable once we drop to another
    user id, even under a private folder (/root/.pyenv, a home dir with mode 700).
    Cover such a folder with an empty tmpfs (hiding the rest of it) into which only
    the needed subfolders are mounted back."""
    for _ in range(32):
        blocked = None
        for p in needed:
            parts = p.strip("/").split("/")
            for depth in range(len(parts)):
                folder = "/" + "/".join(parts[:depth])
                if os.stat(folder).st_mode & 0o005 != 0o005:
                    blocked = folder
                    break
            if blocked:
                break
        if blocked is None:
            return
        prefix = blocked.rstrip("/") + "/"
        children = sorted({p[len(prefix):].split("/")[0] for p in needed if p.startswith(prefix)})
        os.makedirs(stage, exist_ok=True)
        staged = []
        for name in children:
            spot = os.path.join(stage, str(len(os.listdir(stage))))
            os.mkdir(spot)
            _mount(libc, prefix + name, spot, None, MS_BIND | MS_REC)
            staged.append((name, spot))
        _mount(libc, "tmpfs", blocked, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64k")
        for name, spot in staged:
            os.mkdir(prefix + name)
            _mount(libc, spot, prefix + name, None, MS_MOVE)


MOUNT_FLAGS = {"nosuid": 2, "nodev": 4, "noexec": 8, "noatime": 1024, "nodiratime": 2048, "relatime": 1 << 21}


def _mounts():
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            yield point, set(fields[5].split(","))


def _drop_capabilities(libc) -> None:
    """Give up the powers a user namespace lent us, so the mounts above stay put."""
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()
    libc.capset(header, data)
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS


def _address_space() -> int:
    """Bytes of address space this process maps now (what it inherited: Python, torch)."""
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            return next(int(line.split()[1]) << 10 for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration):
        return 4 << 30


class Server:
    def __init__(self, req_fd: int, resp_fd: int):
        self.req = os.fdopen(req_fd, "rb", buffering=0)
        self.resp_fd = resp_fd
        self.objects: dict[int, object] = {}
        self.ids: dict[int, int] = {}

    # -- plumbing
    def handle(self, obj) -> int:
        key = id(obj)
        if key not in self.ids:
            self.ids[key] = len(self.objects) + 1
            self.objects[self.ids[key]] = obj
        return self.ids[key]

    def send(self, msg: dict) -> None:
        data = (json.dumps(msg, allow_nan=True, separators=(",", ":")) + "\n").encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self.resp_fd, view):]

    def receive(self):
        head = self._read(8)
        if head is None:
            return None
        body = self._read(int.from_bytes(head, "big"))
        server = self

        class Loader(pickle.Unpickler):
            def persistent_load(self, pid):
                return server.objects[pid[1]]

        return Loader(io.BytesIO(body)).load()

    def _read(self, n):
        chunks, left = [], n
        while left:
            chunk = self.req.read(left)
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def encode(self, value):
        from course.wire import encode

        return encode(value, self.handle)

    # -- requests
    def serve(self) -> None:
        while True:
            req = self.receive()
            if req is None:
                return
            try:
                reply = {"id": req["id"], **getattr(self, "op_" + req["op"])(req)}
            except BaseException as e:  # SystemExit and KeyboardInterrupt too: report, keep serving
                reply = {"id": req["id"], "error": describe(e)}
            try:
                self.send(reply)
            except Exception as e:  # e.g. the value cannot be encoded
                self.send({"id": req["id"], "error": describe(e)})

    def op_import(self, req):
        from course.grading import GradingError, load_exercise

        try:
            module = load_exercise(Path(req["folder"]), req["lesson"])
        except GradingError as e:
            return {"broken": str(e)}
        except SystemExit as e:
            return {"broken": f"{req['folder']}/ex{req['lesson']}.py: importing it called sys.exit({e.code!r})"}
        return {"ok": self.encode(module)}

    def op_harness(self, req):
        from course.sandbox_harness import HARNESS

        return {"ok": self.encode(HARNESS[req["name"]])}

    def op_getattr(self, req):
        return {"ok": self.encode(getattr(self.objects[req["obj"]], req["name"]))}

    def op_getitem(self, req):
        return {"ok": self.encode(self.objects[req["obj"]][req["key"]])}

    def op_call(self, req):
        import torch

        if req.get("seed") is not None:
            torch.manual_seed(req["seed"])
            random.seed(req["seed"])
        args, kwargs = req["args"], req["kwargs"]
        named = [(i, a) for i, a in enumerate(args)] + [("kw:" + k, v) for k, v in kwargs.items()]
        before = {key: self.snapshot(a) for key, a in named}
        result = self.objects[req["obj"]](*args, **kwargs)
        reply = {"ok": None, "mirror": [], "same": None}
        for key, a in named:
            if before[key] is not None and self.snapshot(a) != before[key]:
                kind = "module" if isinstance(a, torch.nn.Module) else "value"
                reply["mirror"].append([key, kind, self.encode(module_state(a) if kind == "module" else a)])
            if result is a and before[key] is not None:
                reply["same"] = key
        if reply["same"] is None:
            reply["ok"] = self.encode(result)
        return reply

    def snapshot(self, value):
        """A fingerprint of an argument the call could change in place (None: immutable)."""
        import torch

        if isinstance(value, torch.nn.Module):
            value = module_state(value)
        elif not isinstance(value, (list, dict, set, bytearray, torch.Tensor)):
            return None
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)  # fast; unequal only if changed
        except Exception:
            return json.dumps(self.encode(value), allow_nan=True)


def module_state(module) -> dict:
    params = {n: [p, p.grad, p.requires_grad] for n, p in module.named_parameters()}
    return {"params": params, "buffers": dict(module.named_buffers())}


def describe(e: BaseException) -> dict:
    """An exception as data: its type, the nearest builtin type, a message, where."""
    builtin = next((c.__name__ for c in type(e).__mro__ if c.__module__ == "builtins"), "Exception")
    try:
        message = str(e)
    except Exception:
        message = "(the exception's message could not be shown)"
    frames = traceback.extract_tb(e.__traceback__)
    where = [f"{os.path.basename(f.filename)}, line {f.lineno}, in {f.name}" for f in frames
             if not f.filename.endswith(("sandbox_worker.py",))][-3:]
    return {"type": type(e).__name__[:100], "builtin": builtin, "message": message[:4000], "where": where}


def main(req_fd: int, resp_fd: int, cfg: dict) -> None:
    inforce = lock_in(cfg)
    # torch.optim's step imports torch._dynamo, which makes a cache folder under /tmp: read-only here
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(cfg["own"], "torchinductor"))
    import torch

    import course  # noqa: F401  (tiktoken's bundled files, offline)
    import course.wire  # noqa: F401

    torch.set_num_threads(1)
    server = Server(req_fd, resp_fd)
    server.send({"ready": inforce})
    server.serve()
    os._exit(0)
