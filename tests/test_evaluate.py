"""Evaluation: bits per byte on known cases, HellaSwag scoring against a naive computation."""

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

import course  # noqa: F401  (offline tiktoken)
from course.data import CharTokenizer, as_tokenizer
from course.evaluate import bits_per_byte, evaluate_loss
from course.hellaswag import completion_losses, evaluate_hellaswag, load_hellaswag, render_example
from course.model import GPT, GPTConfig

FIXTURE = Path(__file__).parent / "data" / "hellaswag_tiny.jsonl"


@pytest.fixture(scope="module")
def gpt2():
    """GPT-2's tokenizer, wrapped once for the module's tests."""
    return as_tokenizer("gpt2")


class UniformModel(nn.Module):
    """Gives every token the same logit: each prediction costs exactly ln(vocab) nats."""

    def __init__(self, vocab_size, block_size=64):
        super().__init__()
        self.config = SimpleNamespace(vocab_size=vocab_size, block_size=block_size)
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, idx, targets=None):
        logits = torch.zeros(*idx.shape, self.config.vocab_size) + 0 * self.dummy
        loss = None
        if targets is not None:
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1)
        return logits, loss


# ----------------------------------------------------------------------------- bits per byte


def test_bits_per_byte_formula():
    assert bits_per_byte(100 * 8 * math.log(2), 100) == pytest.approx(8.0)
    with pytest.raises(ValueError):
        bits_per_byte(1.0, 0)


def test_uniform_byte_model_scores_8_bits_per_byte():
    model = UniformModel(256)
    x = torch.randint(0, 256, (3, 10))
    y = torch.randint(0, 256, (3, 10))
    out = evaluate_loss(model, [(x, y)], token_bytes=torch.ones(256, dtype=torch.long))
    assert out["loss"] == pytest.approx(math.log(256))
    assert out["bpb"] == pytest.approx(8.0)
    assert out["bytes"] == 30


def test_bits_per_byte_with_multibyte_and_special_tokens():
    V = 10
    token_bytes = torch.tensor([0, 1, 2, 3, 4, 1, 1, 2, 2, 3])  # id 0: a special token, no bytes
    y = torch.tensor([[0, 3, 3, 9, 1, -1], [4, 0, 7, 2, 2, 5]])
    x = torch.zeros_like(y)
    out = evaluate_loss(UniformModel(V), [(x, y)], token_bytes=token_bytes)
    counted = [t for t in y.flatten().tolist() if t > 0]  # neither padding nor the special token
    n_bytes = sum(int(token_bytes[t]) for t in counted)
    assert out["bytes"] == n_bytes == 21  # 3+3+3+1 + 4+2+2+2+1
    assert out["bpb"] == pytest.approx(len(counted) * math.log(V) / (math.log(2) * n_bytes))
    assert out["tokens"] == 11  # the loss counts everything but padding
    assert out["loss"] == pytest.approx(math.log(V))


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base", "char"])
def test_token_bytes_add_up_to_the_text_length(name):
    text = "Héllo, wörld! Ünïcode → 🙂 and plain ASCII.\n"
    tok = as_tokenizer(CharTokenizer.from_text(text) if name == "char" else name)
    ids = tok.encode(text)
    assert int(tok.token_byte_lengths()[ids].sum()) == len(text.encode("utf-8"))
    if tok.eot_token is not None:
        assert tok.token_byte_lengths()[tok.eot_token] == 0


# ----------------------------------------------------------------------------- HellaSwag


def naive_ending_losses(model, tok, example):
    """Each ending scored on its own, token by token, in float64: (sums, means)."""
    ctx = tok.encode(example["ctx"])
    sums, means = [], []
    for ending in example["endings"]:
        end = tok.encode(" " + ending)
        seq = torch.tensor([ctx + end])
        logits, _ = model(seq)
        logp = torch.log_softmax(logits[0].double(), dim=-1)
        total = 0.0
        for t in range(len(ctx), len(ctx) + len(end)):
            total -= float(logp[t - 1, seq[0, t]].detach())
        sums.append(total)
        means.append(total / len(end))
    return sums, means


def test_fixture_is_in_hellaswag_format():
    examples = load_hellaswag(FIXTURE)
    assert len(examples) == 6
    for ex in examples:
        assert set(ex) >= {"ind", "activity_label", "ctx_a", "ctx_b", "ctx", "split", "endings", "label", "source_id"}
        assert len(ex["endings"]) == 4 and 0 <= int(ex["label"]) < 4
        assert ex["ctx"].startswith(ex["ctx_a"])


def test_render_example_masks_only_the_endings(gpt2):
    tok = gpt2
    ex = load_hellaswag(FIXTURE)[0]
    tokens, mask, label = render_example(ex, tok)
    ctx = tok.encode(ex["ctx"])
    assert label == 3 and tokens.shape[0] == 4
    for i, ending in enumerate(ex["endings"]):
        end = tok.encode(" " + ending)
        assert tokens[i, : len(ctx) + len(end)].tolist() == ctx + end
        assert mask[i].tolist() == [0] * len(ctx) + [1] * len(end) + [0] * (tokens.shape[1] - len(ctx) - len(end))


def test_hellaswag_scoring_matches_naive_computation(gpt2):
    torch.manual_seed(0)
    tok = gpt2
    model = GPT(GPTConfig(block_size=128, vocab_size=tok.vocab_size, n_layer=2, n_head=2, n_embd=32)).eval()
    examples = load_hellaswag(FIXTURE)
    out = evaluate_hellaswag(model, tok, examples)
    correct = correct_norm = 0
    for ex, (_, pred, pred_norm) in zip(examples, out["predictions"]):
        sums, means = naive_ending_losses(model, tok, ex)
        tokens, mask, _ = render_example(ex, tok)
        got_sums, got_means = completion_losses(model, tokens, mask)
        torch.testing.assert_close(got_sums.double(), torch.tensor(sums, dtype=torch.float64), rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(got_means.double(), torch.tensor(means, dtype=torch.float64), rtol=1e-5, atol=1e-5)
        assert pred == min(range(4), key=sums.__getitem__)
        assert pred_norm == min(range(4), key=means.__getitem__)
        correct += pred == int(ex["label"])
        correct_norm += pred_norm == int(ex["label"])
    assert out["n"] == 6
    assert out["acc"] == correct / 6 and out["acc_norm"] == correct_norm / 6


def test_uniform_model_picks_the_shortest_ending_by_total_loss(gpt2):
    tok = gpt2
    examples = load_hellaswag(FIXTURE)
    out = evaluate_hellaswag(UniformModel(tok.vocab_size, block_size=256), tok, examples)
    for ex, (_, pred, _) in zip(examples, out["predictions"]):
        lengths = [len(tok.encode(" " + e)) for e in ex["endings"]]
        assert lengths[pred] == min(lengths)


def test_long_context_keeps_the_ending(gpt2):
    tok = gpt2
    ex = load_hellaswag(FIXTURE)[5]
    full, _, _ = render_example(ex, tok)
    tokens, mask, _ = render_example(ex, tok, max_len=40)
    assert full.shape[1] > 40 and tokens.shape[1] <= 40
    for i, ending in enumerate(ex["endings"]):
        assert int(mask[i].sum()) == len(tok.encode(" " + ending))
    with pytest.raises(ValueError, match="does not fit"):
        render_example(ex, tok, max_len=5)


def test_hellaswag_offline_fails_fast(monkeypatch, tmp_path):
    import urllib.request

    from course.text import DataUnavailableError

    def network_used(*args, **kwargs):
        raise AssertionError("offline mode must not touch the network")

    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(urllib.request, "urlopen", network_used)
    with pytest.raises(DataUnavailableError, match="offline mode"):
        load_hellaswag("validation")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)

    def no_network(url, timeout):
        raise urllib.error.URLError("Name or service not known")

    from course import hellaswag_data

    monkeypatch.setattr(hellaswag_data, "_hub_records", lambda split: no_network(None, None))
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(DataUnavailableError, match="cannot download HellaSwag"):
        load_hellaswag("validation")
    # once cached, the split loads offline
    (tmp_path / "hellaswag_val.jsonl").write_text(FIXTURE.read_text(encoding="utf-8"), encoding="utf-8")
    assert len(load_hellaswag("validation", limit=2)) == 2
    with pytest.raises(FileNotFoundError, match="not a split name"):
        load_hellaswag(tmp_path / "missing.jsonl")


def test_unigram_bpb_equals_a_counted_baseline():
    """The context-free baseline, against a count done by hand with collections.Counter."""
    from collections import Counter

    import numpy as np

    from course.evaluate import unigram_bpb

    train, val, vocab = [0, 1, 1, 2, 2, 2], [2, 1, 3], 4
    counts = Counter(train)
    total = len(train) + vocab  # add-one smoothing over the whole vocabulary
    nats = -sum(math.log((counts[t] + 1) / total) for t in val)
    expected = nats / math.log(2) / 7  # bits over the 7 bytes the val text had
    got = unigram_bpb(np.array(train), np.array(val), 7, vocab)
    assert math.isclose(got, expected, rel_tol=1e-12)
