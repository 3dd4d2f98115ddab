"""The rungs of the speedup ladder: what each one changes, and the machines it is sized for.

Lesson 04 climbs GPT-2 training from plain fp32 to the fastest configuration
one change at a time. This module is the ladder as data, with no torch in it:
`RungSettings` is everything a rung can switch, a `Rung` names one field of it
and the value it sets (and why that helps), and every rung is the previous
rung's settings with exactly that one field replaced, so the difference
between two rows of the table is the effect of one idea:

    1 fp32          plain float32, hand-written attention (the T x T scores go through memory)
    2 tf32          fp32 matmuls on the tensor cores in TF32
    3 bf16          autocast: matmuls in bfloat16
    4 compile       torch.compile: fused kernels, no Python per op
    5 flash         scaled_dot_product_attention: FlashAttention, scores stay on chip
    6 vocab         vocab 50257 -> 50304, a multiple of 128
    7 fused-adamw   AdamW's update in one fused kernel

and then *beyond* rungs (gradient accumulation to a real batch, a bigger
micro-batch, cuDNN attention, max-autotune), which start from the fastest
configuration kept so far (see `course.ladder.run_ladder`).

A `Profile` sizes the ladder for a machine: GPT-2 124M at B=16, T=1024 on a
GPU; on a CPU a small GPT on tinyshakespeare's 65 characters at T=256, so that
the blocks and attention (what most rungs speed up) do most of the work rather
than a 50257-row lm_head; smaller still for the tests. The vocab rung pads
whatever vocabulary the profile has to the next multiple of 64 (GPT-2's
50257 -> 50304 is nanoGPT's version of the same idea).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

KEEP_MARGIN = 0.02  # a beyond rung is kept only if it is at least 2% faster than the best so far
GPT2_VOCAB = 50257
PADDED_VOCAB = 50304  # 50304 = 128 * 393: the "nice number" of rung 6

# ----------------------------------------------------------------------------- the configuration


@dataclass(frozen=True)
class RungSettings:
    """Everything a rung can change. Rung k+1 = rung k with one field replaced."""

    matmul_precision: str = "highest"  # "high": fp32 matmuls may use TF32 tensor cores
    autocast_dtype: str | None = None  # "bfloat16": autocast matmuls to bf16
    compile: bool = False  # torch.compile the model
    compile_mode: str = "default"  # or "max-autotune-no-cudagraphs", ...
    attn_impl: str = "manual"  # "manual" (masked softmax) or "sdpa" (fused attention)
    sdpa_backend: str = "auto"  # "auto" (PyTorch picks) or "cudnn"
    vocab_size: int = GPT2_VOCAB
    fused_adamw: bool = False
    micro_batch: int = 16  # sequences per forward/backward
    total_batch: int | None = None  # tokens per optimizer step; None: one micro-batch

    def __post_init__(self):
        if self.matmul_precision not in ("highest", "high", "medium"):
            raise ValueError(f"matmul_precision must be 'highest', 'high' or 'medium', got {self.matmul_precision!r}")
        if self.autocast_dtype not in (None, "bfloat16"):
            raise ValueError(f"autocast_dtype must be None or 'bfloat16', got {self.autocast_dtype!r}")
        if self.attn_impl not in ("manual", "sdpa"):
            raise ValueError(f"attn_impl must be 'manual' or 'sdpa', got {self.attn_impl!r}")
        if self.sdpa_backend not in ("auto", "cudnn", "flash", "efficient", "math"):
            raise ValueError(f"unknown sdpa_backend {self.sdpa_backend!r}")
        if self.vocab_size < 1:
            raise ValueError(f"vocab_size must be positive, got {self.vocab_size}")
        if self.micro_batch < 1:
            raise ValueError(f"micro_batch must be >= 1, got {self.micro_batch}")

    def grad_accum(self, seq_len: int) -> int:
        """Micro-batches per optimizer step."""
        micro = self.micro_batch * seq_len
        if self.total_batch is None:
            return 1
        if self.total_batch % micro != 0:
            raise ValueError(
                f"total_batch ({self.total_batch} tokens) must be a multiple of "
                f"micro_batch * seq_len = {self.micro_batch} * {seq_len} = {micro}"
            )
        return self.total_batch // micro

    def tokens_per_step(self, seq_len: int) -> int:
        return self.micro_batch * seq_len * self.grad_accum(seq_len)


def changed_fields(a: RungSettings, b: RungSettings) -> dict:
    """{field: (old, new)} for every field where `a` and `b` differ."""
    return {f.name: (getattr(a, f.name), getattr(b, f.name)) for f in fields(a) if getattr(a, f.name) != getattr(b, f.name)}


# ----------------------------------------------------------------------------- the rungs


@dataclass(frozen=True)
class Rung:
    """One step of the ladder: a name, the one setting it changes, and why that helps."""

    name: str
    title: str
    field: str
    value: object
    why: str
    beyond: bool = False

    def apply(self, settings: RungSettings) -> RungSettings:
        return replace(settings, **{self.field: self.value})


CORE_RUNGS: tuple[Rung, ...] = (
    Rung("fp32", "fp32 baseline", "matmul_precision", "highest",
         "Every matmul in full float32, attention written out by hand: the (B, heads, T, T) "
         "score matrix is written to and read back from memory several times."),
    Rung("tf32", "TF32 matmuls", "matmul_precision", "high",
         "fp32 matmuls run on the tensor cores in TF32 (fp32 range, 10-bit mantissa inputs, "
         "fp32 accumulation): on an H100 about 7x the plain fp32 rate. Tensors stay fp32 in memory, "
         "so memory-bound ops are unchanged. CPUs have no TF32: there it changes nothing."),
    Rung("bf16", "bf16 autocast", "autocast_dtype", "bfloat16",
         "Matmuls take bf16 inputs: twice TF32's tensor-core rate and half the bytes per activation; "
         "softmax, norms and the loss stay fp32, weights and optimizer state stay fp32."),
    Rung("compile", "torch.compile", "compile", True,
         "The model becomes one graph and Inductor writes fused kernels (Triton on GPUs, C++ on CPUs): "
         "chains of elementwise ops read and write memory once instead of once per op, and "
         "Python's per-op overhead disappears. The first step pays for compiling."),
    Rung("flash", "flash attention (SDPA)", "attn_impl", "sdpa",
         "scaled_dot_product_attention runs FlashAttention: scores are computed tile by tile in "
         "on-chip SRAM with an online softmax and never written to memory; the backward recomputes "
         "them. More FLOPs, far fewer bytes."),
    Rung("vocab", "vocab 50257 -> 50304", "vocab_size", PADDED_VOCAB,
         "50257 is odd; 50304 = 128 x 393 splits evenly into the 64/128-wide tiles that matmul "
         "kernels use, so the lm_head and embedding-gradient kernels have no ragged edge tiles. "
         "The 47 extra rows are never targets: the model learns to give them no probability."),
    Rung("fused-adamw", "fused AdamW", "fused_adamw", True,
         "The default AdamW (on a GPU the 'foreach' version: a few multi-tensor kernels per "
         "operation; on a CPU a Python loop over the tensors, several ops each) makes several passes "
         "over parameters, gradients and both moment buffers; the fused one updates all of them in "
         "one kernel, one pass."),
)
CORE_NAMES = tuple(r.name for r in CORE_RUNGS)


def core_rungs(profile: Profile) -> tuple[Rung, ...]:
    """Rungs 1-7 for `profile`: the vocab rung pads the profile's own vocabulary."""
    if (profile.vocab_size, profile.padded_vocab) == (GPT2_VOCAB, PADDED_VOCAB):
        return CORE_RUNGS
    vocab = Rung("vocab", f"vocab {profile.vocab_size} -> {profile.padded_vocab}", "vocab_size",
                 profile.padded_vocab,
                 f"{profile.vocab_size} rows padded to {profile.padded_vocab}, a multiple of 64, as nanoGPT "
                 "pads GPT-2's 50257 to 50304: matmul kernels work in tiles (a GPU's 64/128-wide "
                 "tensor-core tiles, a CPU's 16-float vectors), and a ragged edge wastes part of one. "
                 "The extra rows are never targets: the model learns to give them no probability.")
    return tuple(vocab if r.name == "vocab" else r for r in CORE_RUNGS)


def beyond_rungs(profile: Profile) -> tuple[Rung, ...]:
    """The rungs past build-nanogpt, sized for `profile`."""
    accum_tokens = profile.accum_total
    return (
        Rung("grad-accum", f"accumulate to {_tokens(accum_tokens)} tokens/step", "total_batch", accum_tokens,
             "A real run updates the weights once per large batch (GPT-3 small: 2^19 tokens), adding "
             "up gradients over micro-batches. AdamW and zero_grad then run once per step instead of "
             "once per micro-batch, so their cost is shared by many more tokens.", beyond=True),
        Rung("micro-batch", f"micro-batch {profile.big_micro_batch}", "micro_batch", profile.big_micro_batch,
             "More sequences per forward/backward at the same tokens per step: every matmul gets "
             "more rows, so the hardware gets bigger tiles of work and fixed per-kernel costs are "
             "spread over more tokens. Costs activation memory.", beyond=True),
        Rung("cudnn-attention", "cuDNN attention", "sdpa_backend", "cudnn",
             "cuDNN's fused attention, written for Hopper's tensor-core instructions, instead of the "
             "FlashAttention-2 kernel PyTorch picks by default.", beyond=True),
        Rung("max-autotune", "compile max-autotune", "compile_mode", "max-autotune-no-cudagraphs",
             "Inductor times several Triton and cuBLAS variants of every matmul and keeps the fastest: "
             "minutes of compiling for a few percent.", beyond=True),
    )


def _tokens(n: int) -> str:
    return f"2^{n.bit_length() - 1}" if n > 0 and n & (n - 1) == 0 else f"{n:,}"


# ----------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class Profile:
    """Model size, batch shape and step counts for one kind of machine."""

    name: str
    preset: str  # a course.model GPT preset
    model_overrides: dict
    micro_batch: int  # sequences per micro-batch on rungs 1-7
    seq_len: int
    steps: int  # timed optimizer steps (fewer when one step accumulates many micro-batches)
    warmup: int  # untimed steps before them; the first one is reported as first_step_s
    accum_total: int  # tokens per step for the grad-accum rung
    big_micro_batch: int  # micro-batch of the micro-batch rung
    compile_backend: str = "inductor"  # "eager": Dynamo traces, nothing is generated (tests)
    tokens: str = "gpt2"  # the data: "gpt2" (tiktoken's GPT-2 ids) or "char" (tinyshakespeare's characters)

    def __post_init__(self):
        if self.tokens not in VOCABS:
            raise ValueError(f"tokens must be one of {sorted(VOCABS)}, got {self.tokens!r}")

    @property
    def vocab_size(self) -> int:
        return VOCABS[self.tokens]

    @property
    def padded_vocab(self) -> int:
        """The vocab rung's size: the next multiple of 64 (GPT-2: 50304, nanoGPT's number)."""
        return PADDED_VOCAB if self.tokens == "gpt2" else -(-self.vocab_size // 64) * 64

    def base_settings(self) -> RungSettings:
        return RungSettings(micro_batch=self.micro_batch, vocab_size=self.vocab_size)

    def label(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in self.model_overrides.items())
        return f"{self.preset}{extra}, {self.tokens} tokens (vocab {self.vocab_size}), B={self.micro_batch}, T={self.seq_len}"


CHAR_VOCAB = 65  # tinyshakespeare's distinct characters (course.tokenizer.char.CharTokenizer)
VOCABS = {"gpt2": GPT2_VOCAB, "char": CHAR_VOCAB}


PROFILES: dict[str, Profile] = {
    # GPT-2 124M as in build-nanogpt; grad-accum reaches GPT-3 small's 2^19-token batch.
    "gpt2": Profile("gpt2", "gpt2", {}, micro_batch=16, seq_len=1024, steps=10, warmup=2,
                    accum_total=2**19, big_micro_batch=64),
    # A small GPT on tinyshakespeare's 65 characters at T=256: the blocks and attention do most of the work
    # (with GPT-2's 50257-token vocabulary a model this small would spend ~97% of its FLOPs in the lm_head).
    "cpu": Profile("cpu", "cpu-tiny", {}, micro_batch=8, seq_len=256, steps=12, warmup=2,
                   accum_total=2 * 8 * 256, big_micro_batch=16, tokens="char"),
    # The notebook's live run: the same with one layer, so torch.compile's C++ code generation stays short.
    "cpu-quick": Profile("cpu-quick", "cpu-tiny", {"n_layer": 1}, micro_batch=4, seq_len=256, steps=12, warmup=1,
                         accum_total=2 * 4 * 256, big_micro_batch=8, tokens="char"),
    # Smaller still, compiled with the "eager" backend (Dynamo traces, no code generation): the tests.
    "test": Profile("test", "cpu-tiny", {"n_layer": 1, "n_embd": 32, "n_head": 2}, micro_batch=2, seq_len=16,
                    steps=1, warmup=1, accum_total=2 * 2 * 16, big_micro_batch=4, compile_backend="eager"),
}


def ladder_rungs(profile: Profile) -> tuple[Rung, ...]:
    return core_rungs(profile) + beyond_rungs(profile)


def core_settings(profile: Profile) -> list[RungSettings]:
    """The settings of rungs 1-7: each one the previous with its rung's field changed."""
    out, s = [], profile.base_settings()
    for rung in core_rungs(profile):
        s = rung.apply(s)
        out.append(s)
    return out

