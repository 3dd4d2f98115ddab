"""Data for training: text in, batches of token ids out.

Three stages, each usable on its own:

1. `load_text(source)` gives an iterable of documents (strings) through
   Hugging Face `datasets`: the bundled tinyshakespeare (offline), local
   .txt/.jsonl/.json/.parquet files, or FineWeb-Edu's `sample-10BT` streamed
   from the hub (offline, that one fails within seconds and says why).
2. `prepare_shards(docs, tokenizer, out_dir)` tokenizes documents in worker
   processes into binary shards: each document is preceded by the end-of-text
   token, ids are stored as uint16 when the vocabulary fits (else uint32), and
   every shard starts with a small JSON header naming its dtype, token count
   and tokenizer. A fraction of the documents is held out as the val split.
3. `TokenLoader` turns a token stream (an in-memory array or shards on disk)
   into (x, y) batches where y is x shifted by one token. It strides by
   rank / world size so that data-parallel workers see disjoint data, shuffles
   the order of documents every epoch from a seed, and can report and restore
   its exact position, which is what makes resuming a run exact.

Tokenizers come from `course.tokenizer` (`as_tokenizer`, `from_spec`, `CharTokenizer`),
which gives tiktoken encodings, the course BPE and the character tokenizer one interface.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from course.tokenizer import CharTokenizer, TokenizerLike, as_tokenizer
from course.tokenizer import from_spec as load_tokenizer

# --------------------------------------------------------------------------------------
# Loading text with Hugging Face `datasets`.

FINEWEB_EDU = ("HuggingFaceFW/fineweb-edu", "sample-10BT")
_BUILDERS = {".txt": "text", ".md": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


class DataUnavailableError(RuntimeError):
    """A dataset could not be loaded (offline, missing files, wrong column ...)."""


def load_text(
    source: str | os.PathLike | Sequence[str | os.PathLike] = "tinyshakespeare",
    *,
    text_field: str = "text",
    sample_by: str = "document",
    streaming: bool | None = None,
    timeout: float = 3.0,
) -> Iterable[str]:
    """Documents (strings) from a named dataset or local files, via `datasets`.

    source:
      - "tinyshakespeare": the bundled corpus (works offline).
      - "fineweb-edu": FineWeb-Edu `sample-10BT`, streamed from the Hugging Face hub.
        Offline (or with HF_HUB_OFFLINE=1) this raises DataUnavailableError within
        about `timeout` seconds instead of hanging.
      - a path, a directory or a list of paths of .txt/.md, .jsonl/.json or .parquet
        files. Text files give one document per file (`sample_by="document"`), per
        paragraph ("paragraph") or per line ("line"); json and parquet rows give one
        document each, read from the `text_field` column.
    """
    import datasets

    if isinstance(source, str) and source == "tinyshakespeare":
        from course.assets import asset_path

        source = [asset_path("tinyshakespeare")]
    elif isinstance(source, str) and source in ("fineweb-edu", "fineweb_edu"):
        return _load_fineweb_edu(text_field=text_field, timeout=timeout)

    files = _expand_files(source)
    builders = {_BUILDERS.get(_suffix(f)) for f in files}
    if None in builders:
        bad = [str(f) for f in files if _suffix(f) not in _BUILDERS]
        raise DataUnavailableError(
            f"don't know how to read {bad[:3]}: use .txt/.md, .jsonl/.json or .parquet files"
        )
    if len(builders) > 1:
        raise DataUnavailableError(f"mixed file types {sorted(builders)}: pass files of one kind at a time")
    builder = builders.pop()
    kwargs = {"sample_by": sample_by} if builder == "text" else {}
    datasets.disable_progress_bars()
    try:
        ds = datasets.load_dataset(
            builder, data_files=[str(f) for f in files], split="train", streaming=bool(streaming), **kwargs
        )
    finally:
        datasets.enable_progress_bars()
    columns = ds.column_names if not streaming else (ds.column_names or [text_field])
    if text_field not in columns:
        raise DataUnavailableError(
            f"{files[0]} has no column {text_field!r} (columns: {columns}); pick one with text_field="
        )
    return _TextColumn(ds, text_field)


class _TextColumn:
    """Iterate one text column of a (possibly streaming) dataset; len() when it is known."""

    def __init__(self, ds, field: str):
        self.ds, self.field = ds, field

    def __iter__(self) -> Iterator[str]:
        for row in self.ds:
            yield row[self.field]

    def __len__(self) -> int:
        try:
            return len(self.ds)
        except TypeError:
            raise TypeError("a streaming dataset has no length") from None


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def _expand_files(source) -> list[Path]:
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and _suffix(f) in _BUILDERS)
            if not found:
                raise DataUnavailableError(f"no .txt/.jsonl/.json/.parquet files under {p}")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise DataUnavailableError(
                f"{item!r} is neither a known dataset ('tinyshakespeare', 'fineweb-edu') nor an existing file"
            )
    if not files:
        raise DataUnavailableError("no input files given")
    return files


def _load_fineweb_edu(*, text_field: str, timeout: float):
    """Stream FineWeb-Edu sample-10BT; offline, fail fast with a clear message."""
    from course import hub

    reason = hub.unreachable_reason(timeout, variables=("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    if reason:
        raise DataUnavailableError(
            f"FineWeb-Edu ({FINEWEB_EDU[0]}, {FINEWEB_EDU[1]}) is streamed from the Hugging Face hub, "
            f"which cannot be used: {reason}. Use the bundled 'tinyshakespeare' or local files instead."
        )
    import datasets

    ds = datasets.load_dataset(FINEWEB_EDU[0], name=FINEWEB_EDU[1], split="train", streaming=True)
    return _TextColumn(ds, text_field)


# --------------------------------------------------------------------------------------
# Token shards on disk.

SHARD_MAGIC = b"COURSETOK1\n"
HEADER_BYTES = 1024  # magic + JSON, padded with spaces; token ids follow


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits in 16 bits (GPT-2's 50,257 does), else uint32."""
    if vocab_size <= 2**16:
        return np.dtype(np.uint16)
    if vocab_size <= 2**32:
        return np.dtype(np.uint32)
    raise ValueError(f"vocab_size {vocab_size} does not fit in 32 bits")


def write_shard(path, tokens: np.ndarray, *, tokenizer: dict | None = None, extra: dict | None = None) -> Path:
    """Write token ids with a header recording dtype, count and tokenizer (atomically)."""
    from course.utils import atomic_write_bytes

    tokens = np.asarray(tokens)
    if tokens.ndim != 1:
        raise ValueError(f"a shard holds a 1-D array of token ids, got shape {tokens.shape}")
    if tokens.dtype not in (np.uint16, np.uint32):
        raise ValueError(f"shard dtype must be uint16 or uint32, got {tokens.dtype}")
    header = {
        "dtype": tokens.dtype.name,
        "num_tokens": int(tokens.size),
        "tokenizer": tokenizer,
        **(extra or {}),
    }
    head = SHARD_MAGIC + json.dumps(header).encode("utf-8")
    if len(head) > HEADER_BYTES - 1:
        # a course-bpe spec embeds the whole merge table: keep it in meta.json instead
        header["tokenizer"] = {"see": "meta.json"}
        head = SHARD_MAGIC + json.dumps(header).encode("utf-8")
    head = head + b"\n" + b" " * (HEADER_BYTES - len(head) - 1)
    path = Path(path)
    atomic_write_bytes(path, head + tokens.astype(tokens.dtype.newbyteorder("<"), copy=False).tobytes())
    return path


def read_shard_header(path) -> dict:
    with open(path, "rb") as f:
        head = f.read(HEADER_BYTES)
    if not head.startswith(SHARD_MAGIC) or len(head) < HEADER_BYTES:
        raise ValueError(f"{path} is not a token shard (bad or missing header)")
    try:
        header = json.loads(head[len(SHARD_MAGIC) :].decode("utf-8").strip())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: damaged shard header ({e})") from None
    size = os.path.getsize(path) - HEADER_BYTES
    itemsize = np.dtype(header["dtype"]).itemsize
    if size != header["num_tokens"] * itemsize:
        raise ValueError(
            f"{path}: header promises {header['num_tokens']} {header['dtype']} tokens but the file holds "
            f"{size} bytes of data (truncated or damaged)"
        )
    return header


def read_shard(path) -> np.ndarray:
    """Memory-map a shard's token ids (read-only, no copy)."""
    header = read_shard_header(path)
    dtype = np.dtype(header["dtype"]).newbyteorder("<")
    return np.memmap(path, dtype=dtype, mode="r", offset=HEADER_BYTES, shape=(header["num_tokens"],))


def is_val_doc(index: int, val_fraction: float) -> bool:
    """Document `index` goes to the val split when the running fraction crosses a step.

    Exactly floor(n * val_fraction) of the first n documents are val, spread evenly,
    and it needs no total, so it works on a stream as well as on a list.
    """
    return math.floor((index + 1) * val_fraction) > math.floor(index * val_fraction)


_WORKER_TOKENIZER: TokenizerLike | None = None


def _init_worker(spec: dict) -> None:
    global _WORKER_TOKENIZER
    _WORKER_TOKENIZER = load_tokenizer(spec)


def _encode_doc(text: str) -> np.ndarray:
    tok = _WORKER_TOKENIZER
    ids = tok.encode_ordinary(text)  # special-token text in a document is just text
    if tok.eot_token is not None:
        ids = [tok.eot_token, *ids]
    return np.asarray(ids, dtype=np.int64)


def prepare_shards(
    docs: Iterable[str],
    tokenizer,
    out_dir,
    *,
    shard_tokens: int = 100_000_000,
    val_fraction: float = 0.1,
    max_tokens: int | None = None,
    num_proc: int | None = None,
    progress: bool = True,
) -> dict:
    """Tokenize documents into `out_dir/{train,val}_NNNNNN.bin` shards plus `meta.json`.

    Every document is preceded by the end-of-text token (when the tokenizer has
    one), so the model learns where documents begin and the loader can find
    document boundaries. Documents are tokenized in `num_proc` worker processes
    (default: all cores, 1 for small inputs), in order. A document goes to the val
    split per `is_val_doc` (the fraction `val_fraction`, spread evenly); when there
    is a single document (tinyshakespeare read whole), its last `val_fraction` of
    characters is the val split instead, as in nanoGPT. Shards of an earlier run in
    `out_dir` are replaced. Returns the metadata that is also written to meta.json.
    """
    from multiprocessing import get_context

    from tqdm.auto import tqdm

    from course.utils import atomic_write_text

    tok = as_tokenizer(tokenizer)
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if shard_tokens < 1:
        raise ValueError("shard_tokens must be positive")
    dtype = token_dtype(tok.vocab_size)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in list(out_dir.glob("train_*.bin")) + list(out_dir.glob("val_*.bin")):
        old.unlink()

    docs = _split_single_document(docs, val_fraction)
    try:
        total_docs = len(docs)  # type: ignore[arg-type]
    except TypeError:
        total_docs = None
    if num_proc is None:
        num_proc = 1 if (total_docs is not None and total_docs < 64) else max(1, (os.cpu_count() or 1))
    writers = {s: _ShardWriter(out_dir, s, dtype, shard_tokens, tok.spec) for s in ("train", "val")}
    forced = getattr(docs, "split_of", None)

    def encoded() -> Iterator[np.ndarray]:
        if num_proc <= 1:
            _init_worker(tok.spec)
            yield from map(_encode_doc, docs)
        else:
            with get_context("spawn").Pool(num_proc, initializer=_init_worker, initargs=(tok.spec,)) as pool:
                yield from pool.imap(_encode_doc, docs, chunksize=16)

    n_tokens = 0
    bar = tqdm(total=max_tokens, unit="tok", unit_scale=True, desc=f"tokenizing -> {out_dir}", disable=not progress)
    stream = encoded()
    try:
        for i, ids in enumerate(stream):
            split = forced(i) if forced else ("val" if is_val_doc(i, val_fraction) else "train")
            if max_tokens is not None and n_tokens + ids.size > max_tokens:
                ids = ids[: max_tokens - n_tokens]
            writers[split].add(ids)
            n_tokens += ids.size
            bar.update(ids.size)
            if max_tokens is not None and n_tokens >= max_tokens:
                break
    finally:
        stream.close()  # stops the worker pool now, not at garbage collection
        bar.close()
    meta = {
        "tokenizer": tok.spec,
        "vocab_size": tok.vocab_size,
        "eot": tok.eot_token,
        "dtype": dtype.name,
        "val_fraction": val_fraction,
        "splits": {s: w.finish() for s, w in writers.items()},
    }
    atomic_write_text(out_dir / "meta.json", json.dumps(meta, indent=1))
    return meta


class _SplitDocs:
    """One document cut into a train part and a held-out val tail (nanoGPT's 90/10 split)."""

    def __init__(self, text: str, val_fraction: float):
        cut = int(len(text) * (1 - val_fraction))
        self.parts = [text[:cut], text[cut:]] if val_fraction > 0 else [text]

    def __len__(self) -> int:
        return len(self.parts)

    def __iter__(self):
        return iter(self.parts)

    def split_of(self, i: int) -> str:
        return "train" if i == 0 else "val"


def _split_single_document(docs, val_fraction):
    try:
        n = len(docs)
    except TypeError:
        return docs
    if n == 1:
        return _SplitDocs(next(iter(docs)), val_fraction)
    return docs


class _ShardWriter:
    def __init__(self, out_dir: Path, split: str, dtype, shard_tokens: int, spec: dict):
        self.out_dir, self.split, self.dtype, self.cap, self.spec = out_dir, split, dtype, shard_tokens, spec
        self.buf = np.empty(shard_tokens, dtype=dtype)
        self.fill = 0
        self.shards: list[dict] = []
        self.docs = 0

    def add(self, ids: np.ndarray) -> None:
        self.docs += 1
        if ids.size and (ids.min() < 0 or ids.max() > np.iinfo(self.dtype).max):
            raise ValueError(f"token id out of range for {self.dtype.name}")
        while ids.size:
            take = min(self.cap - self.fill, ids.size)
            self.buf[self.fill : self.fill + take] = ids[:take]
            self.fill += take
            ids = ids[take:]
            if self.fill == self.cap:
                self._flush()

    def _flush(self) -> None:
        if self.fill == 0:
            return
        name = f"{self.split}_{len(self.shards):06d}.bin"
        write_shard(self.out_dir / name, self.buf[: self.fill], tokenizer=self.spec)
        self.shards.append({"file": name, "num_tokens": int(self.fill)})
        self.fill = 0

    def finish(self) -> dict:
        self._flush()
        return {
            "shards": self.shards,
            "num_tokens": sum(s["num_tokens"] for s in self.shards),
            "num_docs": self.docs,
        }


def read_meta(data_dir) -> dict:
    path = Path(data_dir) / "meta.json"
    if not path.is_file():
        raise DataUnavailableError(f"{data_dir} has no meta.json: prepare it with `python -m course prepare-data`")
    return json.loads(path.read_text(encoding="utf-8"))


def shard_paths(data_dir, split: str) -> list[Path]:
    """The shards of one split ('train' or 'val') of a prepared data directory, in order."""
    meta = read_meta(data_dir)
    if split not in meta["splits"]:
        raise DataUnavailableError(f"{data_dir} has no {split!r} split")
    paths = [Path(data_dir) / s["file"] for s in meta["splits"][split]["shards"]]
    if not paths:
        raise DataUnavailableError(f"the {split!r} split of {data_dir} is empty")
    return paths


# --------------------------------------------------------------------------------------
# The loader.


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
        buf = self._gather(shard, start, self.chunk + 1)
        self.step_in_shard += 1
        flat = np.empty((self.B, self.T + 1), dtype=np.int64)
        # row b is tokens [b*T, b*T + T] of the chunk: inputs tile the chunk, targets overlap by one
        idx = np.arange(self.B)[:, None] * self.T + np.arange(self.T + 1)[None, :]
        flat[:] = buf[idx]
        return flat

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
        from course.assets import load_tinyshakespeare

        text = load_tinyshakespeare()
    tok = CharTokenizer.from_text(text)
    ids = np.asarray(tok.encode(text), dtype=np.uint16)
    cut = int(len(ids) * (1 - val_fraction))
    return tok, ids[:cut], ids[cut:]
