"""Checks for lesson 03's exercises (exercises/ex03.py).

Each layer is compared with the one in `course.model`: the same weights are
loaded into yours, and both run on the same seeded input.
"""

import pytest
import torch

from course.generate import top_p_filter as course_top_p
from course.model import GPT, MLP, Block, CausalSelfAttention, GPTConfig

LESSON = "03"

CONFIGS = {
    "4 heads": GPTConfig(block_size=32, vocab_size=50, n_layer=2, n_head=4, n_embd=32),
    "1 head, no bias": GPTConfig(block_size=32, vocab_size=50, n_layer=2, n_head=1, n_embd=24, bias=False),
}


def _x(config, B=2, T=11, seed=0):
    return torch.randn(B, T, config.n_embd, generator=torch.Generator().manual_seed(seed))


def _copy_into(mine, ref, what):
    try:
        mine.load_state_dict(ref.state_dict())
    except RuntimeError as e:
        pytest.fail(f"{what}: keep the submodules that __init__ creates, with their names ({e})", pytrace=False)
    return mine.eval(), ref.eval()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_attention_matches_course_model(ex, name):
    cfg = CONFIGS[name]
    torch.manual_seed(0)
    mine, ref = _copy_into(ex.CausalSelfAttention(cfg), CausalSelfAttention(cfg), "CausalSelfAttention")
    x = _x(cfg)
    with torch.no_grad():
        got, want = mine(x), ref(x)
    assert got.shape == x.shape, f"attention must keep the shape (B, T, C) = {tuple(x.shape)}, got {tuple(got.shape)}"
    torch.testing.assert_close(
        got, want, atol=1e-5, rtol=1e-5,
        msg=f"attention output ({name}) differs from course.model's: check the q/k/v split order, "
        "the head reshape (B, n_head, T, head_dim), the 1/sqrt(head_dim) scale and the causal mask",
    )


def test_attention_does_not_look_ahead(ex):
    cfg = CONFIGS["4 heads"]
    torch.manual_seed(1)
    attn = ex.CausalSelfAttention(cfg).eval()
    x = _x(cfg, B=1, T=12)
    changed = x.clone()
    changed[:, 7:] += 1.0  # change only the future of position 6
    with torch.no_grad():
        a, b = attn(x), attn(changed)
    torch.testing.assert_close(a[:, :7], b[:, :7], msg="outputs at positions 0..6 changed when only positions 7.. did: the causal mask is missing or wrong")
    assert not torch.allclose(a[:, 7:], b[:, 7:]), "outputs at later positions should depend on the changed inputs"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_mlp_matches_course_model(ex, name):
    cfg = CONFIGS[name]
    torch.manual_seed(2)
    mine, ref = _copy_into(ex.MLP(cfg), MLP(cfg), "MLP")
    x = _x(cfg, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(
            mine(x), ref(x), atol=1e-5, rtol=1e-5,
            msg=f"MLP output ({name}) differs: c_fc -> GELU(approximate='tanh') -> c_proj",
        )


@pytest.mark.parametrize("name", list(CONFIGS))
def test_block_matches_course_model(ex, name):
    cfg = CONFIGS[name]
    torch.manual_seed(3)
    ref = Block(cfg)
    mine, ref = _copy_into(ex.Block(cfg), ref, "Block")
    x = _x(cfg, seed=2)
    with torch.no_grad():
        torch.testing.assert_close(
            mine(x), ref(x), atol=1e-5, rtol=1e-5,
            msg=f"Block output ({name}) differs: x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)) "
            "(if this fails, check CausalSelfAttention and MLP first)",
        )


def test_block_is_residual(ex):
    cfg = CONFIGS["4 heads"]
    block = ex.Block(cfg).eval()
    state = block.state_dict()  # silence both sublayers: their output projections write zeros
    for name in ("attn.c_proj.weight", "attn.c_proj.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"):
        assert name in state, f"Block has no {name}: keep the submodules that __init__ creates, with their names"
        state[name].zero_()
    block.load_state_dict(state)
    x = _x(cfg, seed=3)
    torch.testing.assert_close(
        block(x), x, msg="with both sublayers outputting zeros the block must return x unchanged: add, don't replace"
    )


@pytest.mark.parametrize("preset", ["cpu-tiny", "cpu-small", "gpt2-medium"])
@pytest.mark.parametrize("bias", [True, False])
def test_gpt_num_params_matches_the_module(ex, preset, bias):
    cfg = GPTConfig.from_preset(preset, bias=bias, vocab_size=1000)
    with torch.device("meta"):  # shapes only, no memory
        model = GPT(cfg)
    tied = sum(p.numel() for p in model.parameters())
    assert ex.gpt_num_params(cfg) == tied, f"{preset} (bias={bias}): GPT(config) has {tied:,} parameters"
    untied = tied + cfg.vocab_size * cfg.n_embd
    assert ex.gpt_num_params(cfg, tied=False) == untied, (
        f"{preset} (bias={bias}) untied: the lm_head adds vocab_size * n_embd, {untied:,} in all"
    )


def test_gpt_num_params_gpt2(ex):
    got = ex.gpt_num_params(GPTConfig.from_preset("gpt2"))
    assert got == 124_439_808, f"GPT-2 small has 124,439,808 parameters (with tying), got {got:,}"


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9, 0.999])
def test_top_p_matches_course(ex, p):
    logits = torch.randn(5, 64, generator=torch.Generator().manual_seed(int(p * 1000))) * 2
    before = logits.clone()
    got = ex.top_p_filter(logits, p)
    assert torch.equal(logits, before), "top_p_filter must not modify its input in place"
    want = course_top_p(logits, p)
    assert got.shape == logits.shape, f"keep the shape {tuple(logits.shape)}"
    kept, want_kept = got.isfinite(), want.isfinite()
    assert torch.equal(kept, want_kept), (
        f"p={p}: kept {kept.sum(-1).tolist()} tokens per row, expected {want_kept.sum(-1).tolist()} "
        "(keep a token while the mass of the more likely ones is < p)"
    )
    assert torch.equal(got[kept], logits[kept]), "kept logits must be unchanged"


def test_top_p_edge_cases(ex):
    logits = torch.tensor([[4.0, 1.0, 0.5, 0.0, -2.0]])
    tiny = ex.top_p_filter(logits, 1e-6)
    assert tiny.isfinite().tolist() == [[True, False, False, False, False]], "a tiny p keeps exactly the most likely token"
    assert torch.equal(ex.top_p_filter(logits, 1.0), logits), "p=1 keeps every token"
    batch = torch.stack([logits[0], logits[0].flip(0)])
    assert ex.top_p_filter(batch, 0.93).isfinite().sum(-1).tolist() == [2, 2], "filter each row on its own"
