"""Trusted drivers that exercise checks (lessons 00, 03, 05, 06) run *inside* the sandbox.

Some exercises can't be called from the grader one plain value at a time:
`all_reduce_mean(tensor, group)` needs a process group that lives in the process
where the learner's code runs (a gloo group can't be pickled across),
`sync_context(model, i, n)` hands back a context manager whose effect is only seen
while code runs inside it, and a loss's gradient (`masked_loss` in lesson 06) only
exists where the autograd graph was built; two parameters over one memory (lesson 00)
can only be made there; whether a function calls a library routine its spec forbids
(lesson 00's softmax) is only seen where it runs; and a KV cache (lesson 03) is only
seen at work from inside the model that calls it. The checks therefore ask the sandbox
for one of the functions in HARNESS (course/sandbox.py's `Sandbox.harness`), pass it
the learner's function as a handle, and get back plain data that they compare with
references they compute themselves:

    trace = harness("sync_trace")(ex.sync_context, 3)    # {"inside": [...], "no_sync_calls": n}
    outs = harness("run_ranks")(ex.all_reduce_mean, [t0, t1])   # [[input_after, output], ...]
    loss, grad = harness("loss_and_grad")(ex.masked_loss, logits, targets, mask)

What this trusts, and why that is acceptable: these functions run in the same
process as the learner's code, so a hostile submission could patch them and make
them report anything. But what they report is still only data (course/wire.py),
judged by the grader against its own references: the worst a forged report can do
is claim a right answer, which a submission can always do by recognising a check's
inputs. It can't reach the grader's process or change how the verdict is decided.
And the harness lends the sandbox no new powers: the process groups run over an
in-memory store between threads of the sandbox's own process, within its limits.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
import time


class FakeDDP:
    """Stands in for a DistributedDataParallel model: records whether code runs inside no_sync()."""

    def __init__(self):
        self.inside = False
        self.no_sync_calls = 0

    @contextlib.contextmanager
    def no_sync(self):
        self.no_sync_calls += 1
        self.inside = True
        try:
            yield
        finally:
            self.inside = False


def sync_trace(sync_context, n_micro: int) -> dict:
    """Run micro-steps 0 .. n_micro-1 each under sync_context(model, i, n_micro), the way a
    training loop does; say for each whether its backward would have skipped the sync."""
    model = FakeDDP()
    inside = []
    for i in range(n_micro):
        with sync_context(model, i, n_micro):
            inside.append(bool(model.inside))
    return {"inside": inside, "no_sync_calls": model.no_sync_calls, "inside_after": bool(model.inside)}


def run_ranks(fn, inputs: list, timeout: float = 30.0) -> list:
    """fn(inputs[r], group=group_r) on len(inputs) ranks at once: one thread per rank, each
    with its own gloo group over one in-memory HashStore (no network, no torchrun).

    Returns one [input_after_the_call, result] per rank, None for a rank that did not
    finish within `timeout` seconds (every rank must make the same collective calls).
    The first rank's exception, if any, is raised as it was (a stub's
    NotImplementedError stays one).
    """
    import torch.distributed as dist

    world = len(inputs)
    store, results, errors = dist.HashStore(), {}, {}

    def body(rank):
        try:
            group = dist.ProcessGroupGloo(dist.PrefixStore("ex", store), rank, world,
                                          datetime.timedelta(seconds=timeout))
            results[rank] = [inputs[rank], fn(inputs[rank], group=group)]
        except BaseException as e:  # noqa: BLE001 - raised below, in this thread
            errors[rank] = e

    threads = [threading.Thread(target=body, args=(r,), daemon=True) for r in range(world)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    while not errors and any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        time.sleep(0.005)  # not join(): a rank that raised shouldn't wait for the others to time out
    if errors:
        raise sorted(errors.items())[0][1]
    return [results.get(r) for r in range(world)]


def loss_and_grad(fn, logits, *args) -> list:
    """[loss, d loss / d logits] of fn(logits, *args): the loss must be a scalar tensor built
    from `logits` by autograd (a loss computed apart from them has no gradient to give)."""
    import torch

    logits = logits.detach().clone().requires_grad_(True)
    loss = fn(logits, *args)
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise TypeError(f"the loss must be a scalar tensor, got {type(loss).__name__}")
    loss.backward()
    return [loss.detach(), logits.grad]


def call_with_ties(fn, model, ties, *args):
    """fn(model, *args) after tying parameters by memory, here in the sandbox: for each
    (source, target) pair of parameter names, target becomes a second Parameter over
    source's numbers. (Sent across, two tensors over one memory would arrive as two.)"""
    import torch

    for source, target in ties:
        owner_name, _, attr = target.rpartition(".")
        owner = model.get_submodule(owner_name)
        setattr(owner, attr, torch.nn.Parameter(model.get_parameter(source).data))
    return fn(model, *args)


# The library routines that compute a softmax for you, by where they live and their name.
SOFTMAX_ROUTINES = [
    ("torch", "softmax"), ("torch", "log_softmax"), ("torch.Tensor", "softmax"),
    ("torch.Tensor", "log_softmax"), ("torch.nn.functional", "softmax"),
    ("torch.nn.functional", "log_softmax"), ("torch.special", "softmax"),
    ("torch.special", "log_softmax"), ("torch", "_softmax"), ("torch", "_log_softmax"),
]


def forbidden_calls(fn, *args, routines=None) -> list:
    """[fn(*args), names of the forbidden routines it used] -- by default the softmax
    routines above. Each is replaced, for the length of the call only, by a wrapper that
    records its name and then does the real work (so the result stays comparable); one
    imported into fn's module under its own name (`from torch import softmax`) counts too."""
    import importlib
    import operator

    routines = SOFTMAX_ROUTINES if routines is None else [tuple(r) for r in routines]
    called, saved = [], []

    def spy(label, real):
        def wrapper(*a, **k):
            called.append(label)
            return real(*a, **k)
        return wrapper

    for where, name in routines:
        torch = importlib.import_module("torch")
        try:
            owner = operator.attrgetter(where.removeprefix("torch."))(torch) if where != "torch" else torch
        except AttributeError:
            continue
        real = getattr(owner, name, None)
        if real is None:
            continue
        saved.append((owner, name, real, name in vars(owner)))
        setattr(owner, name, spy(f"{where}.{name}", real))
    reals = {id(real): f"{getattr(owner, '__name__', owner)}.{name}" for owner, name, real, _ in saved}
    imported = [reals[id(v)] for v in getattr(fn, "__globals__", {}).values() if id(v) in reals]
    try:
        result = fn(*args)
    finally:
        for owner, name, real, own in reversed(saved):
            if own:
                setattr(owner, name, real)
            else:  # inherited (Tensor.softmax lives on its C base class): uncover it again
                delattr(owner, name)
    return [result, sorted(set(called + imported))]


def kv_cache_trace(cache_cls, n_layer: int, chunks: list) -> dict:
    """Use cache_cls(n_layer) the way course.model.GPT does: for each chunk (k, v) of new
    positions every layer i calls update(i, k + i, v - i), then pos advances by the chunk's
    length. Returns what every update returned ([chunk][layer] -> [k_all, v_all]) and pos
    before and after each update."""
    cache = cache_cls(n_layer)
    returned, pos = [], []
    for k, v in chunks:
        row = []
        for layer in range(n_layer):
            before = cache.pos
            k_all, v_all = cache.update(layer, k + layer, v - layer)
            row.append([k_all, v_all])
            pos.append([before, cache.pos])
        cache.pos += k.size(2)
        returned.append(row)
    return {"returned": returned, "pos": pos}


def generate_trace(generate, model, prompt, max_new_tokens: int) -> dict:
    """generate(model, prompt, max_new_tokens, use_cache=True), watching every forward call of
    `model`: [positions fed, whether a cache came, that cache's pos, which cache (numbered in
    order of appearance)], and the type name of the first cache."""
    calls, caches = [], []

    def watch(module, args, kwargs):
        cache = kwargs.get("cache", args[2] if len(args) > 2 else None)
        if cache is not None and all(c is not cache for c in caches):
            caches.append(cache)
        which = next((i for i, c in enumerate(caches) if c is cache), None)
        calls.append([int(args[0].size(1)), cache is not None, getattr(cache, "pos", None), which])

    handle = model.register_forward_pre_hook(watch, with_kwargs=True)
    try:
        out = generate(model, prompt, max_new_tokens, use_cache=True)
    finally:
        handle.remove()
    return {"out": out, "calls": calls, "cache_type": type(caches[0]).__name__ if caches else None}


HARNESS = {
    "call_with_ties": call_with_ties,
    "forbidden_calls": forbidden_calls,
    "sync_trace": sync_trace,
    "run_ranks": run_ranks,
    "loss_and_grad": loss_and_grad,
    "kv_cache_trace": kv_cache_trace,
    "generate_trace": generate_trace,
}
