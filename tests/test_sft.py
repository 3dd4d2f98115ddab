"""course.sft: masked loss and gradients, padding and packing, SFT through the course trainer."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course.chat import chat_tokenizer, render_conversation
from course.data import CharTokenizer
from course.model import GPT, GPTConfig
from course.sft import SFTBatches, finetune, masked_cross_entropy, sft_pair, val_batches
from course.train import TrainConfig, train

TOK = chat_tokenizer(CharTokenizer("abcdefghijklmnopqrstuvwxyz0123456789+?. "))


def convs(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        q = "".join(rng.choice(list("abcdefgh"), size=int(rng.integers(1, 9))))
        out.append([{"role": "user", "content": q}, {"role": "assistant", "content": q[::-1]}])
    return out


def examples(n, seed=0):
    return [render_conversation(m, TOK) for m in convs(n, seed)]


def tiny_model(seed=0, block_size=32):
    torch.manual_seed(seed)
    return GPT(GPTConfig(block_size=block_size, vocab_size=TOK.vocab_size, n_layer=1, n_head=2, n_embd=16))


def test_sft_pair_shifts_and_masks():
    x, y = sft_pair([10, 11, 12, 13, 14], [0, 0, 1, 1, 0])
    assert x == [10, 11, 12, 13] and y == [-1, 12, 13, -1]
    with pytest.raises(ValueError, match="same length"):
        sft_pair([1, 2], [1])


def test_masked_cross_entropy_matches_a_naive_loop_and_masks_gradients():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7, requires_grad=True)
    targets = torch.randint(0, 7, (2, 5))
    mask = torch.tensor([[0, 1, 1, 0, 1], [1, 0, 0, 0, 1]])
    loss = masked_cross_entropy(logits, targets, mask)
    naive, n = 0.0, 0
    for b in range(2):
        for t in range(5):
            if mask[b, t]:
                naive -= torch.log_softmax(logits[b, t].double(), -1)[targets[b, t]].item()
                n += 1
    assert loss.item() == pytest.approx(naive / n, rel=1e-6)
    loss.backward()
    assert torch.all(logits.grad[mask == 0] == 0)  # exactly zero, not small
    assert torch.all(logits.grad[mask == 1].abs().sum(-1) > 0)
    with pytest.raises(ValueError, match="all zeros"):
        masked_cross_entropy(logits, targets, torch.zeros_like(mask))


def test_model_gradient_ignores_untrained_positions():
    """The model's loss with -1 targets has the gradient of the loss over the trained positions alone,
    and changing what the untrained positions would have predicted changes nothing."""
    model = tiny_model()
    x, y = (torch.tensor([v]) for v in sft_pair(*examples(1)[0]))
    model.zero_grad()
    model(x, y)[1].backward()
    g_model = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    logits, _ = model(x)
    keep = y[0] != -1
    F.cross_entropy(logits[0][keep], y[0][keep]).backward()
    for a, p in zip(g_model, model.parameters()):
        torch.testing.assert_close(a, p.grad)
    y_other = torch.where(y == -1, torch.tensor(5), y)  # targets the loss would learn if it did not mask
    mask = (y != -1).long()
    model.zero_grad()
    masked_cross_entropy(model(x)[0], y_other, mask).backward()
    for a, p in zip(g_model, model.parameters()):
        torch.testing.assert_close(a, p.grad)


def test_padded_batch_loss_is_the_token_mean_of_each_conversation_alone():
    model = tiny_model(1).eval()
    ex = examples(6, seed=1)
    loader = SFTBatches(ex, batch_size=6, seed=0, device="cpu")
    xb, yb = loader.next_batch()
    assert xb.shape[1] == max(len(i) for i, _ in ex) - 1
    with torch.no_grad():
        batch_loss = model(xb, yb)[1].item()
        total, n = 0.0, 0
        for ids, mask in ex:  # each conversation unpadded, on its own
            x, y = (torch.tensor([v]) for v in sft_pair(ids, mask))
            k = int((y != -1).sum())
            total += model(x, y)[1].item() * k
            n += k
    assert batch_loss == pytest.approx(total / n, rel=1e-5)


def test_packing_keeps_every_trained_target_once_per_epoch():
    ex = examples(40, seed=2)
    want = sorted(t for ids, mask in ex for t in sft_pair(ids, mask)[1] if t != -1)
    loader = SFTBatches(ex, batch_size=4, block_size=24, mode="pack", seed=3, device="cpu")
    got = []
    while loader.epoch == 0:
        xb, yb = loader.next_batch()
        assert xb.shape == (4, 24)
        got += [int(t) for t in yb[yb != -1]]
    # the batch that crossed into epoch 1 holds conversations of both epochs: count the first epoch's part
    extra = sorted(t for i in loader._order[: loader.pos] for t in loader.pairs[i][1] if t != -1)
    assert sorted(got) == sorted(want + extra)


def test_pad_mode_order_is_a_seeded_shuffle_and_resumes_exactly():
    ex = examples(30, seed=4)
    a = SFTBatches(ex, batch_size=4, seed=7, device="cpu")
    seen = [a.next_batch() for _ in range(5)]
    state = a.state_dict()
    rest = [a.next_batch() for _ in range(12)]  # crosses an epoch boundary
    b = SFTBatches(ex, batch_size=4, seed=7, device="cpu")
    b.load_state_dict(state)
    for (x1, y1), (x2, y2) in zip(rest, [b.next_batch() for _ in range(12)]):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    c = SFTBatches(ex, batch_size=4, seed=8, device="cpu")
    assert not torch.equal(c.next_batch()[0], seen[0][0]) or not torch.equal(c.next_batch()[0], seen[1][0])
    with pytest.raises(ValueError, match="seed 7"):
        c.load_state_dict(state)


def test_bad_batches_are_explained():
    ex = examples(3)
    with pytest.raises(ValueError, match="more than block_size"):
        SFTBatches(ex, 2, block_size=3, device="cpu")
    with pytest.raises(ValueError, match="mode must be"):
        SFTBatches(ex, 2, mode="squash", device="cpu")
    with pytest.raises(ValueError, match="needs a block_size"):
        SFTBatches(ex, 2, mode="pack", device="cpu")
    ids, mask = ex[0]
    with pytest.raises(ValueError, match="no example has a trained token"):
        SFTBatches([(ids, [0] * len(ids))], 1, device="cpu")


def test_sft_with_accumulation_resumes_exactly(tmp_path):
    ex = examples(50, seed=5)
    cfg = TrainConfig(max_steps=6, batch_size=4, grad_accum_steps=2, warmup_steps=2, eval_interval=0,
                      progress=False, device="cpu", checkpoint_path=str(tmp_path / "ckpt.pt"))
    straight = train(tiny_model(), SFTBatches(ex, 4, seed=1, device="cpu"), None, cfg)
    first = train(tiny_model(), SFTBatches(ex, 4, seed=1, device="cpu"), None, cfg, stop_at=3)
    assert len(first.losses) == 3
    resumed = train(tiny_model(), SFTBatches(ex, 4, seed=1, device="cpu"), None, cfg, resume=first.checkpoint)
    assert resumed.losses == straight.losses


def test_finetune_teaches_a_tiny_model_to_answer():
    from course.engine import complete_batch

    data = [[{"role": "user", "content": q}, {"role": "assistant", "content": "ok"}] for q in ("hi", "hello", "hey")] * 20
    model = tiny_model(2)
    cfg = TrainConfig(max_steps=60, batch_size=8, max_lr=1e-2, warmup_steps=5, eval_interval=0, progress=False, device="cpu")
    result = finetune(model, data, TOK, cfg, mode="pack", block_size=24)
    assert result.losses[-1] < 0.1 < result.losses[0]
    assert complete_batch(model, TOK, [d[:1] for d in data[:3]], max_new_tokens=4) == ["ok", "ok", "ok"]


def test_val_batches_cover_the_examples_in_order():
    ex = examples(10, seed=6)
    vb = val_batches(ex, batch_size=4, device="cpu")
    assert [x.shape[0] for x, _ in vb] == [4, 4, 2]
    rows = [(x[r], y[r]) for x, y in vb for r in range(x.shape[0])]
    for (ids, mask), (x, y) in zip(ex, rows):
        px, py = sft_pair(ids, mask)
        assert x[: len(px)].tolist() == px and y[: len(py)].tolist() == py and (y[len(py):] == -1).all()
    assert len(val_batches(ex, batch_size=4, n_batches=2, device="cpu")) == 2
