"""The reward where GRPO uses it: on the policy's own samples, without gold.

For MGSM problems in 6 languages the policy (packaged Qwen2.5-Coder-0.5B) samples 8 answers per
problem (CTranslate2, temperature 1, the training prompt); the pivot (the same model, greedy, on
the English question; ``--pivot`` names a stronger one) writes the reference; each sample is scored by three rewards that never see
gold: the default PB-RLSVR reward, ``semantic`` (embedding only, no gate) and ``answer-vs-pivot``
(the accuracy reward checked against the pivot's answer). Correctness is judged by gold only for
the report. Printed per reward: AUC of reward for correct vs wrong samples; best-of-8 accuracy
when the reward picks (ties shared evenly), against a random pick and the oracle pass@8; and the
language consistency of the picked answer.

    python benchmarks/bench_reward_rollouts.py                  # 12 problems x 6 languages x 8
    python benchmarks/bench_reward_rollouts.py --problems 2 --max-new-tokens 64
    python benchmarks/bench_reward_rollouts.py --pivot qwen2.5-coder-1.5b-instruct
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from pbrlsvr.data import load_problems
from pbrlsvr.generation import SamplingConfig, build_generator
from pbrlsvr.pivot.config import PromptConfig
from pbrlsvr.prompts import build_messages
from pbrlsvr.rewards.answer import answers_match, extract_final_answer
from pbrlsvr.rewards.config import RewardConfig
from pbrlsvr.rewards.reward import Reward

REWARDS = {
    "pbrlsvr": {"preset": "pbrlsvr", "answer_against": "reference"},
    "semantic": {"preset": "semantic-only"},
    "answer-vs-pivot": {"preset": "accuracy", "answer_against": "reference"},
}


def auc(scores: list[float], labels: list[bool]) -> float | None:
    """Mann-Whitney AUC: P(score of a correct sample > score of a wrong one), ties count half."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    p, n = np.array(pos)[:, None], np.array(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (len(pos) * len(neg)))


def pick_accuracy(groups: list[tuple[list[float], list[bool]]]) -> float:
    """Expected accuracy of taking the highest-reward sample (ties: uniform among the best)."""
    total = 0.0
    for scores, labels in groups:
        best = max(scores)
        tied = [y for s, y in zip(scores, labels, strict=True) if s == best]
        total += sum(tied) / len(tied)
    return total / len(groups)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument(
        "--pivot",
        default=None,
        help="English reference model(s), comma-separated: each scores the same samples (default: --model)",
    )
    ap.add_argument("--langs", default="de,fr,sw,zh,ja,bn")
    ap.add_argument("--problems", type=int, default=12, help="MGSM problems per language")
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    langs = args.langs.split(",")
    pivots = (args.pivot or args.model).split(",")
    problems = load_problems("mgsm", langs=langs, limit=args.problems)
    gen = build_generator(f"ct2:{args.model}")

    started = time.perf_counter()
    ids_per_row = [gen.encode(build_messages(p.question, p.lang)) for p in problems]
    samples = gen.engine.generate(
        ids_per_row, n=args.samples, max_new_tokens=args.max_new_tokens, temperature=1.0, seed=0
    )
    texts = [[gen.tokenizer.decode(s.token_ids, skip_special_tokens=True) for s in row] for row in samples]
    gen_seconds = time.perf_counter() - started
    correct = [
        [answers_match(extract_final_answer(t, p.lang), p.gold, lang=p.lang) for t in row]
        for p, row in zip(problems, texts, strict=True)
    ]
    flat = [y for row in correct for y in row]
    print(
        f"\n{len(problems)} MGSM rows ({args.problems} problems x {len(langs)} languages: {', '.join(langs)}), "
        f"{args.samples} samples each from {args.model} at T=1, <= {args.max_new_tokens} tokens: "
        f"{gen_seconds:.0f} s; {np.mean(flat):.1%} of the samples are correct (by gold)"
    )
    report: dict[str, Any] = {"samples_correct": float(np.mean(flat)), "generation_seconds": gen_seconds}
    for pivot in pivots:
        pivot_gen = gen if pivot == args.model else build_generator(f"ct2:{pivot}")
        report[pivot] = score_against_pivot(pivot, pivot_gen, problems, texts, correct, langs, args)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


def score_against_pivot(
    pivot: str,
    pivot_gen: Any,
    problems: list[Any],
    texts: list[list[str]],
    correct: list[list[bool]],
    langs: list[str],
    args: Any,
) -> dict[str, Any]:
    """The pivot answers the English questions (greedy); every reward scores the samples against it."""
    english = {p.id: p.question_en for p in problems}
    ids = sorted(english)
    prompt = PromptConfig()
    t0 = time.perf_counter()
    refs = pivot_gen.generate(
        [prompt.render(english[i]) for i in ids], SamplingConfig(max_new_tokens=args.max_new_tokens)
    )
    pivot_seconds = time.perf_counter() - t0
    reference = {i: r[0].text for i, r in zip(ids, refs, strict=True)}
    pivot_answer = {i: extract_final_answer(reference[i], "en") for i in ids}
    golds = {p.id: p.gold for p in problems}
    pivot_acc = float(np.mean([answers_match(pivot_answer[i], golds[i], lang="en") for i in ids]))
    table: dict[str, Any] = {}
    lid = None
    for name, overrides in REWARDS.items():
        reward = Reward(RewardConfig(**overrides, langs=langs))
        items = [
            {
                "response": t,
                "lang": p.lang,
                "reference": reference[p.id],
                "reference_answer": pivot_answer[p.id],
            }
            for p, row in zip(problems, texts, strict=True)
            for t in row
        ]
        t0 = time.perf_counter()
        results = reward.score_batch(items)
        seconds = time.perf_counter() - t0
        scores = [r.reward for r in results]
        grouped = [
            (scores[k * args.samples : (k + 1) * args.samples], correct[k]) for k in range(len(problems))
        ]
        if lid is None:  # language share of every sample, from the default reward's language component
            lid = [r.components.get("language", 0.0) for r in results]
        picks_lc = []
        for k, (s, _) in enumerate(grouped):
            best = max(s)
            tied = [j for j in range(args.samples) if s[j] == best]
            picks_lc.append(np.mean([lid[k * args.samples + j] >= 0.5 for j in tied]))
        table[name] = {
            "auc": auc(scores, [y for row in correct for y in row]),
            "best_of_n": pick_accuracy(grouped),
            "picked_lc": float(np.mean(picks_lc)),
            "score_seconds": seconds,
        }
    flat = [y for row in correct for y in row]
    random_pick = float(np.mean(flat))
    oracle = float(np.mean([any(row) for row in correct]))
    random_lc = float(np.mean([x >= 0.5 for x in lid or []]))

    print(
        f"\npivot {pivot} (greedy, English): accuracy "
        f"{pivot_acc:.1%} on the {len(ids)} problems; references in {pivot_seconds:.0f} s"
    )
    print("| picker | AUC correct vs wrong | best-of-n accuracy | picked answer in the target language |")
    print("|---|---|---|---|")
    for name, row in table.items():
        a = "n/a" if row["auc"] is None else f"{row['auc']:.3f}"
        print(f"| {name} | {a} | {row['best_of_n']:.1%} | {row['picked_lc']:.1%} |")
    print(f"| random pick | 0.500 | {random_pick:.1%} | {random_lc:.1%} |")
    print(f"| oracle pass@{args.samples} | – | {oracle:.1%} | – |")
    return {
        "rewards": table,
        "random": random_pick,
        "oracle": oracle,
        "pivot_accuracy": pivot_acc,
        "pivot_seconds": pivot_seconds,
    }


if __name__ == "__main__":
    raise SystemExit(main())
