"""The trainer: schedule, optimizer groups, gradient accumulation, exact resume, checkpoints."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from course.arch import load_model
from course.checkpoint import CheckpointError, load_checkpoint
from course.data import CharTokenizer, TokenLoader
from course.flops import flops_per_token, matmul_params, mfu
from course.model import GPT, GPTConfig
from course.optim import lr_at, make_optimizer, param_groups
from course.plots import plot_losses
from course.train import TrainConfig, accumulate_gradients, train

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 40


def tiny_model(seed=0, dropout=0.0, vocab=40, **kw):
    torch.manual_seed(seed)
    cfg = dict(block_size=16, vocab_size=vocab, n_layer=2, n_head=2, n_embd=32, dropout=dropout)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg))


def char_ids():
    tok = CharTokenizer.from_text(TEXT)
    return tok, np.asarray(tok.encode(TEXT), dtype=np.uint16)


# ----------------------------------------------------------------------------- LR schedule


def reference_schedule(n_steps, max_lr, min_lr, warmup, decay_end):
    """The same schedule built from torch's own schedulers, stepped one step at a time."""
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=max_lr)
    warm = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / warmup if s < warmup else 1.0)
    lrs = []
    for _ in range(warmup):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()  # no gradient: a no-op, but the schedulers expect it before their step
        warm.step()
    for g in opt.param_groups:
        g["lr"] = max_lr
        g["initial_lr"] = max_lr
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=decay_end - warmup, eta_min=min_lr)
    for s in range(warmup, n_steps):
        lrs.append(opt.param_groups[0]["lr"] if s < decay_end else min_lr)
        if s < decay_end:
            opt.step()
            cos.step()
    return lrs


def test_lr_schedule_matches_torch_schedulers():
    got = [lr_at(s, max_lr=6e-4, min_lr=6e-5, warmup_steps=10, max_steps=100) for s in range(120)]
    want = reference_schedule(120, 6e-4, 6e-5, 10, 100)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-15)


def test_lr_schedule_anchor_points():
    kw = dict(max_lr=1e-3, min_lr=1e-4, warmup_steps=100, max_steps=2000)
    assert lr_at(0, **kw) == pytest.approx(1e-5)  # first warmup step already moves
    assert lr_at(99, **kw) == pytest.approx(1e-3)  # end of warmup: the peak
    assert lr_at(100, **kw) == pytest.approx(1e-3)
    assert lr_at(1050, **kw) == pytest.approx(5.5e-4)  # halfway through the cosine: the mean
    assert lr_at(2000, **kw) == pytest.approx(1e-4)
    assert lr_at(5000, **kw) == pytest.approx(1e-4)
    decay = [lr_at(s, **kw) for s in range(100, 2001)]
    assert all(a >= b for a, b in zip(decay, decay[1:])), "cosine decay must never increase"


# ----------------------------------------------------------------------------- optimizer


def test_weight_decay_groups():
    model = tiny_model()
    decay_ids = {id(p) for p in param_groups(model, 0.1)[0]["params"]}
    no_decay_ids = {id(p) for p in param_groups(model, 0.1)[1]["params"]}
    want_decay, want_no = set(), set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            is_matrix = isinstance(module, (nn.Linear, nn.Embedding)) and name == "weight"
            (want_decay if is_matrix else want_no).add(id(p))
    assert decay_ids == want_decay
    assert no_decay_ids == want_no
    assert len(decay_ids) + len(no_decay_ids) == len(list(model.parameters()))  # tied weight once
    opt = make_optimizer(model, lr=1e-3, weight_decay=0.1)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]
    assert opt.defaults["betas"] == (0.9, 0.95)


def test_fused_and_unfused_optimizers_agree():
    results = []
    for fused in (False, True):
        model = tiny_model(seed=3).double()
        opt = make_optimizer(model, lr=1e-2, weight_decay=0.1, fused=fused)
        x = torch.randint(0, 40, (4, 16))
        for _ in range(3):
            _, loss = model(x, x)
            loss.backward()
            opt.step()
            opt.zero_grad()
        results.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    torch.testing.assert_close(results[0], results[1], rtol=1e-9, atol=1e-12)


def test_weight_decay_leaves_1d_params_alone():
    model = tiny_model()
    opt = make_optimizer(model, lr=0.1, weight_decay=0.5)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # no gradient: only decay can move a parameter
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt.step()
    for n, p in model.named_parameters():
        if p.dim() >= 2:
            torch.testing.assert_close(p, before[n] * (1 - 0.1 * 0.5))
        else:
            torch.testing.assert_close(p, before[n])


# ----------------------------------------------------------------------------- gradient accumulation


def grads(model):
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def test_grad_accumulation_equals_large_batch():
    model = tiny_model(seed=1).double()
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 40, (8, 16), generator=g)
    y = torch.randint(0, 40, (8, 16), generator=g)
    _, loss = model(x, y)
    loss.backward()
    big = grads(model).clone()
    model.zero_grad()
    acc_loss = accumulate_gradients(model, [(x[i : i + 2], y[i : i + 2]) for i in range(0, 8, 2)])
    torch.testing.assert_close(grads(model), big, rtol=1e-10, atol=1e-12)
    assert float(acc_loss) == pytest.approx(float(loss.detach()), rel=1e-6)  # the model takes CE in fp32


def test_grad_accumulation_with_padding_weights_by_tokens():
    """Micro-batches with different numbers of real targets: mean over tokens, not over batches."""
    model = tiny_model(seed=2).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 40, (4, 16), generator=g)
    y = torch.randint(0, 40, (4, 16), generator=g)
    y[0, 3:] = -1  # row 0: 3 targets; row 1: 16; rows 2-3: 10 and 16
    y[2, 10:] = -1
    _, loss = model(x, y)
    loss.backward()
    big = grads(model).clone()
    model.zero_grad()
    acc_loss = accumulate_gradients(model, [(x[:1], y[:1]), (x[1:2], y[1:2]), (x[2:], y[2:])])
    torch.testing.assert_close(grads(model), big, rtol=1e-10, atol=1e-12)
    assert float(acc_loss) == pytest.approx(float(loss.detach()), rel=1e-6)  # the model takes CE in fp32
    # the naive 1/k scaling gives a different (wrong) gradient here
    model.zero_grad()
    for xb, yb in [(x[:1], y[:1]), (x[1:2], y[1:2]), (x[2:], y[2:])]:
        (model(xb, yb)[1] / 3).backward()
    assert not torch.allclose(grads(model), big)


def test_grad_accumulation_skips_a_micro_batch_without_targets():
    """A fully padded micro-batch adds nothing; a step with no targets at all has no mean (nan)."""
    model = tiny_model(seed=4).double()
    g = torch.Generator().manual_seed(2)
    x = torch.randint(0, 40, (3, 16), generator=g)
    y = torch.randint(0, 40, (3, 16), generator=g)
    y[1] = -1
    _, loss = model(x, y)
    loss.backward()
    big = grads(model).clone()
    model.zero_grad()
    acc_loss = accumulate_gradients(model, [(x[i : i + 1], y[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(grads(model), big, rtol=1e-10, atol=1e-12)
    assert float(acc_loss) == pytest.approx(float(loss.detach()), rel=1e-6)
    model.zero_grad()
    nothing = accumulate_gradients(model, [(x[1:2], y[1:2])])
    assert math.isnan(float(nothing))
    assert not grads(model).any()


# ----------------------------------------------------------------------------- FLOPs


@pytest.mark.parametrize("arch", ["gpt", "llama"])
def test_flops_per_token_matches_torch_flop_counter(arch):
    """torch's FlopCounterMode counts the FLOPs of every matmul that runs: the oracle.

    One forward and backward of B x T tokens must cost flops_per_token * B * T,
    with N the matmul weights. ("manual" attention runs q @ k^T and att @ v as
    plain matmuls, which the counter sees; it does not count norms, softmax or
    the loss, and neither does the formula.)
    """
    from torch.utils.flop_counter import FlopCounterMode

    from course.llama import Llama, LlamaConfig

    torch.manual_seed(0)
    dims = dict(block_size=16, vocab_size=50, n_layer=2, n_embd=32, attn_impl="manual")
    if arch == "gpt":
        model = GPT(GPTConfig(n_head=2, bias=False, **dims))
    else:
        model = Llama(LlamaConfig(n_head=4, n_kv_head=2, **dims))
    B, T = 3, 16
    x = torch.randint(0, 50, (B, T))
    with FlopCounterMode(display=False) as counter:
        _, loss = model(x, x)
        loss.backward()
    weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    c = model.config
    assert counter.get_total_flops() == flops_per_token(weights, c.n_layer, c.n_embd, T) * B * T
    # matmul_params: every parameter but the lookup-only embeddings (GPT's wpe, Llama's untied
    # wte), so beyond the matmul weights only the 1-D norm gains (and biases) remain
    gains = sum(p.numel() for p in model.parameters() if p.dim() == 1)
    assert matmul_params(model) == weights + gains


def test_mfu():
    # 1e5 tokens/s x 1e6 FLOPs/token = 1e11 FLOP/s, a tenth of a 1e12 FLOP/s peak
    assert mfu(1e5, 1e6, 1e12) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        mfu(1.0, 1.0, 0.0)


# ----------------------------------------------------------------------------- the loop, resume


def small_cfg(tmp_path=None, **kw):
    base = dict(
        max_steps=8, batch_size=4, block_size=16, grad_accum_steps=2, warmup_steps=2, max_lr=3e-3,
        eval_interval=4, eval_batches=2, progress=False, device="cpu", seed=7,
    )
    if tmp_path is not None:
        base["checkpoint_path"] = str(tmp_path / "ckpt.pt")
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("order", ["random", "sequential"])
def test_exact_resume(tmp_path, order):
    tok, ids = char_ids()
    train_ids, val_ids = ids[:2500], ids[2500:]

    def make_loader():
        if order == "random":
            return train_ids
        # sequential epochs with shuffled documents (each line a document, '\n' as separator),
        # short enough that the run crosses an epoch boundary before and after the resume
        return TokenLoader(train_ids[:400], 4, 16, shuffle=True, seed=5, eot=tok.stoi["\n"])

    cfg = small_cfg(tmp_path, data_order=order)
    straight = train(tiny_model(seed=0, dropout=0.1, vocab=tok.vocab_size), make_loader(), val_ids, cfg, tokenizer=tok)
    assert len(straight.losses) == 8

    cfg_b = small_cfg(tmp_path / "b", data_order=order)
    first = train(tiny_model(seed=0, dropout=0.1, vocab=tok.vocab_size), make_loader(), val_ids, cfg_b, tokenizer=tok, stop_at=3)
    assert len(first.losses) == 3
    # a freshly initialised model with other weights: everything must come from the checkpoint
    resumed = train(
        tiny_model(seed=99, dropout=0.1, vocab=tok.vocab_size), make_loader(), val_ids, cfg_b,
        tokenizer=tok, resume=cfg_b.checkpoint_path,
    )
    assert resumed.losses == straight.losses, "k steps + resume must give the losses of the straight run exactly"
    assert resumed.val_losses[-1] == straight.val_losses[-1]
    assert resumed.steps == list(range(8))


def test_train_leaves_the_callers_loader_alone():
    tok, ids = char_ids()
    loader = TokenLoader(ids[:2500], 4, 16, device="meta-device-never-used")
    before = loader.state_dict()
    train(tiny_model(vocab=tok.vocab_size), loader, None, small_cfg(max_steps=3, data_order="sequential"))
    assert loader.state_dict() == before and loader.device == "meta-device-never-used"


def test_checkpoint_is_weights_only_and_complete(tmp_path):
    tok, ids = char_ids()
    cfg = small_cfg(tmp_path, max_steps=2)
    train(tiny_model(vocab=tok.vocab_size), ids, ids[-500:], cfg, tokenizer=tok)
    state = torch.load(cfg.checkpoint_path, weights_only=True)  # plain data only
    assert state["step"] == 2
    for key in ("model", "optimizer", "rng", "loader", "train_config", "model_config", "tokenizer", "history"):
        assert state[key] is not None, key
    model, tok2, _ = load_model(cfg.checkpoint_path, device="cpu")
    assert tok2.decode(tok2.encode("Speak, speak.")) == "Speak, speak."
    assert model.config.n_embd == 32


def test_corrupt_checkpoint_is_a_clear_error_and_untouched(tmp_path):
    tok, ids = char_ids()
    cfg = small_cfg(tmp_path, max_steps=2)
    train(tiny_model(vocab=tok.vocab_size), ids, None, cfg, tokenizer=tok)
    path = tmp_path / "ckpt.pt"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated, as by a crash of a non-atomic writer
    damaged = path.read_bytes()
    with pytest.raises(CheckpointError, match="damaged|truncated"):
        train(tiny_model(vocab=tok.vocab_size), ids, None, small_cfg(tmp_path, max_steps=4), resume=path)
    assert path.read_bytes() == damaged
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_mismatched_checkpoint_is_a_clear_error_and_untouched(tmp_path):
    tok, ids = char_ids()
    cfg = small_cfg(tmp_path, max_steps=2)
    train(tiny_model(vocab=tok.vocab_size), ids, None, cfg, tokenizer=tok)
    before = (tmp_path / "ckpt.pt").read_bytes()
    bigger = tiny_model(vocab=tok.vocab_size, n_embd=48)
    with pytest.raises(CheckpointError, match="n_embd: checkpoint 32 vs model 48"):
        train(bigger, ids, None, small_cfg(tmp_path, max_steps=4), resume=tmp_path / "ckpt.pt")
    with pytest.raises(CheckpointError, match="batch_size"):
        train(tiny_model(vocab=tok.vocab_size), ids, None, small_cfg(tmp_path, max_steps=4, batch_size=2), resume=tmp_path / "ckpt.pt")
    assert (tmp_path / "ckpt.pt").read_bytes() == before


def test_training_learns_and_reports(tmp_path):
    tok, ids = char_ids()
    cfg = small_cfg(max_steps=40, grad_accum_steps=1, eval_interval=20, sample_interval=40, sample_tokens=20, max_lr=1e-2, warmup_steps=5, peak_flops=1e11)
    result = train(tiny_model(vocab=tok.vocab_size), ids[:2500], ids[2500:], cfg, tokenizer=tok)
    assert result.losses[-1] < result.losses[0] - 1.0, "40 steps on repetitive text must cut the loss"
    assert result.val_steps == [20, 40]
    assert all(b is not None and 0 < b < 8 for b in result.val_bpb)
    # char tokens of ASCII text are one byte each: bits per byte is loss / ln 2
    assert result.val_bpb[-1] == pytest.approx(result.val_losses[-1] / math.log(2), rel=1e-9)
    assert result.tokens_per_sec > 0 and result.mfu is not None and result.mfu > 0
    assert len(result.samples) == 1 and len(result.samples[0][1]) == 20
    ax = plot_losses(result, smooth=5, path=tmp_path / "loss.png")
    assert (tmp_path / "loss.png").stat().st_size > 1000
    assert len(ax.lines) == 3


def test_bf16_autocast_path_trains():
    tok, ids = char_ids()
    cfg = small_cfg(max_steps=15, grad_accum_steps=1, dtype="bfloat16", max_lr=1e-2, warmup_steps=2, eval_interval=0)
    result = train(tiny_model(vocab=tok.vocab_size), ids[:2500], ids[2500:], cfg)
    assert result.losses[-1] < result.losses[0] - 0.3
    assert math.isfinite(result.val_losses[-1])


def test_bad_config_errors():
    with pytest.raises(ValueError, match="data_order"):
        TrainConfig(data_order="shuffled")
    with pytest.raises(ValueError, match="max_steps"):
        TrainConfig(max_steps=0)


# ----------------------------------------------------------------------------- data parallel

DDP_SCRIPT = """
import dataclasses, json, os, sys
import numpy as np, torch, torch.distributed as dist
from course.model import GPT, GPTConfig
from course.train import TrainConfig, train

rank, world, out = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), sys.argv[1]
if world > 1:
    dist.init_process_group("gloo")
torch.manual_seed(0)
model = GPT(GPTConfig(block_size=16, vocab_size=50, n_layer=2, n_head=2, n_embd=32)).double()
data = np.random.default_rng(0).integers(0, 50, 4000)
cfg = TrainConfig(max_steps=4, batch_size=2, block_size=16, grad_accum_steps=2, warmup_steps=1,
                  max_lr=1e-2, data_order="sequential", eval_interval=0, progress=False, device="cpu",
                  checkpoint_path=os.path.join(out, "ckpt.pt"))
res = train(model, data, data[:200], cfg)
# the same run stopped after 2 steps and resumed (by every rank) from its checkpoint
cut = dataclasses.replace(cfg, checkpoint_path=os.path.join(out, "cut.pt"))
torch.manual_seed(0)
train(GPT(model.config).double(), data, data[:200], cut, stop_at=2)
torch.manual_seed(1)  # the resumed run must take everything from the checkpoint
resumed = train(GPT(model.config).double(), data, data[:200], cut, resume=cut.checkpoint_path)
if rank == 0:
    json.dump({"losses": res.losses, "val": res.val_losses, "resumed": resumed.losses},
              open(os.path.join(out, "result.json"), "w"))
if world > 1:
    dist.destroy_process_group()
"""


def run_ranks(tmp_path, world):
    import json
    import os
    import socket
    import subprocess
    import sys

    out = tmp_path / f"world{world}"
    out.mkdir()
    script = tmp_path / "ddp_script.py"
    script.write_text(DDP_SCRIPT)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in range(world):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen([sys.executable, str(script), str(out)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]
    return json.loads((out / "result.json").read_text()), torch.load(out / "ckpt.pt", weights_only=True)


def test_two_process_ddp_equals_one_process_accumulating(tmp_path):
    """The config is the global batch: rank r of 2 runs micro-batch r of each step's 2, and
    together the two processes take the step one process takes accumulating both."""
    one, _ = run_ranks(tmp_path, 1)
    two, ckpt = run_ranks(tmp_path, 2)
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-6)  # the model takes CE in fp32
    np.testing.assert_allclose(two["val"], one["val"], rtol=1e-6)
    for run in (one, two):  # resumed by every rank, the run is the run that never stopped
        assert run["resumed"] == run["losses"]
    # every rank walks the one global stream of micro-batches (and is at the same place in it)
    assert len(ckpt["rng"]) == 2 and ckpt["loader"]["world_size"] == 1
    assert ckpt["loader"]["steps_taken"] == 4 * 2
