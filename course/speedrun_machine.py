"""How a speedrun uses the machine: processes (torchrun + DDP), precision and torch.compile.

`course.speedrun` runs the stages; this module decides, once per run, how the
two training stages (pretraining and SFT) use the hardware, with the pieces the
lessons built: `course.distributed` (torchrun, rank-strided micro-batches),
`course.precision` (`--dtype auto`) and `course.compiling` (compile with an
eager fallback). `course.train.train` already does all three for one call;
what is left here is the run around it.

Precision and compile. `--dtype auto|float32|bfloat16|float16` (or
fp32/bf16/fp16) and `--compile/--no-compile` work at every scale. `--scale gpu`
defaults to auto + compile (bf16 on CUDA GPUs of compute capability >= 8.0, fp16
with a grad scaler on older ones), cpu and tiny to float32 without compile: on
a CPU bf16 autocast is usually slower for small models (`course.precision`),
and eager steps keep the committed cpu report reproducible by the committed
code. They apply to the training steps; evaluation,
generation and RL use the plain fp32 module (compile would recompile for every
new sequence length of the KV cache). Each training stage records the precision
it ran in and whether compile ran (or why it fell back to eager).

Processes. Under torchrun (WORLD_SIZE > 1) every process joins the group
(`course.distributed.setup`: NCCL on GPUs, one per process, gloo on CPU) and the
stages divide as follows:

- tokenizer: rank 0 trains and writes it while the others wait at a barrier
  (0.2 s for the cpu scale's, far inside the collectives' timeout,
  COURSE_DIST_TIMEOUT, 60 s by default); all then read rank 0's file, so every
  rank tokenizes with the same merges.
- pretrain and sft: every rank, DistributedDataParallel through `train`. The
  scale's batch is the global batch: `grad_accum_steps` micro-batches per step
  (default: one per process), each rank running its rank-strided share, the
  gradients averaged, so a step is the same whatever the number of processes
  given the same micro-batches (the tests compare 2 ranks with 1). Rank 0 alone
  writes checkpoints (with every rank's RNG state) and state.json. SFT's
  addition checks between chunks run on rank 0 and the result is broadcast, so
  that every rank stops at the same step.
- rl, eval, report: rank 0 alone. They are small next to pretraining (RL
  samples 32 x 8 short completions per step at the gpu scale), and keeping them
  in one process keeps RL's run the one lesson 07 measures, with no
  collectives in its steps. The other ranks are done after SFT and leave the
  group instead of waiting at a barrier, where minutes of RL would outlast the
  collectives' timeout.

Starting and resuming: rank 0 alone reads and checks state.json (or makes it,
fetching `--data` first), and broadcasts it (or the error) to the others, so
every rank skips the same finished stages, and the same error stops them all.
The others wait for it within the collectives' timeout: on a slow network,
raise COURSE_DIST_TIMEOUT for `--data fineweb-edu` (or fetch it on one process
first: the run's copy of the text is kept in `--out`). A stage interrupted
after a checkpoint continues from it on the same number of processes (the
checkpoint holds each one's RNG state); finished stages do not care how many
processes made them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from course.distributed import DistInfo

ALL_RANKS = ("pretrain", "sft")  # the stages every process runs (DDP); the others run on rank 0


class SpeedrunError(ValueError):
    """A speedrun cannot start or continue as asked."""


def join(device: str | None) -> DistInfo:
    """This process's place in the run: joins torchrun's group when WORLD_SIZE > 1; alone, nothing.

    Alone, torch keeps its thread count (`setup` would set one thread for a CPU
    worker that shares its cores with other ranks)."""
    from course.distributed import setup
    from course.utils import get_device

    if os.environ.get("WORLD_SIZE", "1").strip() not in ("", "1"):  # setup() reads (and checks) it
        return setup(device)
    return DistInfo(device=device or get_device())


def leave(info: DistInfo) -> None:
    if info.world_size > 1:
        from course.distributed import cleanup

        cleanup()


def barrier(info: DistInfo) -> None:
    if info.world_size > 1:
        import torch.distributed as dist

        dist.barrier()


def on_main(info: DistInfo, fn):
    """fn() run on rank 0; its result, or its error, on every rank (each raises it)."""
    if info.world_size == 1:
        return fn()
    import torch.distributed as dist

    box, error = [None], None
    if info.is_main:
        try:
            box[0] = ("ok", fn())
        except Exception as e:  # noqa: BLE001 - passed on to every rank, then raised here as it was
            error = e
            box[0] = ("error", str(e))
    dist.broadcast_object_list(box, src=0)
    if error is not None:
        raise error
    kind, value = box[0]
    if kind == "error":
        raise SpeedrunError(f"rank 0 stopped the run: {value}")
    return value


def ddp_follows(name: str, stages, done) -> bool:
    """Whether a stage every process runs comes after `name` and is still to run: then the others wait
    at a barrier while rank 0 runs `name` (its files are that stage's input); otherwise they are done."""
    stages = list(stages)
    return any(s in ALL_RANKS and s not in done for s in stages[stages.index(name) + 1:])


@dataclass(frozen=True)
class Machine:
    """The run's process, precision, compile and batch split, as every stage sees them."""

    info: DistInfo
    dtype: str  # as asked: auto, float32, bfloat16, float16 (or fp32, bf16, fp16)
    compile: bool
    grad_accum_steps: int  # micro-batches per optimizer step, a multiple of world_size

    @property
    def device(self) -> str:
        return self.info.device

    @property
    def precision(self) -> str:
        """What `dtype` means on this device: float32, bfloat16 or float16 (with a grad scaler)."""
        from course.precision import autocast_dtype, dtype_name

        return dtype_name(autocast_dtype(self.device, self.dtype))

    def train_kwargs(self, global_batch: int) -> dict:
        """TrainConfig fields: the global batch of `global_batch` sequences split into micro-batches."""
        return dict(batch_size=global_batch // self.grad_accum_steps, grad_accum_steps=self.grad_accum_steps,
                    device=self.device, dtype=self.dtype, compile=self.compile)

    def record(self, compile_status: str) -> dict:
        """What a training stage reports about how it ran."""
        return {"precision": self.precision, "dtype": self.dtype, "compile": compile_status,
                "world_size": self.info.world_size, "grad_accum_steps": self.grad_accum_steps}


def choose(scale, info: DistInfo, state: dict | None, *, dtype=None, compile=None, grad_accum_steps=None) -> dict:
    """The run's options, checked: what was asked, else what the run being resumed used, else the
    scale's defaults. Returns the fields state.json keeps (dtype, compile, grad_accum_steps, world_size)."""
    from course.precision import autocast_dtype

    state = state or {}
    world = info.world_size
    dtype = dtype or state.get("dtype") or scale.dtype
    compile = bool(state.get("compile", scale.compile) if compile is None else compile)
    try:
        autocast_dtype(info.device, dtype)
    except ValueError as e:
        raise SpeedrunError(f"--dtype {dtype}: {e}") from None
    if grad_accum_steps is None:
        saved = state.get("grad_accum_steps")
        grad_accum_steps = saved if saved and saved % world == 0 else world
    if grad_accum_steps < 1 or grad_accum_steps % world:
        raise SpeedrunError(f"--grad-accum-steps {grad_accum_steps} cannot be shared by {world} processes: "
                            f"use a multiple of {world}")
    for what, batch in (("pretrain_batch", scale.pretrain_batch), ("sft_batch", scale.sft_batch)):
        if batch % grad_accum_steps:
            raise SpeedrunError(f"the scale's {what} of {batch} sequences cannot be split into {grad_accum_steps} "
                                "equal micro-batches: choose --grad-accum-steps (and the number of processes) "
                                f"dividing {batch}")
    return {"dtype": dtype, "compile": compile, "grad_accum_steps": grad_accum_steps, "world_size": world}


def check_resumable(out: Path, state: dict, world: int, stages) -> None:
    """A DDP stage interrupted after a checkpoint continues only on as many processes as made it."""
    before = state.get("world_size", 1)
    if before == world:
        return
    todo = next((s for s in stages if s not in state["stages"]), None)
    if todo in ALL_RANKS and (out / todo / "ckpt.pt").is_file():
        raise SpeedrunError(f"{out} was interrupted in {todo} on {before} process(es), and its checkpoint holds "
                            f"each one's state: resume it on {before} (torchrun --nproc-per-node {before}), "
                            f"not {world}")


def machine(info: DistInfo, state: dict) -> Machine:
    return Machine(info, state["dtype"], state["compile"], state["grad_accum_steps"])
