# %% [markdown]
# # 07 · RL overview: policy gradients with a verifier
#
# SFT (lesson 06) teaches by **imitation**: here is the answer, make it more likely, token by token.
# Reinforcement learning teaches by **reward**: the model writes its own answer, a program checks it,
# and whatever was rewarded becomes more likely. Nobody shows the model *how*; with a verifier it can
# find its own way to the answer. That is the recipe behind DeepSeek-R1's reasoning.
#
# This lesson runs the whole loop on a laptop CPU in a few minutes:
#
# 1. a task with a **verifier** (two-digit addition; the reward is 1 if the final answer is exact);
# 2. a small **starting model** made with SFT, stopped early so that it is often wrong;
# 3. **rollouts**: several samples per question at temperature 1;
# 4. **group advantages**: each sample's reward minus its group's mean (GRPO's baseline, no value network);
# 5. the **policy-gradient loss** on the sampled tokens only;
#
# then measures what goes right and what goes wrong: the improvement against a **shuffled-reward
# control**, a run whose **starting reward is near zero**, and **reward hacking** of a verifier
# with a loophole. It ends with where RLHF, reward models and DPO fit.
#
# The code lives in `course/rl.py` (the algorithm) and `course/rl_tasks.py` (tasks and verifiers);
# `python -m course rl` runs the same outside the notebook.

# %%
import copy
import time

import matplotlib.pyplot as plt
import torch

from course.model import count_params
from course.rl import (
    RLConfig,
    evaluate_pass_at_1,
    evaluate_pass_at_k,
    group_advantages,
    plot_rl,
    policy_loss,
    rollouts,
    token_logprobs,
    train_rl,
)
from course.chat import render_for_completion
from course.rl_tasks import AdditionTask, benefit_of_the_doubt, exact_answer, parse_answer, start_model

torch.set_num_threads(min(2, torch.get_num_threads()))
mine = course.exercise("07")

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
for completion in [task.solution(p), "3+9=12 8+2+1=11 =110", "3+9=12 8+2+1=11 =", "=111."]:
    print(f"  reward {task.reward(completion, p):.0f}  <- {completion!r}")

# %% [markdown]
# The parser is where verifiers go wrong, so it is your first exercise: `parse_answer` in
# `exercises/ex07.py` (strict about anything that is not one number, tolerant of spaces, a trailing
# period, a sign and thousands separators).

# %%
examples = [task.solution(p), "3+9=12 8+2+1=11 =", "=111.", "=111 or 112", "= 1,111"]
parsed = course.your_turn(mine.parse_answer, parse_answer, examples[0])
print([parse_answer(e) for e in examples])

# %% [markdown]
# ## 2. The starting model
#
# A 2-layer GPT over characters, fine-tuned on 20,000 demonstrations with the course trainer
# (`course.sft.finetune`). The schedule is planned for 400 steps and **stopped early**, so the
# model has learned the format but not yet the arithmetic: a realistic start for RL (a model
# that is always right has nothing to learn from a reward; one that is never right gets no signal).

# %%
# NBVAL_IGNORE_OUTPUT
t0 = time.perf_counter()
early = {100: None}  # also keep the model as it was after 100 steps (for section 6)
sft_model, tok, sft = start_model(task, sft_steps=400, stop_at=150, n_embd=128, n_layer=2, device="cpu",
                                  snapshots=early)
eval_problems = task.problems(200, seed=RLConfig().problem_seed + 1)  # the held-out set train_rl uses
start_pass1 = evaluate_pass_at_1(sft_model, tok, task, eval_problems)
print(f"{count_params(sft_model):,} parameters, {len(sft.losses)} SFT steps in {time.perf_counter() - t0:.0f} s, "
      f"final loss {sft.losses[-1]:.3f}")
print(f"greedy pass@1 on 200 held-out problems: {start_pass1:.1%}")

# %% [markdown]
# **pass@k**: sample k answers at temperature 1 and count the problem solved if *any* is right
# (the unbiased estimator of the Codex paper, `course.rl.pass_at_k`). The gap between pass@1 and
# pass@8 is what RL can harvest: the model *can* produce the right answer, just not reliably. RL
# turns "sometimes, among 8 tries" into "first time".

# %%
# NBVAL_IGNORE_OUTPUT
p1_t1 = evaluate_pass_at_k(sft_model, tok, task, eval_problems[:100], k=1, n=8)
p8 = evaluate_pass_at_k(sft_model, tok, task, eval_problems[:100], k=8, n=8)
print(f"temperature 1: pass@1 {p1_t1:.1%}, pass@8 {p8:.1%}   (greedy pass@1 {start_pass1:.1%})")
assert p8 > p1_t1 + 0.2

# %% [markdown]
# ## 3. One step of RL, unpacked
#
# **Rollouts**: 8 samples for each of 2 questions, at temperature 1, generated with the KV cache.
# Each sample is scored by the verifier.

# %%
# NBVAL_IGNORE_OUTPUT
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
adv = course.your_turn(mine.group_advantages, group_advantages, rewards)
print(adv.round(decimals=2))
print("hand-checked cases:", group_advantages(torch.tensor([[1.0, 0, 0, 1], [1, 1, 1, 1]])).tolist())

# %% [markdown]
# **The loss**: -advantage x log-probability of each *sampled* token, averaged over all sampled
# tokens of the batch. The prompt's tokens are masked out: the model did not choose them, so
# there is nothing to reinforce (the same reason SFT masks the user's turn). Each token counts the
# same, whichever completion it is in. Your exercise: `pg_loss`.

# %%
logp = token_logprobs(sft_model, ro.ids)
loss = course.your_turn(mine.pg_loss, policy_loss, logp.detach(), adv.reshape(-1), ro.mask)
print(f"loss {float(loss):.4f} over {int(ro.mask.sum())} sampled tokens "
      f"(of {ro.mask.numel()} positions; the rest are prompt and padding)")

# %% [markdown]
# Minimising it raises the log-probability of completions that beat their group and lowers the
# others: the REINFORCE policy gradient, with the group mean as its baseline. `course.rl.policy_loss`
# also has PPO's clipped ratio (`updates_per_batch > 1` reuses a batch for several updates without
# running away from it) and a KL penalty to the starting model (`kl_coef`); both are tested in
# `tests/test_rl.py`. Everything below is on-policy, no KL, as in the prototype of this lesson.
#
# ## 4. The experiment
#
# `train_rl` repeats that step: 25 steps of 16 fresh questions x 8 samples, AdamW at lr 1e-4.
# Greedy pass@1 on the same 200 held-out problems before and after.

# %%
# NBVAL_IGNORE_OUTPUT
cfg = RLConfig(steps=25, prompts_per_step=16, group_size=8, lr=1e-4)
policy = copy.deepcopy(sft_model)
main = train_rl(policy, tok, task, cfg)
print(f"greedy pass@1 {main.pass1_before:.1%} -> {main.pass1_after:.1%} in {cfg.steps} steps "
      f"({main.seconds:.0f} s); reward at temperature 1: {main.history['reward'][0]:.2f} -> "
      f"{sum(main.history['reward'][-5:]) / 5:.2f} (mean of the last 5 steps)")
for step, q, text in main.samples:
    print(f"  step {step:2d}: {q} -> {text!r}")
assert main.pass1_after >= main.pass1_before + 0.25

# %% [markdown]
# **The control.** Is the gain the reward's doing, or would any update of this kind (sampling
# its own outputs, pushing some up and some down) help? The same run with each batch's rewards
# **shuffled** among its samples keeps everything but the information in the reward.

# %%
# NBVAL_IGNORE_OUTPUT
control = train_rl(copy.deepcopy(sft_model), tok, task, RLConfig(steps=25, lr=1e-4, shuffle_rewards=True))
print(f"shuffled rewards: greedy pass@1 {control.pass1_before:.1%} -> {control.pass1_after:.1%}")
assert control.pass1_after <= control.pass1_before + 0.05


def late(history, key):  # the mean of the last 5 steps
    return sum(history[key][-5:]) / 5


assert late(main.history, "reward") > main.history["reward"][0]
assert late(control.history, "reward") < control.history["reward"][0] + 0.1
assert abs(late(main.history, "length") - main.history["length"][0]) < 2

# %%
# NBVAL_IGNORE_OUTPUT
fig = plot_rl(main, control, labels=["RL", "shuffled-reward control"], keys=("reward", "length"))
plt.show()

# %% [markdown]
# The reward (at temperature 1, on each step's fresh questions) climbs for the real run and not for
# the control. The response length stays where SFT put it: the task's steps have a fixed length,
# and nothing here rewards writing more. (In DeepSeek-R1 the length *grew* over RL: longer
# reasoning solved more problems, so the reward bought it. That needs a model that can reason
# longer to some profit; ours cannot.)
#
# ## 5. Why the starting reward matters
#
# The gradient is built from differences inside a group. If the model almost never gets a question
# right, almost every group is all zeros: advantage 0, no gradient, nothing learned, however long
# it runs. The same model on **three-digit** sums (which it never saw in SFT):

# %%
# NBVAL_IGNORE_OUTPUT
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
# groups are the other remedies. A learning rate too large is the other common failure (try
# `python -m course rl --lr 1e-3`).
#
# ## 6. Reward hacking
#
# The model optimises the reward, not our intention. A verifier with a loophole gets exploited. A
# plausible one: give the benefit of the doubt when the answer cannot be parsed
# (`course.rl_tasks.benefit_of_the_doubt`, the bug of an `except: return True`). The same run with
# that verifier as the reward, from the model as it was after 100 SFT steps (it writes a malformed
# answer more often, so the loophole is found sooner); `accuracy` is still measured with the honest verifier.

# %%
# NBVAL_IGNORE_OUTPUT
lenient = AdditionTask(digits=2, verifier=benefit_of_the_doubt)
weak = early[100]
print(f"the model after 100 SFT steps: greedy pass@1 {evaluate_pass_at_1(weak, tok, task, eval_problems):.1%}")
hacked = train_rl(copy.deepcopy(weak), tok, lenient, RLConfig(steps=25, lr=1e-4))
h = hacked.history
for key in ("reward", "accuracy", "length"):
    print(f"{key:9s} {h[key][0]:5.2f} -> {late(h, key):5.2f}  (first step -> mean of the last 5)")
for step, q, text in hacked.samples:
    print(f"  step {step:2d}: {q} -> {text!r}")
assert late(h, "reward") - late(h, "accuracy") > 0.3 and late(h, "accuracy") <= h["accuracy"][0] + 0.05

# %%
# NBVAL_IGNORE_OUTPUT
fig = plot_rl(main, hacked, labels=["honest verifier", "loophole verifier"], keys=("reward", "accuracy", "length"))
plt.show()

# %% [markdown]
# The reward climbs; the answers do not. What the model learned to emit is in the samples above:
# malformed endings are a sure reward, a real answer is a gamble. Nothing in the training signal says
# the first is cheating. Real cases are the same in kind: code-RL models that special-case the tests,
# RLHF models that learn what the reward model likes (length, confidence, flattery) rather than what
# people meant. The defences: verifiers tested as carefully as the model (the malformed cases of
# exercise 3), held-out honest metrics watched during training, and a KL penalty that keeps the
# policy near the SFT model (`kl_coef`).
#
# ## 7. Where this sits: GRPO, R1, RLHF, DPO
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
#   the loss whose optimum is the RLHF policy. One computed example, with the lesson's models:
#   the RL-trained policy against its SFT reference, on a correct (chosen) and a wrong (rejected) answer.

# %%
from course.rl import completion_logprobs

q = eval_problems[0]
prompt = render_for_completion(task.messages(q), tok)
end = [tok.special("<|assistant_end|>")]
chosen = tok.encode(task.solution(q)) + end
a, b = (int(x) for x in q.prompt.split("+"))
rejected = tok.encode(task.solution(type(q)(f"{a}+{b + 1}", str(a + b + 1)))) + end  # the steps for a+(b+1)
beta = 0.1
with torch.no_grad():
    margins = {}
    for name, ids in (("chosen", chosen), ("rejected", rejected)):
        pi, _ = completion_logprobs(policy, prompt, ids)
        ref, _ = completion_logprobs(sft_model, prompt, ids)
        margins[name] = float(pi - ref)
z = beta * (margins["chosen"] - margins["rejected"])
dpo = -torch.nn.functional.logsigmoid(torch.tensor(z)).item()
print(f"{q.prompt}: chosen {tok.decode(chosen[:-1])!r}, rejected {tok.decode(rejected[:-1])!r}")
print(f"log-ratio policy/reference: chosen {margins['chosen']:+.2f}, rejected {margins['rejected']:+.2f}")
print(f"DPO loss {dpo:.3f} (log 2 = {torch.log(torch.tensor(2.0)):.3f} when the policy is the reference)")
assert dpo < torch.log(torch.tensor(2.0)).item()

# %% [markdown]
# DPO's loss is below log 2 exactly when the policy, relative to its reference, prefers the chosen
# answer more than the reference did. RL with our verifier moved the model that way without
# ever seeing a preference pair. DPO gets there from pairs alone, with no sampling and no reward model,
# which is why it is the common first step for open models' preference tuning; RL with verifiers is
# what reasoning models add on top.
#
# ## Exercises
#
# `exercises/ex07.py`: `parse_answer`, `group_advantages`, `pg_loss`. Check them with
# `course.check("07")`. Then try: `python -m course rl --make-start runs/rl-start` and
# `python -m course rl --from runs/rl-start --out runs/rl --kl-coef 0.1` (does the KL penalty slow the
# gain? stop the hacking?), or `--no-std` (Dr. GRPO's advice) and `--updates-per-batch 4` (PPO reuse).
