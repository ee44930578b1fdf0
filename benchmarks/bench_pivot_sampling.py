"""Pivot sampling on the CTranslate2 engine: batched (seeded per call) against one conversation per
call (seeded per conversation) and against the engine's greedy batched rate.

Same process, same packaged model, the pivot's own prompt and sampling settings (``pivot:``
defaults: temperature 0.7, top-p 0.95, ``--samples`` per problem) on GSM8K-linked English MGSM
questions. The greedy rate is taken on as many rows as the sampled runs decode (``problems ×
samples`` distinct prompts, 32 rows per engine call). Printed: generated tokens/s of each, the
ratio batched / greedy (target >= 0.8), the same with the nucleus taken among the 1024 likeliest
tokens (``top_k: 1024``: CTranslate2 otherwise sorts the whole 152k vocabulary per row and step
for top-p), and whether two batched runs of the same inputs gave the same samples (they must).

    python benchmarks/bench_pivot_sampling.py                        # 8 problems x 4 samples, 256 tokens
    python benchmarks/bench_pivot_sampling.py --problems 4 --max-new-tokens 64
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

from pbrlsvr.data import load_problems
from pbrlsvr.generation import build_generator
from pbrlsvr.pivot.config import PivotConfig


def _rate(gen: Any, convs: list, settings: Any) -> tuple[float, float, list]:
    started = time.perf_counter()
    out = gen.generate(convs, settings)
    seconds = time.perf_counter() - started
    tokens = sum(g.completion_tokens for row in out for g in row)
    return tokens / seconds, seconds, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument(
        "--per-conversation-problems", type=int, default=4, help="problems the slow mode runs"
    )
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    pivot = PivotConfig()
    problems = load_problems("mgsm", langs=["en"], limit=args.problems * args.samples)
    every = [pivot.prompt.render(p.question_en) for p in problems]
    convs = every[: args.problems]
    sampled = pivot.sampling.model_copy(update={"n": args.samples, "max_new_tokens": args.max_new_tokens})
    greedy = sampled.model_copy(update={"temperature": 0.0, "n": 1})

    batched = build_generator(f"ct2:{args.model}", compute_type=args.compute_type)
    one = build_generator(f"ct2:{args.model}", compute_type=args.compute_type, seed_scope="conversation")
    g_rate, g_s, _ = _rate(batched, every, greedy)
    b_rate, b_s, first = _rate(batched, convs, sampled)
    _, _, again = _rate(batched, convs, sampled)
    k_rate, k_s, _ = _rate(batched, convs, sampled.model_copy(update={"top_k": 1024}))
    same = [a.text for row in first for a in row] == [a.text for row in again for a in row]
    o_rate, o_s, _ = _rate(one, convs[: args.per_conversation_problems], sampled)
    figures = {
        "cpu": platform.processor() or platform.machine(),
        "problems": len(convs),
        "samples": args.samples,
        "max_new_tokens": args.max_new_tokens,
        "greedy_batched_tok_s": g_rate,
        "sampled_batched_tok_s": b_rate,
        "sampled_per_conversation_tok_s": o_rate,
        "sampled_batched_top_k_1024_tok_s": k_rate,
        "batched_over_greedy": b_rate / g_rate,
        "batched_over_per_conversation": b_rate / o_rate,
        "batched_reproduces": same,
    }
    print(
        f"\npivot sampling, {args.model} ({args.compute_type}), {len(convs)} problems x {args.samples} "
        f"samples, <= {args.max_new_tokens} tokens"
    )
    print("| mode | tokens/s | seconds |")
    print("|---|---|---|")
    print(f"| greedy, batched (the engine's rate, {len(every)} prompts) | {g_rate:.1f} | {g_s:.1f} |")
    print(f"| sampled, batched, seeded per call | {b_rate:.1f} | {b_s:.1f} |")
    print(f"| sampled, batched, top_k 1024 | {k_rate:.1f} | {k_s:.1f} |")
    print(
        f"| sampled, one conversation per call ({args.per_conversation_problems} problems) | {o_rate:.1f} | {o_s:.1f} |"
    )
    print(
        f"batched / greedy: {b_rate / g_rate:.2f} (target >= 0.8), with top_k 1024: {k_rate / g_rate:.2f}; "
        f"batched / per conversation: "
        f"{b_rate / o_rate:.1f}x; same samples on a second batched run: {same}"
    )
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
