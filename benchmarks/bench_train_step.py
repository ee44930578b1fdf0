"""GRPO step time: the PB-RLSVR reward against the plain `accuracy` preset, same model and data.

Both runs use TRL's GRPOTrainer on the same packaged model (LoRA), the same MSVAMP prompts in 4
languages and the same settings; only the reward differs. Printed in one run: mean seconds per
step (steps after the first, which pays start-up), the ratio (target <= 1.15: the semantic reward
must not slow training noticeably), reward time per step, and peak RSS.

    python benchmarks/bench_train_step.py                    # smollm2-135m-instruct, 4 steps each
    python benchmarks/bench_train_step.py --model qwen2.5-coder-0.5b-instruct --steps 6
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from pbrlsvr.config import load_config
from pbrlsvr.data import load_problems
from pbrlsvr.train.config import TrainConfig
from pbrlsvr.train.grpo import train


def references(path: Path, per_lang: int) -> Path:
    """MSVAMP prompts with a short English reference (the English problem and its answer)."""
    rows = []
    for p in load_problems("msvamp", langs=["de", "sw", "ja", "zh"], limit=per_lang):
        ref = f"{p.question_en} The answer is {p.gold}."
        rows.append(
            {"id": p.id, "lang": p.lang, "question": p.question, "reference": ref, "reference_answer": p.gold}
        )
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def run(preset: str, data: Path, out: Path, args: argparse.Namespace) -> list[float]:
    cfg = load_config(
        TrainConfig,
        overrides={
            "data": str(data),
            "output_dir": str(out / preset),
            "model.name": args.model,
            "max_steps": args.steps,
            "num_generations": 4,
            "per_device_train_batch_size": 4,
            "max_completion_length": args.max_completion_length,
            "save_steps": 10_000,
            "reward.preset": preset,
            "reward.answer_against": "reference",
            "seed": 0,
        },
    )
    train(cfg)
    records = [json.loads(x) for x in (out / preset / "metrics.jsonl").read_text().splitlines()]
    return [r["step_time"] for r in records if "step_time" in r]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--max-completion-length", type=int, default=96)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        data = references(out / "refs.jsonl", per_lang=8)
        results = {}
        for preset in ("accuracy", "pbrlsvr"):
            start = time.perf_counter()
            steps = run(preset, data, out, args)
            results[preset] = (steps, time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\nGRPO on {args.model} (LoRA), {args.steps} steps, 4 prompts x 4 completions of <= {args.max_completion_length} tokens"
    )
    print(f"{'reward':<12}{'s/step (after 1st)':>20}{'all steps':>12}{'wall':>8}")
    means = {}
    for preset, (steps, wall) in results.items():
        tail = steps[1:] or steps
        means[preset] = sum(tail) / len(tail) if tail else float("nan")
        print(f"{preset:<12}{means[preset]:>20.2f}{sum(steps):>12.1f}{wall:>8.1f}")
    print(
        f"ratio pbrlsvr / accuracy: {means['pbrlsvr'] / means['accuracy']:.3f} (target <= 1.15); peak RSS {peak:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
