"""Batched vs one-at-a-time generation with the transformers backend, on the same MGSM prompts.

Both runs use one ``TransformersGenerator`` (one loaded model) and greedy decoding:

* **single**: ``batch_size=1``, one ``generate`` call per prompt (what a plain loop does);
* **batched**: ``batch_size=B``, prompts sorted by length, left-padded batches of B.

The prompts are the first ``--n-prompts`` MGSM questions spread over ``--langs`` (chat prompt = the
question). Runs alternate (single, batched, single, ...) ``--repeats`` times and the medians are
printed: prompts/s, generated tokens/s, the ratio, and the share of prompts whose greedy text is
identical in both modes (padding changes float rounding, which can flip a near-tie).

    python benchmarks/bench_generation.py                         # 64 prompts, SmolLM2, 64 new tokens
    python benchmarks/bench_generation.py --n-prompts 16 --max-new-tokens 32   # quick form
    python benchmarks/bench_generation.py --sweep 1,4,8,16 --n-prompts 32      # choose batch_size
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
import transformers

from pbrlsvr.data import load_problems
from pbrlsvr.generation import DEFAULT_BATCH_SIZE, SamplingConfig, TransformersGenerator

LANGS = "en,de,fr,es,ru,zh,ja,sw"


def timed(gen: TransformersGenerator, convs: list, settings: SamplingConfig, batch_size: int):
    gen.batch_size = batch_size
    start = time.perf_counter()
    out = gen.generate(convs, settings)
    return time.perf_counter() - start, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--n-prompts", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    ap.add_argument("--langs", default=LANGS, help="MGSM languages the prompts are spread over")
    ap.add_argument("--repeats", type=int, default=1, help="alternating runs per mode (medians)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--sweep", default="", help="comma-separated batch sizes: time each instead")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    transformers.utils.logging.disable_progress_bar()
    langs = [x.strip() for x in args.langs.split(",") if x.strip()]
    limit = math.ceil(args.n_prompts / len(langs))
    problems = load_problems("mgsm", langs=langs, limit=limit)
    problems = sorted(problems, key=lambda p: (p.id, p.lang))[: args.n_prompts]
    convs = [[{"role": "user", "content": p.question}] for p in problems]
    settings = SamplingConfig(max_new_tokens=args.max_new_tokens)

    t0 = time.perf_counter()
    gen = TransformersGenerator(args.model)
    load_s = time.perf_counter() - t0
    gen.generate(convs[:2], SamplingConfig(max_new_tokens=4))  # warm-up
    prompt_tokens = [len(gen.encode(c)) for c in convs]
    print(
        f"model {args.model} (load {load_s:.1f} s); {len(convs)} MGSM prompts ({','.join(langs)}), "
        f"prompt tokens min/median/max {min(prompt_tokens)}/{statistics.median(prompt_tokens):.0f}/"
        f"{max(prompt_tokens)}; greedy, max_new_tokens {args.max_new_tokens}; "
        f"torch threads {torch.get_num_threads()}; repeats {args.repeats}",
        flush=True,
    )

    if args.sweep:
        sizes = [int(x) for x in args.sweep.split(",")]
        times: dict[int, list[float]] = {b: [] for b in sizes}
        tokens: dict[int, int] = {}
        for _ in range(args.repeats):
            for b in sizes:
                dt, out = timed(gen, convs, settings, b)
                times[b].append(dt)
                print(f"  batch_size {b}: {dt:.1f} s", flush=True)
                tokens[b] = sum(g[0].completion_tokens for g in out)
        base = statistics.median(times[sizes[0]])
        print(f"\n{'batch_size':>10}{'seconds':>9}{'prompts/s':>11}{'tokens/s':>10}{'vs first':>10}")
        for b in sizes:
            t = statistics.median(times[b])
            print(f"{b:>10}{t:>9.1f}{len(convs) / t:>11.2f}{tokens[b] / t:>10.1f}{base / t:>10.2f}")
        return

    runs: dict[str, list[float]] = {"single": [], "batched": []}
    outs: dict[str, list] = {}
    for _ in range(args.repeats):
        for mode, b in (("single", 1), ("batched", args.batch_size)):
            dt, out = timed(gen, convs, settings, b)
            runs[mode].append(dt)
            outs[mode] = out
            print(f"  {mode} (batch_size {b}): {dt:.1f} s", flush=True)
    tok = {m: sum(g[0].completion_tokens for g in outs[m]) for m in outs}
    med = {m: statistics.median(v) for m, v in runs.items()}
    same = sum(a[0].text == b[0].text for a, b in zip(outs["single"], outs["batched"], strict=True))
    hit_len = sum(g[0].finish_reason == "length" for g in outs["batched"])

    print(f"\n{'mode':<22}{'seconds':>9}{'prompts/s':>11}{'tokens/s':>10}{'ratio':>8}")
    for mode, label in (("single", "one at a time"), ("batched", f"batched (bs={args.batch_size})")):
        t = med[mode]
        print(f"{label:<22}{t:>9.1f}{len(convs) / t:>11.2f}{tok[mode] / t:>10.1f}{med['single'] / t:>8.2f}")
    print(
        f"\ngreedy texts identical in both modes: {same}/{len(convs)}; generated tokens "
        f"single {tok['single']}, batched {tok['batched']}; {hit_len}/{len(convs)} hit max_new_tokens"
    )
    if args.repeats > 1:
        spread = {m: f"{min(v):.1f}-{max(v):.1f} s" for m, v in runs.items()}
        print(f"run-time range: single {spread['single']}, batched {spread['batched']}")


if __name__ == "__main__":
    main()
