"""Batched vs one-at-a-time generation through the evaluation runner, on the same MGSM prompts.

Both modes run :func:`pbrlsvr.evaluation.evaluate` end to end (prompts, generation, scoring,
appending predictions with fsync, the report) on the same problems with the same model object,
greedy decoding and the same ``max_new_tokens``; only ``batch_size`` differs (``--batch-size`` vs
1). The table gives wall time, problems/s and generated tokens/s of each, the speed-up, and how
many responses are identical in both modes (greedy decoding, so they should nearly all be; padding
can flip a token on near-ties).

    python benchmarks/bench_eval_generation.py                          # smollm2, 64 prompts
    python benchmarks/bench_eval_generation.py --model qwen2.5-coder-0.5b-instruct --max-new-tokens 96

Target on 2 CPU cores: batched ≥ 3x the one-at-a-time throughput.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _generator(model: str, batch_size: int, device: str) -> Any:
    """The model through the generation factory, as ``pbrlsvr eval`` builds it."""
    from pbrlsvr.evaluation.runner import make_generator

    return make_generator(model, batch_size=batch_size, device=device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--langs", default="en,de,sw,zh", help="MGSM languages")
    parser.add_argument("--per-lang", type=int, default=16, help="problems per language (4 x 16 = 64)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--keep", type=Path, default=None, help="keep both runs' outputs (reports) here")
    args = parser.parse_args(argv)

    import torch

    from pbrlsvr.evaluation import EvalConfig, Scorer, evaluate, read_predictions
    from pbrlsvr.generation.base import SamplingConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    generator = _generator(args.model, args.batch_size, args.device)
    load_s = time.perf_counter() - t0
    langs = [x.strip() for x in args.langs.split(",") if x.strip()]
    # Warm up outside the timings: the language identifier's models and torch's first call.
    Scorer("math", [*langs, "en"])
    generator.generate([[{"role": "user", "content": "2+2?"}]], SamplingConfig(max_new_tokens=4))
    rows = []
    responses: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as scratch:
        tmp = str(args.keep) if args.keep else scratch
        for mode, bs in (("batched", args.batch_size), ("one-at-a-time", 1)):
            cfg = EvalConfig(
                model=args.model,
                data={"source": "mgsm", "langs": langs, "limit": args.per_lang},
                output=Path(tmp) / mode,
                batch_size=bs,
                sampling={"max_new_tokens": args.max_new_tokens},
                consistency={"candidates": "run"},
                plots=args.keep is not None,
                force=True,  # always generate: a resumed run would measure nothing
            )
            result = evaluate(cfg, generator)
            records = read_predictions(Path(tmp) / mode / "predictions.jsonl")
            tokens = sum(int(r["completion_tokens"]) for r in records)
            macro = result.report["averages"]["macro"]
            rows.append(
                (
                    mode,
                    bs,
                    len(records),
                    result.seconds,
                    len(records) / result.seconds,
                    tokens / result.seconds,
                    macro.get("accuracy"),
                )
            )
            responses[mode] = {f"{r['id']}:{r['lang']}": r["response"] for r in records}
    same = sum(responses["batched"][k] == v for k, v in responses["one-at-a-time"].items())
    load = os.getloadavg()[1]
    cores = os.cpu_count() or 1
    print(
        f"model {getattr(generator, 'name', args.model)} ({load_s:.1f} s to load), torch threads "
        f"{torch.get_num_threads()}, {rows[0][2]} MGSM prompts ({args.langs}), "
        f"greedy, max_new_tokens {args.max_new_tokens}"
    )
    print("| mode | batch | problems | seconds | problems/s | gen tokens/s | acc (non-en) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for mode, bs, n, secs, pps, tps, acc in rows:
        acc_s = "–" if acc is None else f"{100 * acc:.1f}%"
        print(f"| {mode} | {bs} | {n} | {secs:.1f} | {pps:.2f} | {tps:.1f} | {acc_s} |")
    ratio = rows[0][4] / rows[1][4]
    print(f"speed-up batched / one-at-a-time: {ratio:.2f}x (target >= 3x on 2 cores)")
    print(f"identical responses in both modes: {same} of {len(responses['one-at-a-time'])}")
    if load > cores:
        print(
            f"warning: 5-minute load average {load:.1f} on {cores} cores: other processes shared the CPU, "
            "so these timings (and batching's gain) understate an idle machine; try --threads 1"
        )
    generator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
