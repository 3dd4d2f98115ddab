"""The training loop every lesson uses: `train(model, train_data, val_data, cfg)`.

    from course.model import GPT, GPTConfig
    from course.train import TrainConfig, train
    from course.data import char_data

    tok, train_ids, val_ids = char_data()                     # tinyshakespeare, char-level
    model = GPT(GPTConfig(block_size=64, vocab_size=tok.vocab_size, n_layer=4, n_head=4, n_embd=128))
    result = train(model, train_ids, val_ids, TrainConfig(max_steps=2000, batch_size=12), tokenizer=tok)
    result.val_losses[-1], result.tokens_per_sec

Used by lessons 02 and 03 (training runs) and 04 (the ladder takes its step,
`accumulate_gradients`). What happens in one step, and why:

- the learning rate is set from the step number (`course.optim.lr_at`: linear
  warmup, then cosine decay to `min_lr`), so a resumed run gets the same rate;
- `grad_accum_steps` micro-batches are run forward and backward; each one's
  mean loss is weighted by its share of the step's target tokens, so the
  summed gradient is exactly the gradient of the mean loss over the whole
  step's tokens (`accumulate_gradients`), padding (-1 targets) included;
- the gradient norm is clipped to `grad_clip`, AdamW steps (weight decay on
  matrices and embeddings only: `course.optim.make_optimizer`), the gradients
  are freed.

Around the steps: bf16 autocast where the device supports it
(`course.precision`), optional `torch.compile`, val loss and bits per byte on
fixed batches every `eval_interval` steps (`course.evaluate`), samples every
`sample_interval` steps (`course.sample`), tokens/s and MFU (`course.flops`),
a tqdm bar, and checkpoints that make a resumed run bit-for-bit the run that
never stopped (`course.checkpoint`).

    text -> tokens -> shards -> batches -> model -> loss -> checkpoint
                                ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ (this module drives these)
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from course.checkpoint import (
    CheckpointError,
    check_compatible,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from course.compiling import CompiledStep
from course.curves import check_run, reference
from course.distributed import rank_strided
from course.evaluate import evaluate_loss
from course.flops import flops_per_token, matmul_params, mfu
from course.loader import TokenLoader, fixed_batches
from course.optim import clip_and_step, fused_adamw_available, lr_at, make_optimizer, param_groups
from course.plots import plot_losses
from course.precision import (
    NonFiniteLoss,
    autocast,
    autocast_dtype,
    dtype_name,
    grad_scaler,
    nonfinite_message,
)
from course.sample import sample_text
from course.tokenizer import as_tokenizer
from course.utils import device_type, get_device

# Names that lived here before the trainer was split by stage; importable from here still.
__all__ = [
    "CheckpointError",
    "TrainConfig",
    "TrainResult",
    "accumulate_gradients",
    "autocast",
    "autocast_dtype",
    "dist_info",
    "flops_per_token",
    "fused_adamw_available",
    "lr_at",
    "make_optimizer",
    "matmul_params",
    "mfu",
    "param_groups",
    "plot_losses",
    "train",
]

# ----------------------------------------------------------------------------- one step


def dist_info() -> tuple[int, int]:
    """(rank, world_size) of this process; (0, 1) without torch.distributed."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _ddp_world(model) -> int:
    """Number of processes when `model` is wrapped in DistributedDataParallel, else 1."""
    from torch.nn.parallel import DistributedDataParallel

    if isinstance(model, DistributedDataParallel):
        import torch.distributed as dist

        return dist.get_world_size()
    return 1


def accumulate_gradients(model: nn.Module, micro_batches, *, amp_dtype: torch.dtype | None = None,
                         scaler=None) -> torch.Tensor:
    """Forward and backward over micro-batches; gradients add up in `.grad`.

    The model returns each micro-batch's *mean* loss over its target tokens.
    Micro-batch i holding n_i of the step's N target tokens (targets != -1) is
    scaled by n_i / N, so the accumulated gradient is the gradient of the mean
    loss over all N tokens: the same as one big batch. (Dividing by the number
    of micro-batches is the same only when every micro-batch has the same
    number of targets.) Returns that mean loss, detached; nan when every
    target of the step is -1 (there is no mean, and the gradients are zero).

    The counts stay on the device: reading them on the host would stall the
    CPU once per micro-batch until the GPU caught up. A micro-batch with no
    targets still runs (under DDP every process must), with its targets
    unmasked so that its loss is finite and its scale of 0 keeps it out.

    With a DistributedDataParallel model, N counts the targets of every process,
    gradients are synchronized only after the last micro-batch (`no_sync`
    before), and each scale is multiplied by the world size because DDP
    averages the processes' gradients: the result is still the gradient of the
    mean over all N tokens, and the returned loss is that global mean.

    `scaler` (a torch.amp.GradScaler, for fp16) multiplies what is backpropagated
    by its scale; the returned loss is not scaled.
    """
    micro_batches = list(micro_batches)
    if not micro_batches:
        raise ValueError("need at least one micro-batch")
    device = micro_batches[0][0].device
    world = _ddp_world(model)
    counts = torch.stack([(y != -1).sum() for _, y in micro_batches])
    total = counts.sum()
    if world > 1:
        import torch.distributed as dist

        dist.all_reduce(total)
    scales = counts / total.clamp(min=1)
    loss_sum = torch.zeros((), device=device)
    for i, (x, y) in enumerate(micro_batches):
        y = torch.where(counts[i] > 0, y, y.clamp(min=0))
        sync = world == 1 or i == len(micro_batches) - 1
        with contextlib.nullcontext() if sync else model.no_sync():
            with autocast(device, amp_dtype):
                _, loss = model(x, y)
            scaled = loss * scales[i]
            backprop = scaled * world
            (scaler.scale(backprop) if scaler is not None else backprop).backward()
        loss_sum += scaled.detach().float()
    if world > 1:
        dist.all_reduce(loss_sum)
    return torch.where(total > 0, loss_sum, torch.full_like(loss_sum, math.nan))


# ----------------------------------------------------------------------------- config and result


@dataclass
class TrainConfig:
    """Everything about a run except the model and the data.

    Tokens per optimizer step = batch_size * block_size * grad_accum_steps.
    """

    max_steps: int = 1000
    batch_size: int = 12  # sequences per micro-batch
    block_size: int | None = None  # sequence length; None: the model's block_size
    grad_accum_steps: int = 1
    # optimizer and schedule
    max_lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    lr_decay_steps: int | None = None  # cosine reaches min_lr here; None: max_steps
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    grad_clip: float | None = 1.0  # max global grad norm; None or 0: no clipping
    fused: bool | None = None  # fused AdamW: None = when available
    # data
    data_order: str = "random"  # for array data: "random" offsets (nanoGPT) or "sequential" epochs
    # evaluation, logging, samples
    eval_interval: int = 250  # val loss every this many steps and at the end; 0: only at the end
    eval_batches: int = 20  # fixed val batches per evaluation
    eval_at_start: bool = False
    log_interval: int = 10  # refresh the progress bar every this many steps
    sample_interval: int = 0  # print a sample every this many steps; 0: never
    sample_tokens: int = 200
    sample_prompt: str = "\n"
    sample_temperature: float = 1.0
    sample_top_k: int | None = 200
    # machine
    device: str | None = None  # None: course.get_device()
    dtype: str = "auto"  # autocast: "auto" (bf16 on CUDA >= 8.0, fp16 + grad scaler on older CUDA, fp32 on CPU/MPS), "float32", "bfloat16", "float16"
    compile: bool = False  # torch.compile the training step (eager, with the reason, where it cannot)
    peak_flops: float | None = None  # hardware peak FLOP/s, for MFU
    seed: int = 1337
    # checkpoints
    checkpoint_path: str | None = None  # where to write checkpoints; None: never
    checkpoint_interval: int = 0  # also every this many steps; 0: only at the end
    progress: bool = True  # tqdm bar and log lines
    reference: str | None = None  # a reference curve of course.curves to compare val losses with

    def __post_init__(self):
        if self.max_steps < 1:
            raise ValueError("max_steps must be >= 1")
        if self.batch_size < 1 or self.grad_accum_steps < 1:
            raise ValueError("batch_size and grad_accum_steps must be >= 1")
        if self.data_order not in ("random", "sequential"):
            raise ValueError(f"data_order must be 'random' or 'sequential', got {self.data_order!r}")
        self.betas = tuple(self.betas)
        if self.reference is not None:
            reference(self.reference)  # a ValueError naming the known curves

    def lr(self, step: int) -> float:
        return lr_at(
            step,
            max_lr=self.max_lr,
            min_lr=self.min_lr,
            warmup_steps=self.warmup_steps,
            max_steps=self.lr_decay_steps or self.max_steps,
        )


@dataclass
class TrainResult:
    """What a run measured. Index i of steps/losses/lrs/grad_norms is one optimizer step."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)  # steps completed when val was measured
    val_losses: list[float] = field(default_factory=list)
    val_bpb: list[float | None] = field(default_factory=list)
    samples: list[tuple[int, str]] = field(default_factory=list)
    tokens_per_sec: float = 0.0  # over this run's steps, the first (warm-up / compile) one left out
    ms_per_step: float = 0.0
    mfu: float | None = None
    train_seconds: float = 0.0  # time spent in training steps
    wall_seconds: float = 0.0  # everything: evals, samples, checkpoints
    checkpoint: str | None = None
    notes: list[str] = field(default_factory=list)  # what the run said about itself: compile, loss checks
    compile: str = ""  # "compiled", or why the steps ran eagerly ("not asked for", a fallback's reason)

    @property
    def final_val_loss(self) -> float | None:
        return self.val_losses[-1] if self.val_losses else None

    def history(self) -> dict:
        """The per-step histories, as plain lists (what a checkpoint stores)."""
        keys = ("steps", "losses", "lrs", "grad_norms", "val_steps", "val_losses", "val_bpb")
        return {k: list(getattr(self, k)) for k in keys}


# ----------------------------------------------------------------------------- the run

# what a resumed run must share with the run it continues, or it is another run
RESUME_KEYS = ("batch_size", "block_size", "grad_accum_steps", "seed", "data_order")


def _device_for(cfg: TrainConfig, rank: int, world: int) -> str:
    device = cfg.device or get_device()
    if world > 1 and device == "cuda":  # one GPU per process: torchrun's LOCAL_RANK
        local = int(os.environ.get("LOCAL_RANK", rank % torch.cuda.device_count()))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    return device


def _my_micro_batches(accum: int, rank: int, world: int) -> list[int]:
    """Which of a step's `accum` micro-batches this process runs (ValueError unless world divides accum)."""
    if accum % world:
        raise ValueError(
            f"grad_accum_steps={accum} cannot be shared by {world} processes: the flags give the global batch "
            f"(batch_size x block_size x grad_accum_steps tokens per step), so grad_accum_steps must be a "
            f"multiple of the number of processes ({world})"
        )
    return rank_strided(accum, rank, world)


def _read_resume(path, model: nn.Module, cfg: TrainConfig, world: int) -> dict:
    """The checkpoint to continue from, checked against this model and run before anything changes."""
    state = load_checkpoint(path)
    check_compatible(state, model, path)
    saved = state.get("train_config") or {}
    for key in RESUME_KEYS:
        if key in saved and saved[key] != getattr(cfg, key):
            raise CheckpointError(
                f"{path} was written with {key}={saved[key]!r} but this run has {key}={getattr(cfg, key)!r}; "
                "an exact resume needs the same value"
            )
    if len(state["rng"]) != world:
        raise CheckpointError(f"{path} was written by {len(state['rng'])} process(es), this run has {world}")
    return state


def _train_loader(data, cfg: TrainConfig, block_size: int, device):
    """The run's batch source: the whole stream of micro-batches, the same in every process
    (each process runs its share and skips the rest: `_Run.micro_batches`).
    A TokenLoader passed in is copied: the caller's stays as it was."""
    if isinstance(data, TokenLoader):
        if data.B != cfg.batch_size or data.T != block_size:
            raise ValueError(
                f"the loader makes ({data.B}, {data.T}) batches but the config asks for "
                f"({cfg.batch_size}, {block_size})"
            )
        if data.world_size != 1:
            raise ValueError(
                f"the loader is rank {data.rank} of {data.world_size}: train() wants the whole stream "
                "(world_size=1) and gives each process its share of every step's micro-batches"
            )
        return data.copy(device=device)
    if hasattr(data, "next_batch"):  # any batch source: next_batch() -> (x, y); state_dict() optional
        return data
    return TokenLoader(data, cfg.batch_size, block_size, order=cfg.data_order, seed=cfg.seed, device=device)


def _val_batches(data, cfg: TrainConfig, block_size: int, device):
    if data is None:
        return None
    if isinstance(data, list) and data and isinstance(data[0], tuple):
        return [(x.to(device), y.to(device)) for x, y in data]
    return fixed_batches(data, cfg.batch_size, block_size, cfg.eval_batches, device=device)


class _Run:
    """One call of `train`: the model, its optimizer and data, what was measured, and the
    things done between steps (evaluate, sample, checkpoint)."""

    def __init__(self, model, cfg: TrainConfig, *, train_data, val_data, tokenizer, state, meta, resume):
        self.model, self.cfg, self.meta = model, cfg, meta
        self.rank, self.world = dist_info()
        self.show = cfg.progress and self.rank == 0
        self.device = device = _device_for(cfg, self.rank, self.world)
        self.block_size = cfg.block_size or model.config.block_size
        self.tok = tokenizer
        self.token_bytes = torch.as_tensor(tokenizer.token_byte_lengths(), device=device) if tokenizer is not None else None
        if state is None:
            torch.manual_seed(cfg.seed + self.rank)  # dropout masks; the model's init happened before
        model.to(device)
        model.train()
        self.mine = set(_my_micro_batches(cfg.grad_accum_steps, self.rank, self.world))
        self.loader = _train_loader(train_data, cfg, self.block_size, device)
        self.val_batches = _val_batches(val_data, cfg, self.block_size, device)
        self.optimizer = make_optimizer(
            model, lr=cfg.max_lr, weight_decay=cfg.weight_decay, betas=cfg.betas, eps=cfg.eps, fused=cfg.fused
        )
        self.amp_dtype = autocast_dtype(device, cfg.dtype)
        self.scaler = grad_scaler(device, self.amp_dtype)  # fp16 only
        if self.amp_dtype is not None:
            self.log(f"precision: {dtype_name(self.amp_dtype)} autocast" + (" with a grad scaler" if self.scaler else ""))
        self.result = TrainResult()
        self.start = 0
        self.good_checkpoint = None  # (path, step) of the last checkpoint known to hold finite weights
        if state is not None:
            self._restore(state)
            self.good_checkpoint = (str(resume), self.start)
            self.log(f"resumed from {resume} at step {self.start}")
        wrap = None
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [torch.device(device).index] if device_type(device) == "cuda" else None
            wrap = lambda m: DistributedDataParallel(m, device_ids=ids)
        # the step runs compiled where it can; evaluation and samples use `model` (same weights)
        self.step = CompiledStep(model, device, enabled=cfg.compile, log=self.note, wrap=wrap)
        self.eval_model = model
        # the global batch: the same whatever the number of processes
        self.tokens_per_step = cfg.batch_size * self.block_size * cfg.grad_accum_steps
        self.train_seconds, self.timed_seconds, self.timed_steps = 0.0, 0.0, 0

    def _restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("loader") is not None and hasattr(self.loader, "load_state_dict"):
            self.loader.load_state_dict(state["loader"])
        for k, v in (state.get("history") or {}).items():
            setattr(self.result, k, list(v))
        self.start = int(state["step"])
        set_rng_state(state["rng"][self.rank])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])

    def log(self, msg: str) -> None:
        if self.show:
            tqdm.write(msg)

    def note(self, msg: str) -> None:
        """Log, and keep in the result: what the run says about itself."""
        self.result.notes.append(msg)
        self.log(msg)

    def micro_batches(self) -> list:
        """This process's micro-batches of the step: i = rank, rank + W, ... of the step's
        grad_accum_steps; the others are skipped (another process runs them)."""
        micro = []
        for i in range(self.cfg.grad_accum_steps):
            if i in self.mine:
                micro.append(self.loader.next_batch())
            elif hasattr(self.loader, "skip"):
                self.loader.skip()
            else:
                self.loader.next_batch()
        return micro

    def train_step(self, step: int) -> dict:
        """One optimizer step; records and returns {step, loss, lr, grad_norm, dt}."""
        cfg, t0 = self.cfg, time.perf_counter()
        lr = cfg.lr(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        micro = self.micro_batches()
        loss = self.step(lambda m: accumulate_gradients(m, micro, amp_dtype=self.amp_dtype, scaler=self.scaler))
        loss_value = float(loss)  # waits for the device
        if not math.isfinite(loss_value):  # stop before the step: the weights stay the last finite ones
            good, at = self.good_checkpoint or (None, None)
            raise NonFiniteLoss(nonfinite_message(loss_value, step, lr=lr, dtype=self.amp_dtype,
                                                  checkpoint=good, checkpoint_step=at))
        norm = clip_and_step(self.optimizer, self.model.parameters(), cfg.grad_clip, scaler=self.scaler)
        dt = time.perf_counter() - t0
        self.train_seconds += dt
        if step > self.start:  # the first step pays for warm-up (and compilation)
            self.timed_seconds += dt
            self.timed_steps += 1
        r = self.result
        r.steps.append(step)
        r.losses.append(loss_value)
        r.lrs.append(lr)
        r.grad_norms.append(norm)
        return {"step": step, "loss": loss_value, "lr": lr, "grad_norm": norm, "dt": dt}

    def between_steps(self, done: int, last: bool) -> None:
        """Evaluate, sample and checkpoint when their intervals (or the last step) come round."""
        cfg = self.cfg
        if (cfg.eval_interval and done % cfg.eval_interval == 0) or last:
            self.evaluate(done)
        if cfg.sample_interval and (done % cfg.sample_interval == 0 or last):
            self.sample(done)
        if cfg.checkpoint_path and ((cfg.checkpoint_interval and done % cfg.checkpoint_interval == 0) or last):
            self.checkpoint(done)

    def evaluate(self, done: int) -> None:
        if not self.val_batches:
            return
        out = evaluate_loss(self.eval_model, self.val_batches, token_bytes=self.token_bytes, amp_dtype=self.amp_dtype)
        self.result.val_steps.append(done)
        self.result.val_losses.append(out["loss"])
        self.result.val_bpb.append(out["bpb"])
        bpb = f", val bpb {out['bpb']:.4f}" if out["bpb"] is not None else ""
        self.log(f"step {done}: val loss {out['loss']:.4f}{bpb}")
        if self.cfg.reference and done in reference(self.cfg.reference).steps:
            self.note(str(check_run(self.cfg.reference, done, out["loss"], self.model.config, self.cfg)))

    def sample(self, done: int) -> None:
        if self.tok is None or not hasattr(self.model, "generate") or self.rank != 0:
            return
        cfg = self.cfg
        text = sample_text(
            self.model, self.tok, cfg.sample_prompt, cfg.sample_tokens,
            temperature=cfg.sample_temperature, top_k=cfg.sample_top_k, seed=cfg.seed,
        )
        self.result.samples.append((done, text))
        self.log(f"--- sample at step {done} ---\n{text}\n---")

    def checkpoint(self, done: int) -> None:
        rng = [rng_state()]
        if self.world > 1:  # every process's RNG state, so that each resumes exactly
            import torch.distributed as dist

            rng = [None] * self.world
            dist.all_gather_object(rng, rng_state())
        if self.rank == 0:
            path = save_checkpoint(
                self.cfg.checkpoint_path, model=self.model, optimizer=self.optimizer, step=done,
                train_config=self.cfg, loader=self.loader, history=self.result.history(),
                tokenizer=self.tok.spec if self.tok is not None else None, meta=self.meta, rng=rng,
                scaler=self.scaler,
            )
            self.result.checkpoint = str(path)
        self.good_checkpoint = (self.cfg.checkpoint_path, done)
        if self.world > 1:  # every rank returns with the file on disk (a resume in the same job reads it)
            import torch.distributed as dist

            dist.barrier()

    def finish(self, wall_start: float) -> TrainResult:
        """Fill in the speed figures (the first step of the call left out) and return the result."""
        r, cfg = self.result, self.cfg
        timed_seconds, timed_steps = self.timed_seconds, self.timed_steps
        if timed_steps == 0 and self.train_seconds > 0:  # a single step: nothing to leave out
            timed_seconds, timed_steps = self.train_seconds, max(1, len(r.losses) - self.start)
        if timed_steps:
            r.ms_per_step = 1000 * timed_seconds / timed_steps
            r.tokens_per_sec = self.tokens_per_step * timed_steps / timed_seconds
            if cfg.peak_flops:
                c = self.model.config
                fpt = flops_per_token(matmul_params(self.model), c.n_layer, c.n_embd, self.block_size)
                r.mfu = mfu(r.tokens_per_sec, fpt, cfg.peak_flops)
            extra = f", MFU {100 * r.mfu:.1f}%" if r.mfu is not None else ""
            self.log(f"{r.tokens_per_sec:,.0f} tokens/s, {r.ms_per_step:.1f} ms/step{extra}")
        r.compile = "compiled" if self.step.compiled else self.step.reason
        r.train_seconds = self.train_seconds
        r.wall_seconds = time.perf_counter() - wall_start
        return r


def train(
    model: nn.Module,
    train_data,
    val_data=None,
    cfg: TrainConfig | None = None,
    *,
    tokenizer=None,
    resume: str | Path | None = None,
    stop_at: int | None = None,
    callback=None,
    meta: dict | None = None,
) -> TrainResult:
    """Train `model` in place and return what was measured.

    train_data / val_data: a 1-D sequence of token ids (torch tensor, NumPy
    array or memmap, list) or a `course.loader.TokenLoader` (shards on disk,
    several ranks, shuffled epochs; the run reads a copy, so the loader passed
    in is left where it was); train_data may also be any object with
    `next_batch() -> (x, y)` (and `state_dict`/`load_state_dict` for exact
    resumes), e.g. padded SFT batches with -1 targets. Val is measured on the
    same fixed `cfg.eval_batches` batches every time. `tokenizer` (anything
    `course.tokenizer.as_tokenizer` takes) turns on bits per byte and samples and is
    recorded in checkpoints. `resume`: a checkpoint path to continue from; the
    run then continues exactly where that one stopped. `stop_at`: stop (and
    checkpoint) after this many steps although the schedule runs to
    `cfg.max_steps`, as an interrupted run would. `callback(info)` is called
    after every step with a dict (step, loss, lr, grad_norm, dt). `meta`: a
    small dict of plain values stored in checkpoints as they are (e.g. the data source).

    Under torch.distributed (torchrun), every process calls `train` with the
    same arguments, and `cfg` describes the *global* batch: batch_size x
    block_size x grad_accum_steps tokens per optimizer step whatever the
    number of processes W (grad_accum_steps must be a multiple of W). The
    model is wrapped in DistributedDataParallel; every process walks the same
    stream of micro-batches and runs micro-batches rank, rank + W, ... of each
    step (`course.distributed.rank_strided`), skipping the others, so
    micro-batch i of step s is the same text for any W; gradients are averaged
    over every process's tokens and the logged loss is the whole step's. Only
    rank 0 logs, samples and writes checkpoints (with every process's RNG
    state, so resumes stay exact).
    """
    cfg = cfg or TrainConfig()
    wall_start = time.perf_counter()
    tok = as_tokenizer(tokenizer) if tokenizer is not None else None
    # read the checkpoint before touching anything, so that a bad one changes nothing
    state = _read_resume(resume, model, cfg, dist_info()[1]) if resume is not None else None
    run = _Run(model, cfg, train_data=train_data, val_data=val_data, tokenizer=tok, state=state, meta=meta, resume=resume)
    if cfg.eval_at_start and run.start == 0:
        run.evaluate(0)
    end = cfg.max_steps if stop_at is None else min(cfg.max_steps, stop_at)
    bar = tqdm(total=cfg.max_steps, initial=run.start, desc="training", disable=not run.show, dynamic_ncols=True)
    try:
        for step in range(run.start, end):
            info = run.train_step(step)
            done = step + 1
            bar.update(1)
            if run.show and (done % max(1, cfg.log_interval) == 0 or done == end):
                tok_s = f"{run.tokens_per_step / info['dt']:,.0f}"
                bar.set_postfix(loss=f"{info['loss']:.4f}", lr=f"{info['lr']:.2e}", tok_s=tok_s, refresh=False)
            if callback is not None:
                callback(info)
            run.between_steps(done, last=done == end)
    finally:
        bar.close()
    return run.finish(wall_start)
