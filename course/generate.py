"""Turning next-token logits into text: sampling filters, the KV cache, `generate`.

Lesson 03 (sampling from a trained GPT, the KV cache) uses it; `GPT.generate`
and `Llama.generate` are one-line calls to `generate` here, and the commands
(`course sample`) and the trainer's samples go through them.

A language model only ever answers one question: given these tokens, how
likely is each possible next token? Generating text is a loop around that
question — pick a token from the distribution, append it, ask again. This
module holds everything in that loop that is not the model itself:

- the filters that reshape the distribution before sampling (temperature,
  top-k, top-p), as standalone functions so they can be tested and reused;
- `KVCache`: the keys and values every attention layer has already computed,
  so each new token costs one position of work instead of the whole prefix;
- `generate(model, idx, ...)`: the loop itself, for any model with
  `forward(idx, *, cache=...) -> (logits, loss)` and a `config` holding
  `n_layer` and `block_size` (both `GPT` and `Llama`).

A cached run must give exactly the tokens of a full recompute; the tests
check it, and the loop below is written so that the two paths see the same
context at every step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the `k` largest logits of each row, set the rest to -inf.

    Ties with the k-th largest value are all kept (so a row can keep more
    than k entries when values repeat), the rule nanoGPT uses. `k` larger than
    the vocabulary keeps everything.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"top_k must be a positive integer, got {k!r}")
    k = min(k, logits.size(-1))
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering: keep the smallest set of most likely tokens whose
    probabilities sum to at least `p`, set the rest to -inf.

    Walking the tokens from most to least likely, a token is kept while the
    probability mass *before* it is still below `p`; so the most likely token
    is always kept, and `p=1` keeps everything.
    """
    if not (isinstance(p, (int, float)) and 0.0 < p <= 1.0):
        raise ValueError(f"top_p must be in (0, 1], got {p!r}")
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = F.softmax(sorted_logits.float(), dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs
    remove_sorted = mass_before >= p
    remove = remove_sorted.scatter(-1, order, remove_sorted)  # back to vocabulary order
    return logits.masked_fill(remove, float("-inf"))


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One next token per row of `logits` (B, vocab) -> (B, 1).

    temperature 0 means greedy (argmax); otherwise the logits are divided by
    the temperature, filtered by top-k then top-p (the order Hugging Face uses),
    and a token is drawn with `generator` so that seeded runs repeat.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    if temperature == 0:
        return torch.argmax(logits, dim=-1, keepdim=True)
    logits = logits.float() / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = F.softmax(logits, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator)


class KVCache:
    """Keys and values of every layer for the positions processed so far.

    Storage for each layer is allocated on its first write, with the dtype and
    device of the keys it receives (so it follows autocast and `.to()`), at
    shape (B, n_kv_head, max_len, head_dim). `pos` is how many positions are
    filled; the model advances it once per forward, after all layers wrote.
    """

    def __init__(self, n_layer: int, max_len: int):
        self.max_len = max_len
        self.pos = 0
        self.k: list[torch.Tensor | None] = [None] * n_layer
        self.v: list[torch.Tensor | None] = [None] * n_layer

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Store k, v (B, H, T, D) at positions pos..pos+T; return all keys and values so far."""
        B, H, T, D = k.shape
        end = self.pos + T
        if end > self.max_len:
            raise ValueError(f"KV cache holds {self.max_len} positions; writing {T} at {self.pos} overflows it")
        if self.k[layer] is None:
            self.k[layer] = k.new_zeros(B, H, self.max_len, D)
            self.v[layer] = v.new_zeros(B, H, self.max_len, D)
        self.k[layer][:, :, self.pos : end] = k
        self.v[layer][:, :, self.pos : end] = v
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]


@torch.no_grad()
def generate(
    model,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    use_cache: bool = True,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> torch.Tensor:
    """Append `max_new_tokens` sampled tokens to `idx` (B, T) and return (B, T + new).

    Pass `seed` (or your own `torch.Generator`) for repeatable sampling.
    With `use_cache` the prompt is run once and each later step feeds only
    the newest token. Once the sequence outgrows `block_size`, both paths
    recompute on the last `block_size` tokens: with absolute positions every
    cached key would now sit at the wrong position, so a cache cannot be
    reused there. The model is put in eval mode and restored afterwards.
    """
    if idx.dim() != 2 or idx.dtype != torch.long:
        raise ValueError(
            "idx must be a (batch, time) tensor of token ids (torch.long), "
            f"got {tuple(idx.shape)} {idx.dtype}"
        )
    if idx.size(1) == 0:
        raise ValueError("generate needs a prompt of at least one token")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a non-negative integer, got {max_new_tokens!r}")
    if seed is not None and generator is not None:
        raise ValueError("pass either seed or generator, not both")
    if seed is not None:
        generator = torch.Generator(device=idx.device).manual_seed(seed)
    # validate the sampling options up front, not after the first forward
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    if top_k is not None:
        top_k_filter(torch.zeros(1, 1), top_k)
    if top_p is not None:
        top_p_filter(torch.zeros(1, 1), top_p)

    block = model.config.block_size
    was_training = model.training
    model.eval()
    try:
        cache = None
        for _ in range(max_new_tokens):
            if use_cache and idx.size(1) <= block:
                if cache is None:
                    max_len = min(block, idx.size(1) + max_new_tokens)
                    cache = KVCache(model.config.n_layer, max_len)
                    logits, _ = model(idx, cache=cache)
                else:
                    logits, _ = model(idx[:, -1:], cache=cache)
            else:
                logits, _ = model(idx[:, -block:])
            nxt = sample_next(logits[:, -1, :], temperature, top_k, top_p, generator)
            idx = torch.cat([idx, nxt], dim=1)
    finally:
        model.train(was_training)
    return idx
