"""HellaSwag's examples from where they live: the Hugging Face hub first, the authors' GitHub files second.

Used by `course.hellaswag` (`python -m course eval --hellaswag validation`).
The course first read the split from the authors' GitHub repository, as
build-nanogpt does; those files have been reported taken down, and links die.
The dataset also lives on the hub (Rowan/hellaswag), read here with the
`datasets` library from the hub's own parquet conversion of it (the
refs/convert/parquet revision: the repository's main branch holds a loading
script, which `datasets` >= 4 no longer runs). The two sources have different
formats, each with its parser:

- the hub: `label` is a string ("0".."3"), `ind` an int32, `endings` a list;
- GitHub's jsonl: `label` is an int, one JSON object per line.

Both become the same dict (ctx, endings, label as an int, and the other
fields as they were). The split is checked when it arrives: the number of
examples (10,042 in validation, as the dataset card says), four endings and a
label in 0..3 for each; its content checksum (`split_checksum`, SHA-256 over
ctx, endings and label, so the same for both formats) is stored beside the
cached copy and checked every time the copy is read. Offline (HF_HUB_OFFLINE
/ HF_DATASETS_OFFLINE) and without a cached copy, loading fails at once, naming
both sources and the way out: a local .jsonl file.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from course import hub
from course.text import DataUnavailableError
from course.utils import atomic_write_bytes, atomic_write_text

HUB_REPO = "Rowan/hellaswag"
HUB_REVISION = "refs/convert/parquet"
HELLASWAG_URL = "https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_{split}.jsonl"
HELLASWAG_SPLITS = {"validation": "val", "val": "val", "train": "train"}
HUB_SPLITS = {"val": "validation", "train": "train"}
EXPECTED_EXAMPLES = {"val": 10_042, "train": 39_905}  # the dataset card's counts


def _cache_dir() -> Path:
    return Path(os.environ.get("COURSE_CACHE", Path.home() / ".cache" / "course"))


def _example(rec: dict, where: str, *, label_type) -> dict:
    for key in ("ctx", "endings", "label"):
        if key not in rec:
            raise ValueError(f"{where}: HellaSwag example is missing {key!r} (has {sorted(rec)})")
    if not isinstance(rec["label"], label_type):
        raise ValueError(f"{where}: label {rec['label']!r} is a {type(rec['label']).__name__}, not what this "
                         "format has (the hub's labels are strings, GitHub's are ints)")
    try:
        label = int(rec["label"])
    except ValueError:
        raise ValueError(f"{where}: label {rec['label']!r} is not a number (the test split has no labels)") from None
    endings = list(rec["endings"])
    if len(endings) != 4 or not 0 <= label < 4:
        raise ValueError(f"{where}: expected 4 endings and a label in 0..3, got {len(endings)} and {label}")
    return {**rec, "endings": endings, "label": label}


def parse_hub_record(rec: dict, index: int = 0) -> dict:
    """One example of the hub's format (label a string) as the course's dict (label an int)."""
    return _example(dict(rec), f"{HUB_REPO} example {index}", label_type=str)


def parse_github_line(line: str, where: str = "line", *, label_type=int) -> dict:
    """One line of the authors' jsonl format (label an int) as the course's dict."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where}: not valid JSON ({e})") from None
    return _example(rec, where, label_type=label_type)


def read_jsonl(path, limit: int | None = None) -> list[dict]:
    """Examples of a .jsonl file in the authors' format (a label written as a string is accepted too)."""
    path = Path(path)
    examples = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                examples.append(parse_github_line(line, f"{path}:{n}", label_type=(int, str)))
            if limit is not None and len(examples) >= limit:
                break
    return examples


def split_checksum(examples) -> str:
    """SHA-256 of the examples' ctx, endings and label, in order: the same for both formats."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps([ex["ctx"], list(ex["endings"]), int(ex["label"])], ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def _hub_records(split: str) -> list[dict]:
    """The split's rows from the hub, through `datasets` (the network; mocked in tests)."""
    from datasets import load_dataset

    return list(load_dataset(HUB_REPO, split=HUB_SPLITS[split], revision=HUB_REVISION))


def _github_lines(split: str, timeout: float) -> list[str]:
    url = HELLASWAG_URL.format(split=split)
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode("utf-8").splitlines()


def _fetch(split: str, timeout: float) -> tuple[list[dict], str]:
    """(examples, where from): the hub, else GitHub; DataUnavailableError naming both failures."""
    errors = []
    try:
        return [parse_hub_record(r, i) for i, r in enumerate(_hub_records(split))], f"hub {HUB_REPO}"
    except Exception as e:  # noqa: BLE001 - any failure of the first source means: try the second
        errors.append(f"the hub ({HUB_REPO}): {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    url = HELLASWAG_URL.format(split=split)
    try:
        lines = _github_lines(split, timeout)
    except (urllib.error.URLError, OSError) as e:  # a timeout is an OSError: no waiting past `timeout`
        gone = isinstance(e, urllib.error.HTTPError) and e.code in (404, 410)
        errors.append(f"GitHub ({url}): {e}" + (" (the authors' files have been reported taken down)" if gone else ""))
        raise DataUnavailableError(
            "cannot download HellaSwag from " + "; nor from ".join(errors)
            + ". Pass a local .jsonl file in HellaSwag's format instead."
        ) from None
    return [parse_github_line(line, f"{url}:{n}") for n, line in enumerate(lines, 1) if line.strip()], url


def _check_split(examples: list[dict], split: str, where: str) -> None:
    want = EXPECTED_EXAMPLES.get(split)
    if want is not None and len(examples) != want:
        raise DataUnavailableError(f"HellaSwag {HUB_SPLITS.get(split, split)} from {where} has {len(examples)} examples, expected {want}: "
                                   "an incomplete or changed copy; not used")


def load_split(split: str, *, timeout: float = 10.0) -> list[dict]:
    """A whole split, from the cache in ~/.cache/course ($COURSE_CACHE) or downloaded into it."""
    path = _cache_dir() / f"hellaswag_{split}.jsonl"
    sidecar = path.with_name(path.name + ".sha256")
    if path.is_file():
        examples = read_jsonl(path)
        if sidecar.is_file() and sidecar.read_text(encoding="utf-8").strip() != split_checksum(examples):
            raise DataUnavailableError(f"{path} does not match the checksum recorded when it was downloaded "
                                       f"({sidecar}): delete both files to download it again")
        return examples
    reason = hub.offline_reason(("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    if reason:
        raise DataUnavailableError(
            f"HellaSwag {HUB_SPLITS.get(split, split)} is downloaded from the hub ({HUB_REPO}) or GitHub ({HELLASWAG_URL.format(split=split)}), "
            f"but offline mode is set ({reason}). Pass a local .jsonl file in HellaSwag's format instead."
        )
    examples, where = _fetch(split, timeout)
    _check_split(examples, split, where)
    lines = "".join(json.dumps(ex, ensure_ascii=False) + "\n" for ex in examples)
    atomic_write_bytes(path, lines.encode("utf-8"))
    atomic_write_text(sidecar, split_checksum(examples) + "\n")
    return examples


def load_hellaswag(source="validation", *, limit: int | None = None, timeout: float = 10.0) -> list[dict]:
    """HellaSwag examples: from a .jsonl file in the authors' format, or a split of the real dataset.

    source: a path to a .jsonl file (fields ctx, endings, label, ...), or a split
    name ("validation", "train"), read from the cache or downloaded once (the
    hub, then GitHub) into ~/.cache/course (or $COURSE_CACHE). Offline, or with
    HF_HUB_OFFLINE / HF_DATASETS_OFFLINE set, that fails at once with a clear
    message unless the split is already cached.
    """
    path = Path(source)
    if str(source) in HELLASWAG_SPLITS and not path.is_file():
        examples = load_split(HELLASWAG_SPLITS[str(source)], timeout=timeout)
        return examples[:limit] if limit is not None else examples
    if not path.is_file():
        raise FileNotFoundError(f"no HellaSwag file at {path} (and {str(source)!r} is not a split name: 'validation', 'train')")
    return read_jsonl(path, limit)
