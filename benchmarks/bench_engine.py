"""The CTranslate2 engine against HF ``generate``: tokens/s greedy and sampled, and agreement.

Same process, same model (the packaged Qwen2.5-Coder-0.5B-Instruct), the same MGSM prompts in the
eval template (4 languages), 256 new tokens:

- greedy, batched: the engine on all prompts, HF (fp32, batch 16) on the first ``--hf-prompts``
  of them (HF is the slow side; tokens/s is what is compared); agreement on the prompts both ran:
  same extracted final answer, identical text;
- sampled, 8 per prompt at temperature 1: the engine on ``--sample-prompts`` prompts (its chat
  interface seeds each conversation, one engine call per conversation), HF on ``--hf-sample-prompts``;
  and the engine batched as GRPO rollouts use it (all prompts in one call).

    python benchmarks/bench_engine.py                       # the issue's sizes, ~25 min on 2 cores
    python benchmarks/bench_engine.py --per-lang 2 --hf-prompts 2 --hf-sample-prompts 1 --max-new-tokens 64
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

from pbrlsvr.data import load_problems
from pbrlsvr.evaluation.config import EvalPromptConfig
from pbrlsvr.evaluation.prompts import build_conversation
from pbrlsvr.generation import SamplingConfig, build_generator
from pbrlsvr.rewards.answer import answers_match, extract_final_answer


def _tokens(out: list[list[Any]]) -> int:
    return sum(g.completion_tokens for row in out for g in row)


def _timed(gen: Any, convs: list, settings: SamplingConfig) -> tuple[list[list[Any]], float]:
    started = time.perf_counter()
    out = gen.generate(convs, settings)
    return out, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--langs", default="en,de,sw,zh")
    parser.add_argument("--per-lang", type=int, default=16, help="MGSM problems per language (4 x 16 = 64)")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--hf-prompts", type=int, default=16, help="greedy prompts HF also runs")
    parser.add_argument("--sample-prompts", type=int, default=16, help="prompts the engine samples 8x")
    parser.add_argument("--hf-sample-prompts", type=int, default=2, help="prompts HF samples 8x")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)

    problems = load_problems("mgsm", langs=args.langs.split(","), limit=args.per_lang)
    problems.sort(key=lambda p: (int(p.id.split("-")[-1]), p.lang))  # interleave languages
    convs = [build_conversation(p, "math", EvalPromptConfig()) for p in problems]
    greedy = SamplingConfig(max_new_tokens=args.max_new_tokens)
    sampled = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=1.0, n=8, seed=0)

    started = time.perf_counter()
    engine = build_generator(f"ct2:{args.model}", compute_type=args.compute_type)
    engine_start = time.perf_counter() - started
    hf = build_generator(args.model, batch_size=16)

    figures: dict[str, Any] = {"prompts": len(convs), "max_new_tokens": args.max_new_tokens}
    e_out, e_s = _timed(engine, convs, greedy)
    h_out, h_s = _timed(hf, convs[: args.hf_prompts], greedy)
    shared = list(zip(e_out, h_out, problems, strict=False))

    def answer(g: Any, p: Any) -> str | None:
        return extract_final_answer(g[0].text, p.lang)

    same_answer = sum(answer(a, p) == answer(b, p) for a, b, p in shared)
    same_text = sum(a[0].text == b[0].text for a, b, _ in shared)
    correct_e = sum(answers_match(answer(a, p), p.gold, lang=p.lang) for a, _, p in shared)
    correct_h = sum(answers_match(answer(b, p), p.gold, lang=p.lang) for _, b, p in shared)
    figures["greedy"] = {
        "engine": {"prompts": len(convs), "seconds": e_s, "tok_s": _tokens(e_out) / e_s},
        "hf": {"prompts": len(h_out), "seconds": h_s, "tok_s": _tokens(h_out) / h_s},
        "same_answer": f"{same_answer}/{len(shared)}",
        "same_text": f"{same_text}/{len(shared)}",
        "correct_engine_vs_hf": f"{correct_e} vs {correct_h} of {len(shared)}",
    }

    s_convs = convs[: args.sample_prompts]
    es_out, es_s = _timed(engine, s_convs, sampled)
    hs_out, hs_s = _timed(hf, convs[: args.hf_sample_prompts], sampled)
    ids = [engine.encode(c) for c in s_convs]
    started = time.perf_counter()
    rollout = engine.engine.generate(
        ids, n=8, max_new_tokens=args.max_new_tokens, temperature=1.0, seed=0, logprobs=True
    )
    r_s = time.perf_counter() - started
    r_tokens = sum(len(s.token_ids) for row in rollout for s in row)
    figures["sampled"] = {
        "engine_per_conversation": {
            "prompts": len(s_convs),
            "seconds": es_s,
            "tok_s": _tokens(es_out) / es_s,
        },
        "engine_batched_rollout": {"prompts": len(s_convs), "seconds": r_s, "tok_s": r_tokens / r_s},
        "hf": {"prompts": args.hf_sample_prompts, "seconds": hs_s, "tok_s": _tokens(hs_out) / hs_s},
    }
    figures["engine_start_seconds"] = engine_start
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    g, s = figures["greedy"], figures["sampled"]
    print(f"engine start (cached conversion + load): {engine_start:.1f} s")
    print("| run | engine tok/s | HF tok/s | ratio |")
    print("|---|---|---|---|")
    print(
        f"| greedy, batched | {g['engine']['tok_s']:.1f} ({g['engine']['prompts']} prompts) | "
        f"{g['hf']['tok_s']:.1f} ({g['hf']['prompts']} prompts) | {g['engine']['tok_s'] / g['hf']['tok_s']:.1f}x |"
    )
    for key, label in (
        ("engine_per_conversation", "sampled 8x, seeded per conversation"),
        ("engine_batched_rollout", "sampled 8x, batched (GRPO rollouts)"),
    ):
        print(
            f"| {label} | {s[key]['tok_s']:.1f} ({s[key]['prompts']} prompts) | {s['hf']['tok_s']:.1f} "
            f"({s['hf']['prompts']} prompts) | {s[key]['tok_s'] / s['hf']['tok_s']:.1f}x |"
        )
    print(
        f"greedy agreement on {len(shared)} prompts: same answer {g['same_answer']}, identical text "
        f"{g['same_text']}; correct {g['correct_engine_vs_hf']}"
    )
    print(f"peak RSS {figures['peak_rss_mb']:.0f} MB")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
