# %% [markdown]
# # 07 · RL overview: policy gradients with a verifier
#
# SFT (lesson 06) teaches by **imitation**: here is the answer, make it more likely, token by token.
# Reinforcement learning teaches by **reward**: the model writes its own answer, a program checks it,
# and whatever was rewarded becomes more likely. Nobody shows the model *how*; with a verifier it can
# find its own way to the answer. That is the recipe behind DeepSeek-R1's reasoning.
#
# This lesson runs the whole loop on one laptop CPU core in about a minute:
#
# 1. a task with a **verifier** (two-digit addition; the reward is 1 if the final answer is exact);
# 2. a small **starting model** made with SFT, stopped early so that it is often wrong;
# 3. **rollouts**: several samples per question at temperature 1;
# 4. **group advantages**: each sample's reward minus its group's mean (GRPO's baseline, no value network);
# 5. the **policy-gradient loss** on the sampled tokens only;
#
# then measures what goes right and what goes wrong: the improvement against a **shuffled-reward
# control**, a run whose **starting reward is zero**, a **learning rate too high**, and **reward
# hacking** of a verifier with a loophole. It ends with where RLHF, reward models and DPO fit.
#
# The code lives in `course/rl.py` (the algorithm) and `course/rl_tasks.py` (tasks and verifiers);
# `python -m course rl` runs the same outside the notebook.

# %%
import copy
import math

import matplotlib.pyplot as plt
import torch

from course.chat import render_for_completion
from course.model import count_params
from course.rl import (
    RLConfig,
    completion_logprobs,
    evaluate_pass_at_1,
    evaluate_pass_at_k,
    group_advantages,
    plot_rl,
    policy_loss,
    rollouts,
    token_logprobs,
    train_rl,
)
from course.rl_tasks import AdditionTask, benefit_of_the_doubt, parse_answer, start_model

# One CPU thread: a float sum split over 2 threads is added in another order than on 1, and sampling
# turns that last-bit difference into different runs. course.rl runs its own work on one thread too,
# so every number below is the same on any machine's core count.
torch.set_num_threads(1)
mine = course.exercise("07")  # your answers in exercises/ex07.py: the lesson runs them beside the package's


def late(history, key, n=5):
    """The mean of the last n steps of a logged curve (one step is noisy)."""
    return sum(history[key][-n:]) / n


def greedy_answers(model, prompts):
    """The model's greedy completion of each prompt (what pass@1 scores)."""
    return rollouts(model, tok, prompts, group_size=1, max_new_tokens=24, temperature=0).texts


def show_samples(run):
    """The first completion sampled (temperature 1) at the first and the last step of a run."""
    for step, q, text in run.samples:
        a, b = (int(x) for x in q.split("+"))
        print(f"  step {step:2d}: {q} -> {text!r}  ({'right' if parse_answer(text) == a + b else 'wrong'})")


# %% [markdown]
# ## 1. A verifiable task
#
# RL needs a reward it can compute for any answer. Here: two-digit addition. The demonstrations
# the starting model imitates write the column sums first, then the answer after a final `=`
# (`course.chat_data.addition_steps`). The verifier reads the number after the last `=`; an answer it
# cannot parse (malformed, cut off) is wrong: reward 0.

# %%
task = AdditionTask(digits=2)
p = task.problems(1, seed=3)[0]
print("question:", p.prompt, "  reference:", p.answer)
print("demonstration:", task.solution(p))
for completion in [task.solution(p), "0+5=5 4+8=12 =135", "0+5=5 4+8=12 =", "=125."]:
    print(f"  reward {task.reward(completion, p):.0f}  <- {completion!r}")

# %% [markdown]
# The parser is where verifiers go wrong, so it is your first exercise: `parse_answer` in
# `exercises/ex07.py` (strict about anything that is not one number, tolerant of spaces, a trailing
# period, a sign and thousands separators).

# %%
for text in [task.solution(p), "0+5=5 4+8=12 =", "=125.", "=125 or 126", "= 1,125"]:
    got = course.your_turn(mine.parse_answer, parse_answer, text, name=f"parse_answer({text!r})")
    print(f"   -> {got}")

# %% [markdown]
# ## 2. The starting model
#
# A 2-layer GPT over characters, fine-tuned on 20,000 demonstrations with the course trainer
# (`course.sft.finetune`). The schedule is planned for 400 steps and **stopped early**, after 125, so
# the model has learned the format but not yet the arithmetic: a realistic start for RL (a model
# that is always right has nothing to learn from a reward; one that is never right gets no signal).
# We also keep the model as it was after 100 steps, a weaker start for section 7.

# %%
# NBVAL_IGNORE_OUTPUT
# (its numbers follow training, whose float rounding differs between CPUs' SIMD kernels: the asserts are the check)
early = {100: None}
sft_model, tok, sft = start_model(task, sft_steps=400, stop_at=125, n_embd=128, n_layer=2, device="cpu",
                                  snapshots=early)
cfg = RLConfig(steps=60, prompts_per_step=16, group_size=8, lr=1e-4, eval_every=20)
eval_problems = task.problems(cfg.eval_size, seed=cfg.problem_seed + 1)  # the held-out set train_rl uses
eval_prompts = [render_for_completion(task.messages(q), tok) for q in eval_problems]
start_pass1 = evaluate_pass_at_1(sft_model, tok, task, eval_problems, max_new_tokens=cfg.max_new_tokens)
print(f"{count_params(sft_model):,} parameters, {len(sft.losses)} SFT steps, final loss {sft.losses[-1]:.3f}")
print(f"greedy pass@1 on {len(eval_problems)} held-out problems: {start_pass1:.1%}")
assert 0.2 < start_pass1 < 0.6  # often right, often wrong: room to improve, and a signal to learn from

# %% [markdown]
# **pass@k**: sample k answers at temperature 1 and count the problem solved if *any* is right
# (the unbiased estimator of the Codex paper, `course.rl.pass_at_k`). The gap between pass@1 and
# pass@8 is what RL can harvest: the model *can* produce the right answer, just not reliably. RL
# turns "sometimes, among 8 tries" into "first time".

# %%
# NBVAL_IGNORE_OUTPUT
# (its numbers follow training, whose float rounding differs between CPUs' SIMD kernels: the asserts are the check)
p1_t1 = evaluate_pass_at_k(sft_model, tok, task, eval_problems[:100], k=1, n=8)
p8 = evaluate_pass_at_k(sft_model, tok, task, eval_problems[:100], k=8, n=8)
print(f"temperature 1: pass@1 {p1_t1:.1%}, pass@8 {p8:.1%}   (greedy pass@1 {start_pass1:.1%})")
assert p8 > p1_t1 + 0.3 and p8 > start_pass1 + 0.2

# %% [markdown]
# ## 3. One step of RL, unpacked
#
# **Rollouts**: 8 samples for each of 2 questions, at temperature 1, generated with the KV cache.
# Each sample is scored by the verifier.

# %%
# NBVAL_IGNORE_OUTPUT
# (its numbers follow training, whose float rounding differs between CPUs' SIMD kernels: the asserts are the check)
probs = task.problems(2, seed=11)
prompts = [render_for_completion(task.messages(q), tok) for q in probs]
ro = rollouts(sft_model, tok, prompts, group_size=8, max_new_tokens=24,
              generator=torch.Generator().manual_seed(0))
rewards = torch.tensor([task.reward(t, probs[i]) for t, i in zip(ro.texts, ro.prompt_index)]).view(2, 8)
for g, q in enumerate(probs):
    print(f"{q.prompt} = {q.answer}")
    for j in range(3):
        print(f"   reward {rewards[g, j]:.0f}  {ro.texts[g * 8 + j]!r}")
print("rewards per group:", rewards.tolist())

# %% [markdown]
# **Advantages**: is a sample better or worse than its siblings? Subtract the group's mean reward
# (the baseline) and divide by the group's standard deviation (GRPO). The group replaces PPO's
# learned value network. If all 8 samples got the same reward (all right or all wrong) the group
# says nothing about what to do better: its advantages are 0, and dividing by its std of 0 must not
# make them nan. Your exercise: `group_advantages`.

# %%
# NBVAL_IGNORE_OUTPUT
# (its numbers follow training, whose float rounding differs between CPUs' SIMD kernels: the asserts are the check)
adv = course.your_turn(mine.group_advantages, group_advantages, rewards)
print(adv.round(decimals=2))
print("hand-checked cases:", group_advantages(torch.tensor([[1.0, 0, 0, 1], [1, 1, 1, 1]])).tolist())

# %% [markdown]
# **The loss**: -advantage x log-probability of each *sampled* token, averaged over all sampled
# tokens of the batch. The prompt's tokens are masked out: the model did not choose them, so
# there is nothing to reinforce (the same reason SFT masks the user's turn). Each token counts the
# same, whichever completion it is in. Your exercise: `pg_loss`.

# %%
# NBVAL_IGNORE_OUTPUT
# (its numbers follow training, whose float rounding differs between CPUs' SIMD kernels: the asserts are the check)
logp = token_logprobs(sft_model, ro.ids)
loss = course.your_turn(mine.pg_loss, policy_loss, logp.detach(), adv.reshape(-1), ro.mask)
print(f"loss {float(loss):.4f} over {int(ro.mask.sum())} sampled tokens "
      f"(of {ro.mask.numel()} positions; the rest are prompt and padding)")

# %% [markdown]
# Minimising it raises the log-probability of completions that beat their group and lowers the
# others: the REINFORCE policy gradient, with the group mean as its baseline. `course.rl.policy_loss`
# also has PPO's clipped ratio (`updates_per_batch > 1` reuses a batch for several updates without
# running away from it) and a KL penalty to the starting model (`kl_coef`); both are tested in
# `tests/test_rl.py`. Everything below is on-policy, no KL.
#
# ## 4. The experiment
#
# `train_rl` repeats that step: 60 steps of 16 fresh questions x 8 samples, AdamW at lr 1e-4.
# Greedy pass@1 on the same 200 held-out problems every 20 steps.

# %%
# NBVAL_IGNORE_OUTPUT
# (its numbers follow training, whose float rounding differs between CPUs' SIMD kernels: the asserts are the check)
policy = copy.deepcopy(sft_model)
main = train_rl(policy, tok, task, cfg)
gain = main.pass1_after - main.pass1_before
print("greedy pass@1 at step", ", ".join(f"{s}: {p:.1%}" for s, p in zip(main.eval_steps, main.eval_pass1)))
print(f"gain {100 * gain:+.1f} points in {cfg.steps} steps; reward at temperature 1: "
      f"{main.history['reward'][0]:.2f} -> {late(main.history, 'reward'):.2f} (first step -> mean of the last 5)")
sft_answers = greedy_answers(sft_model, eval_prompts)
rl_answers = greedy_answers(policy, eval_prompts)
fixed = [(q, a, b) for q, a, b in zip(eval_problems, sft_answers, rl_answers) if not task.correct(a, q) and task.correct(b, q)]
broken = [q for q, a, b in zip(eval_problems, sft_answers, rl_answers) if task.correct(a, q) and not task.correct(b, q)]
print(f"greedy answers: {len(fixed)} held-out questions fixed, {len(broken)} broken; e.g.")
for q, a, b in fixed[:3]:
    print(f"  {q.prompt}: {a!r} -> {b!r}")
assert main.pass1_before == start_pass1 and len(fixed) - len(broken) == round(gain * len(eval_problems))
assert gain >= 0.25  # at least +25 points (measured with other seeds: +41 to +63 in 60 steps)

# %% [markdown]
# **The control.** Is the gain the reward's doing, or would any update of this kind (sampling
# its own outputs, pushing some up and some down) help? The same run with each batch's rewards
# **shuffled** among its samples keeps everything but the information in the reward.

# %%
# NBVAL_IGNORE_OUTPUT
# (its numbers follow training, whose float rounding differs between CPUs' SIMD kernels: the asserts are the check)
control = train_rl(copy.deepcopy(sft_model), tok, task, RLConfig(steps=60, lr=1e-4, shuffle_rewards=True))
print(f"shuffled rewards: greedy pass@1 {control.pass1_before:.1%} -> {control.pass1_after:.1%}; reward "
      f"{control.history['reward'][0]:.2f} -> {late(control.history, 'reward'):.2f}")
assert late(control.history, "reward") < control.history["reward"][0] + 0.05  # no gain at temperature 1
assert control.pass1_after < control.pass1_before  # and greedy answers get worse

# %%
# NBVAL_IGNORE_OUTPUT
fig = plot_rl(main, control, labels=["RL", "shuffled-reward control"], keys=("reward", "length"))
plt.show()

# %% [markdown]
# The reward (at temperature 1, on each step's fresh questions) climbs for the real run and not for
# the control, whose greedy pass@1 even falls: pushing random samples up and down, with no
# information about which were right, only adds noise to what SFT taught.
#
# **Response length.** It stays within a token or two of where SFT put it:

# %%
# NBVAL_IGNORE_OUTPUT
# (its numbers follow training, whose float rounding differs between CPUs' SIMD kernels: the asserts are the check)
h = main.history
print(f"mean completion length (tokens): first step {h['length'][0]:.1f}, last 5 steps {late(h, 'length'):.1f}; "
      f"range over the run {min(h['length']):.1f} to {max(h['length']):.1f}")
assert abs(late(h, "length") - h["length"][0]) < 2

# %% [markdown]
# The task's steps have a fixed length, and nothing here rewards writing more. In DeepSeek-R1 the
# length *grew* over RL: longer reasoning solved more problems, so the reward bought it. That needs
# a model that can reason longer to some profit; ours cannot.
#
# ## 5. Why the starting reward matters
#
# The gradient is built from differences inside a group. If the model almost never gets a question
# right, almost every group is all zeros: advantage 0, no gradient, nothing learned, however long
# it runs. The same model on **three-digit** sums (which it never saw in SFT):

# %%
# NBVAL_IGNORE_OUTPUT
# (its numbers follow training, whose float rounding differs between CPUs' SIMD kernels: the asserts are the check)
hard = AdditionTask(digits=3)
stuck = train_rl(copy.deepcopy(sft_model), tok, hard, RLConfig(steps=8, lr=1e-4, eval_size=100))
zv = stuck.history["zero_variance"]
print(f"3-digit sums: reward per step {[round(r, 3) for r in stuck.history['reward']]}")
print(f"groups with all-equal rewards (no signal): {sum(zv) / len(zv):.0%}; "
      f"greedy pass@1 {stuck.pass1_before:.1%} -> {stuck.pass1_after:.1%}")
assert sum(zv) / len(zv) > 0.9 and stuck.pass1_after < 0.05

# %% [markdown]
# This is why RL pipelines start from an SFT model, and why DeepSeek-R1 trained R1-Zero on problems
# a strong base model could already sometimes solve; curricula (easy problems first) and larger
# groups are the other remedies.
#
# ## 6. A learning rate too high
#
# The same run as section 4 at 10 times the learning rate, 1e-3, for 20 steps:

# %%
# NBVAL_IGNORE_OUTPUT
# (its numbers follow training, whose float rounding differs between CPUs' SIMD kernels: the asserts are the check)
hot = train_rl(copy.deepcopy(sft_model), tok, task, RLConfig(steps=20, lr=1e-3))
hh = hot.history
print(f"lr 1e-3: reward per step {[round(r, 2) for r in hh['reward']]}")
print(f"greedy pass@1 {hot.pass1_before:.1%} -> {hot.pass1_after:.1%}; groups with no signal: "
      f"{hh['zero_variance'][0]:.0%} at the first step, {late(hh, 'zero_variance'):.0%} over the last 5")
show_samples(hot)
assert hot.pass1_after < hot.pass1_before / 3 and late(hh, "reward") < hh["reward"][0] / 2
assert late(hh, "zero_variance") > 0.6 > hh["zero_variance"][0]

# %% [markdown]
# Each update is computed from the model's own samples, so one step too large changes what the
# next batch looks like: the policy jumps to where its samples are wrong, the groups go all-zero
# and the run is stuck as in section 5, with no signal to climb back. With supervised learning a
# too-high learning rate makes a noisy loss; in RL it can destroy the data the next step learns
# from. Hence the small learning rates, gradient clipping (`grad_clip`, on here), PPO's clipped
# ratio and the KL penalty to the SFT model: all limit how far one batch moves the policy.
#
# ## 7. Reward hacking
#
# The model optimises the reward, not our intention. A verifier with a loophole gets exploited. A
# plausible one: give the benefit of the doubt when the answer cannot be parsed
# (`course.rl_tasks.benefit_of_the_doubt`, the bug of an `except: return True`). 40 steps with
# that verifier as the reward, from the weaker model as it was after 100 SFT steps (the more often a
# real answer is wrong, the more the loophole pays); `accuracy` is still measured with the honest
# verifier.

# %%
# NBVAL_IGNORE_OUTPUT
# (its numbers follow training, whose float rounding differs between CPUs' SIMD kernels: the asserts are the check)
lenient = AdditionTask(digits=2, verifier=benefit_of_the_doubt)
weak = early[100]
print(f"the model after 100 SFT steps: greedy pass@1 "
      f"{evaluate_pass_at_1(weak, tok, task, eval_problems, max_new_tokens=cfg.max_new_tokens):.1%}")
hacker = copy.deepcopy(weak)
hacked = train_rl(hacker, tok, lenient, RLConfig(steps=40, lr=1e-4))
h = hacked.history
for key in ("reward", "accuracy", "length"):
    print(f"{key:9s} {h[key][0]:5.2f} -> {late(h, key):5.2f}  (first step -> mean of the last 5)")
show_samples(hacked)
assert late(h, "reward") > h["reward"][0] + 0.3 and late(h, "reward") - late(h, "accuracy") > 0.3
assert late(h, "accuracy") < h["accuracy"][0] + 0.05  # no better than at the start

# %% [markdown]
# What did it learn to write? The greedy answers to the 200 held-out questions, before and after,
# read by the honest parser:

# %%
# NBVAL_IGNORE_OUTPUT
# (its numbers follow training, whose float rounding differs between CPUs' SIMD kernels: the asserts are the check)
def malformed(model):
    """The fraction of greedy answers with no parseable final number."""
    texts = greedy_answers(model, eval_prompts)
    return sum(parse_answer(t) is None for t in texts) / len(texts), texts


before, _ = malformed(weak)
after, texts = malformed(hacker)
print(f"malformed answers: {before:.1%} before, {after:.1%} after; e.g. {texts[0]!r}, {texts[1]!r}")
assert before < 0.1 and after > 0.5

# %%
# NBVAL_IGNORE_OUTPUT
fig = plot_rl(main, hacked, labels=["honest verifier", "loophole verifier"], keys=("reward", "accuracy", "length"))
plt.show()

# %% [markdown]
# The reward climbs; the answers do not. The model learned to stop answering: a malformed ending
# is a sure reward, a real answer is a gamble. Nothing in the training signal
# says the first is cheating. Real cases are the same in kind: code-RL models that special-case the
# tests, RLHF models that learn what the reward model likes (length, confidence, flattery) rather
# than what people meant. The defences: verifiers tested as carefully as the model (the malformed
# cases of your `parse_answer`), held-out honest metrics watched during training, and a KL penalty
# that keeps the policy near the SFT model (`kl_coef`).
#
# ## 8. Where this sits: GRPO, R1, RLHF, DPO
#
# - **DeepSeek-R1** (2025): GRPO (this lesson's group baseline, no value network), rewards from
#   verifiers (math answers, code tests) and a format reward, on a strong base model. Long
#   chains of thought *emerged*: nobody demonstrated them; longer reasoning earned more reward.
#   DeepSeekMath (2024) introduced GRPO; Dr. GRPO and DAPO (2025) revisit its normalisations
#   (the std division and the per-token mean used here).
# - **RLHF** (InstructGPT, 2022): no verifier for "helpful"; instead a **reward model** is trained
#   on human preferences between two answers, and PPO (with a learned value network and a KL
#   penalty) optimises it. The reward model is itself a loophole-prone verifier.
# - **DPO** (2023) skips the reward model and the sampling: for a preference pair (chosen y_w,
#   rejected y_l) it trains directly on
#   `-log sigmoid(beta * [(log pi(y_w) - log ref(y_w)) - (log pi(y_l) - log ref(y_l))])`,
#   the loss whose optimum is the RLHF policy. Computed with the lesson's models: preference pairs
#   made the way on-policy preference data is made, from the SFT model's own samples (8 per held-out
#   question; a right one is chosen, a wrong one rejected), scored by the RL-trained policy against
#   its SFT reference.

# %%
# NBVAL_IGNORE_OUTPUT
# (its numbers follow training, whose float rounding differs between CPUs' SIMD kernels: the asserts are the check)
ro = rollouts(sft_model, tok, eval_prompts[:100], group_size=8, max_new_tokens=cfg.max_new_tokens,
              generator=torch.Generator().manual_seed(1))
end = [tok.special("<|assistant_end|>")]
pairs = []  # (prompt ids, chosen ids, rejected ids)
for i, q in enumerate(eval_problems[:100]):
    texts = ro.texts[8 * i : 8 * i + 8]
    right = [t for t in texts if task.correct(t, q)]
    wrong = [t for t in texts if not task.correct(t, q)]
    if right and wrong:
        pairs.append((eval_prompts[i], tok.encode(right[0]) + end, tok.encode(wrong[0]) + end))


def log_ratio(prompt, ids):  # log pi(y) - log ref(y): how much more the policy likes y than SFT did
    with torch.no_grad():
        return float(completion_logprobs(policy, prompt, ids)[0] - completion_logprobs(sft_model, prompt, ids)[0])


beta = 0.1
margins = [log_ratio(prompt, chosen) - log_ratio(prompt, rejected) for prompt, chosen, rejected in pairs]
losses = [-torch.nn.functional.logsigmoid(torch.tensor(beta * m)).item() for m in margins]
dpo = sum(losses) / len(losses)
prefers_chosen = sum(m > 0 for m in margins)
prompt, chosen, rejected = pairs[0]
print(f"{len(pairs)} pairs, e.g. chosen {tok.decode(chosen[:-1])!r}, rejected {tok.decode(rejected[:-1])!r}: "
      f"DPO loss {losses[0]:.3f}")
print(f"mean DPO loss {dpo:.3f} (log 2 = {math.log(2):.3f} when the policy is the reference); the policy moved "
      f"towards the chosen answer in {prefers_chosen} of {len(pairs)} pairs")
assert dpo < math.log(2) - 0.05 and prefers_chosen > 0.7 * len(pairs)

# %% [markdown]
# DPO's loss is below log 2 exactly when the policy, relative to its reference, prefers the chosen
# answer more than the reference did. RL with our verifier moved the model that way on most pairs
# without ever seeing a preference pair. DPO gets there from pairs alone, with no sampling and no
# reward model, which is why it is the common first step for open models' preference tuning; RL
# with verifiers is what reasoning models add on top.

# %%
# NBVAL_IGNORE_OUTPUT
for name, run in [("main", main), ("control", control), ("3-digit", stuck), ("lr 1e-3", hot), ("loophole", hacked)]:
    print(f"{name:9s} {len(run.history['step']):3d} steps in {run.seconds:5.1f} s")

# %% [markdown]
# ## Exercises
#
# `exercises/ex07.py`: `parse_answer`, `group_advantages`, `pg_loss`. Check them with
# `course.check("07")`. Then try: `python -m course rl --make-start runs/rl-start` (a smaller start
# than this lesson's: 64 wide, stopped at 200 of 400 SFT steps) and
# `python -m course rl --from runs/rl-start --out runs/rl --kl-coef 0.1` (does the KL penalty slow the
# gain? would it have slowed the hacking?), `--lr 1e-3` with and without `--kl-coef`, or `--no-std`
# (Dr. GRPO's advice) and `--updates-per-batch 4` (PPO reuse).
