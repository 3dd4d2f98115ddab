"""Stage 4 of the data path, batches: (x, y) pairs of token ids for the model, y = x shifted by one.

Used by lesson 03 (`char_data` + the trainer) and by every training run:
`course.train.train` wraps the ids it is given in a `TokenLoader`. A loader
reads an in-memory array or memory-mapped shards (`course.shards`), strides
by rank so that data-parallel workers see disjoint tokens, reshuffles the
documents every epoch from a seed, and reports and restores its exact
position: that is what makes a resumed run the run that never stopped.

    text -> tokens -> shards -> batches -> model -> loss -> checkpoint
                                ^^^^^^^
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np

from course.assets import load_tinyshakespeare
from course.shards import read_meta, read_shard, shard_paths
from course.tokenizer import CharTokenizer


def _as_array(x) -> np.ndarray:
    """A 1-D integer array view of a token source (tensor, array, list, shard path)."""
    if isinstance(x, (str, os.PathLike)):
        return read_shard(x)
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # torch tensor
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"token data must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"token data must be integer ids, got dtype {arr.dtype}")
    return arr


class TokenLoader:
    """(x, y) batches of shape (batch_size, block_size) from a stream of token ids.

    `data` is one 1-D sequence of ids (torch tensor, NumPy array or memmap, list)
    or a list of them, or shard paths, or a prepared data directory plus `split`.

    order="sequential" (default) walks the data in epochs, the way a pretraining
    run does: each step takes the next `batch_size * block_size + 1` tokens of the
    stream (x is all but the last, y all but the first), and rank r of
    `world_size` takes every world_size-th such chunk starting at the r-th, so
    data-parallel workers read disjoint tokens and together cover every token
    once per epoch (the tail of each shard that does not fill a whole step for
    every rank is skipped). With `shuffle=True` and an `eot` id, documents (each
    starting with eot) and shards are visited in a new random order every epoch,
    drawn from (seed, epoch), so every rank agrees on it without talking.

    order="random" draws each row at a random offset, as nanoGPT does; the
    offsets of step s come from a generator seeded with (seed, rank, s).

    `state_dict()` reports the exact position and `load_state_dict()` restores
    it: the batches that follow are the same as if the run had never stopped.
    """

    def __init__(
        self,
        data,
        batch_size: int,
        block_size: int,
        *,
        split: str | None = None,
        order: str = "sequential",
        shuffle: bool = False,
        seed: int = 0,
        eot: int | None = None,
        rank: int = 0,
        world_size: int = 1,
        device="cpu",
    ):
        if order not in ("sequential", "random"):
            raise ValueError(f"order must be 'sequential' or 'random', got {order!r}")
        if batch_size < 1 or block_size < 1:
            raise ValueError(f"batch_size and block_size must be positive, got {batch_size}, {block_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        if split is not None:
            meta = read_meta(data)
            if eot is None:
                eot = meta.get("eot")
            data = shard_paths(data, split)
        elif isinstance(data, (str, os.PathLike)) and Path(data).is_dir():
            raise ValueError(f"{data} is a directory: pass split='train' or split='val'")
        sources = data if _is_list_of_sources(data) else [data]
        self.sources = [_as_array(s) for s in sources]
        self.B, self.T = int(batch_size), int(block_size)
        self.order, self.shuffle, self.seed, self.eot = order, bool(shuffle), int(seed), eot
        self.rank, self.world_size, self.device = int(rank), int(world_size), device
        self.chunk = self.B * self.T
        lengths = [len(s) for s in self.sources]
        if order == "random":
            usable = [max(0, n - self.T) for n in lengths]
            if sum(usable) == 0:
                raise ValueError(f"every token source is shorter than block_size + 1 = {self.T + 1} tokens")
            self._weights = np.asarray(usable, dtype=np.float64) / sum(usable)
        else:
            steps = [self._steps_in(n) for n in lengths]
            if sum(steps) == 0:
                need = self.chunk * self.world_size + 1
                raise ValueError(
                    f"not enough tokens for one step: batch_size*block_size*world_size + 1 = {need} "
                    f"tokens are needed in a shard, the largest holds {max(lengths)}"
                )
        self.num_tokens = sum(lengths)
        # position
        self.epoch = 0
        self.shard_index = 0  # index into this epoch's shard order
        self.step_in_shard = 0
        self.steps_taken = 0
        self._cache_key = None

    # ---- geometry
    def _steps_in(self, n: int) -> int:
        return max(0, (n - 1) // (self.chunk * self.world_size))

    def steps_per_epoch(self) -> int:
        """Steps that make one pass over the data (sequential order)."""
        return sum(self._steps_in(len(s)) for s in self.sources)

    # ---- iteration
    def __iter__(self):
        return self

    def __next__(self):
        return self.next_batch()

    def next_batch(self):
        """The next (x, y) pair of int64 tensors, shape (batch_size, block_size), on `device`."""
        buf = self._next_random() if self.order == "random" else self._next_sequential()
        self.steps_taken += 1
        return self._to_tensors(buf)

    def skip(self) -> None:
        """Move past the next batch without reading it: the position next_batch() would leave.

        Data-parallel training keeps every rank's loader on the one global
        stream of micro-batches and lets each rank skip the ones other ranks
        run (course.train): micro-batch i of step s is then the same text
        whatever the number of processes.
        """
        if self.order == "sequential":
            self._advance_sequential()
        self.steps_taken += 1

    def _to_tensors(self, buf: np.ndarray):
        import torch

        t = torch.from_numpy(buf.astype(np.int64, copy=False))
        x, y = t[:, :-1], t[:, 1:]
        if str(self.device) != "cpu":
            dev = str(self.device)
            if dev.startswith("cuda"):
                x, y = x.pin_memory(), y.pin_memory()
            return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        return x.contiguous(), y.contiguous()

    def _next_random(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.rank, self.steps_taken])
        which = rng.choice(len(self.sources), size=self.B, p=self._weights) if len(self.sources) > 1 else np.zeros(self.B, int)
        out = np.empty((self.B, self.T + 1), dtype=np.int64)
        for b in range(self.B):
            src = self.sources[which[b]]
            i = int(rng.integers(0, len(src) - self.T))
            out[b] = src[i : i + self.T + 1]
        return out

    def _next_sequential(self) -> np.ndarray:
        shard, start = self._advance_sequential()
        buf = self._gather(shard, start, self.chunk + 1)
        flat = np.empty((self.B, self.T + 1), dtype=np.int64)
        # row b is tokens [b*T, b*T + T] of the chunk: inputs tile the chunk, targets overlap by one
        idx = np.arange(self.B)[:, None] * self.T + np.arange(self.T + 1)[None, :]
        flat[:] = buf[idx]
        return flat

    def _advance_sequential(self) -> tuple[int, int]:
        """(shard, first token) of the next chunk, and the position moved past it."""
        while True:
            order = self._shard_order(self.epoch)
            if self.shard_index >= len(order):
                self.epoch += 1
                self.shard_index = 0
                self.step_in_shard = 0
                continue
            shard = order[self.shard_index]
            if self.step_in_shard >= self._steps_in(len(self.sources[shard])):
                self.shard_index += 1
                self.step_in_shard = 0
                continue
            break
        start = (self.step_in_shard * self.world_size + self.rank) * self.chunk
        self.step_in_shard += 1
        return shard, start

    def _shard_order(self, epoch: int) -> np.ndarray:
        n = len(self.sources)
        if not self.shuffle or n == 1:
            return np.arange(n)
        return np.random.default_rng([self.seed, epoch, 0xDA7A]).permutation(n)

    def _doc_layout(self, shard: int):
        """(starts, cumulative lengths) of the documents of `shard` in this epoch's order."""
        key = (shard, self.epoch)
        if self._cache_key == key:
            return self._cache
        src = self.sources[shard]
        if self.shuffle and self.eot is not None:
            starts = np.flatnonzero(np.asarray(src) == self.eot)
            if starts.size == 0 or starts[0] != 0:
                starts = np.concatenate([[0], starts])
            lengths = np.diff(np.append(starts, len(src)))
            perm = np.random.default_rng([self.seed, self.epoch, shard]).permutation(len(starts))
            starts, lengths = starts[perm], lengths[perm]
        else:
            starts, lengths = np.array([0]), np.array([len(src)])
        self._cache_key, self._cache = key, (starts, np.cumsum(lengths))
        return self._cache

    def _gather(self, shard: int, start: int, n: int) -> np.ndarray:
        """Tokens [start, start+n) of the shard's (possibly document-shuffled) stream."""
        src = self.sources[shard]
        starts, ends = self._doc_layout(shard)
        if len(starts) == 1:
            return np.asarray(src[start : start + n])
        out = np.empty(n, dtype=np.int64)
        k = int(np.searchsorted(ends, start, side="right"))
        pos, filled = start, 0
        while filled < n:
            doc_begin = ends[k - 1] if k else 0
            off = pos - doc_begin
            take = min(n - filled, ends[k] - pos)
            out[filled : filled + take] = src[starts[k] + off : starts[k] + off + take]
            filled += take
            pos += take
            k += 1
        return out

    def copy(self, *, device=None) -> TokenLoader:
        """An independent loader at the same position (batches on `device`, if given).

        The data is shared, not copied: the sources are read-only arrays and
        memory maps. Advancing the copy leaves this loader where it is.
        """
        other = copy.copy(self)
        if device is not None:
            other.device = device
        return other

    # ---- exact position
    def state_dict(self) -> dict:
        """Where the loader is, plus what must match for that position to mean the same thing."""
        return {
            "order": self.order,
            "epoch": self.epoch,
            "shard_index": self.shard_index,
            "step_in_shard": self.step_in_shard,
            "steps_taken": self.steps_taken,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "rank": self.rank,
            "world_size": self.world_size,
            "batch_size": self.B,
            "block_size": self.T,
            "num_tokens": int(self.num_tokens),
        }

    def load_state_dict(self, state: dict) -> None:
        # every rank is at the same position (ranks take the same number of steps), so a state
        # saved by rank 0 restores any rank of the same world size
        for key in ("order", "seed", "shuffle", "world_size", "batch_size", "block_size", "num_tokens"):
            mine = self.state_dict()[key]
            if state.get(key) != mine:
                raise ValueError(
                    f"loader state does not match this loader: {key} is {state.get(key)!r} in the saved "
                    f"state but {mine!r} here (same data, batch/block size, seed and world size are needed to resume)"
                )
        self.epoch = int(state["epoch"])
        self.shard_index = int(state["shard_index"])
        self.step_in_shard = int(state["step_in_shard"])
        self.steps_taken = int(state["steps_taken"])

    def __repr__(self) -> str:
        return (
            f"TokenLoader({self.num_tokens:,} tokens in {len(self.sources)} source(s), B={self.B}, T={self.T}, "
            f"order={self.order!r}, rank={self.rank}/{self.world_size}, epoch={self.epoch})"
        )


def _is_list_of_sources(data) -> bool:
    if isinstance(data, (list, tuple)) and data:
        first = data[0]
        return isinstance(first, (str, os.PathLike, np.ndarray)) or hasattr(first, "shape") or isinstance(first, (list, tuple))
    return False


def fixed_batches(data, batch_size: int, block_size: int, num_batches: int, *, device="cpu") -> list:
    """The first `num_batches` sequential (x, y) batches of `data` (fewer if it is short).

    Evaluating on the same fixed batches every time makes val losses comparable
    from one evaluation to the next (nanoGPT draws fresh random ones instead).
    """
    if num_batches < 1:
        raise ValueError("num_batches must be >= 1")
    arr = _as_array(data) if not isinstance(data, TokenLoader) else None
    if arr is not None:
        fit = (len(arr) - 1) // (batch_size * block_size)
        if fit == 0:
            # short data: fewer rows per batch rather than nothing
            rows = (len(arr) - 1) // block_size
            if rows == 0:
                raise ValueError(f"val data has {len(arr)} tokens, fewer than block_size + 1 = {block_size + 1}")
            batch_size, fit = rows, 1
        loader = TokenLoader(arr, batch_size, block_size, device=device)
        return [loader.next_batch() for _ in range(min(num_batches, fit))]
    loader = data
    saved = loader.state_dict()
    if loader.order == "sequential":  # never wrap around into a second pass
        num_batches = min(num_batches, loader.steps_per_epoch())
    try:
        return [loader.next_batch() for _ in range(num_batches)]
    finally:
        loader.load_state_dict(saved)


def char_data(text: str | None = None, val_fraction: float = 0.1):
    """nanoGPT's shakespeare_char data: (tokenizer, train ids, val ids) as uint16 arrays.

    The first 90% of the characters are train, the last 10% val, exactly as
    nanoGPT's data/shakespeare_char/prepare.py does.
    """

    if text is None:
        text = load_tinyshakespeare()
    tok = CharTokenizer.from_text(text)
    ids = np.asarray(tok.encode(text), dtype=np.uint16)
    cut = int(len(ids) * (1 - val_fraction))
    return tok, ids[:cut], ids[cut:]
