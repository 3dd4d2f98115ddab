"""The speedup ladder: GPT-2 training made fast one change at a time, each change measured.

    python -m course ladder                      # CPU: a small character-level GPT, a few minutes
    python -m course ladder --profile gpt2       # a GPU: GPT-2 124M, B=16, T=1024
    python -m course ladder --list               # the rungs and what each one changes

Lesson 04. The rungs themselves (what each changes, and why) are in
`course.ladder_rungs`; the hardware questions (peak FLOP/s for MFU, what the
machine is) in `course.hardware`; turning a record into a table, CSV, plot
and files in `course.ladder_records`; the command in `course.ladder_cli`.
This module measures: `measure_rung` trains a fresh `course.model.GPT` with
one rung's settings for a few steps, with the trainer's own step
(`course.train.accumulate_gradients`, then the optimizer's step), and times
every step; `run_ladder` climbs the rungs in order and returns the record.

For each rung: ms per optimizer step (median), tokens/s, MFU (model FLOPs
`course.train.flops_per_token` against the device's peak, which the record
names), speedup against the baseline and the previous rung, the first step's
time (that is where torch.compile compiles) and peak memory. A beyond rung
starts from the fastest configuration kept so far and is kept only if it beats
it by `KEEP_MARGIN`, so the ladder ends on the best configuration it found.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import functools
import gc
import logging
import math
import statistics
from dataclasses import dataclass, replace

import torch
import torch.profiler

from course.hardware import (  # noqa: F401  (bandwidth_by_size, measure_matmul_flops: lesson 04 calls them from here)
    PEAK_MEMORY_KIND,
    bandwidth_by_size,
    clock,
    cpu_has_fast_bf16,
    device_peak_flops,
    hardware_info,
    measure_bandwidth,
    measure_matmul_flops,
    peak_memory_mb,
    software_info,
    synchronize,
)
from course.ladder_records import (  # noqa: F401  (lesson 04 reads records through `ladder`)
    REFERENCE_H100,
    REFERENCE_NOTE,
    SCHEMA,
    format_row,
    format_table,
    load_record,
    plot_ladder,
    validate_record,
)
from course.ladder_rungs import (  # noqa: F401  (the ladder's vocabulary, one import for the lesson)
    CORE_NAMES,
    CORE_RUNGS,
    KEEP_MARGIN,
    PROFILES,
    Profile,
    Rung,
    RungSettings,
    changed_fields,
    core_settings,
    ladder_rungs,
)
from course.model import GPT, GPTConfig
from course.precision import BF16_MIN_CAPABILITY, cuda_capability
from course.train import (
    accumulate_gradients,
    flops_per_token,
    fused_adamw_available,
    make_optimizer,
    mfu,
)
from course.utils import device_type, get_device, seed_everything

# ----------------------------------------------------------------------------- the model and its FLOPs


def model_config(profile: Profile, settings: RungSettings) -> GPTConfig:
    if settings.vocab_size < profile.vocab_size:
        raise ValueError(f"vocab_size {settings.vocab_size} cannot hold the profile's {profile.vocab_size} tokens")
    return GPTConfig.from_preset(
        profile.preset,
        **{**profile.model_overrides, "block_size": profile.seq_len},
        vocab_size=settings.vocab_size,
        attn_impl=settings.attn_impl,
    )


def model_flops(profile: Profile) -> tuple[int, int]:
    """(N, training FLOPs per token) of the baseline model, used for every rung's MFU.

    N counts the parameters without the position embedding (a lookup, not a
    matmul), as nanoGPT does, at the profile's own vocabulary (GPT-2: 50257):
    the padding rows of rung 6 are not useful work, so they earn no MFU. The model is
    built on the meta device: shapes only, no memory, no initialisation.
    """
    config = model_config(profile, profile.base_settings())
    with torch.device("meta"):
        model = GPT(config)
    n_params = sum(p.numel() for p in model.parameters()) - model.transformer.wpe.weight.numel()
    return n_params, flops_per_token(n_params, config.n_layer, config.n_embd, profile.seq_len)


# ----------------------------------------------------------------------------- data


@functools.cache
def gpt2_tokens() -> torch.Tensor:
    """tinyshakespeare as GPT-2 token ids (a 1-D int64 tensor), tokenised once per process."""
    import numpy as np
    import tiktoken

    from course.assets import load_tinyshakespeare, use_bundled_tiktoken_cache

    use_bundled_tiktoken_cache()  # works offline
    ids = tiktoken.get_encoding("gpt2").encode_ordinary(load_tinyshakespeare())
    return torch.from_numpy(np.asarray(ids, dtype=np.int64))


@functools.cache
def char_tokens() -> torch.Tensor:
    """tinyshakespeare as character ids (nanoGPT's shakespeare_char), a 1-D int64 tensor."""
    import numpy as np

    from course.assets import load_tinyshakespeare
    from course.tokenizer.char import CharTokenizer

    text = load_tinyshakespeare()
    return torch.from_numpy(np.asarray(CharTokenizer.from_text(text).encode(text), dtype=np.int64))


def profile_tokens(profile: Profile) -> torch.Tensor:
    """The token ids a profile trains on; their vocabulary is checked against the profile's."""
    tokens = char_tokens() if profile.tokens == "char" else gpt2_tokens()
    if int(tokens.max()) >= profile.vocab_size:
        raise ValueError(f"profile {profile.name}: token id {int(tokens.max())} >= vocab {profile.vocab_size}")
    return tokens


class DeviceBatches:
    """Sequential (x, y) micro-batches cut from a token tensor held on the device.

    The whole of tinyshakespeare (~340k tokens, 2.7 MB) fits in device memory,
    so a batch is a view: no host-to-device copy and no synchronisation inside a
    timed step, which is what a prefetching data loader gives a real run.
    """

    def __init__(self, tokens, batch_size: int, seq_len: int, device):
        need = batch_size * seq_len + 1
        if len(tokens) < need:
            raise ValueError(f"need at least {need} tokens for one ({batch_size}, {seq_len}) batch, got {len(tokens)}")
        self.tokens = tokens.to(device)
        self.B, self.T, self.pos = batch_size, seq_len, 0

    def next(self):
        n = self.B * self.T
        if self.pos + n + 1 > len(self.tokens):
            self.pos = 0
        chunk = self.tokens[self.pos : self.pos + n + 1]
        self.pos += n
        return chunk[:-1].view(self.B, self.T), chunk[1:].view(self.B, self.T)


# ----------------------------------------------------------------------------- applicability


def applicability(rung: Rung, device, profile: Profile) -> tuple[str, str]:
    """('run' | 'n/a' | 'skipped', note): whether `rung` can run on `device`, and what to expect."""
    kind = device_type(device)
    if rung.name == "tf32" and kind != "cuda":
        return "run", "no TF32 format on this device: the setting changes nothing, the difference is noise"
    if rung.name == "tf32" and torch.cuda.get_device_capability(device)[0] < 8:
        return "run", "this GPU predates TF32 (needs compute capability 8.0): expect no change"
    if rung.name == "bf16" and kind == "cpu":
        if cpu_has_fast_bf16():
            return "run", "this CPU has native bf16 dot products (AVX-512 BF16/AMX), but casts cost time at small sizes"
        return "run", "no native bf16 arithmetic on this CPU: bf16 is converted to fp32 to compute, expect a slowdown"
    if rung.name == "bf16" and kind == "cuda" and cuda_capability(device) < BF16_MIN_CAPABILITY:
        # not torch.cuda.is_bf16_supported(): it says yes on a T4, where bf16 is emulated
        return "run", "this GPU has no bf16 tensor cores: bf16 is emulated, expect a slowdown"
    if rung.name == "fused-adamw" and not fused_adamw_available(device):
        return "n/a", f"torch {torch.__version__} has no fused AdamW for {kind}"
    if rung.name == "cudnn-attention" and kind != "cuda":
        return "n/a", "cuDNN attention is an NVIDIA GPU kernel"
    if rung.name == "cudnn-attention" and not torch.backends.cudnn.is_available():
        return "n/a", "cuDNN is not available in this torch build"
    if rung.name == "max-autotune" and kind != "cuda":
        return "skipped", "autotuning every matmul takes many minutes of compiling on a CPU; measured on GPUs"
    if rung.name == "max-autotune" and profile.compile_backend != "inductor":
        return "n/a", f"max-autotune is an Inductor mode; this profile compiles with {profile.compile_backend}"
    return "run", ""


def not_kept_reason(rung: Rung, device) -> str:
    """Why a core rung is measured but not built on here ('' when it is kept, as core rungs normally are).

    bf16 autocast on a CPU without bf16 instructions converts every matmul's
    inputs to fp32 and back: many times slower, and then every rung above it
    would measure that emulation instead of its own change.
    """
    if rung.name == "bf16" and device_type(device) == "cpu" and not cpu_has_fast_bf16():
        return "not kept: without native bf16 the rungs above it run in fp32"
    return ""


# ----------------------------------------------------------------------------- one rung


class LadderInterrupted(BaseException):
    """Raised from a signal handler (SIGTERM, e.g. `timeout`) to stop the ladder and keep its record."""


SDPA_BACKENDS = {"cudnn": "CUDNN_ATTENTION", "flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION",
                 "math": "MATH"}


def _fresh_start(device) -> None:
    """Forget the previous rung: its tensors, its cached allocations and its compiled graphs."""
    gc.collect()
    torch._dynamo.reset()
    if device_type(device) == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


@contextlib.contextmanager
def rung_setup(settings: RungSettings, profile: Profile, device, seed: int = 1337):
    """Yield (model to run, optimizer) for `settings`, with the global switches the rung needs.

    The model is fresh, seeded and initialised on the device (no 0.5 GB
    host-to-GPU copy per rung); matmul precision and the SDPA backend are put
    back afterwards, and the rung's memory and compiled graphs are released.
    """
    _fresh_start(device)
    old_precision = torch.get_float32_matmul_precision()
    inductor_log = logging.getLogger("torch.utils.cpp_extension")  # "No CUDA runtime is found": not news on a CPU
    old_level = inductor_log.level
    try:
        with contextlib.ExitStack() as stack:
            torch.set_float32_matmul_precision(settings.matmul_precision)
            inductor_log.setLevel(logging.ERROR)
            if settings.sdpa_backend != "auto" and device_type(device) == "cuda":
                from torch.nn.attention import SDPBackend, sdpa_kernel

                stack.enter_context(sdpa_kernel([getattr(SDPBackend, SDPA_BACKENDS[settings.sdpa_backend])]))
            seed_everything(seed)
            with torch.device(device):
                model = GPT(model_config(profile, settings))
            optimizer = make_optimizer(model, lr=6e-4, weight_decay=0.1, fused=settings.fused_adamw)
            run_model = model
            if settings.compile and profile.compile_backend == "inductor":
                run_model = torch.compile(model, mode=None if settings.compile_mode == "default" else settings.compile_mode)
            elif settings.compile:
                run_model = torch.compile(model, backend=profile.compile_backend)
            yield run_model, optimizer
    finally:
        torch.set_float32_matmul_precision(old_precision)
        inductor_log.setLevel(old_level)
        model = run_model = optimizer = None
        _fresh_start(device)


def training_step(model, optimizer, micro_batches, amp_dtype) -> torch.Tensor:
    """The trainer's step, as `course.train.train` takes it (without its gradient clipping)."""
    loss = accumulate_gradients(model, micro_batches, amp_dtype=amp_dtype)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss


def train_step(model, optimizer, micro_batches, *, amp_dtype=None, max_norm: float = 1.0) -> tuple[float, float]:
    """One optimizer step as lesson 04 teaches it (and exercises/ex04.py asks for): (loss, grad norm).

    Clean gradients; every micro-batch's forward under autocast and its backward
    outside it, each loss scaled by its share of the step's targets
    (`course.train.accumulate_gradients`); the global gradient norm clipped to
    `max_norm` (its value before clipping is returned); the optimizer's step;
    gradients cleared. The mean loss over all the step's targets comes back as a float.
    """
    micro_batches = list(micro_batches)
    if micro_batches and not any(bool((y != -1).any()) for _, y in micro_batches):
        raise ValueError("no targets to learn from: every target of the step is -1")
    optimizer.zero_grad(set_to_none=True)
    loss = accumulate_gradients(model, micro_batches, amp_dtype=amp_dtype)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss), float(norm)


def step_counts(profile: Profile, accum: int, steps: int | None = None, warmup: int | None = None) -> tuple[int, int]:
    """(warmup, timed) optimizer steps: fewer when one step accumulates many micro-batches."""
    steps = profile.steps if steps is None else steps
    warmup = profile.warmup if warmup is None else warmup
    return max(1, math.ceil(warmup / accum)), max(min(3, steps), math.ceil(steps / accum))


def measure_rung(settings: RungSettings, profile: Profile, device, tokens, *, steps=None, warmup=None, seed=1337) -> dict:
    """Train a fresh model with `settings` for a few steps; time every step.

    Returns ms_per_step (median of the timed steps), tokens_per_sec, first_step_s
    (the first step, compile included), peak_mem_mb, and the losses.
    """
    T = profile.seq_len
    accum = settings.grad_accum(T)
    n_warmup, n_timed = step_counts(profile, accum, steps, warmup)
    amp_dtype = getattr(torch, settings.autocast_dtype) if settings.autocast_dtype else None
    batches = DeviceBatches(tokens, settings.micro_batch, T, device)
    times, losses = [], []
    with rung_setup(settings, profile, device, seed) as (model, optimizer):
        for _ in range(n_warmup + n_timed):
            micro = [batches.next() for _micro in range(accum)]
            t0 = clock()
            losses.append(training_step(model, optimizer, micro, amp_dtype).item())  # .item() waits for the step
            synchronize(device)
            times.append(clock() - t0)
        peak = peak_memory_mb(device)
    if not all(math.isfinite(x) for x in losses):
        raise FloatingPointError(f"loss is not finite: {losses}")
    timed = times[n_warmup:]
    ms = 1000 * statistics.median(timed)
    tokens_per_step = settings.tokens_per_step(T)
    return {
        "grad_accum": accum,
        "tokens_per_step": tokens_per_step,
        "warmup_steps": n_warmup,
        "timed_steps": n_timed,
        "ms_per_step": ms,
        "step_ms": [round(1000 * t, 3) for t in timed],
        "tokens_per_sec": tokens_per_step / (ms / 1000),
        "first_step_s": times[0],
        "peak_mem_mb": peak,
        "loss_first": losses[0],
        "loss_last": losses[-1],
    }


@contextlib.contextmanager
def _quiet_profiler_start(on_cuda: bool):
    """Send the C++ lines a CUDA build of torch prints when the profiler starts and stops on a machine
    without a GPU ("profiler_start", "gpuGetDeviceCount failed") to /dev/null; Python errors still raise."""
    if on_cuda:
        yield
        return
    import os
    import sys

    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def profile_events(settings: RungSettings, profile: Profile, device, tokens, *, steps: int = 2, warmup: int = 1,
                   seed: int = 1337):
    """torch.profiler's per-op averages (`key_averages()`) over a few steps of one rung, after warm-up steps."""
    accum = settings.grad_accum(profile.seq_len)
    amp_dtype = getattr(torch, settings.autocast_dtype) if settings.autocast_dtype else None
    batches = DeviceBatches(tokens, settings.micro_batch, profile.seq_len, device)
    on_cuda = device_type(device) == "cuda"
    activities = [torch.profiler.ProfilerActivity.CPU] + [torch.profiler.ProfilerActivity.CUDA] * on_cuda
    with rung_setup(settings, profile, device, seed) as (model, optimizer):
        for _ in range(warmup):  # compiles happen here, outside the profile
            training_step(model, optimizer, [batches.next() for _ in range(accum)], amp_dtype).item()
        with _quiet_profiler_start(on_cuda), torch.profiler.profile(activities=activities) as prof:
            for _ in range(steps):
                training_step(model, optimizer, [batches.next() for _ in range(accum)], amp_dtype).item()
            synchronize(device)
    return prof.key_averages()


def profile_rung(settings: RungSettings, profile: Profile, device, tokens, *, steps: int = 2, warmup: int = 1,
                 row_limit: int = 15, seed: int = 1337) -> str:
    """A torch.profiler table of the top ops (by self device time) of a few steps of one rung.

    This is the "why" beside a number: which kernels a slow rung spends its time in.
    """
    events = profile_events(settings, profile, device, tokens, steps=steps, warmup=warmup, seed=seed)
    sort_by = "self_cuda_time_total" if device_type(device) == "cuda" else "self_cpu_time_total"
    return events.table(sort_by=sort_by, row_limit=row_limit)


# ----------------------------------------------------------------------------- the ladder


@dataclass
class Climb:
    """Where the ladder stands: the baseline's speed, the last core rung kept, and the best kept so far.

    A core rung applies its change to the last core rung kept (normally the
    previous one); a beyond rung applies its change to the best configuration
    kept so far, and is compared with it.
    """

    base: RungSettings
    baseline_tps: float | None = None
    core_settings: RungSettings | None = None
    core_name: str | None = None
    core_tps: float | None = None
    best_name: str | None = None
    best_settings: RungSettings | None = None
    best_tps: float | None = None

    def plan(self, rung: Rung) -> tuple[RungSettings, str | None, float | None]:
        """(settings, parent rung, tokens/s to compare with) for `rung`."""
        if rung.beyond:
            start = self.best_settings if self.best_settings is not None else self.core_settings
            return rung.apply(start), self.best_name or self.core_name, self.best_tps
        if self.core_settings is None:
            return rung.apply(self.base), None, None
        return rung.apply(self.core_settings), self.core_name, self.core_tps

    def advance(self, rung: Rung, settings: RungSettings, row: dict | None) -> None:
        """A core rung is done: the next one builds on it unless it was measured and not kept."""
        if row is not None and row["status"] == "ok" and not row["kept"]:
            return
        self.core_settings, self.core_name = settings, rung.name
        self.core_tps = row.get("tokens_per_sec") if row is not None and row["status"] == "ok" else None

    def account(self, row: dict, rung: Rung, compare_tps: float | None, keep_margin: float,
                drop: str = "") -> None:
        """Fill a measured row's speedups and whether it is kept; move the climb on."""
        tps = row["tokens_per_sec"]
        if rung.name == CORE_NAMES[0]:
            self.baseline_tps = tps
        row["speedup_vs_baseline"] = tps / self.baseline_tps if self.baseline_tps else None
        row["speedup_vs_previous"] = tps / compare_tps if compare_tps else None
        notes = [row["note"]]
        if not rung.beyond:
            row["kept"] = not drop  # core rungs stay, unless this machine cannot run them natively
            notes.append(drop)
        else:
            row["kept"] = self.best_tps is None or tps >= self.best_tps * (1 + keep_margin)
            if not row["kept"]:
                notes.append(f"not kept: {100 * (tps / self.best_tps - 1):+.1f}% vs {self.best_name}, "
                             f"under the {keep_margin:.0%} bar")
            if rung.field == "micro_batch" and row["config"]["total_batch"] is None:
                notes.append(f"no accumulation kept, so a step is one micro-batch of {row['tokens_per_step']:,} tokens")
        row["note"] = "; ".join(filter(None, notes))
        if row["kept"]:
            self.best_name, self.best_settings, self.best_tps = rung.name, RungSettings(**row["config"]), tps


def new_record(profile: Profile, device, *, peak_tflops, steps, warmup, seed, keep_margin, measure_hardware) -> dict:
    """The record before any rung: machine, software, model, profile and settings."""
    peak, peak_source = device_peak_flops(device, peak_tflops)
    n_params, fpt = model_flops(profile)
    hardware = hardware_info(device)
    hardware.update(peak_flops=peak, peak_source=peak_source, peak_memory_kind=PEAK_MEMORY_KIND.get(device_type(device)))
    if measure_hardware:
        on_gpu = device_type(device) == "cuda"
        hardware["measured"] = {
            "matmul_bf16_tflops": measure_matmul_flops(device, 8192 if on_gpu else 1024, "bfloat16") / 1e12,
            "copy_gb_per_s": measure_bandwidth(device, 2**31 if on_gpu else 2**29) / 1e9,
        }
    return {
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "complete": False,
        "profile": dataclasses.asdict(profile),
        "model": {**model_config(profile, profile.base_settings()).to_dict(), "n_params": n_params,
                  "flops_per_token": fpt,
                  "flops_note": "6N + 12*L*d*T per token, N = parameters without the position embedding, "
                                f"vocab {profile.vocab_size} for every rung (padding rows are not useful work)"},
        "hardware": hardware,
        "software": software_info(),
        "settings": {"steps": profile.steps if steps is None else steps,
                     "warmup": profile.warmup if warmup is None else warmup,
                     "seed": seed, "keep_margin": keep_margin, "timing": "median of the timed optimizer steps"},
        "rungs": [],
    }


def _status_row(rung: Rung, index: int, settings: RungSettings, parent: str | None, status: str, note: str) -> dict:
    return {"index": index, "name": rung.name, "title": rung.title, "beyond": rung.beyond,
            "change": {rung.field: rung.value}, "parent": parent, "config": dataclasses.asdict(settings),
            "status": status, "note": note, "kept": False, "why": rung.why}


def summarize(record: dict, last_kept: str | None) -> dict:
    ok = [r for r in record["rungs"] if r["status"] == "ok"]
    best = max(ok, key=lambda r: r["tokens_per_sec"]) if ok else {}
    return {"best_rung": best.get("name"), "best_tokens_per_sec": best.get("tokens_per_sec"),
            "best_mfu": best.get("mfu"), "best_config": best.get("config"), "last_kept": last_kept}


def run_ladder(
    profile: Profile | str = "cpu",
    device=None,
    *,
    rungs: list[str] | None = None,
    steps: int | None = None,
    warmup: int | None = None,
    micro_batch: int | None = None,
    peak_tflops: float | None = None,
    keep_margin: float = KEEP_MARGIN,
    time_limit: float | None = None,
    seed: int = 1337,
    measure_hardware: bool = False,
    on_rung=None,
    log=print,
    progress: bool = False,
) -> dict:
    """Climb the ladder on `device`; return the record (see `validate_record` for its fields).

    `rungs` picks a subset by name (settings still follow the full chain).
    `on_rung(record)` is called after every rung (the command uses it to keep
    the files current). `time_limit` (seconds) skips rungs that would start
    after it. A rung that fails is recorded as failed and the ladder goes on.
    """
    profile = PROFILES[profile] if isinstance(profile, str) else profile
    profile = replace(profile, micro_batch=micro_batch) if micro_batch else profile
    device = device or get_device()
    known = [r.name for r in ladder_rungs(profile)]
    wanted = known if rungs is None else list(rungs)
    if unknown := [n for n in wanted if n not in known]:
        raise ValueError(f"unknown rung(s) {unknown}; the rungs are: {', '.join(known)}")

    start = clock()
    record = new_record(profile, device, peak_tflops=peak_tflops, steps=steps, warmup=warmup, seed=seed,
                        keep_margin=keep_margin, measure_hardware=measure_hardware)
    hw = record["hardware"]
    log(f"ladder on {hw['device_name']} ({device}), torch {torch.__version__}; {profile.label()}; "
        f"MFU peak: {hw['peak_source']}")
    climb, interrupted = Climb(profile.base_settings()), False
    for index, rung in enumerate(ladder_rungs(profile), start=1):
        settings, parent, compare_tps = climb.plan(rung)
        if rung.name not in wanted:
            if not rung.beyond:
                climb.advance(rung, settings, None)
            continue
        status, note = applicability(rung, device, profile)
        if status == "run" and time_limit is not None and clock() - start > time_limit:
            status, note = "skipped", f"time limit of {time_limit:.0f} s reached before this rung"
        row = _status_row(rung, index, settings, parent, status, note)
        if status == "run":
            if progress:
                log(f"   rung {index} ({rung.name}) running...")
            try:
                row.update(measure_rung(settings, profile, device, profile_tokens(profile), steps=steps, warmup=warmup,
                                        seed=seed), status="ok")
            except LadderInterrupted:
                row.update(status="interrupted", note="stopped by a signal (time limit) during this rung")
                interrupted = True
            except Exception as e:  # recorded, and the ladder goes on
                first_line = (str(e).strip().splitlines() or [""])[0][:300]
                row.update(status="failed", note=f"{type(e).__name__}: {first_line}")
        if row["status"] == "ok":
            row["mfu"] = mfu(row["tokens_per_sec"], record["model"]["flops_per_token"], hw["peak_flops"])
            climb.account(row, rung, compare_tps, keep_margin, drop=not_kept_reason(rung, device))
        if not rung.beyond:
            climb.advance(rung, settings, row)
        record["rungs"].append(row)
        log(format_row(row))
        if on_rung:
            on_rung(record)
        if interrupted:
            break
    record.update(complete=not interrupted, wall_s=clock() - start, summary=summarize(record, climb.best_name))
    if on_rung:
        on_rung(record)
    return record
