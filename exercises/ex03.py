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

The last three put the pieces to work on a whole `course.model.GPT`: its
forward pass and loss (`gpt_forward`), and greedy generation with a KV cache
of your own that must give exactly the tokens of recomputing everything
(`KVCache`, `generate`). Lesson 03 runs each of them beside the package's
version at the point the idea comes up.
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


def gpt_forward(model, idx: torch.Tensor, targets: torch.Tensor | None = None):
    """The whole GPT forward pass, from its parts: idx (B, T) token ids -> (logits, loss).

    `model` is a `course.model.GPT`. Use its parts, not `model(...)`:
    model.transformer.wte (token embedding), .wpe (position embedding),
    .h (the list of blocks; `block(x)` maps (B, T, C) to (B, T, C)), .ln_f
    (the final LayerNorm), and model.lm_head.

    - logits: (B, T, vocab_size), the scores for the token that follows each position.
    - loss: None when targets is None. Otherwise `targets` (B, T) already holds
      the next token of every position (it is idx shifted by one, made by the
      caller: do not shift again); return the mean cross-entropy over the
      positions whose target is not -1 (-1 marks padding: it counts for nothing).
    - A sequence longer than model.config.block_size: raise ValueError.

    Lesson 03 checks yours against `model(idx, targets)` on the prompt it
    discusses. Hint: every step of the lesson's sections 1-5 appears once; which
    tensor says *where* each token is?
    """
    raise NotImplementedError("gpt_forward: embeddings -> blocks -> final norm -> head (-> loss)")


class KVCache:
    """Your KV cache, in the form `course.model.GPT` uses one: `model(ids, cache=cache)`.

    The model runs only the positions in `ids` and treats them as coming right
    after the `cache.pos` positions the cache already holds. In every layer its
    attention computes the keys and values of those new positions, k and v of
    shape (B, n_head, T_new, head_dim), and calls

        k_all, v_all = cache.update(layer, k, v)

    then attends over what update returns. After the last layer the model
    itself advances `cache.pos` by T_new.

    update: keep this layer's new keys and values after the ones it already
    holds, and return all of them, (B, n_head, pos + T_new, head_dim) each.
    It must not change `pos`.
    """

    def __init__(self, n_layer: int):
        self.pos = 0  # positions held (the model advances it)
        self.k = [None] * n_layer
        self.v = [None] * n_layer

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        raise NotImplementedError("KVCache.update: keep the new keys/values after the old ones, return all")


def generate(model, idx: torch.Tensor, max_new_tokens: int, use_cache: bool = True) -> torch.Tensor:
    """Greedy decoding: append `max_new_tokens` tokens to idx (B, T), each the most
    likely next token (argmax of the logits at the last position); return
    (B, T + max_new_tokens).

    `model` is a `course.model.GPT`: `model(ids)` -> (logits, loss).
    - use_cache=False: run the whole sequence so far at every step (slow, and
      obviously right).
    - use_cache=True: make one `KVCache` (yours, above) for the whole call and
      never give the model a position it has already seen: after the prompt,
      each step costs one position. The tokens must be exactly those of
      use_cache=False.
    - When T + max_new_tokens is more than model.config.block_size, raise ValueError.
    Run without gradients, with the model in eval mode.
    """
    raise NotImplementedError("generate: the prompt once, then one new position per step")
