"""Is my loss curve normal? Reference validation losses, and what usually explains a miss.

Used by lesson 03 (its CPU training run), `python -m course train --preset
shakespeare-cpu` (the trainer logs the comparison at every evaluation), the
speedrun's pretraining at `--scale cpu` (its log and report) and by learners
directly: `course.check_loss("lesson03-cpu", step=300, loss=2.41)`. The other
lessons that train check something else: lesson 04 times a few steps per rung
(a speed, not a curve; a non-finite loss fails the rung), lesson 05 asserts
that two ranks compute what one process does, lessons 06 and 07 assert the
task accuracies their toy runs must reach.

A loss value alone says little: 2.4 nats per character is fine after 300
steps of a small model and alarming after 5000 of a large one. So each
reference names the exact recipe (model and trainer fields), was measured by
running that recipe with the committed code over several seeds
(`tools/reference_curves.py`; the command and the machine are recorded with
the numbers), and gives, at a few steps, the median val loss and a band wide
enough to hold every seed with margin. A run of the same recipe should land
inside the band; when it does not, the message lists the usual causes, which
differ with the direction of the miss: too high (diverging or stuck) points at
the learning rate, the precision or the device; too low points at the data
(validation text seen in training) or at a different tokenizer, whose losses
are not comparable.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reference:
    """The val loss a recipe reaches: at `steps`, median `loss` +- `band` over seeds."""

    name: str
    about: str
    model: dict  # model config fields the recipe sets
    train: dict  # TrainConfig fields the recipe sets
    steps: tuple[int, ...]
    loss: tuple[float, ...]
    band: tuple[float, ...]
    seeds: tuple[int, ...]
    command: str  # how the numbers were measured
    machine: str  # where
    runs: dict = field(default_factory=dict)  # seed -> the val losses each run measured

    def expected(self, step: int) -> tuple[float, float] | None:
        """(low, high) of the band at `step`, or None when the reference has no value there."""
        if step not in self.steps:
            return None
        i = self.steps.index(step)
        return self.loss[i] - self.band[i], self.loss[i] + self.band[i]


# Measured with tools/reference_curves.py (see each entry's command and machine).
MEASURE = "PYTHONPATH=. OMP_NUM_THREADS=1 python tools/reference_curves.py {name} --seeds 1337 1 2"
MACHINE = "2-core x86-64 VM, no GPU, torch 2.14 (CPU), fp32"

LESSON03_CPU = dict(
    model=dict(n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0, bias=True),
    train=dict(max_steps=300, batch_size=12, grad_accum_steps=1, max_lr=3e-3, min_lr=3e-4, warmup_steps=30,
               eval_interval=100, eval_batches=10, weight_decay=0.1, betas=(0.9, 0.95)),
)
SHAKESPEARE_CPU = dict(  # course.presets.PRESETS["shakespeare-cpu"]
    model=dict(n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0),
    train=dict(batch_size=12, grad_accum_steps=1, max_steps=2000, max_lr=1e-3, min_lr=1e-4, warmup_steps=100,
               weight_decay=0.1, betas=(0.9, 0.99), eval_interval=250, eval_batches=20),
)
SPEEDRUN_CPU = dict(  # course.speedrun: SCALES["cpu"]'s pretraining, with pretrain_config's TrainConfig
    model=dict(n_layer=4, n_head=4, n_embd=128, block_size=96, dropout=0.0),
    train=dict(max_steps=1500, batch_size=32, grad_accum_steps=1, max_lr=3e-3, min_lr=3e-3 / 10, warmup_steps=75,
               weight_decay=0.1, betas=(0.9, 0.99), eval_interval=250, eval_batches=20),
)

REFERENCES: dict[str, Reference] = {
    "lesson03-cpu": Reference(
        "lesson03-cpu", "lesson 03's CPU run: GPT cpu-small (4x128), T=64, B=12, 300 steps, char-level tinyshakespeare",
        **LESSON03_CPU, steps=(100, 200, 300), loss=(2.545, 2.426, 2.352), band=(0.05, 0.05, 0.067),
        seeds=(1337, 1, 2), command=MEASURE.format(name="lesson03-cpu"), machine=MACHINE,
        runs={1337: (2.5600, 2.4093, 2.3298), 1: (2.5453, 2.4257, 2.3523), 2: (2.5421, 2.4317, 2.3530)},
    ),
    "shakespeare-cpu": Reference(
        "shakespeare-cpu", "`python -m course train --preset shakespeare-cpu`: its first 500 of 2000 steps",
        **SHAKESPEARE_CPU, steps=(250, 500), loss=(2.424, 2.278), band=(0.06, 0.09),
        seeds=(1337, 1, 2), machine=MACHINE,
        command=MEASURE.format(name="shakespeare-cpu") + " --stop-at 500 (one invocation per seed)",
        runs={1337: (2.4240, 2.2782), 1: (2.4439, 2.2825), 2: (2.4205, 2.2483)},
    ),
    "speedrun-cpu": Reference(
        "speedrun-cpu", "`python -m course speedrun` (--scale cpu, bundled text): pretraining's val loss in nats per "
        "BPE token, untrained and after the first 250 of 1500 steps",
        **SPEEDRUN_CPU, steps=(0, 250), loss=(6.282, 3.760), band=(0.05, 0.05),
        seeds=(0, 1, 2), machine=MACHINE,
        command=MEASURE.format(name="speedrun-cpu").replace("1337 1 2", "0 1 2") + " --stop-at 250",
        runs={0: (6.2800, 3.7602), 1: (6.2834, 3.7480), 2: (6.2819, 3.7707)},
    ),
}

TOO_HIGH = (
    "a learning rate too high for this model (the loss rises or jumps: lower max_lr) or too low "
    "(it falls slowly: compare max_lr with the recipe's)",
    "precision: fp16 without a grad scaler, or bf16 on a GPU without it (use --dtype auto, or "
    "--dtype float32 to rule it out)",
    "the device computing wrong numbers (MPS has done this): run `python -m course doctor`, whose "
    "self-check compares the device with the CPU, and set COURSE_DEVICE=cpu if it flags a mismatch",
    "a different recipe: more dropout, a smaller model or batch, fewer warmup steps",
    "a change to the model or the loss (masking, the causal mask, weight tying) that breaks learning",
)
TOO_LOW = (
    "validation text that the model also trained on (a split that overlaps), or evaluating on train batches",
    "a different tokenizer or vocabulary: losses per token are only comparable with the same tokenizer",
    "a bigger model, a bigger batch or more steps than the recipe (then a lower loss is expected)",
)


@dataclass(frozen=True)
class LossCheck:
    """What `check_loss` found: inside the band or not, and the sentence that says so."""

    ok: bool | None  # None: no reference value at that step
    message: str

    def __str__(self) -> str:
        return self.message


def reference(name: str) -> Reference:
    if name not in REFERENCES:
        raise ValueError(f"no reference curve {name!r}; known: {', '.join(sorted(REFERENCES))}")
    return REFERENCES[name]


def check_loss(name: str, step: int, loss: float) -> LossCheck:
    """Compare the val `loss` after `step` steps with reference `name`'s band.

    >>> course.check_loss("lesson03-cpu", step=300, loss=2.0)   # doctest: +SKIP
    """
    ref = reference(name)
    band = ref.expected(step)
    if band is None:
        steps = ", ".join(map(str, ref.steps))
        return LossCheck(None, f"{name}: no reference value at step {step} (it has steps {steps})")
    low, high = band
    where = f"val loss {loss:.3f} at step {step}"
    expected = f"expected {ref.loss[ref.steps.index(step)]:.3f} +- {(high - low) / 2:.3f} ({name})"
    if not loss == loss:  # nan
        return LossCheck(False, f"{where}: not a number; {expected}. Usually caused by: " + "; ".join(TOO_HIGH[:2]))
    if low <= loss <= high:
        return LossCheck(True, f"{where}: within the expected band, {expected}")
    causes = TOO_HIGH if loss > high else TOO_LOW
    side = "above" if loss > high else "below"
    lines = [f"{where}: outside the expected band ({side} it), {expected}. What usually causes it:"]
    lines += [f"  - {c}" for c in causes]
    return LossCheck(False, "\n".join(lines))


def recipe_differences(ref: Reference, model_config, train_config) -> list[str]:
    """The recipe fields where this run differs from the reference ([] when it is the same recipe)."""
    diffs = []
    for obj, fields in ((model_config, ref.model), (train_config, ref.train)):
        for key, want in fields.items():
            have = getattr(obj, key, None)
            if isinstance(want, tuple):
                have = tuple(have) if have is not None else None
            if have != want:
                diffs.append(f"{key}={have!r} (reference {want!r})")
    return diffs


def check_run(name: str, step: int, loss: float, model_config, train_config) -> LossCheck:
    """`check_loss`, but only for a run of the reference's own recipe: otherwise says why not."""
    ref = reference(name)
    diffs = recipe_differences(ref, model_config, train_config)
    if diffs:
        return LossCheck(None, f"{name}: not compared, this run's recipe differs: " + ", ".join(diffs[:3]))
    return check_loss(name, step, loss)
