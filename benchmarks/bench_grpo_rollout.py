"""GRPO step time with CTranslate2 rollouts against TRL's own HF ``generate`` rollouts.

Same process, same packaged model (Qwen2.5-Coder-0.5B-Instruct, LoRA), the same MSVAMP prompts
(de/sw/ja/zh), the same PB-RLSVR reward and settings: 8 prompts x 4 completions of <= 256 tokens
per optimizer step (per-device batch 8, gradient accumulation 4, one generation per step). Only
``rollout.engine`` differs. Printed: seconds per step (mean over the steps after the first), the
engine's generation, weight-push (sync) and importance-mask shares, tokens/s, the ratio, and
peak RSS. Target (issue 11): the engine step <= 60 s on 2 quiet cores.

    python benchmarks/bench_grpo_rollout.py                         # 3 engine steps, 2 HF steps
    python benchmarks/bench_grpo_rollout.py --engine-steps 2 --hf-steps 0 --max-completion-length 64
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path
from statistics import mean

from bench_train_step import references
from pbrlsvr.config import load_config
from pbrlsvr.train.config import TrainConfig
from pbrlsvr.train.grpo import train


def step_overrides(
    data: Path,
    output_dir: Path,
    model: str,
    steps: int,
    max_completion_length: int,
    engine: str,
    compute_type: str,
) -> dict[str, object]:
    """The benchmark step: 8 prompts x 4 completions per optimizer step (shared with bench_grpo_step)."""
    return {
        "data": str(data),
        "output_dir": str(output_dir),
        "model.name": model,
        "max_steps": steps,
        "num_generations": 4,
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 4,
        "max_completion_length": max_completion_length,
        "save_steps": 10_000,
        "seed": 0,
        "rollout": {"engine": engine, "compute_type": compute_type},
    }


def run(engine: str, steps: int, data: Path, out: Path, args: argparse.Namespace) -> dict[str, float]:
    cfg = load_config(
        TrainConfig,
        overrides=step_overrides(
            data, out / engine, args.model, steps, args.max_completion_length, engine, args.compute_type
        ),
    )
    started = time.perf_counter()
    train(cfg)
    wall = time.perf_counter() - started
    records = [json.loads(x) for x in (out / engine / "metrics.jsonl").read_text().splitlines()]
    per_step = [r for r in records if "step_time" in r]
    tail = per_step[1:] or per_step

    def avg(key: str) -> float:
        values = [r[key] for r in tail if key in r]
        return mean(values) if values else float("nan")

    return {
        "steps": len(per_step),
        "wall": wall,
        "step_time": avg("step_time"),
        "generate": avg("rollout/generate_seconds"),
        "sync": avg("rollout/sync_seconds"),
        "tok_s": avg("rollout/tokens_per_second"),
        "mask_diff": avg("rollout/logp_abs_diff"),
        "masked": avg("rollout/masked_share"),
        "length": avg("completions/mean_length"),
        "reward_first": per_step[0].get("reward", float("nan")) if per_step else float("nan"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--engine-steps", type=int, default=3)
    ap.add_argument("--hf-steps", type=int, default=2)
    ap.add_argument("--max-completion-length", type=int, default=256)
    ap.add_argument("--compute-type", default="int8")
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = ap.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        data = references(out / "refs.jsonl", per_lang=8)
        results["ct2"] = run("ct2", args.engine_steps, data, out, args)
        if args.hf_steps:
            results["trl"] = run("trl", args.hf_steps, data, out, args)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\nGRPO on {args.model} (LoRA), 8 prompts x 4 completions of <= {args.max_completion_length} tokens "
        f"per step; means over the steps after the first"
    )
    print("| rollouts | steps | s/step | generation s | sync s | tokens/s | mean length | |Δlogp| | masked |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        label = f"CTranslate2 {args.compute_type}" if name == "ct2" else "TRL (HF generate)"
        print(
            f"| {label} | {r['steps']} | {r['step_time']:.1f} | {r['generate']:.1f} | {r['sync']:.1f} | "
            f"{r['tok_s']:.1f} | {r['length']:.0f} | {r['mask_diff']:.4f} | {r['masked']:.4f} |"
        )
    if "trl" in results:
        print(
            f"step-time ratio HF / engine: {results['trl']['step_time'] / results['ct2']['step_time']:.2f}x"
        )
    print(f"peak RSS {peak:.0f} MB")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
