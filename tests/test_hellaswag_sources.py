"""HellaSwag from the hub, GitHub as the fallback: both formats parsed offline, the checksum, offline fails fast.

Fixtures: tests/data/hellaswag_tiny.jsonl holds six lines of the authors' validation file (label an
int); tests/data/hellaswag_hub_tiny.parquet the first four of them in the hub's schema (Rowan/hellaswag's
dataset card: ind int32, label a string), written with `datasets`, and read back here with `datasets`.
"""

import json
import urllib.error
import urllib.request
from pathlib import Path

import datasets
import pytest

from course import hellaswag_data as hs
from course.hellaswag import load_hellaswag
from course.text import DataUnavailableError

DATA = Path(__file__).parent / "data"
GITHUB = DATA / "hellaswag_tiny.jsonl"
HUB = DATA / "hellaswag_hub_tiny.parquet"


def hub_rows(split):
    assert split == "val"
    return list(datasets.load_dataset("parquet", data_files=str(HUB), split="train"))


def github_lines(split, timeout):
    return GITHUB.read_text(encoding="utf-8").splitlines()[:4]


@pytest.fixture
def online(monkeypatch, tmp_path):
    """A cache in tmp_path, no offline variables, and a four-example 'validation split'."""
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hs, "EXPECTED_EXAMPLES", {"val": 4})
    return tmp_path


def test_both_formats_parse_to_the_same_examples():
    raw_hub = hub_rows("val")
    assert isinstance(raw_hub[0]["label"], str)  # the hub's format really is different
    from_hub = [hs.parse_hub_record(r, i) for i, r in enumerate(raw_hub)]
    from_github = [hs.parse_github_line(line) for line in github_lines("val", 1)]
    keys = ("ctx", "endings", "label", "ind", "activity_label", "source_id")
    assert [{k: e[k] for k in keys} for e in from_hub] == [{k: e[k] for k in keys} for e in from_github]
    assert all(isinstance(e["label"], int) for e in from_hub)
    assert hs.split_checksum(from_hub) == hs.split_checksum(from_github)


def test_each_parser_rejects_the_other_format_and_bad_examples():
    line = github_lines("val", 1)[0]
    with pytest.raises(ValueError, match="hub's labels are strings"):
        hs.parse_hub_record(json.loads(line))
    with pytest.raises(ValueError, match="hub's labels are strings"):
        hs.parse_github_line(json.dumps({**json.loads(line), "label": "3"}))
    with pytest.raises(ValueError, match="expected 4 endings"):
        hs.parse_github_line(json.dumps({**json.loads(line), "endings": ["a", "b"]}))
    with pytest.raises(ValueError, match="not a number"):
        hs.parse_hub_record({**hub_rows("val")[0], "label": ""})  # the test split's unlabelled rows
    with pytest.raises(ValueError, match="not valid JSON"):
        hs.parse_github_line("{nope")


def test_hub_first_then_cached_with_its_checksum(online, monkeypatch):
    monkeypatch.setattr(hs, "_hub_records", hub_rows)
    monkeypatch.setattr(hs, "_github_lines", lambda *a: pytest.fail("GitHub is only the fallback"))
    examples = load_hellaswag("validation")
    assert [e["label"] for e in examples] == [json.loads(x)["label"] for x in github_lines("val", 1)]
    cached = online / "hellaswag_val.jsonl"
    assert (online / "hellaswag_val.jsonl.sha256").read_text(encoding="utf-8").strip() == hs.split_checksum(examples)
    monkeypatch.setattr(hs, "_hub_records", lambda split: pytest.fail("the cached copy is used"))
    assert load_hellaswag("validation", limit=2) == examples[:2]
    cached.write_text(cached.read_text(encoding="utf-8").replace("roof", "ruff"), encoding="utf-8")
    with pytest.raises(DataUnavailableError, match="does not match the checksum"):
        load_hellaswag("validation")


def test_github_files_are_the_fallback(online, monkeypatch):
    def hub_down(split):
        raise ConnectionError("503 Service Unavailable")

    monkeypatch.setattr(hs, "_hub_records", hub_down)
    monkeypatch.setattr(hs, "_github_lines", github_lines)
    assert len(load_hellaswag("validation")) == 4


def test_an_incomplete_split_is_refused(online, monkeypatch):
    monkeypatch.setattr(hs, "_hub_records", lambda split: hub_rows(split)[:3])
    with pytest.raises(DataUnavailableError, match="has 3 examples, expected 4"):
        load_hellaswag("validation")
    assert not (online / "hellaswag_val.jsonl").exists()


def test_both_sources_down_names_both(online, monkeypatch):
    monkeypatch.setattr(hs, "_hub_records", lambda split: (_ for _ in ()).throw(OSError("no route to host")))

    def no_network(url, timeout):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(DataUnavailableError, match=r"the hub \(Rowan/hellaswag\).*no route.*GitHub.*local .jsonl"):
        load_hellaswag("validation")


def test_github_files_taken_down_fail_at_once_with_a_clear_message(online, monkeypatch):
    def hub_down(split):
        raise ConnectionError("503 Service Unavailable")

    seen = {}

    def gone(url, timeout):  # what raw.githubusercontent.com answers for a removed file
        seen.update(url=url, timeout=timeout)
        raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)

    monkeypatch.setattr(hs, "_hub_records", hub_down)
    monkeypatch.setattr(urllib.request, "urlopen", gone)
    with pytest.raises(DataUnavailableError) as info:
        load_hellaswag("validation", timeout=3.0)
    assert seen == {"url": hs.HELLASWAG_URL.format(split="val"), "timeout": 3.0}  # bounded: it cannot hang
    msg = str(info.value)
    assert "the hub (Rowan/hellaswag): ConnectionError: 503" in msg
    assert "HTTP Error 404: Not Found (the authors' files have been reported taken down)" in msg
    assert msg.endswith("Pass a local .jsonl file in HellaSwag's format instead.")
    assert not (online / "hellaswag_val.jsonl").exists()


def test_offline_fails_fast_without_touching_either_source(online, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(hs, "_hub_records", lambda split: pytest.fail("offline: no hub"))
    monkeypatch.setattr(hs, "_github_lines", lambda *a: pytest.fail("offline: no GitHub"))
    with pytest.raises(DataUnavailableError, match="offline mode is set.*HF_DATASETS_OFFLINE=1.*local .jsonl"):
        load_hellaswag("validation")


def test_real_hub_loader_uses_the_parquet_revision(monkeypatch):
    seen, rows = {}, hub_rows("val")

    def fake_load_dataset(repo, **kw):
        seen.update(kw, repo=repo)
        return rows

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    assert len(hs._hub_records("val")) == 4
    assert seen == {"repo": "Rowan/hellaswag", "split": "validation", "revision": "refs/convert/parquet"}
