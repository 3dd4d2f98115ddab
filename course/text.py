"""Stage 1 of the data path, text: documents (strings) from a named dataset or local files.

Used by `python -m course prepare-data` and `train-tokenizer`, and by the
pretraining lessons that build on lesson 03. Everything goes through Hugging
Face `datasets`, which reads local .txt/.jsonl/.json/.parquet files the same
way as a hub dataset and can stream one far larger than the disk
(FineWeb-Edu). The bundled tinyshakespeare works offline; a hub dataset
offline fails within seconds and says why (see `course.hub`).

    text -> tokens -> shards -> batches -> model -> loss -> checkpoint
    ^^^^
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from course import hub
from course.assets import asset_path

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
    import datasets  # heavy: imported when text is loaded, not when course.data is

    if isinstance(source, str) and source == "tinyshakespeare":
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
    reason = hub.unreachable_reason(timeout, variables=("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    if reason:
        raise DataUnavailableError(
            f"FineWeb-Edu ({FINEWEB_EDU[0]}, {FINEWEB_EDU[1]}) is streamed from the Hugging Face hub, "
            f"which cannot be used: {reason}. Use the bundled 'tinyshakespeare' or local files instead."
        )
    import datasets

    ds = datasets.load_dataset(FINEWEB_EDU[0], name=FINEWEB_EDU[1], split="train", streaming=True)
    return _TextColumn(ds, text_field)
