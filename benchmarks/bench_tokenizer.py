"""Tokenizer benchmark: our byte-level BPE next to the reference libraries, in one process.

    python benchmarks/bench_tokenizer.py           # full run (a minute or two)
    python benchmarks/bench_tokenizer.py --quick   # smaller inputs, one repetition

Three comparisons, all on tinyshakespeare, each printed with its ratio:

1. training at vocab 4096: `RegexTokenizer.train` vs Hugging Face `tokenizers`
   BpeTrainer (byte-level), both splitting with the GPT-2 pattern (HF's ByteLevel
   default), then both with the GPT-4 pattern;
2. our fast trainer vs our naive trainer at vocab 512 (both must give the same merges);
3. `encode_ordinary` with cl100k_base vs tiktoken, single-threaded, ids checked
   equal: "cold" is a fresh tokenizer (empty chunk cache), "warm" a second call.

Times are the best of --repeat runs (wall clock). On a busy machine they vary;
compare ratios from the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import course
from course.hardware import load_average
from course.tokenizer import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, RegexTokenizer
from course.tokenizer.train import count_chunks, train_fast, train_naive


def best_of(fn, repeat):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def hf_train(text, vocab_size, pattern=None):
    """HF tokenizers' byte-level BPE. pattern=None: ByteLevel's own (GPT-2) split."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    if pattern is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:  # HF's regex engine (Oniguruma) writes end-of-text as $
        split = pre_tokenizers.Split(Regex(pattern.replace("\\Z", "$")), behavior="isolated")
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [split, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
        )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator([text], trainer=trainer)
    return tok


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs, one repetition")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions per timing (best is kept)")
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)

    import tiktoken
    import tokenizers

    text = course.load_tinyshakespeare()
    mb = len(text.encode("utf-8")) / 1e6
    load = (load_average() or [float("nan")])[0]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {load:.2f}; python {platform.python_version()}, "
          f"tiktoken {tiktoken.__version__}, tokenizers {tokenizers.__version__}")
    print(f"tinyshakespeare: {mb:.2f} MB; best of {repeat}\n")
    rows = []

    # 1. training at vocab 4096 vs HF tokenizers, with the same split pattern on both sides
    for label, pattern, hf_pattern in [
        ("GPT-2 split", GPT2_SPLIT_PATTERN, None),
        ("GPT-4 split", GPT4_SPLIT_PATTERN, GPT4_SPLIT_PATTERN),
    ]:
        t_hf, _ = best_of(lambda hf_pattern=hf_pattern: hf_train(text, 4096, hf_pattern), repeat)
        t_ours, _ = best_of(lambda pattern=pattern: RegexTokenizer(pattern).train(text, 4096), repeat)
        rows.append((f"train vocab 4096, {label}: HF tokenizers BpeTrainer", t_hf, ""))
        rows.append((f"train vocab 4096, {label}: ours (RegexTokenizer.train)", t_ours,
                     f"{t_ours / t_hf:.2f}x HF's time"))

    # 2. fast vs naive trainer at vocab 512 (on the same counted chunks)
    naive_text = text[:200_000] if args.quick else text
    counts = count_chunks(naive_text, GPT4_SPLIT_PATTERN)
    label = "200k chars" if args.quick else "full text"
    t_fast, m_fast = best_of(lambda: train_fast(counts, 512), repeat)
    t_naive, m_naive = best_of(lambda: train_naive(counts, 512), 1)
    same = list(m_fast.items()) == list(m_naive.items())
    rows.append((f"trainer vocab 512 ({label}): naive", t_naive, ""))
    rows.append((f"trainer vocab 512 ({label}): fast", t_fast, f"{t_naive / t_fast:.0f}x faster, same merges: {same}"))

    # 3. encode_ordinary cl100k_base vs tiktoken
    enc = tiktoken.get_encoding("cl100k_base")
    t_tk, ref = best_of(lambda: enc.encode_ordinary(text), repeat)

    def cold():
        fresh = RegexTokenizer.from_tiktoken("cl100k_base")
        t0 = time.perf_counter()
        ids = fresh.encode_ordinary(text)
        return time.perf_counter() - t0, ids

    colds = [cold() for _ in range(repeat)]
    t_cold, ids_cold = min(colds, key=lambda r: r[0])
    ours = RegexTokenizer.from_tiktoken("cl100k_base")
    ours.encode_ordinary(text)
    t_warm, ids_warm = best_of(lambda: ours.encode_ordinary(text), repeat)
    equal = ids_cold == ref and ids_warm == ref
    rows.append(("encode cl100k_base: tiktoken (1 thread)", t_tk, f"{mb / t_tk:.1f} MB/s"))
    rows.append(("encode cl100k_base: ours, cold cache", t_cold,
                 f"{mb / t_cold:.1f} MB/s = {t_tk / t_cold:.2f}x tiktoken, ids equal: {equal}"))
    rows.append(("encode cl100k_base: ours, warm cache", t_warm,
                 f"{mb / t_warm:.1f} MB/s = {t_tk / t_warm:.2f}x tiktoken"))

    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'seconds':>8}  ratio")
    for name, t, note in rows:
        print(f"{name:<{width}}  {t:8.3f}  {note}")
    if not (same and equal):
        print("\nMISMATCH: see the rows above")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
