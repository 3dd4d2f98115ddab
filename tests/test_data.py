"""The data pipeline: loading text, tokenizing to shards, and the batch loader."""

import json
import socket
from collections import Counter

import numpy as np
import pytest
import torch

import course  # noqa: F401  (offline tiktoken)
from course.data import (
    CharTokenizer,
    DataUnavailableError,
    TokenLoader,
    as_tokenizer,
    char_data,
    fixed_batches,
    is_val_doc,
    load_text,
    load_tokenizer,
    prepare_shards,
    read_shard,
    read_shard_header,
    shard_paths,
    token_dtype,
    write_shard,
)

EOT = 0


def make_docs(n_docs, rng, min_len=3, max_len=40, first_id=1):
    """Documents [EOT, unique ids...]: every non-EOT token value occurs once in the corpus."""
    docs, next_id = [], first_id
    for _ in range(n_docs):
        n = int(rng.integers(min_len, max_len))
        docs.append(np.concatenate([[EOT], np.arange(next_id, next_id + n)]))
        next_id += n
    return docs


def collect_epoch(loaders, steps):
    """Input tokens (x) of every rank over `steps` steps, per rank."""
    return [np.concatenate([ld.next_batch()[0].numpy().ravel() for _ in range(steps)]) for ld in loaders]


# ----------------------------------------------------------------------------- tokenizers


def test_char_data_matches_nanogpt_split():
    tok, train, val = char_data()
    # nanoGPT's data/shakespeare_char/prepare.py prints these numbers
    assert tok.vocab_size == 65
    assert (len(train), len(val)) == (1_003_854, 111_540)
    assert tok.decode(train[:14]) == "First Citizen:"
    assert train.dtype == np.uint16


def test_tokenizer_names_still_importable_from_data():
    """The tokenizers live in course.tokenizer; course.data re-exports the names its callers use."""
    import course.tokenizer as T

    assert (CharTokenizer, as_tokenizer, load_tokenizer) == (T.CharTokenizer, T.as_tokenizer, T.from_spec)


def test_token_dtype():
    assert token_dtype(65) == np.uint16
    assert token_dtype(50257) == np.uint16
    assert token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.uint32
    assert token_dtype(200_019) == np.uint32


# ----------------------------------------------------------------------------- loading text


def test_load_tinyshakespeare_offline():
    docs = list(load_text("tinyshakespeare"))
    assert len(docs) == 1 and len(docs[0]) == 1_115_394
    assert docs[0] == course.load_tinyshakespeare()


def test_load_local_files(tmp_path):
    rows = [{"text": f"document number {i}", "id": i} for i in range(5)]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert list(load_text(tmp_path / "a.jsonl")) == [r["text"] for r in rows]
    import datasets

    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "b.parquet"))
    assert list(load_text(tmp_path / "b.parquet")) == [r["text"] for r in rows]
    (tmp_path / "c.txt").write_text("para one\nstill one\n\npara two\n")
    paragraphs = list(load_text(tmp_path / "c.txt", sample_by="paragraph"))
    assert [p.strip() for p in paragraphs] == ["para one\nstill one", "para two"]
    assert len(list(load_text(tmp_path / "c.txt", sample_by="document"))) == 1
    with pytest.raises(DataUnavailableError, match="no column 'body'"):
        load_text(tmp_path / "a.jsonl", text_field="body")
    with pytest.raises(DataUnavailableError, match="neither a known dataset"):
        load_text(tmp_path / "missing.txt")


def no_network(*args, **kwargs):
    raise AssertionError("offline mode must not touch the network")


def test_fineweb_offline_fails_without_touching_the_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    with pytest.raises(DataUnavailableError, match="FineWeb-Edu.*HF_HUB_OFFLINE=1"):
        load_text("fineweb-edu")


# ----------------------------------------------------------------------------- shards


def test_is_val_doc_fraction():
    picks = [is_val_doc(i, 0.1) for i in range(1000)]
    assert sum(picks) == 100
    assert sum(picks[:10]) == 1 and sum(picks[:25]) == 2  # spread evenly, no total needed
    assert not any(is_val_doc(i, 0.0) for i in range(100))


def test_prepare_shards_gpt2(tmp_path):
    import tiktoken

    enc = tiktoken.get_encoding("gpt2")
    docs = [f"Document {i}: " + "some words here " * (i % 7 + 1) for i in range(40)]
    meta = prepare_shards(docs, "gpt2", tmp_path, shard_tokens=100, val_fraction=0.1, num_proc=1, progress=False)
    assert meta["dtype"] == "uint16" and meta["eot"] == 50256
    train_paths, val_paths = shard_paths(tmp_path, "train"), shard_paths(tmp_path, "val")
    assert len(train_paths) > 1, "100-token shards: the train split must span several"
    header = read_shard_header(train_paths[0])
    assert header == {"dtype": "uint16", "num_tokens": 100}  # the tokenizer is recorded once, in meta.json
    assert meta["tokenizer"] == {"kind": "tiktoken", "name": "gpt2"}
    assert all(read_shard(p).dtype == np.uint16 for p in train_paths)
    # concatenated, each split is exactly EOT + document for its documents, in order
    want = {"train": [], "val": []}
    for i, d in enumerate(docs):
        want["val" if is_val_doc(i, 0.1) else "train"] += [50256, *enc.encode_ordinary(d)]
    for split, paths in (("train", train_paths), ("val", val_paths)):
        got = np.concatenate([read_shard(p) for p in paths]).tolist()
        assert got == want[split]
        assert meta["splits"][split]["num_tokens"] == len(want[split])
    assert meta["splits"]["val"]["num_docs"] == 4
    assert json.loads((tmp_path / "meta.json").read_text()) == meta


def test_prepare_shards_multiprocess_equals_single(tmp_path):
    docs = [f"doc {i} " * (i % 5 + 1) for i in range(80)]
    prepare_shards(docs, "gpt2", tmp_path / "one", num_proc=1, progress=False)
    prepare_shards(docs, "gpt2", tmp_path / "two", num_proc=2, progress=False)
    for split in ("train", "val"):
        a = [read_shard(p).tolist() for p in shard_paths(tmp_path / "one", split)]
        b = [read_shard(p).tolist() for p in shard_paths(tmp_path / "two", split)]
        assert a == b


def test_prepare_shards_uint32_for_big_vocab(tmp_path):
    chars = "".join(chr(0x4E00 + i) for i in range(70_000))  # 70,000 distinct characters
    tok = CharTokenizer(chars)
    text = chars[-5:] + chars[:5]
    prepare_shards([text, text], tok, tmp_path, val_fraction=0.5, progress=False)
    (path,) = shard_paths(tmp_path, "train")
    assert read_shard_header(path)["dtype"] == "uint32"
    assert tok.decode(read_shard(path)) == text
    assert max(read_shard(path)) >= 65536


def test_single_document_split_like_nanogpt(tmp_path):
    text = course.load_tinyshakespeare()[:10_000]
    tok = CharTokenizer.from_text(text)
    meta = prepare_shards([text], tok, tmp_path, val_fraction=0.1, progress=False)
    assert meta["splits"]["train"]["num_tokens"] == 9_000 and meta["splits"]["val"]["num_tokens"] == 1_000
    assert tok.decode(read_shard(shard_paths(tmp_path, "val")[0])) == text[9_000:]


def test_damaged_shard_is_a_clear_error(tmp_path):
    path = write_shard(tmp_path / "s.bin", np.arange(100, dtype=np.uint16))
    assert read_shard(path).tolist() == list(range(100))
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(ValueError, match="truncated or damaged"):
        read_shard(path)
    path.write_bytes(b"hello" * 300)
    with pytest.raises(ValueError, match="not a token shard"):
        read_shard(path)


# ----------------------------------------------------------------------------- loader


def test_batches_are_shifted_by_one():
    data = np.arange(1000)
    for order in ("sequential", "random"):
        x, y = TokenLoader(data, 4, 8, order=order).next_batch()
        assert x.shape == y.shape == (4, 8) and x.dtype == torch.long
        assert torch.equal(y, x + 1)
    x, _ = TokenLoader(data, 4, 8).next_batch()
    assert x.ravel().tolist() == list(range(32))  # sequential: the first B*T tokens, row by row


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_ranks_cover_every_token_once_per_epoch(world_size):
    rng = np.random.default_rng(0)
    B, T = 2, 8
    chunk = B * T * world_size
    shards = []
    for k in range(2):  # two shards, each exactly 5 steps of every rank plus the final target
        docs = np.concatenate(make_docs(200, rng, first_id=1 + 100_000 * k))
        shards.append(docs[: 5 * chunk + 1])
    loaders = [
        TokenLoader(shards, B, T, shuffle=True, seed=3, eot=EOT, rank=r, world_size=world_size) for r in range(world_size)
    ]
    steps = loaders[0].steps_per_epoch()
    assert steps == 10
    seen = collect_epoch(loaders, steps)
    all_x = Counter(np.concatenate(seen).tolist())
    everything = Counter(np.concatenate(shards).tolist())
    # every token is an input once, except the last of each shard's (shuffled) stream: only a target
    assert not all_x - everything, "no token may be read twice"
    missing = everything - all_x
    assert sum(missing.values()) == len(shards)
    # ...and ranks never share a token (every non-EOT id is unique in the corpus)
    ids = [set(s[s != EOT].tolist()) for s in seen]
    for a in range(world_size):
        for b in range(a + 1, world_size):
            assert not ids[a] & ids[b]
    assert all(ld.epoch == 0 for ld in loaders)
    loaders[0].next_batch()
    assert loaders[0].epoch == 1


def test_documents_are_shuffled_per_epoch_and_kept_whole():
    rng = np.random.default_rng(1)
    docs = make_docs(30, rng, 2, 6)
    data = np.concatenate(docs)
    B, T = 1, 4
    loader = TokenLoader(data, B, T, shuffle=True, seed=11, eot=EOT)
    steps = loader.steps_per_epoch()
    epochs = []
    for _ in range(3):
        stream = np.concatenate([np.append(loader.next_batch()[0].numpy().ravel(), []) for _ in range(steps)])
        epochs.append(stream)
    firsts = []
    for stream in epochs:
        # cut the stream at EOTs: every piece is a whole document
        starts = np.flatnonzero(stream == EOT)
        pieces = [stream[a:b].tolist() for a, b in zip(starts, list(starts[1:]) + [len(stream)])]
        whole = {tuple(d.tolist()) for d in docs}
        assert all(tuple(p) in whole for p in pieces[:-1])  # the last may be cut by the epoch's end
        firsts.append([p[1] for p in pieces])
    assert firsts[0] != firsts[1] != firsts[2], "each epoch gets a new document order"
    again = TokenLoader(data, B, T, shuffle=True, seed=11, eot=EOT)
    assert np.array_equal(np.concatenate([again.next_batch()[0].numpy().ravel() for _ in range(steps)]), epochs[0])
    unshuffled = TokenLoader(data, B, T)
    assert np.array_equal(np.concatenate([unshuffled.next_batch()[0].numpy().ravel() for _ in range(steps)]), data[: steps * T])


@pytest.mark.parametrize("order", ["sequential", "random"])
def test_loader_position_restore(order):
    rng = np.random.default_rng(2)
    data = [np.concatenate(make_docs(50, rng)) for _ in range(3)]
    make = lambda: TokenLoader(data, 3, 7, order=order, shuffle=True, seed=5, eot=EOT, rank=1, world_size=2)
    loader = make()
    for _ in range(loader.steps_per_epoch() + 4 if order == "sequential" else 17):  # past an epoch boundary
        loader.next_batch()
    state = json.loads(json.dumps(loader.state_dict()))  # plain data
    want = [loader.next_batch() for _ in range(25)]
    restored = make()
    restored.load_state_dict(state)
    got = [restored.next_batch() for _ in range(25)]
    for (xa, ya), (xb, yb) in zip(want, got):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    other = TokenLoader(data, 3, 8, order=order, shuffle=True, seed=5, eot=EOT, rank=1, world_size=2)
    with pytest.raises(ValueError, match="block_size"):
        other.load_state_dict(state)


@pytest.mark.parametrize("order", ["sequential", "random"])
def test_skip_moves_past_a_batch_exactly_as_reading_it(order):
    """Data-parallel training skips the micro-batches other ranks run: the batches after must not change."""
    rng = np.random.default_rng(4)
    data = [np.concatenate(make_docs(40, rng)) for _ in range(3)]
    make = lambda: TokenLoader(data, 3, 7, order=order, shuffle=True, seed=5, eot=EOT)  # noqa: E731
    reader, skipper = make(), make()
    n = reader.steps_per_epoch() + 5 if order == "sequential" else 23  # across an epoch boundary
    want = [reader.next_batch() for _ in range(n)]
    for k in range(n):
        if k % 3 == 1:
            skipper.skip()
        else:
            x, y = skipper.next_batch()
            assert torch.equal(x, want[k][0]) and torch.equal(y, want[k][1]), k
    assert skipper.state_dict() == reader.state_dict()


def test_random_order_is_seeded_per_rank():
    data = np.arange(5000)
    a0 = TokenLoader(data, 4, 8, order="random", seed=1, rank=0, world_size=2).next_batch()[0]
    a0_again = TokenLoader(data, 4, 8, order="random", seed=1, rank=0, world_size=2).next_batch()[0]
    a1 = TokenLoader(data, 4, 8, order="random", seed=1, rank=1, world_size=2).next_batch()[0]
    assert torch.equal(a0, a0_again) and not torch.equal(a0, a1)


def test_loader_from_prepared_dir_and_errors(tmp_path):
    docs = [f"doc {i} " * 20 for i in range(30)]
    prepare_shards(docs, "gpt2", tmp_path, val_fraction=0.2, progress=False)
    loader = TokenLoader(tmp_path, 2, 16, split="train", shuffle=True, seed=0)
    assert loader.eot == 50256
    x, y = loader.next_batch()
    assert x.shape == (2, 16)
    with pytest.raises(ValueError, match="split="):
        TokenLoader(tmp_path, 2, 16)
    with pytest.raises(ValueError, match="not enough tokens"):
        TokenLoader(np.arange(10), 2, 16)
    with pytest.raises(ValueError, match="rank"):
        TokenLoader(np.arange(100), 1, 4, rank=2, world_size=2)
    with pytest.raises(ValueError, match="1-D"):
        TokenLoader(np.zeros((3, 3), dtype=int), 1, 2)


def test_fixed_batches():
    data = np.arange(200)
    batches = fixed_batches(data, 2, 10, 5)
    assert len(batches) == 5
    assert batches[0][0][0].tolist() == list(range(10))
    assert len(fixed_batches(data, 2, 10, 50)) == 9  # only what fits
    short = fixed_batches(np.arange(25), 4, 10, 3)  # fewer rows rather than nothing
    assert len(short) == 1 and short[0][0].shape == (2, 10)
