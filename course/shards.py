"""Stage 3 of the data path, shards: token ids on disk, written once, memory-mapped to train.

Used by `python -m course prepare-data` and by the pretraining runs that
train from a prepared directory (lesson 03's trainer reads them through
`course.loader.TokenLoader`). Tokenizing a corpus is slow and training reads
it many times, so it is done once, in worker processes, into binary shards:

- every document is preceded by the end-of-text token, so the model learns
  where documents begin and the loader can find their boundaries;
- ids are stored as uint16 when the vocabulary fits (GPT-2's 50,257 does),
  else uint32: half the disk and memory bandwidth of int32;
- each shard starts with a small JSON header (dtype, token count), so a
  truncated file is caught on open instead of training on garbage;
- `meta.json` beside the shards records the tokenizer spec (the one place a
  data directory records it), the vocabulary and the splits.

    text -> tokens -> shards -> batches -> model -> loss -> checkpoint
                      ^^^^^^
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from course.text import DataUnavailableError
from course.tokenizer import as_tokenizer
from course.tokenizer import from_spec as load_tokenizer
from course.utils import atomic_write_bytes, atomic_write_text

SHARD_MAGIC = b"COURSETOK1\n"
HEADER_BYTES = 1024  # magic + JSON, padded with spaces; token ids follow


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits in 16 bits (GPT-2's 50,257 does), else uint32."""
    if vocab_size <= 2**16:
        return np.dtype(np.uint16)
    if vocab_size <= 2**32:
        return np.dtype(np.uint32)
    raise ValueError(f"vocab_size {vocab_size} does not fit in 32 bits")


def write_shard(path, tokens: np.ndarray, *, extra: dict | None = None) -> Path:
    """Write token ids behind a header recording their dtype and count (atomically).

    `extra`: more plain values for the header. The tokenizer is not one of them:
    the data directory's meta.json records it once for all its shards.
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 1:
        raise ValueError(f"a shard holds a 1-D array of token ids, got shape {tokens.shape}")
    if tokens.dtype not in (np.uint16, np.uint32):
        raise ValueError(f"shard dtype must be uint16 or uint32, got {tokens.dtype}")
    header = {"dtype": tokens.dtype.name, "num_tokens": int(tokens.size), **(extra or {})}
    head = SHARD_MAGIC + json.dumps(header).encode("utf-8")
    if len(head) > HEADER_BYTES - 1:
        raise ValueError(f"shard header of {len(head)} bytes does not fit in {HEADER_BYTES - 1}: pass less `extra`")
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


_WORKER_TOKENIZER = None  # the tokenizer of this (worker) process


def _init_worker(spec: dict) -> None:
    """A spawned worker rebuilds the tokenizer from its spec once, not per document."""

    global _WORKER_TOKENIZER
    _WORKER_TOKENIZER = load_tokenizer(spec)


def encode_document(tok, text: str) -> np.ndarray:
    """[eot, *ids of text] (just the ids when the tokenizer has no end-of-text token)."""
    ids = tok.encode_ordinary(text)  # special-token text in a document is just text
    if tok.eot_token is not None:
        ids = [tok.eot_token, *ids]
    return np.asarray(ids, dtype=np.int64)


def _encode_doc(text: str) -> np.ndarray:
    return encode_document(_WORKER_TOKENIZER, text)


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
    writers = {s: _ShardWriter(out_dir, s, dtype, shard_tokens) for s in ("train", "val")}
    forced = getattr(docs, "split_of", None)

    def encoded() -> Iterator[np.ndarray]:
        if num_proc <= 1:
            yield from (encode_document(tok, d) for d in docs)
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
    """Fills a buffer of `shard_tokens` ids and writes it out as one shard when full."""

    def __init__(self, out_dir: Path, split: str, dtype, shard_tokens: int):
        self.out_dir, self.split, self.dtype, self.cap = out_dir, split, dtype, shard_tokens
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
        write_shard(self.out_dir / name, self.buf[: self.fill])
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
    """The meta.json of a prepared data directory: tokenizer spec, vocab, eot, dtype, splits."""
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
