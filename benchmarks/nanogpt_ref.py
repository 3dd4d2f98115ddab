"""karpathy/nanoGPT's `train.py` on its README CPU recipe, transcribed: the reference of the CPU benchmark.

nanoGPT cannot be fetched here (no internet), so this file is an independent,
faithful transcription of the parts of nanoGPT's `model.py`, `train.py` and
`data/shakespeare_char/prepare.py` that its README's CPU recipe runs ("I only
have a macbook"):

    python train.py config/train_shakespeare_char.py --device=cpu --compile=False --eval_iters=20
      --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128
      --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0

It imports nothing from `course` (the benchmark hands `prepare` the text of
tinyshakespeare), so that `bench_train_cpu.py` compares the course's trainer
with what nanoGPT does, step for step:

- data: characters sorted, 90/10 split, written as uint16 `train.bin`/`val.bin`;
  every batch opens the file again as a `np.memmap` and stacks B random windows
  (`get_batch`);
- model: GPT with `bias=False` (train.py's default), LayerNorm without bias,
  exact GELU, flash attention (`F.scaled_dot_product_attention`, causal), tied
  head, N(0, 0.02) init with c_proj scaled by 1/sqrt(2 n_layer); on training
  batches the head runs on every position, in eval too (targets are given);
- optimizer: AdamW (0.9, 0.99), weight decay 0.1 on >= 2-D tensors,
  `fused` only on CUDA, so on a CPU torch's default per-tensor loop;
- schedule: warmup 100 iterations, lr = 1e-3 (it + 1) / 101, then cosine to
  1e-4 at iteration 2000; iterations 0..2000 (2001 steps: nanoGPT stops after
  `iter_num > max_iters`), gradient clipping at 1.0;
- evaluation: at iterations 0, 250, ..., 2000, `estimate_loss` on 20 random
  batches of train and 20 of val, under `torch.no_grad`; a checkpoint (model,
  optimizer, args) saved with `torch.save` whenever val improves (not at 0);
- logging: `loss.item()` and a log line every iteration (`--log_interval=1`),
  with nanoGPT's MFU estimate from the 5th iteration on;
- fp32 on the CPU (nanoGPT's autocast context is a no-op there, and its
  GradScaler is disabled without CUDA), seed 1337, `compile=False`.
"""

from __future__ import annotations

import inspect
import math
import os
import pickle
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F

# ----------------------------------------------------------------------------- model.py


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (PyTorch's had none to turn off)."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, input):
        return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0, is_causal=True
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


@dataclass
class GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50304
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def get_num_params(self, non_embedding=True):
        n_params = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n_params -= self.transformer.wpe.weight.numel()
        return n_params

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        b, t = idx.size()
        assert t <= self.config.block_size
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        tok_emb = self.transformer.wte(idx)
        pos_emb = self.transformer.wpe(pos)
        x = self.transformer.drop(tok_emb + pos_emb)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is not None:
            logits = self.lm_head(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        else:
            logits = self.lm_head(x[:, [-1], :])
            loss = None
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
        param_dict = {pn: p for pn, p in self.named_parameters() if p.requires_grad}
        decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
        nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
        optim_groups = [
            {"params": decay_params, "weight_decay": weight_decay},
            {"params": nodecay_params, "weight_decay": 0.0},
        ]
        fused_available = "fused" in inspect.signature(torch.optim.AdamW).parameters
        use_fused = fused_available and device_type == "cuda"
        extra_args = dict(fused=True) if use_fused else dict()
        return torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, **extra_args)

    def estimate_mfu(self, fwdbwd_per_iter, dt):
        N = self.get_num_params()
        cfg = self.config
        L, H, Q, T = cfg.n_layer, cfg.n_head, cfg.n_embd // cfg.n_head, cfg.block_size
        flops_per_token = 6 * N + 12 * L * H * Q * T
        flops_per_fwdbwd = flops_per_token * T
        flops_per_iter = flops_per_fwdbwd * fwdbwd_per_iter
        flops_achieved = flops_per_iter * (1.0 / dt)
        flops_promised = 312e12  # A100 bfloat16 peak
        return flops_achieved / flops_promised


# ----------------------------------------------------------------------------- data/shakespeare_char/prepare.py


def prepare(data_dir: str, text: str) -> int:
    """Write train.bin / val.bin (uint16 char ids, 90/10 split) and meta.pkl; returns the vocabulary size.

    nanoGPT runs this once (`python data/shakespeare_char/prepare.py`), before and apart from training.
    """
    chars = sorted(list(set(text)))
    stoi = {ch: i for i, ch in enumerate(chars)}
    itos = {i: ch for i, ch in enumerate(chars)}
    n = len(text)
    train_data, val_data = text[: int(n * 0.9)], text[int(n * 0.9):]
    os.makedirs(data_dir, exist_ok=True)
    np.array([stoi[c] for c in train_data], dtype=np.uint16).tofile(os.path.join(data_dir, "train.bin"))
    np.array([stoi[c] for c in val_data], dtype=np.uint16).tofile(os.path.join(data_dir, "val.bin"))
    with open(os.path.join(data_dir, "meta.pkl"), "wb") as f:
        pickle.dump({"vocab_size": len(chars), "itos": itos, "stoi": stoi}, f)
    return len(chars)


# ----------------------------------------------------------------------------- train.py


@dataclass
class Recipe:
    """train.py's settings after config/train_shakespeare_char.py and the README's CPU flags."""

    eval_interval: int = 250
    log_interval: int = 1
    eval_iters: int = 20
    always_save_checkpoint: bool = False
    gradient_accumulation_steps: int = 1
    batch_size: int = 12
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = False
    learning_rate: float = 1e-3
    max_iters: int = 2000
    weight_decay: float = 1e-1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    decay_lr: bool = True
    warmup_iters: int = 100
    lr_decay_iters: int = 2000
    min_lr: float = 1e-4
    device: str = "cpu"
    seed: int = 1337


def train(out_dir: str, data_dir: str, r: Recipe | None = None, log=None) -> dict:
    """Run nanoGPT's training loop on the files `prepare` wrote to `data_dir`; checkpoints go to
    `out_dir`. Returns the eval history (iters, train, val) and every iteration's time (dt).

    `log(line)` receives the lines nanoGPT prints (default: dropped). dt is nanoGPT's own: the
    time between the ends of two iterations, so the first one and those after an eval include it.
    """
    r = r or Recipe()
    log = log or (lambda line: None)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(data_dir, "meta.pkl"), "rb") as f:
        meta_vocab_size = pickle.load(f)["vocab_size"]
    torch.manual_seed(r.seed)
    device_type = "cuda" if "cuda" in r.device else "cpu"

    def get_batch(split):
        name = "train.bin" if split == "train" else "val.bin"
        data = np.memmap(os.path.join(data_dir, name), dtype=np.uint16, mode="r")
        ix = torch.randint(len(data) - r.block_size, (r.batch_size,))
        x = torch.stack([torch.from_numpy((data[i:i + r.block_size]).astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy((data[i + 1:i + 1 + r.block_size]).astype(np.int64)) for i in ix])
        return x.to(r.device), y.to(r.device)

    iter_num = 0
    best_val_loss = 1e9
    model_args = dict(n_layer=r.n_layer, n_head=r.n_head, n_embd=r.n_embd, block_size=r.block_size,
                      bias=r.bias, vocab_size=meta_vocab_size, dropout=r.dropout)
    model = GPT(GPTConfig(**model_args))
    log(f"number of parameters: {model.get_num_params() / 1e6:.2f}M")
    model.to(r.device)
    optimizer = model.configure_optimizers(r.weight_decay, r.learning_rate, (r.beta1, r.beta2), device_type)

    @torch.no_grad()
    def estimate_loss():
        out = {}
        model.eval()
        for split in ["train", "val"]:
            losses = torch.zeros(r.eval_iters)
            for k in range(r.eval_iters):
                X, Y = get_batch(split)
                logits, loss = model(X, Y)
                losses[k] = loss.item()
            out[split] = losses.mean()
        model.train()
        return out

    def get_lr(it):
        if it < r.warmup_iters:
            return r.learning_rate * (it + 1) / (r.warmup_iters + 1)
        if it > r.lr_decay_iters:
            return r.min_lr
        decay_ratio = (it - r.warmup_iters) / (r.lr_decay_iters - r.warmup_iters)
        coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
        return r.min_lr + coeff * (r.learning_rate - r.min_lr)

    history = {"iters": [], "train": [], "val": [], "dt": []}
    X, Y = get_batch("train")
    t0 = time.time()
    local_iter_num = 0
    running_mfu = -1.0
    while True:
        lr = get_lr(iter_num) if r.decay_lr else r.learning_rate
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr
        if iter_num % r.eval_interval == 0:
            losses = estimate_loss()
            log(f"step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
            history["iters"].append(iter_num)
            history["train"].append(float(losses["train"]))
            history["val"].append(float(losses["val"]))
            if losses["val"] < best_val_loss or r.always_save_checkpoint:
                best_val_loss = losses["val"]
                if iter_num > 0:
                    checkpoint = {
                        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "model_args": model_args, "iter_num": iter_num, "best_val_loss": best_val_loss,
                        "config": vars(r).copy(),
                    }
                    log(f"saving checkpoint to {out_dir}")
                    torch.save(checkpoint, os.path.join(out_dir, "ckpt.pt"))
        for _micro_step in range(r.gradient_accumulation_steps):
            logits, loss = model(X, Y)
            loss = loss / r.gradient_accumulation_steps
            X, Y = get_batch("train")
            loss.backward()
        if r.grad_clip != 0.0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), r.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        t1 = time.time()
        dt = t1 - t0
        t0 = t1
        history["dt"].append(dt)
        if iter_num % r.log_interval == 0:
            lossf = loss.item() * r.gradient_accumulation_steps
            if local_iter_num >= 5:
                mfu = model.estimate_mfu(r.batch_size * r.gradient_accumulation_steps, dt)
                running_mfu = mfu if running_mfu == -1.0 else 0.9 * running_mfu + 0.1 * mfu
            log(f"iter {iter_num}: loss {lossf:.4f}, time {dt * 1000:.2f}ms, mfu {running_mfu * 100:.2f}%")
        iter_num += 1
        local_iter_num += 1
        if iter_num > r.max_iters:
            break
    history["model"] = model
    return history
