"""Reinforcement learning with a verifier: policy gradients with a group baseline (lesson 07).

SFT imitates demonstrations. RL lets the model answer on its own, checks each
answer with a verifier, and makes rewarded answers more likely. The recipe
here is GRPO's (DeepSeekMath, DeepSeek-R1), the simplest one that works:

1. rollouts: for each of P prompts, sample G completions at temperature 1
   with the KV cache (`rollouts`);
2. rewards: 1 if the verifier accepts a completion, else 0 (`course.rl_tasks`);
3. advantages: each reward minus its group's mean, optionally divided by the
   group's std (`group_advantages`). The group is its own baseline, so no
   value network is trained; a group whose rewards are all equal teaches
   nothing and gets advantage 0;
4. loss: -advantage x log-prob of every sampled completion token, averaged
   over all completion tokens of the batch (`policy_loss`). Prompt tokens and
   padding are masked out: the model is not trained to write the question.

On-policy (one update per batch) the loss gradient is the REINFORCE policy
gradient. With `updates_per_batch > 1` the later updates use PPO's clipped
ratio against the log-probs the batch was sampled with, so a batch can be
reused without the policy running away from it. `kl_coef > 0` adds a penalty
for drifting from a frozen reference model (the SFT model), per token, with
the k3 estimator `exp(ref - logp) - (ref - logp) - 1` (>= 0, unbiased).

Public API (stable; `python -m course rl` and the speedrun call it):

    from course.rl import RLConfig, train_rl, pass_at_k, evaluate_pass_at_1
    from course.rl_tasks import AdditionTask
    result = train_rl(model, tokenizer, AdditionTask(2), RLConfig(steps=25))
    result.pass1_before, result.pass1_after, result.history["reward"]

`train_rl` trains the model in place. `tokenizer` is anything
`course.chat.chat_tokenizer` takes (the chat special tokens are added if
missing); the model's vocabulary must cover the chat tokenizer's.

Reproducible: a run is seeded (`RLConfig.seed`: rollouts draw from their own
`torch.Generator`, rewards are shuffled by a seeded NumPy generator) and its
CPU work runs on a fixed number of threads (`RLConfig.threads`, 1 by default;
`sample_completions` likewise), because float sums split over threads round
differently for each thread count and sampling amplifies the difference: the
same run on 1 and 2 threads used to part ways within a few steps.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from course.chat import chat_tokenizer, render_for_completion
from course.generate import KVCache, sample_next
from course.utils import atomic_write_text, cpu_threads

# ----------------------------------------------------------------------------- log-probs


def token_logprobs(model, ids: torch.Tensor) -> torch.Tensor:
    """log p(ids[:, t+1] | ids[:, :t+1]) for every position: (B, T) ids -> (B, T-1), with grad."""
    logits, _ = model(ids[:, :-1])
    logp = F.log_softmax(logits.float(), dim=-1)
    return logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)


def completion_logprobs(model, prompt_ids, completion_ids) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum, per-token) log-probabilities of `completion_ids` following `prompt_ids`.

    One forward over prompt + completion; the per-token tensor has one entry
    per completion token (log p of that token given everything before it).
    The sum is the sequence's log-likelihood, what HellaSwag-style scoring and
    DPO compare. Differentiable (call under `torch.no_grad()` to score).
    """
    prompt, completion = [int(i) for i in prompt_ids], [int(i) for i in completion_ids]
    if not prompt:
        raise ValueError("the prompt must hold at least one token (the completion is conditioned on it)")
    if not completion:
        raise ValueError("the completion is empty: nothing to score")
    device = next(model.parameters()).device
    ids = torch.tensor([prompt + completion], device=device)
    per_token = token_logprobs(model, ids)[0, len(prompt) - 1 :]
    return per_token.sum(), per_token


# ----------------------------------------------------------------------------- advantages and loss


def group_advantages(rewards: torch.Tensor, *, normalize_std: bool = True, eps: float = 1e-6) -> torch.Tensor:
    """Advantages of rewards shaped (groups, G): reward minus its group's mean, over the group's std.

    The std is the population std (divide by G). A group whose rewards are all
    equal (std < eps: every sample right, or every one wrong) gets advantage 0
    everywhere: it says nothing about which completion was better, and
    dividing by its zero std would blow up. `normalize_std=False` keeps the
    centred reward only (Dr. GRPO argues the division over-weights easy and
    hopeless prompts).
    """
    r = torch.as_tensor(rewards, dtype=torch.float32)
    if r.dim() != 2:
        raise ValueError(f"rewards must be shaped (groups, samples per group), got {tuple(r.shape)}")
    centred = r - r.mean(dim=1, keepdim=True)
    if not normalize_std:
        return centred
    std = r.std(dim=1, unbiased=False, keepdim=True)
    flat = std < eps
    return torch.where(flat, torch.zeros_like(centred), centred / torch.where(flat, torch.ones_like(std), std))


def policy_loss(
    logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    old_logprobs: torch.Tensor | None = None,
    clip_eps: float = 0.2,
    ref_logprobs: torch.Tensor | None = None,
    kl_coef: float = 0.0,
) -> torch.Tensor:
    """The policy-gradient loss, averaged over every completion token of the batch.

    logprobs (N, T): log p of each token under the current policy (with grad);
    advantages (N,): one per sequence, shared by its tokens; mask (N, T): 1 on
    sampled completion tokens, 0 on prompt and padding (they get no gradient).

    Per token, on-policy (no `old_logprobs`): -A * logp, REINFORCE with a
    baseline. With `old_logprobs` (the batch's log-probs when it was sampled):
    PPO's -min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A), ratio =
    exp(logp - old_logp); at ratio 1 its gradient is REINFORCE's, and once
    an update has moved a token's probability by more than eps in the
    advantage's direction that token stops pushing. With `ref_logprobs`,
    `kl_coef` x the k3 KL estimate to the reference is added.
    The sum is divided by the number of completion tokens in the batch.
    """
    if logprobs.shape != mask.shape:
        raise ValueError(f"logprobs {tuple(logprobs.shape)} and mask {tuple(mask.shape)} must have the same shape")
    if advantages.shape != logprobs.shape[:1]:
        raise ValueError(f"advantages must be one per sequence, shape ({logprobs.size(0)},), got {tuple(advantages.shape)}")
    m = mask.to(logprobs.dtype)
    n = m.sum()
    if n == 0:
        raise ValueError("the mask is all zeros: no completion token to learn from")
    adv = advantages.to(logprobs.dtype).unsqueeze(1)
    if old_logprobs is None:
        per_token = -adv * logprobs
    else:
        ratio = torch.exp(logprobs - old_logprobs)
        per_token = -torch.minimum(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv)
    if ref_logprobs is not None and kl_coef:
        d = ref_logprobs - logprobs
        per_token = per_token + kl_coef * (torch.exp(d) - d - 1)
    return (per_token * m).sum() / n


# ----------------------------------------------------------------------------- rollouts


@dataclass
class Rollouts:
    """A batch of sampled completions, ready for the loss.

    ids (N, T): prompt + completion, right-padded; mask (N, T-1): 1 where
    ids[:, 1:] is a sampled completion token (its end-of-turn token included),
    aligned with `token_logprobs`; texts: the completions decoded (up to the
    end token); lengths: completion tokens per row; prompt_index: the prompt each row answers.
    """

    ids: torch.Tensor
    mask: torch.Tensor
    texts: list[str]
    lengths: list[int]
    prompt_index: list[int]


@torch.no_grad()
def sample_completions(
    model, prompts: list[list[int]], *, end_ids, max_new_tokens: int, temperature: float, generator=None,
    threads: int | None = 1,
) -> list[list[int]]:
    """Sample one completion per prompt (lists of ids) with a KV cache; prompts of equal length run together.

    A completion stops after the first token in `end_ids` (kept) or after
    `max_new_tokens`. temperature 0 is greedy. The CPU work runs on `threads`
    threads (None: torch's setting) so that seeded samples are the same on
    any thread count (see `course.utils.cpu_threads`).
    """
    with cpu_threads(threads):
        return _sample_completions(model, prompts, end_ids=end_ids, max_new_tokens=max_new_tokens,
                                   temperature=temperature, generator=generator)


def _sample_completions(model, prompts, *, end_ids, max_new_tokens, temperature, generator):
    device = next(model.parameters()).device
    block = model.config.block_size
    end = torch.tensor(sorted(end_ids), device=device)
    out: list[list[int]] = [[] for _ in prompts]
    by_len: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_len.setdefault(len(p), []).append(i)
    was_training = model.training
    model.eval()
    try:
        for length, members in sorted(by_len.items()):
            new = min(max_new_tokens, block - length)
            if new <= 0:
                raise ValueError(f"a prompt is {length} tokens; the model's context is {block}")
            idx = torch.tensor([prompts[i] for i in members], device=device)
            cache = KVCache(model.config.n_layer, length + new)
            logits, _ = model(idx, cache=cache)
            done = torch.zeros(len(members), dtype=torch.bool, device=device)
            rows = []
            for step in range(new):
                nxt = sample_next(logits[:, -1, :], temperature, None, None, generator)
                rows.append(torch.where(done.unsqueeze(1), torch.full_like(nxt, -1), nxt))
                done |= torch.isin(nxt.squeeze(1), end)
                if bool(done.all()) or step == new - 1:
                    break
                logits, _ = model(nxt, cache=cache)
            gen = torch.cat(rows, dim=1).tolist()
            for i, row in zip(members, gen):
                out[i] = [t for t in row if t >= 0]
    finally:
        model.train(was_training)
    return out


def rollouts(model, tokenizer, prompts: list[list[int]], *, group_size: int, max_new_tokens: int,
             temperature: float = 1.0, generator=None) -> Rollouts:
    """`group_size` samples for each prompt (ids from `render_for_completion`), as a padded batch."""
    tok = chat_tokenizer(tokenizer)
    expanded = [p for p in prompts for _ in range(group_size)]
    comps = sample_completions(model, expanded, end_ids=tok.special_ids, max_new_tokens=max_new_tokens,
                               temperature=temperature, generator=generator)
    width = max(len(p) + len(c) for p, c in zip(expanded, comps))
    device = next(model.parameters()).device
    ids = torch.zeros(len(expanded), width, dtype=torch.long)
    mask = torch.zeros(len(expanded), width - 1)
    for r, (p, c) in enumerate(zip(expanded, comps)):
        ids[r, : len(p) + len(c)] = torch.tensor(p + c)
        mask[r, len(p) - 1 : len(p) - 1 + len(c)] = 1
    texts = [tok.decode(_until_special(c, tok.special_ids)) for c in comps]
    return Rollouts(ids.to(device), mask.to(device), texts, [len(c) for c in comps],
                    [i for i in range(len(prompts)) for _ in range(group_size)])


def _until_special(ids, specials) -> list[int]:
    cut = next((k for k, t in enumerate(ids) if t in specials), len(ids))
    return ids[:cut]


# ----------------------------------------------------------------------------- evaluation


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct (Chen et al. 2021, Codex):
    1 - C(n-c, k) / C(n, k), the chance that k samples drawn without replacement hold a correct one."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def _prompt_ids(task, problems, tok) -> list[list[int]]:
    return [render_for_completion(task.messages(p), tok) for p in problems]


def evaluate_pass_at_1(model, tokenizer, task, problems, *, max_new_tokens: int = 32) -> float:
    """Greedy pass@1: the fraction of `problems` whose greedy completion is correct."""
    tok = chat_tokenizer(tokenizer)
    comps = sample_completions(model, _prompt_ids(task, problems, tok), end_ids=tok.special_ids,
                               max_new_tokens=max_new_tokens, temperature=0.0)
    texts = [tok.decode(_until_special(c, tok.special_ids)) for c in comps]
    return float(np.mean([task.correct(t, p) for t, p in zip(texts, problems)]))


def evaluate_pass_at_k(model, tokenizer, task, problems, *, k: int, n: int | None = None,
                       temperature: float = 1.0, max_new_tokens: int = 32, seed: int = 0) -> float:
    """Mean unbiased pass@k over `problems`, from n >= k samples each at `temperature`."""
    n = n or k
    tok = chat_tokenizer(tokenizer)
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    ro = rollouts(model, tok, _prompt_ids(task, problems, tok), group_size=n, max_new_tokens=max_new_tokens,
                  temperature=temperature, generator=gen)
    ok = np.array([task.correct(t, problems[i]) for t, i in zip(ro.texts, ro.prompt_index)]).reshape(-1, n)
    return float(np.mean([pass_at_k(n, int(c), k) for c in ok.sum(1)]))


# ----------------------------------------------------------------------------- the training loop


@dataclass
class RLConfig:
    """Settings of an RL run (lesson 07's main run: `RLConfig(steps=60, lr=1e-4, eval_every=20)`)."""

    steps: int = 25  # optimizer steps (x updates_per_batch)
    prompts_per_step: int = 16  # P: distinct problems per batch
    group_size: int = 8  # G: samples per problem
    lr: float = 3e-5
    temperature: float = 1.0
    max_new_tokens: int = 24
    normalize_std: bool = True  # GRPO's division by the group std
    updates_per_batch: int = 1  # > 1: PPO-clipped reuse of each batch
    clip_eps: float = 0.2
    kl_coef: float = 0.0  # > 0: penalty for drifting from the starting model
    grad_clip: float | None = 1.0
    weight_decay: float = 0.0
    shuffle_rewards: bool = False  # the control: rewards permuted within the batch
    eval_size: int = 200  # held-out problems for greedy pass@1 before and after
    eval_every: int = 0  # also measure pass@1 every this many steps; 0: only before and after
    seed: int = 0
    problem_seed: int = 1_000  # training problems come from this seed, eval problems from seed + 1
    threads: int | None = 1  # CPU threads for the whole run (None: torch's setting); fixed, so runs repeat

    def __post_init__(self):
        for name in ("steps", "prompts_per_step", "group_size", "updates_per_batch", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.temperature <= 0:
            raise ValueError("rollouts need temperature > 0 (greedy samples are all the same)")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads must be a positive integer or None, got {self.threads!r}")


@dataclass
class RLResult:
    """What a run measured. history: one entry per step of every list (see `train_rl`)."""

    config: dict
    task: str
    pass1_before: float
    pass1_after: float
    history: dict = field(default_factory=dict)
    eval_steps: list[int] = field(default_factory=list)
    eval_pass1: list[float] = field(default_factory=list)
    samples: list[tuple[int, str, str]] = field(default_factory=list)  # (step, prompt, completion)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path) -> Path:
        """Write the result as JSON (atomically): what `train.json` holds."""
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))
        return path


HISTORY_KEYS = ("step", "reward", "accuracy", "length", "loss", "kl", "zero_variance", "seconds")


def train_rl(model, tokenizer, task, config: RLConfig | None = None, *, ref_model=None, out_dir=None,
             callback=None, progress: bool = False) -> RLResult:
    """Improve `model` (in place) on `task` with group-baseline policy gradients; return the measurements.

    Every step: `prompts_per_step` fresh problems, `group_size` samples each,
    rewards from `task.reward`, advantages per group, `updates_per_batch`
    AdamW updates of `policy_loss`. history[key][i] is step i's: reward (mean
    of the batch), accuracy (fraction `task.correct`; differs from reward only
    for a loophole verifier), length (mean completion tokens), loss, kl (mean
    per-token k3 estimate to the reference; 0 without one), zero_variance
    (fraction of groups whose rewards were all equal), seconds (since start).
    pass1_before/after: greedy pass@1 on `config.eval_size` held-out problems.

    `ref_model`: the frozen reference for the KL penalty; None and
    `config.kl_coef > 0` uses a copy of the starting model. `out_dir`: write
    train.json, rl.png and the trained checkpoint there. `callback(row)` gets
    each step's history row.
    """
    cfg = config or RLConfig()
    with cpu_threads(cfg.threads):
        return _train_rl(model, tokenizer, task, cfg, ref_model=ref_model, out_dir=out_dir, callback=callback,
                         progress=progress)


def _train_rl(model, tokenizer, task, cfg, *, ref_model, out_dir, callback, progress) -> RLResult:
    tok = chat_tokenizer(tokenizer)
    vocab = getattr(model.config, "vocab_size", None)
    if vocab is not None and vocab < tok.vocab_size:
        raise ValueError(f"the model's vocabulary ({vocab}) is smaller than the chat tokenizer's ({tok.vocab_size})")
    device = next(model.parameters()).device
    torch.manual_seed(cfg.seed)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    shuffler = np.random.default_rng(cfg.seed)
    if cfg.kl_coef and ref_model is None:
        import copy

        ref_model = copy.deepcopy(model).eval()
    eval_problems = task.problems(cfg.eval_size, seed=cfg.problem_seed + 1)
    train_problems = task.problems(cfg.steps * cfg.prompts_per_step, seed=cfg.problem_seed + cfg.seed * 7919)
    max_eval_tokens = cfg.max_new_tokens
    start = time.perf_counter()
    result = RLResult(config=asdict(cfg), task=getattr(task, "name", type(task).__name__), pass1_before=0.0,
                      pass1_after=0.0, history={k: [] for k in HISTORY_KEYS})
    result.pass1_before = evaluate_pass_at_1(model, tok, task, eval_problems, max_new_tokens=max_eval_tokens)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=cfg.weight_decay)
    model.train()
    for step in range(cfg.steps):
        problems = train_problems[step * cfg.prompts_per_step : (step + 1) * cfg.prompts_per_step]
        ro = rollouts(model, tok, _prompt_ids(task, problems, tok), group_size=cfg.group_size,
                      max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, generator=gen)
        rewards = torch.tensor([task.reward(t, problems[i]) for t, i in zip(ro.texts, ro.prompt_index)])
        correct = [task.correct(t, problems[i]) for t, i in zip(ro.texts, ro.prompt_index)]
        trained_on = rewards[torch.from_numpy(shuffler.permutation(len(rewards)))] if cfg.shuffle_rewards else rewards
        groups = trained_on.view(cfg.prompts_per_step, cfg.group_size)
        adv = group_advantages(groups, normalize_std=cfg.normalize_std).reshape(-1).to(device)
        old = ref = None
        with torch.no_grad():
            if cfg.updates_per_batch > 1:
                old = token_logprobs(model, ro.ids)
            if ref_model is not None:
                ref = token_logprobs(ref_model, ro.ids)
        losses, kls = [], []
        for _ in range(cfg.updates_per_batch):
            logp = token_logprobs(model, ro.ids)
            loss = policy_loss(logp, adv, ro.mask, old_logprobs=old, clip_eps=cfg.clip_eps,
                               ref_logprobs=ref, kl_coef=cfg.kl_coef)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            losses.append(float(loss.detach()))
            if ref is not None:
                d = (ref - logp.detach())
                kls.append(float(((torch.exp(d) - d - 1) * ro.mask).sum() / ro.mask.sum()))
        row = {
            "step": step + 1,
            "reward": float(rewards.mean()),
            "accuracy": float(np.mean(correct)),
            "length": float(np.mean(ro.lengths)),
            "loss": float(np.mean(losses)),
            "kl": float(np.mean(kls)) if kls else 0.0,
            "zero_variance": float((groups.std(dim=1) == 0).float().mean()),
            "seconds": time.perf_counter() - start,
        }
        for k in HISTORY_KEYS:
            result.history[k].append(row[k])
        if step in (0, cfg.steps - 1):
            result.samples.append((step + 1, problems[0].prompt, ro.texts[0]))
        if cfg.eval_every and (step + 1) % cfg.eval_every == 0 and step + 1 < cfg.steps:
            result.eval_steps.append(step + 1)
            result.eval_pass1.append(evaluate_pass_at_1(model, tok, task, eval_problems, max_new_tokens=max_eval_tokens))
        if progress:
            print(f"step {step + 1:4d}  reward {row['reward']:.3f}  accuracy {row['accuracy']:.3f}  "
                  f"length {row['length']:.1f}  {row['seconds']:.0f}s", flush=True)
        if callback is not None:
            callback(row)
    model.eval()
    result.pass1_after = evaluate_pass_at_1(model, tok, task, eval_problems, max_new_tokens=max_eval_tokens)
    result.eval_steps += [0, cfg.steps]
    result.eval_pass1 += [result.pass1_before, result.pass1_after]
    order = np.argsort(result.eval_steps, kind="stable")
    result.eval_steps = [int(result.eval_steps[i]) for i in order]
    result.eval_pass1 = [float(result.eval_pass1[i]) for i in order]
    result.seconds = time.perf_counter() - start
    if out_dir is not None:
        save_run(out_dir, model, tok, result)
    return result


def save_run(out_dir, model, tokenizer, result: RLResult) -> Path:
    """train.json (the result), rl.png (its curves) and ckpt.pt (the trained model) in `out_dir`."""
    from course.checkpoint import save_checkpoint

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.save(out / "train.json")
    plot_rl(result, path=out / "rl.png")
    base = chat_tokenizer(tokenizer).base
    spec = getattr(base, "spec", None)
    spec = spec() if callable(spec) else spec
    if spec is None and type(base).__module__.startswith("tiktoken"):
        spec = {"kind": "tiktoken", "name": base.name}
    save_checkpoint(out / "ckpt.pt", model=model, step=len(result.history["step"]), tokenizer=spec,
                    meta={"rl_task": result.task}, history={"rl": result.history})
    return out


def plot_rl(*results, labels=None, keys=("reward", "accuracy", "length"), path=None):
    """Curves of one or more runs side by side: one panel per history key. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2))
    axes = np.atleast_1d(axes)
    labels = labels or [r.task for r in results]
    for r, label in zip(results, labels):
        for ax, key in zip(axes, keys):
            ax.plot(r.history["step"], r.history[key], label=label, lw=1.5)
    for ax, key in zip(axes, keys):
        ax.set_xlabel("RL step")
        ax.set_title(key)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        import io

        from course.utils import atomic_write_bytes

        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        atomic_write_bytes(path, buf.getvalue())
        plt.close(fig)
    return fig
