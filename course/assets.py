"""Data bundled with the course, so that every lesson runs with no network.

`course/assets/` holds tinyshakespeare and tiktoken's own cache files for the
gpt2, r50k_base, cl100k_base and o200k_base encodings (provenance and hashes in
`course/assets/README.md`). tiktoken still verifies each file's sha256 when it
loads one, so a damaged copy is caught there too.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
TIKTOKEN_CACHE_DIR = ASSETS_DIR / "tiktoken_cache"

# name -> (relative path, sha256). tiktoken names cache files by the sha1 of their URL.
MANIFEST: dict[str, tuple[str, str]] = {
    "tinyshakespeare": (
        "tinyshakespeare.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    ),
    "gpt2/vocab.bpe": (
        "tiktoken_cache/6d1cbeee0f20b3d9449abfede4726ed8212e3aee",
        "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    ),
    "gpt2/encoder.json": (
        "tiktoken_cache/6c7ea1a7e38e3a7f062df639a5b80947f075ffe6",
        "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    ),
    "r50k_base": (
        "tiktoken_cache/0ea1e91bbb3a60f729a8dc8f777fd2fc07cd8df4",
        "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    ),
    "cl100k_base": (
        "tiktoken_cache/9b5ad71b2ce5302211f9c61530b329a4922fc6a4",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "tiktoken_cache/fb374d419588a4632f3f557e76b4b70aebbca790",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}


class AssetError(RuntimeError):
    """A bundled data file is missing or damaged."""


def asset_path(name: str) -> Path:
    """Path of a bundled asset by its manifest name; a clear error if it is missing."""
    if name not in MANIFEST:
        raise KeyError(f"unknown asset {name!r}; known: {', '.join(MANIFEST)}")
    path = ASSETS_DIR / MANIFEST[name][0]
    if not path.is_file():
        raise AssetError(
            f"bundled asset {name!r} is missing: expected the file {path}. "
            "Reinstall the course from a complete checkout (git clone, then pip install -e .)."
        )
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_asset(name: str) -> Path:
    """Like `asset_path`, and also check the file's sha256 against the manifest."""
    path = asset_path(name)
    got = sha256_file(path)
    if got != MANIFEST[name][1]:
        raise AssetError(
            f"bundled asset {name!r} at {path} is damaged: sha256 {got}, expected {MANIFEST[name][1]}"
        )
    return path


def load_tinyshakespeare() -> str:
    """The tinyshakespeare corpus (1,115,394 characters), read as UTF-8."""
    return asset_path("tinyshakespeare").read_text(encoding="utf-8")


def use_bundled_tiktoken_cache() -> str:
    """Point tiktoken at the bundled cache unless the user chose a cache already.

    tiktoken reads TIKTOKEN_CACHE_DIR when an encoding is first loaded, so this
    must run before `tiktoken.get_encoding(...)`; importing `course` does it.
    Returns the cache directory in effect.
    """
    if os.environ.get("TIKTOKEN_CACHE_DIR"):
        return os.environ["TIKTOKEN_CACHE_DIR"]
    os.environ["TIKTOKEN_CACHE_DIR"] = str(TIKTOKEN_CACHE_DIR)
    return str(TIKTOKEN_CACHE_DIR)
