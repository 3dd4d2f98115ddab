"""Lesson 03 exercises: the pieces of GPT-2, written by you.

Fill in each stub, then run the checks from a notebook:

    import course; course.check("03")

or from a terminal: `python -m pytest tests/exercises/test_ex03.py --target exercises`.

The checks build the same layer from `course.model`, copy its weights into
yours with `load_state_dict` (so keep the submodule names the `__init__`s
below create), and compare outputs on seeded inputs. `config` is a
`course.model.GPTConfig` (fields n_embd, n_head, n_layer, vocab_size,
block_size, bias, dropout). Dropout can be ignored: the checks run in eval mode
with dropout 0.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F  # noqa: F401  (you will want F.softmax)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention (the layers are made for you)."""

    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v in one matmul
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, C) -> (B, T, C).

        1. q, k, v = self.c_attn(x) split into three (B, T, C) tensors (in that order).
        2. Reshape each to (B, n_head, T, head_dim), head_dim = C // n_head.
        3. Scores q @ k^T / sqrt(head_dim): (B, n_head, T, T).
        4. Causal mask: position t may only look at positions <= t; set the
           others to -inf before the softmax over the last dimension.
        5. Weighted sum of v, heads back to (B, T, C), then self.c_proj.
        """
        raise NotImplementedError("CausalSelfAttention.forward: qkv -> heads -> masked softmax -> c_proj")


class MLP(nn.Module):
    """The position-wise feed-forward network (the layers are made for you)."""

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, C) -> (B, T, C): c_fc, then GELU with the tanh approximation (as GPT-2), then c_proj."""
        raise NotImplementedError("MLP.forward: c_proj(gelu_tanh(c_fc(x)))")


class Block(nn.Module):
    """One transformer block, built from your attention and MLP."""

    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-LayerNorm residual block: normalise, apply the sublayer, *add* to x;
        first with ln_1 and attn, then with ln_2 and mlp."""
        raise NotImplementedError("Block.forward: x + attn(ln_1(x)), then x + mlp(ln_2(x))")


def gpt_num_params(config, tied: bool = True) -> int:
    """Parameters of `course.model.GPT(config)`, from the config alone (build no model).

    Count: token embedding (vocab_size x n_embd), position embedding
    (block_size x n_embd), n_layer blocks (two LayerNorms, c_attn, attn.c_proj,
    c_fc, mlp.c_proj, with biases and LayerNorm biases only if config.bias),
    the final LayerNorm, and the lm_head (n_embd -> vocab_size, no bias).
    With `tied=True` the lm_head *is* the token embedding and adds nothing.
    For the "gpt2" preset the answer is 124,439,808.
    """
    raise NotImplementedError("gpt_num_params: add up embeddings + n_layer * per-block + final norm (+ head)")


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus (top-p) filtering of logits (..., vocab) -> same shape.

    Keep the smallest set of the most likely tokens whose probabilities
    (softmax of the row) sum to at least p; set every other logit to -inf.
    Rule: sort each row from most to least likely and keep a token while the
    probability mass *before* it is < p, so the most likely token always
    stays and p=1 keeps everything. Do not modify `logits` in place.
    Hint: torch.sort, torch.cumsum, then scatter the mask back to vocabulary order.
    """
    raise NotImplementedError("top_p_filter: sort, cumulative softmax mass, mask, scatter back")
