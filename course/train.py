"""The training loop every lesson uses: `train(model, train_data, val_data, cfg)`.

    from course.model import GPT, GPTConfig
    from course.train import TrainConfig, train
    from course.data import char_data

    tok, train_ids, val_ids = char_data()                     # tinyshakespeare, char-level
    model = GPT(GPTConfig(block_size=64, vocab_size=tok.vocab_size, n_layer=4, n_head=4, n_embd=128))
    result = train(model, train_ids, val_ids, TrainConfig(max_steps=2000, batch_size=12), tokenizer=tok)
    result.val_losses[-1], result.tokens_per_sec

What happens in one step, and why:

- the learning rate is set from the step number (`lr_at`: linear warmup, then
  cosine decay to `min_lr`), so a resumed run gets the same rate;
- `grad_accum_steps` micro-batches are run forward and backward; each one's
  mean loss is weighted by its share of the step's target tokens, so the
  summed gradient is exactly the gradient of the mean loss over the whole
  step's tokens (`accumulate_gradients`), padding (-1 targets) included;
- the gradient norm is clipped to `grad_clip`, AdamW steps (weight decay on
  matrices and embeddings only: `make_optimizer`), the gradients are freed.

Around the steps: bf16 autocast where the device supports it, optional
`torch.compile`, val loss and bits per byte on fixed batches every
`eval_interval` steps, samples every `sample_interval` steps, tokens/s and
MFU, a tqdm bar, and checkpoints that make a resumed run bit-for-bit the run
that never stopped (`save_checkpoint` / `load_checkpoint`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from course.checkpoint import CheckpointError
from course.utils import atomic_write_bytes, device_type, get_device

# ----------------------------------------------------------------------------- schedule, optimizer, FLOPs


def lr_at(step: int, *, max_lr: float, min_lr: float, warmup_steps: int, max_steps: int) -> float:
    """Learning rate at `step` (0-based): linear warmup, then cosine decay to `min_lr`.

    Warmup: step s < warmup_steps gets max_lr * (s + 1) / warmup_steps, so the
    first step already moves and step warmup_steps - 1 reaches max_lr. Then the
    rate follows half a cosine from max_lr down to min_lr at `max_steps`, and stays
    at min_lr after. Large early steps on a random network are what warmup avoids;
    the slow cosine tail lets the model settle into a minimum.
    """
    if warmup_steps < 0 or max_steps < 1:
        raise ValueError(f"need warmup_steps >= 0 and max_steps >= 1, got {warmup_steps}, {max_steps}")
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= max_steps:
        return min_lr
    if max_steps <= warmup_steps:
        return max_lr
    ratio = (step - warmup_steps) / (max_steps - warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (max_lr - min_lr)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: decay for >= 2-D tensors (matmul weights, embeddings), none for the rest.

    Weight decay pulls weights toward zero to keep them small; doing that to
    biases and LayerNorm gains (1-D) only fights their job of shifting and
    scaling, so they are left out, as in GPT-2 / nanoGPT. Tied tensors appear once.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def fused_adamw_available(device) -> bool:
    """Whether torch's fused (single-kernel) AdamW runs on this device type."""
    import inspect

    if "fused" not in inspect.signature(torch.optim.AdamW).parameters:
        return False
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

        supported = _get_fused_kernels_supported_devices()
    except ImportError:  # older torch: fused AdamW was CUDA-only
        supported = ["cuda"]
    return device_type(device) in supported


def make_optimizer(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.95),
    eps: float = 1e-8,
    fused: bool | None = None,
) -> torch.optim.AdamW:
    """AdamW with weight decay on >= 2-D parameters only (see `param_groups`).

    fused=None uses the fused implementation when this torch has it for the
    model's device (one kernel updates every tensor, instead of a few kernels per
    tensor); fused=True insists, fused=False uses the multi-tensor `foreach` path.
    """
    device = next(model.parameters()).device
    if fused is None:
        fused = fused_adamw_available(device)
    elif fused and not fused_adamw_available(device):
        raise ValueError(f"fused AdamW is not available for {device} in torch {torch.__version__}")
    kwargs = {"fused": True} if fused else {}
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=betas, eps=eps, **kwargs)


def flops_per_token(n_params: int, n_layer: int, n_embd: int, block_size: int) -> int:
    """Training FLOPs per token: 6N for the matmuls (2 forward + 4 backward per
    parameter) plus 12·L·d·T for attention's scores and weighted sums (PaLM, appendix B).

    Pass N without the position embedding (a lookup, not a matmul), as nanoGPT does.
    """
    return 6 * n_params + 12 * n_layer * n_embd * block_size


def mfu(tokens_per_sec: float, flops_per_token: float, peak_flops: float) -> float:
    """Model FLOPs utilization: achieved model FLOPs per second / the hardware's peak."""
    if peak_flops <= 0:
        raise ValueError("peak_flops must be positive")
    return tokens_per_sec * flops_per_token / peak_flops


def matmul_params(model: nn.Module) -> int:
    """Parameters that take part in matmuls: all, minus a learned position embedding."""
    n = sum(p.numel() for p in model.parameters())
    wpe = getattr(getattr(model, "transformer", None), "wpe", None)
    if isinstance(wpe, nn.Embedding):
        n -= wpe.weight.numel()
    return n


# ----------------------------------------------------------------------------- precision


def autocast_dtype(device, dtype: str = "auto") -> torch.dtype | None:
    """The autocast dtype to train with, or None for plain fp32.

    "auto": bf16 on CUDA GPUs that support it, fp32 elsewhere (bf16 autocast on
    a CPU is usually slower for small models, and MPS support varies).
    """
    if dtype in ("float32", "fp32", None):
        return None
    kind = device_type(device)
    if dtype == "auto":
        return torch.bfloat16 if kind == "cuda" and torch.cuda.is_bf16_supported() else None
    if dtype in ("bfloat16", "bf16"):
        return torch.bfloat16
    if dtype in ("float16", "fp16"):
        if kind != "cuda":
            raise ValueError("float16 autocast needs a CUDA device (and a grad scaler); use bfloat16")
        return torch.float16
    raise ValueError(f"dtype must be 'auto', 'float32' or 'bfloat16', got {dtype!r}")


def autocast(device, dtype: torch.dtype | None):
    """A context manager: autocast to `dtype` on `device`, or nothing when dtype is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type(device), dtype=dtype)


# ----------------------------------------------------------------------------- one step


def _ddp_world(model) -> int:
    """Number of processes when `model` is wrapped in DistributedDataParallel, else 1."""
    from torch.nn.parallel import DistributedDataParallel

    if isinstance(model, DistributedDataParallel):
        import torch.distributed as dist

        return dist.get_world_size()
    return 1


def accumulate_gradients(model: nn.Module, micro_batches, *, amp_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Forward and backward over micro-batches; gradients add up in `.grad`.

    The model returns each micro-batch's *mean* loss over its target tokens.
    Micro-batch i holding n_i of the step's N target tokens (targets != -1) is
    scaled by n_i / N, so the accumulated gradient is the gradient of the mean
    loss over all N tokens: the same as one big batch. (Dividing by the number
    of micro-batches is the same only when every micro-batch has the same
    number of targets.) Returns that mean loss, detached.

    With a DistributedDataParallel model, N counts the targets of every process,
    gradients are synchronized only after the last micro-batch (`no_sync`
    before), and each scale is multiplied by the world size because DDP
    averages the processes' gradients: the result is still the gradient of the
    mean over all N tokens, and the returned loss is that global mean.
    """
    micro_batches = list(micro_batches)
    if not micro_batches:
        raise ValueError("need at least one micro-batch")
    device = micro_batches[0][0].device
    counts = [int((y != -1).sum()) for _, y in micro_batches]
    world = _ddp_world(model)
    total = sum(counts)
    if world > 1:
        import torch.distributed as dist

        t = torch.tensor([float(total)], device=device)
        dist.all_reduce(t)
        total = int(t.item())
    if total == 0:
        raise ValueError("every target in this step is -1 (ignored): nothing to learn from")
    loss_sum = torch.zeros((), device=device)
    for i, ((x, y), n) in enumerate(zip(micro_batches, counts)):
        if n == 0 and world == 1:
            continue
        sync = world == 1 or i == len(micro_batches) - 1
        with contextlib.nullcontext() if sync else model.no_sync():
            with autocast(device, amp_dtype):
                logits, loss = model(x, y)
            # a micro-batch with no targets still runs backward under DDP (every process must)
            scaled = loss * (n / total) if n else logits.sum() * 0.0
            (scaled * world).backward()
        loss_sum += scaled.detach().float()
    if world > 1:
        dist.all_reduce(loss_sum)
    return loss_sum


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
    dtype: str = "auto"  # autocast: "auto" (bf16 on CUDA), "float32", "bfloat16"
    compile: bool = False  # torch.compile the model
    peak_flops: float | None = None  # hardware peak FLOP/s, for MFU
    seed: int = 1337
    # checkpoints
    checkpoint_path: str | None = None  # where to write checkpoints; None: never
    checkpoint_interval: int = 0  # also every this many steps; 0: only at the end
    progress: bool = True  # tqdm bar and log lines

    def __post_init__(self):
        if self.max_steps < 1:
            raise ValueError("max_steps must be >= 1")
        if self.batch_size < 1 or self.grad_accum_steps < 1:
            raise ValueError("batch_size and grad_accum_steps must be >= 1")
        if self.data_order not in ("random", "sequential"):
            raise ValueError(f"data_order must be 'random' or 'sequential', got {self.data_order!r}")
        self.betas = tuple(self.betas)

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

    @property
    def final_val_loss(self) -> float | None:
        return self.val_losses[-1] if self.val_losses else None

    def history(self) -> dict:
        """The per-step histories, as plain lists (what a checkpoint stores)."""
        keys = ("steps", "losses", "lrs", "grad_norms", "val_steps", "val_losses", "val_bpb")
        return {k: list(getattr(self, k)) for k in keys}


# ----------------------------------------------------------------------------- checkpoints

CHECKPOINT_FORMAT = "course-checkpoint-v1"


def _dist() -> tuple[int, int]:
    """(rank, world_size) of this process; (0, 1) without torch.distributed."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _rng_state() -> dict:
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if hasattr(torch, "mps") and torch.backends.mps.is_available():
        state["mps"] = torch.mps.get_rng_state()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(tuple(x if not isinstance(x, list) else tuple(x) for x in state["python"]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "mps" in state and hasattr(torch, "mps") and torch.backends.mps.is_available():
        torch.mps.set_rng_state(state["mps"])


def _config_dict(config) -> dict:
    if hasattr(config, "to_dict"):
        return config.to_dict()
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    return dict(vars(config))


def save_checkpoint(
    path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    step: int,
    train_config: TrainConfig | None = None,
    loader=None,
    history: dict | None = None,
    tokenizer: dict | None = None,
    meta: dict | None = None,
    rng: list | None = None,
) -> Path:
    """Write everything a resume needs, atomically (temp file + rename).

    Contents are plain tensors, numbers, strings, lists and dicts only, so
    `torch.load(path, weights_only=True)` reads it: no pickled code runs.
    `step` is the number of optimizer steps done (the next step to run).
    `rng`: the RNG states of every process (default: this process's only).
    """
    state = {
        "format": CHECKPOINT_FORMAT,
        "step": int(step),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_class": type(model).__name__,
        "model_config": _config_dict(model.config) if hasattr(model, "config") else None,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "train_config": dataclasses.asdict(train_config) if train_config is not None else None,
        "loader": loader.state_dict() if loader is not None and hasattr(loader, "state_dict") else None,
        "rng": rng if rng is not None else [_rng_state()],  # one per process
        "history": history or {},
        "tokenizer": tokenizer,
        "meta": meta or {},
        "torch_version": str(torch.__version__),
    }
    path = Path(path)
    _atomic_torch_save(state, path)
    return path


def _atomic_torch_save(obj, path: Path) -> None:
    """torch.save through `atomic_write`: a crash leaves either the old checkpoint or the
    new one, never half of one (and streaming to the file keeps big checkpoints cheap)."""
    from course.utils import atomic_write

    atomic_write(path, lambda f: torch.save(obj, f))


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint with `weights_only=True`; a clear CheckpointError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001  (torch raises many kinds for damaged files)
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        why = next((ln for ln in lines if "WeightsUnpickler error" in ln), lines[0] if lines else "")
        raise CheckpointError(
            f"cannot read checkpoint {path}: it is damaged, truncated or not a course checkpoint "
            f"({type(e).__name__}: {why})"
        ) from e
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a course checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    return state


def check_compatible(state: dict, model: nn.Module, path="checkpoint") -> None:
    """Raise CheckpointError naming every config field where checkpoint and model differ."""
    saved = state.get("model_config")
    mine = _config_dict(model.config) if hasattr(model, "config") else None
    if state.get("model_class") != type(model).__name__:
        raise CheckpointError(
            f"{path} holds a {state.get('model_class')} but the model is a {type(model).__name__}"
        )
    if saved is not None and mine is not None:
        diff = {k: (saved.get(k), mine.get(k)) for k in set(saved) | set(mine) if saved.get(k) != mine.get(k)}
        # dropout and the attention kernel do not change the weights
        diff = {k: v for k, v in diff.items() if k not in ("dropout", "attn_impl")}
        if diff:
            desc = ", ".join(f"{k}: checkpoint {a!r} vs model {b!r}" for k, (a, b) in sorted(diff.items()))
            raise CheckpointError(f"{path} does not match the model ({desc})")
    own = model.state_dict()
    missing = sorted(set(own) - set(state["model"]))
    extra = sorted(set(state["model"]) - set(own))
    bad = [k for k in own if k in state["model"] and state["model"][k].shape != own[k].shape]
    if missing or extra or bad:
        raise CheckpointError(
            f"{path} does not match the model's parameters (missing {missing[:3]}, unexpected {extra[:3]}, "
            f"wrong shape {bad[:3]})"
        )


_RESUME_KEYS = ("batch_size", "block_size", "grad_accum_steps", "seed", "data_order")


def load_model(path, device=None):
    """(model, tokenizer or None, checkpoint state) from a checkpoint written by `train`."""
    from course.data import load_tokenizer
    from course.model import GPT, GPTConfig

    state = load_checkpoint(path)
    if state.get("model_class") != "GPT" or not state.get("model_config"):
        raise CheckpointError(f"{path} does not hold a course GPT model")
    model = GPT(GPTConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    model.to(device or get_device()).eval()
    tok = load_tokenizer(state["tokenizer"]) if state.get("tokenizer") else None
    return model, tok, state


# ----------------------------------------------------------------------------- the loop


def _as_train_loader(data, cfg: TrainConfig, block_size: int, device, rank: int, world: int):
    from course.data import TokenLoader

    if isinstance(data, TokenLoader):
        if data.B != cfg.batch_size or data.T != block_size:
            raise ValueError(
                f"the loader makes ({data.B}, {data.T}) batches but the config asks for "
                f"({cfg.batch_size}, {block_size})"
            )
        if (data.rank, data.world_size) != (rank, world):
            raise ValueError(
                f"the loader is rank {data.rank} of {data.world_size} but this process is rank {rank} of {world}"
            )
        data.device = device
        return data
    if hasattr(data, "next_batch"):  # any batch source: next_batch() -> (x, y); state_dict() optional
        return data
    return TokenLoader(
        data, cfg.batch_size, block_size, order=cfg.data_order, seed=cfg.seed, rank=rank, world_size=world, device=device
    )


def _as_val_batches(data, cfg: TrainConfig, block_size: int, device):
    from course.data import fixed_batches

    if data is None:
        return None
    if isinstance(data, list) and data and isinstance(data[0], tuple):
        return [(x.to(device), y.to(device)) for x, y in data]
    return fixed_batches(data, cfg.batch_size, block_size, cfg.eval_batches, device=device)


def _log(msg: str, show: bool) -> None:
    if show:
        from tqdm.auto import tqdm

        tqdm.write(msg)


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
    array or memmap, list) or a `course.data.TokenLoader` (shards on disk,
    several ranks, shuffled epochs); train_data may also be any object with
    `next_batch() -> (x, y)` (and `state_dict`/`load_state_dict` for exact
    resumes), e.g. padded SFT batches with -1 targets. Val is measured on the same fixed
    `cfg.eval_batches` batches every time. `tokenizer` (anything
    `course.data.as_tokenizer` takes) turns on bits per byte and samples and is
    recorded in checkpoints. `resume`: a checkpoint path to continue from; the
    run then continues exactly where that one stopped. `stop_at`: stop (and
    checkpoint) after this many steps although the schedule runs to
    `cfg.max_steps`, as an interrupted run would. `callback(info)` is called
    after every step with a dict (step, loss, lr, grad_norm, dt). `meta`: a
    small dict of plain values stored in checkpoints as they are (e.g. the data source).

    Under torch.distributed (torchrun), every process calls `train` with the
    same arguments: the model is wrapped in DistributedDataParallel, each
    process reads its own stride of the data, gradients are averaged over
    every process's tokens, and only rank 0 logs, samples and writes
    checkpoints (with every process's RNG state, so resumes stay exact).
    """
    from tqdm.auto import tqdm

    from course.data import as_tokenizer
    from course.evaluate import evaluate_loss

    cfg = cfg or TrainConfig()
    t_wall = time.perf_counter()
    rank, world = _dist()
    show = cfg.progress and rank == 0
    device = cfg.device or get_device()
    if world > 1 and device == "cuda":  # one GPU per process: torchrun's LOCAL_RANK
        import os

        local = int(os.environ.get("LOCAL_RANK", rank % torch.cuda.device_count()))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    block_size = cfg.block_size or model.config.block_size
    tok = as_tokenizer(tokenizer) if tokenizer is not None else None
    token_bytes = torch.as_tensor(tok.token_byte_lengths(), device=device) if tok is not None else None

    # read the checkpoint before touching anything, so a bad one changes nothing
    state = None
    if resume is not None:
        state = load_checkpoint(resume)
        check_compatible(state, model, resume)
        saved = state.get("train_config") or {}
        for key in _RESUME_KEYS:
            if key in saved and saved[key] != getattr(cfg, key):
                raise CheckpointError(
                    f"{resume} was written with {key}={saved[key]!r} but this run has {key}={getattr(cfg, key)!r}; "
                    "an exact resume needs the same value"
                )

        if len(state["rng"]) != world:
            raise CheckpointError(f"{resume} was written by {len(state['rng'])} process(es), this run has {world}")

    if state is None:
        torch.manual_seed(cfg.seed + rank)  # dropout masks; the model's init happened before
    model.to(device)
    model.train()
    loader = _as_train_loader(train_data, cfg, block_size, device, rank, world)
    val_batches = _as_val_batches(val_data, cfg, block_size, device)
    optimizer = make_optimizer(
        model, lr=cfg.max_lr, weight_decay=cfg.weight_decay, betas=cfg.betas, eps=cfg.eps, fused=cfg.fused
    )
    amp_dtype = autocast_dtype(device, cfg.dtype)
    result = TrainResult()
    start = 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if state.get("loader") is not None and hasattr(loader, "load_state_dict"):
            loader.load_state_dict(state["loader"])
        for k, v in (state.get("history") or {}).items():
            setattr(result, k, list(v))
        start = int(state["step"])
        _set_rng_state(state["rng"][rank])
        _log(f"resumed from {resume} at step {start}", show)
    eval_model = run_model = torch.compile(model) if cfg.compile else model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ids = [torch.device(device).index] if device_type(device) == "cuda" else None
        run_model = DistributedDataParallel(run_model, device_ids=ids)
    spec = tok.spec if tok is not None else None

    def checkpoint(step_done: int) -> None:
        rng = [_rng_state()]
        if world > 1:
            import torch.distributed as dist

            rng = [None] * world
            dist.all_gather_object(rng, _rng_state())
        if cfg.checkpoint_path and rank == 0:
            result.checkpoint = str(
                save_checkpoint(
                    cfg.checkpoint_path,
                    model=model,
                    optimizer=optimizer,
                    step=step_done,
                    train_config=cfg,
                    loader=loader,
                    history=result.history(),
                    tokenizer=spec,
                    meta=meta,
                    rng=rng,
                )
            )

    def evaluate(step_done: int) -> None:
        if not val_batches:
            return
        out = evaluate_loss(eval_model, val_batches, token_bytes=token_bytes, amp_dtype=amp_dtype)
        result.val_steps.append(step_done)
        result.val_losses.append(out["loss"])
        result.val_bpb.append(out["bpb"])
        bpb = f", val bpb {out['bpb']:.4f}" if out["bpb"] is not None else ""
        _log(f"step {step_done}: val loss {out['loss']:.4f}{bpb}", show)

    def sample(step_done: int) -> None:
        if tok is None or not hasattr(model, "generate") or rank != 0:
            return
        prompt = tok.encode_ordinary(cfg.sample_prompt) if cfg.sample_prompt else []
        if not prompt:
            prompt = [tok.eot_token if tok.eot_token is not None else 0]
        idx = torch.tensor([prompt[-block_size:]], dtype=torch.long, device=device)
        out = model.generate(
            idx, cfg.sample_tokens, temperature=cfg.sample_temperature, top_k=cfg.sample_top_k, seed=cfg.seed
        )
        text = tok.decode(out[0, len(prompt) :].tolist())
        result.samples.append((step_done, text))
        _log(f"--- sample at step {step_done} ---\n{text}\n---", show)
        model.train()

    if cfg.eval_at_start and start == 0:
        evaluate(0)
    fpt = flops_per_token(matmul_params(model), model.config.n_layer, model.config.n_embd, block_size)
    tokens_per_step = cfg.batch_size * block_size * cfg.grad_accum_steps * world
    timed_seconds, timed_steps, train_seconds = 0.0, 0, 0.0
    end = cfg.max_steps if stop_at is None else min(cfg.max_steps, stop_at)
    bar = tqdm(total=cfg.max_steps, initial=start, desc="training", disable=not show, dynamic_ncols=True)
    for step in range(start, end):
        t0 = time.perf_counter()
        lr = cfg.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        micro = [loader.next_batch() for _ in range(cfg.grad_accum_steps)]
        loss = accumulate_gradients(run_model, micro, amp_dtype=amp_dtype)
        # with no clipping, an infinite max_norm just measures the norm
        norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or float("inf")))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = float(loss)  # waits for the device: the step is done
        dt = time.perf_counter() - t0
        train_seconds += dt
        if step > start:  # the first step pays for warm-up (and compilation)
            timed_seconds += dt
            timed_steps += 1
        result.steps.append(step)
        result.losses.append(loss_value)
        result.lrs.append(lr)
        result.grad_norms.append(norm)
        if not math.isfinite(loss_value):
            bar.close()
            raise FloatingPointError(f"loss became {loss_value} at step {step} (lr {lr:.3g}): try a lower max_lr")
        done = step + 1
        bar.update(1)
        if show and (done % max(1, cfg.log_interval) == 0 or done == end):
            tps = tokens_per_step / dt
            bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}", tok_s=f"{tps:,.0f}", refresh=False)
        if callback is not None:
            callback({"step": step, "loss": loss_value, "lr": lr, "grad_norm": norm, "dt": dt})
        last = done == end
        if (cfg.eval_interval and done % cfg.eval_interval == 0) or last:
            evaluate(done)
        if cfg.sample_interval and (done % cfg.sample_interval == 0 or last):
            sample(done)
        if cfg.checkpoint_path and ((cfg.checkpoint_interval and done % cfg.checkpoint_interval == 0) or last):
            checkpoint(done)
    bar.close()

    if timed_steps == 0 and train_seconds > 0:  # a single step: nothing to leave out
        timed_seconds, timed_steps = train_seconds, max(1, end - start)
    if timed_steps:
        result.ms_per_step = 1000 * timed_seconds / timed_steps
        result.tokens_per_sec = tokens_per_step * timed_steps / timed_seconds
        if cfg.peak_flops:
            result.mfu = mfu(result.tokens_per_sec, fpt, cfg.peak_flops)
    result.train_seconds = train_seconds
    result.wall_seconds = time.perf_counter() - t_wall
    if timed_steps:
        extra = f", MFU {100 * result.mfu:.1f}%" if result.mfu is not None else ""
        _log(f"{result.tokens_per_sec:,.0f} tokens/s, {result.ms_per_step:.1f} ms/step{extra}", show)
    return result


# ----------------------------------------------------------------------------- plotting


def plot_losses(result: TrainResult, ax=None, *, smooth: int = 0, title: str | None = None, path=None):
    """Train loss per step (optionally a moving average over `smooth` steps) and val loss.

    Returns the matplotlib Axes; `path` also saves the figure (atomically).
    """
    import matplotlib.pyplot as plt

    fig = None
    if ax is None:
        fig, ax = plt.subplots()
    steps = np.asarray(result.steps) + 1
    losses = np.asarray(result.losses)
    ax.plot(steps, losses, lw=0.8, alpha=0.4 if smooth else 1.0, label="train")
    if smooth and len(losses) >= smooth:
        kernel = np.ones(smooth) / smooth
        ax.plot(steps[smooth - 1 :], np.convolve(losses, kernel, mode="valid"), lw=1.5, label=f"train (mean of {smooth})")
    if result.val_losses:
        ax.plot(result.val_steps, result.val_losses, "o-", lw=1.5, ms=3, label="val")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    if path is not None:
        figure = ax.figure
        buf = io.BytesIO()
        figure.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", bbox_inches="tight")
        atomic_write_bytes(path, buf.getvalue())
        if fig is not None:
            plt.close(fig)
    return ax
