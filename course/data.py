"""The data path in one import: text -> tokens -> shards -> batches.

Used by lessons 02 and 03 and by the commands. Each stage has its own module;
this one gathers their public names, so `from course.data import char_data,
TokenLoader, prepare_shards, ...` keeps working:

1. `course.text`: `load_text(source)` gives documents (strings) through Hugging
   Face `datasets`: the bundled tinyshakespeare (offline), local
   .txt/.jsonl/.json/.parquet files, or FineWeb-Edu streamed from the hub.
2. `course.tokenizer`: `as_tokenizer(obj)`, one interface over the course's
   BPE, tiktoken encodings and the character tokenizer; `from_spec(spec)`
   rebuilds one from the spec stored with shards and checkpoints.
3. `course.shards`: `prepare_shards(docs, tokenizer, out_dir)` tokenizes
   documents into binary shards plus a meta.json (the val split held out).
4. `course.loader`: `TokenLoader` turns a token stream (an array or shards)
   into (x, y) batches, per rank, with an exact, restorable position;
   `char_data()` is nanoGPT's character-level tinyshakespeare.
"""

from __future__ import annotations

from course.loader import TokenLoader, char_data, fixed_batches
from course.shards import (
    HEADER_BYTES,
    SHARD_MAGIC,
    is_val_doc,
    prepare_shards,
    read_meta,
    read_shard,
    read_shard_header,
    shard_paths,
    token_dtype,
    write_shard,
)
from course.text import FINEWEB_EDU, DataUnavailableError, load_text
from course.tokenizer import CharTokenizer, as_tokenizer
from course.tokenizer import from_spec as load_tokenizer

__all__ = [
    "FINEWEB_EDU",
    "HEADER_BYTES",
    "SHARD_MAGIC",
    "CharTokenizer",
    "DataUnavailableError",
    "TokenLoader",
    "as_tokenizer",
    "char_data",
    "fixed_batches",
    "is_val_doc",
    "load_text",
    "load_tokenizer",
    "prepare_shards",
    "read_meta",
    "read_shard",
    "read_shard_header",
    "shard_paths",
    "token_dtype",
    "write_shard",
]
