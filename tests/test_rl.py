"""course.rl: log-probs, group advantages, the masked policy loss, rollouts, pass@k, a short RL run."""

import itertools
import json
import math

import pytest
import torch
import torch.nn as nn

from course.chat import chat_tokenizer, render_for_completion
from course.cli import main
from course.data import CharTokenizer
from course.model import GPT, GPTConfig
from course.rl import (
    RLConfig,
    completion_logprobs,
    group_advantages,
    pass_at_k,
    policy_loss,
    rollouts,
    sample_completions,
    token_logprobs,
    train_rl,
)
from course.rl_tasks import AdditionTask, Problem, contains_answer, exact_answer, parse_answer

TOK = chat_tokenizer(CharTokenizer("0123456789+= "))


def tiny_model(seed=0, vocab=TOK.vocab_size):
    torch.manual_seed(seed)
    return GPT(GPTConfig(block_size=32, vocab_size=vocab, n_layer=1, n_head=2, n_embd=16))


# ----------------------------------------------------------------------------- log-probs


def test_completion_logprobs_equal_a_naive_per_token_loop():
    model = tiny_model().eval()
    prompt, completion = [3, 5, 1, 12], [7, 7, 2, 9, 14]
    total, per_token = completion_logprobs(model, prompt, completion)
    naive = []
    with torch.no_grad():
        for t in range(len(completion)):  # one forward per token, on the prefix only
            prefix = torch.tensor([prompt + completion[:t]])
            logits, _ = model(prefix)
            naive.append(torch.log_softmax(logits[0, -1].double(), -1)[completion[t]].item())
    assert per_token.shape == (len(completion),)
    assert per_token.tolist() == pytest.approx(naive, abs=1e-5)
    assert total.item() == pytest.approx(sum(naive), abs=1e-5)
    with pytest.raises(ValueError, match="empty"):
        completion_logprobs(model, prompt, [])
    with pytest.raises(ValueError, match="at least one token"):
        completion_logprobs(model, [], completion)


# ----------------------------------------------------------------------------- advantages


def test_group_advantages_by_hand():
    r = torch.tensor([[1.0, 0, 0, 1], [1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]])
    a = group_advantages(r)
    s = math.sqrt(0.75 * 0.25)  # population std of one 1 and three 0s
    want = [[1, -1, -1, 1], [0.75 / s, -0.25 / s, -0.25 / s, -0.25 / s], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert a.tolist() == [pytest.approx(row, abs=1e-5) for row in want]
    centred = group_advantages(r, normalize_std=False)
    assert centred.tolist() == [pytest.approx(row) for row in
                                [[0.5, -0.5, -0.5, 0.5], [0.75, -0.25, -0.25, -0.25], [0] * 4, [0] * 4]]
    assert torch.isfinite(group_advantages(torch.full((2, 8), 0.3))).all()  # zero variance: 0, not nan
    with pytest.raises(ValueError, match="groups"):
        group_advantages(torch.ones(8))


# ----------------------------------------------------------------------------- the loss


def test_policy_loss_by_hand_and_its_gradient():
    logp = torch.tensor([[-1.0, -2.0, -0.5, -9.0], [-0.1, -0.2, -3.0, -4.0]], requires_grad=True)
    mask = torch.tensor([[0.0, 1, 1, 0], [0, 0, 1, 1]])
    adv = torch.tensor([2.0, -3.0])
    loss = policy_loss(logp, adv, mask)
    # -(2 * (-2 - 0.5) + (-3) * (-3 - 4)) / 4 tokens
    assert loss.item() == pytest.approx(-(2 * -2.5 + -3 * -7.0) / 4)
    loss.backward()
    want = torch.tensor([[0, -2 / 4, -2 / 4, 0], [0, 0, 3 / 4, 3 / 4]])
    assert torch.equal(logp.grad == 0, mask == 0)  # masked tokens: exactly no gradient
    torch.testing.assert_close(logp.grad, want)


def test_policy_loss_clips_the_ratio_like_ppo():
    logp = torch.tensor([[0.5, 0.5, -0.5, 0.0]], requires_grad=True)
    old = torch.zeros(1, 4)
    mask = torch.ones(1, 4)
    for a, want_grad in [
        (1.0, [0, 0, -math.exp(-0.5) / 4, -1 / 4]),  # A > 0: ratio e^0.5 > 1.2 is clipped (no gradient)
        (-1.0, [math.exp(0.5) / 4, math.exp(0.5) / 4, 0, 1 / 4]),  # A < 0: ratio e^-0.5 < 0.8 is clipped
    ]:
        logp.grad = None
        loss = policy_loss(logp, torch.tensor([a]), mask, old_logprobs=old, clip_eps=0.2)
        ratios = [math.exp(0.5)] * 2 + [math.exp(-0.5), 1.0]
        clipped = [min(max(r, 0.8), 1.2) for r in ratios]
        assert loss.item() == pytest.approx(sum(-min(r * a, c * a) for r, c in zip(ratios, clipped)) / 4)
        loss.backward()
        torch.testing.assert_close(logp.grad, torch.tensor([want_grad]))


def test_kl_penalty_is_k3_and_zero_at_the_reference():
    logp = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    mask = torch.ones(1, 2)
    zero_adv = torch.zeros(1)
    loss = policy_loss(logp, zero_adv, mask, ref_logprobs=logp.detach(), kl_coef=0.5)
    loss.backward()
    assert loss.item() == 0 and torch.all(logp.grad == 0)
    ref = torch.tensor([[-0.5, -2.5]])
    d = ref - logp.detach()
    k3 = (torch.exp(d) - d - 1).mean().item()
    assert policy_loss(logp, zero_adv, mask, ref_logprobs=ref, kl_coef=0.5).item() == pytest.approx(0.5 * k3)
    assert k3 > 0


class FixedLogits(nn.Module):
    """A 'model' whose logits are one leaf tensor, so the gradient per position can be read off."""

    def __init__(self, T, V):
        super().__init__()
        self.logits = nn.Parameter(torch.randn(1, T, V))

    def forward(self, idx):
        return self.logits[:, : idx.size(1)].expand(idx.size(0), -1, -1), None


def test_prompt_tokens_get_no_gradient():
    torch.manual_seed(0)
    prompt, completion = [1, 4, 2, 6], [3, 3, 8]
    ids = torch.tensor([prompt + completion])
    mask = torch.zeros(1, ids.size(1) - 1)
    mask[0, len(prompt) - 1 :] = 1
    model = FixedLogits(ids.size(1), 10)
    policy_loss(token_logprobs(model, ids), torch.tensor([1.0]), mask).backward()
    g = model.logits.grad[0]
    assert torch.all(g[: len(prompt) - 1] == 0), "positions predicting prompt tokens must get no gradient"
    assert torch.all(g[len(prompt) - 1 : ids.size(1) - 1].abs().sum(-1) > 0)
    # and the loss is -A x the mean completion log-prob, computed independently
    _, per_token = completion_logprobs(model, prompt, completion)
    assert policy_loss(token_logprobs(model, ids), torch.tensor([2.0]), mask).item() == pytest.approx(
        -2 * per_token.mean().item())


# ----------------------------------------------------------------------------- rollouts


def test_rollout_masks_cover_exactly_the_sampled_completion():
    model = tiny_model(1)
    end = TOK.special("<|assistant_end|>")
    prompts = [render_for_completion([{"role": "user", "content": q}], TOK) for q in ("1+2", "33+4")]
    ro = rollouts(model, TOK, prompts, group_size=3, max_new_tokens=6, generator=torch.Generator().manual_seed(0))
    assert ro.ids.shape[0] == 6 and ro.prompt_index == [0, 0, 0, 1, 1, 1]
    for r in range(6):
        p = prompts[ro.prompt_index[r]]
        assert ro.ids[r, : len(p)].tolist() == p
        sampled = ro.ids[r, 1:][ro.mask[r] == 1].tolist()
        assert len(sampled) == ro.lengths[r] and 1 <= len(sampled) <= 6
        assert ro.ids[r, len(p) : len(p) + len(sampled)].tolist() == sampled
        assert end not in sampled[:-1]  # generation stops at the first special token
        assert ro.texts[r] == TOK.decode([t for t in sampled if t not in TOK.special_ids])


def test_greedy_completions_match_generate_without_a_cache():
    model = tiny_model(2).eval()
    prompts = [[1, 2, 3], [4, 5, 6], [7, 8]]
    got = sample_completions(model, prompts, end_ids=set(), max_new_tokens=5, temperature=0.0)
    for p, c in zip(prompts, got):
        want = model.generate(torch.tensor([p]), 5, temperature=0.0, use_cache=False)[0, len(p) :].tolist()
        assert c == want


# ----------------------------------------------------------------------------- pass@k and verifiers


def test_pass_at_k_counts_subsets():
    for n, c, k in [(5, 2, 1), (5, 2, 2), (6, 1, 3), (4, 0, 2), (4, 4, 1), (8, 3, 5)]:
        subsets = list(itertools.combinations([1] * c + [0] * (n - c), k))
        assert pass_at_k(n, c, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


@pytest.mark.parametrize("text,want", [
    ("9+7=16 4+9+1=14 =146", 146), ("146", 146), (" =146. ", 146), ("=+146", 146), ("= 1,146", 1146),
    ("=-3", -3), ("", None), ("=", None), ("=14 6", None), ("=146 or 147", None), ("=1,46", None),
    ("=abc", None), ("12=", None),
])
def test_parse_answer(text, want):
    assert parse_answer(text) == want


def test_verifiers():
    p = Problem("49+97", "146")
    assert exact_answer("9+7=16 4+9+1=14 =146", p) == 1.0
    assert exact_answer("=145", p) == 0.0 and exact_answer("146=", p) == 0.0
    assert contains_answer("146 =3", p) == 1.0 and contains_answer("=1460", p) == 0.0
    task = AdditionTask(2)
    q = task.problems(3, seed=4)
    assert q == task.problems(3, seed=4) and q != task.problems(3, seed=5)
    conv = task.conversations(1, seed=4)[0]
    assert task.reward(conv[-1]["content"], q[0]) == 1.0 and task.correct(conv[-1]["content"], q[0])
    assert AdditionTask(2, verifier=contains_answer).reward("146 =0", p) == 1.0
    assert not AdditionTask(2, verifier=contains_answer).correct("146 =0", p)


# ----------------------------------------------------------------------------- a short run


class OneTask:
    """Toy verifiable task: answer '1'. The reward looks at the first character only, so a
    random model starts near 1/vocab and RL has a signal from the first step."""

    name = "toy"

    def problems(self, n, seed=0):
        return [Problem(str(i % 10), "1") for i in range(seed, seed + n)]

    def messages(self, p):
        return [{"role": "user", "content": p.prompt}]

    def reward(self, completion, p):
        return 1.0 if completion.startswith("1") else 0.0

    def correct(self, completion, p):
        return self.reward(completion, p) == 1.0


def _toy_run(**kw):
    model = tiny_model(3)
    cfg = RLConfig(steps=15, prompts_per_step=8, group_size=8, lr=3e-2, max_new_tokens=2, eval_size=16, **kw)
    return train_rl(model, TOK, OneTask(), cfg)


def test_short_rl_run_improves_reward_and_the_shuffled_control_does_not():
    run = _toy_run()
    r = run.history["reward"]
    assert r[0] < 0.2 and sum(r[-5:]) / 5 > r[0] + 0.4, r
    assert run.pass1_after == 1.0 and run.pass1_before < 0.5
    control = _toy_run(shuffle_rewards=True)
    rc = control.history["reward"]
    assert sum(rc[-5:]) / 5 < rc[0] + 0.15, rc
    assert set(run.history) >= {"reward", "accuracy", "length", "loss", "kl"}
    again = _toy_run()
    assert again.history["reward"] == r  # deterministic


def test_a_run_repeats_exactly_on_any_number_of_threads():
    """Seeded runs repeat bit for bit, and torch's thread count does not change them: float sums split
    over 1 or 2 threads round differently, and sampling amplifies the difference (runs used to part ways)."""
    before = torch.get_num_threads()
    runs = []
    try:
        for threads in (1, 2, 2):
            torch.set_num_threads(threads)
            model = tiny_model(3)
            cfg = RLConfig(steps=6, prompts_per_step=8, group_size=8, lr=3e-2, max_new_tokens=2, eval_size=16)
            run = train_rl(model, TOK, OneTask(), cfg)
            assert torch.get_num_threads() == threads  # the caller's setting is restored
            runs.append((run.history["reward"], run.history["loss"], [p.detach().clone() for p in model.parameters()]))
    finally:
        torch.set_num_threads(before)
    rewards, losses, weights = runs[0]
    assert len(set(rewards)) > 2  # the run learns: the weights below moved
    for other_rewards, other_losses, other_weights in runs[1:]:
        assert other_rewards == rewards and other_losses == losses
        assert all(torch.equal(a, b) for a, b in zip(other_weights, weights))


def test_the_starting_model_is_the_same_on_any_number_of_threads():
    from course.rl_tasks import start_model

    before = torch.get_num_threads()
    weights = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            model, _, sft = start_model(AdditionTask(2), sft_steps=4, stop_at=3, n_embd=32, n_conversations=64,
                                        batch_size=8, device="cpu")
            assert len(sft.losses) == 3
            weights.append([p.detach().clone() for p in model.parameters()])
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(a, b) for a, b in zip(*weights))


def test_ppo_updates_and_kl_penalty_run_and_log():
    run = _toy_run(updates_per_batch=2, kl_coef=0.1)
    assert len(run.history["kl"]) == 15 and run.history["kl"][-1] > 0
    assert sum(run.history["reward"][-5:]) / 5 > run.history["reward"][0]


def test_bad_configs_are_explained():
    with pytest.raises(ValueError, match="temperature"):
        RLConfig(temperature=0)
    with pytest.raises(ValueError, match="group_size"):
        RLConfig(group_size=0)
    with pytest.raises(ValueError, match="threads"):
        RLConfig(threads=0)
    with pytest.raises(ValueError, match="vocabulary"):
        train_rl(tiny_model(vocab=5), TOK, OneTask(), RLConfig(steps=1))


def test_rl_command_makes_a_start_then_trains(tmp_path, capsys):
    start, out = tmp_path / "start", tmp_path / "rl"
    assert main(["rl", "--make-start", str(start), "--sft-steps", "4", "--sft-stop", "3",
                 "--sft-conversations", "64", "--device", "cpu"]) == 0
    assert (start / "ckpt.pt").is_file()
    assert main(["rl", "--from", str(start), "--out", str(out), "--steps", "2", "--prompts", "2",
                 "--group-size", "2", "--eval-size", "4", "--quiet", "--device", "cpu"]) == 0
    assert "greedy pass@1" in capsys.readouterr().out
    saved = json.loads((out / "train.json").read_text())
    assert saved["history"]["step"] == [1, 2] and saved["config"]["group_size"] == 2
    assert (out / "rl.png").is_file() and (out / "ckpt.pt").is_file()
    assert main(["rl", "--from", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert "--make-start" in capsys.readouterr().err
