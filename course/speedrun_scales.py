"""The sizes of a speedrun: `--scale tiny|cpu|gpu`.

`tiny` is for the tests (under a minute on one core), `cpu` the run the course
measures on a laptop (about 10 minutes on 2 cores; its report is committed in
docs/speedrun/), `gpu` a larger model, longer runs and the GPU options (bf16 or
fp16 autocast with `--dtype auto`, torch.compile) for one or more GPUs under
torchrun. The course has no GPU, so the gpu sizes are a starting point, not a
measured recipe. `pretrain_batch` and `sft_batch` are global batches: under
torchrun the processes share each step's micro-batches (`course.speedrun_machine`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scale:
    """The sizes of one speedrun. `tiny` is for tests; `cpu` is the real run on a laptop."""

    description: str
    text_chars: int | None  # characters of tinyshakespeare used (None: all of it)
    vocab_size: int  # the BPE's vocabulary, before the chat tokens
    model: dict = field(default_factory=dict)
    pretrain_steps: int = 1000
    pretrain_batch: int = 16
    pretrain_lr: float = 3e-3
    eval_interval: int = 250
    sft_schedule: int = 600  # the cosine schedule's length
    sft_chunk: int = 25  # check the addition accuracy every this many steps
    sft_target: float = 0.3  # stop SFT once greedy addition pass@1 reaches this
    sft_max_steps: int = 400  # stop anyway here
    sft_batch: int = 32
    sft_lr: float = 3e-3
    sft_conversations: int = 20_000  # addition demonstrations; the other tasks add a third as many
    rl_steps: int = 60
    rl_prompts: int = 16
    rl_group: int = 8
    rl_lr: float = 1e-4
    eval_problems: int = 200  # held-out problems per task
    cloze_items: int = 200
    dtype: str = "float32"  # the training stages' precision unless --dtype says otherwise
    compile: bool = False  # torch.compile the training steps unless --compile/--no-compile says otherwise


SCALES: dict[str, Scale] = {
    "tiny": Scale(
        "a test-sized run: 2 layers x 128, about 25 seconds on one core",
        text_chars=300_000, vocab_size=320, model=dict(n_layer=2, n_head=4, n_embd=128, block_size=64),
        pretrain_steps=120, pretrain_batch=16, eval_interval=60,
        sft_schedule=1000, sft_chunk=25, sft_target=0.3, sft_max_steps=300, sft_batch=32, sft_conversations=6000,
        rl_steps=12, rl_prompts=16, rl_group=8, rl_lr=1e-4, eval_problems=100, cloze_items=100,
    ),
    "cpu": Scale(
        "4 layers x 128 on all of tinyshakespeare, about 10 minutes on 2 CPU cores",
        text_chars=None, vocab_size=512, model=dict(n_layer=4, n_head=4, n_embd=128, block_size=96),
        pretrain_steps=1500, pretrain_batch=32, eval_interval=250,
        sft_schedule=800, sft_chunk=50, sft_target=0.3, sft_max_steps=800, sft_batch=32,
        rl_steps=60, rl_prompts=16, rl_group=8, rl_lr=1e-4,
    ),
    "gpu": Scale(
        "6 layers x 384 for GPUs: bf16 autocast (fp16 on GPUs older than Ampere), torch.compile, DDP under "
        "torchrun; not run by the course yet (it has no GPU)",
        text_chars=None, vocab_size=1024, model=dict(n_layer=6, n_head=6, n_embd=384, block_size=128),
        pretrain_steps=3000, pretrain_batch=64, pretrain_lr=1e-3, eval_interval=500,
        sft_schedule=1500, sft_chunk=100, sft_target=0.3, sft_max_steps=1500, sft_batch=64, sft_lr=1e-3,
        rl_steps=100, rl_prompts=32, rl_group=8, rl_lr=5e-5, dtype="auto", compile=True,
    ),
}
