"""One GRPO step against its compute floor: TRL's layout (the old path) and the lean step, in one run.

The setup of ``bench_grpo_rollout.py``: the packaged Qwen2.5-Coder-0.5B-Instruct with LoRA, MSVAMP
prompts in de/sw/ja/zh, the PB-RLSVR reward, 8 prompts x 4 completions of <= 256 tokens per
optimizer step (per-device batch 8, gradient accumulation 4), CTranslate2 int8 rollouts. Two arms,
each in a process of its own (so allocator settings and memory do not leak between them):

- ``old``: ``lean_step: false``, ``lora.dropout: 0.05``, PyTorch's default allocator pages
  (``THP_MEM_ALLOC_ENABLE=0``): the step as it was;
- ``new``: the defaults (``lean_step: true``, dropout 0, transparent huge pages for large tensors).

Printed per arm (means over the steps after the first): seconds per phase (generation, weight push,
importance forward, reward, loss forward, backward, optimizer), tokens computed vs tokens with
loss, the step's FLOP floor and the ratio step / floor, and the speed-up new / old.

The floor is all of the step's arithmetic at the machine's measured matmul rate (the training
dtype's, on the model's own MLP shape, 2 threads): forward ``2·P·T + 2·V·d·C`` (P: the decoder's
linear weights, T: real prompt + completion tokens, V·d: the LM head, C: completion tokens) plus
attention ``2·L·d·Σn²``; the backward the same again (LoRA freezes the base, so only input
gradients flow through it; the adapters' own gradients are under 1%); the importance forward once
more; generation ``2·(P + V·d)·C`` plus the prompts' prefill. Decoding is memory-bound and the
weight push is a format conversion, so neither can reach this floor: the ratio says how far the
whole step is from pure arithmetic.

    python benchmarks/bench_grpo_step.py                           # 3 steps per arm
    python benchmarks/bench_grpo_step.py --steps 2 --max-completion-length 64 --arms new
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean
from typing import Any

PHASES = (
    ("generation", "rollout/generate_seconds"),
    ("weight push", "rollout/sync_seconds"),
    ("importance forward", "rollout/mask_seconds"),
    ("reward", "time/reward_seconds"),
    ("loss forward", "time/loss_forward_seconds"),
    ("backward", "time/backward_seconds"),
    ("optimizer", "time/optimizer_seconds"),
)
ARMS = {
    "old": ({"lean_step": False, "lora": {"dropout": 0.05}}, "0"),
    "new": ({}, "1"),
}


def cpu_name() -> str:
    """The CPU model and whether it has bf16 instructions (every figure names its CPU)."""
    model, flags = "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "unknown CPU":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    kind = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model}, {os.cpu_count()} cores ({' '.join(kind) or 'no avx2'})"


def matmul_rate(bf16: bool, hidden: int, inner: int, tokens: int = 2048) -> float:
    """FLOP/s of one ``Linear(hidden, inner)`` over ``tokens`` rows, in the training dtype (the
    best of five rounds: single measurements on a shared 2-core machine varied 1.2-1.9 TFLOP/s)."""
    import torch

    x = torch.randn(tokens, hidden)
    layer = torch.nn.Linear(hidden, inner, bias=False)
    best = float("inf")
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        layer(x)
        for _ in range(5):  # the fastest of five rounds: the floor is what the machine can do
            started = time.perf_counter()
            for _ in range(3):
                layer(x)
            best = min(best, (time.perf_counter() - started) / 3)
    return 2 * tokens * hidden * inner / best


def run_arm(arm: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Train ``args.steps`` steps in this process; the arm's figures."""
    import torch

    from bench_grpo_rollout import step_overrides
    from bench_train_step import references
    from pbrlsvr.config import load_config
    from pbrlsvr.models import load_model
    from pbrlsvr.train.config import TrainConfig
    from pbrlsvr.train.grpo import train, use_bf16

    data = references(out / "refs.jsonl", per_lang=8)
    overrides, _ = ARMS[arm]
    base = step_overrides(data, out / arm, args.model, args.steps, args.max_completion_length, "ct2", "int8")
    cfg = load_config(TrainConfig, overrides={**base, **overrides})
    model, tokenizer = load_model(cfg.model)
    mc = model.config
    linear = sum(
        m.weight.numel()
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and "lm_head" not in name
    )
    bf16 = use_bf16(cfg)
    rate = matmul_rate(bf16, mc.hidden_size, mc.intermediate_size)
    started = time.perf_counter()
    train(cfg, model=model, tokenizer=tokenizer)
    wall = time.perf_counter() - started
    records = [json.loads(x) for x in (out / arm / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "step_time" in r]
    return {
        "arm": arm,
        "records": steps,
        "wall": wall,
        "rate": rate,
        "bf16": bf16,
        "linear_params": linear,
        "head_params": mc.vocab_size * mc.hidden_size,
        "layers": mc.num_hidden_layers,
        "hidden": mc.hidden_size,
    }


def floor_seconds(r: dict[str, Any], rec: dict[str, Any]) -> tuple[float, float]:
    """(floor seconds, FLOPs) of one logged step (see the module docstring)."""
    prompt, completion = rec.get("tokens/prompt", 0.0), rec.get("tokens/with_loss", 0.0)
    rows = 32
    tokens = prompt + completion
    attention = 2 * r["layers"] * r["hidden"] * rows * (tokens / rows) ** 2
    forward = 2 * r["linear_params"] * tokens + 2 * r["head_params"] * completion + attention
    generation = 2 * (r["linear_params"] + r["head_params"]) * completion + 2 * r["linear_params"] * prompt
    flops = forward * 3 + generation  # forward, backward (input gradients), importance forward
    return flops / r["rate"], flops


def step_time(rec: dict[str, Any]) -> float:
    """The step's wall time as logged: TRL's step_time (rollout + forward + backward) + optimizer."""
    return float(rec["step_time"]) + float(rec.get("time/optimizer_seconds", 0.0))


def summarise(r: dict[str, Any]) -> dict[str, float]:
    tail = r["records"][1:] or r["records"]

    def avg(key: str) -> float:
        values = [float(x[key]) for x in tail if key in x]
        return mean(values) if values else float("nan")

    floors = [floor_seconds(r, x) for x in tail]
    out = {name: avg(key) for name, key in PHASES}
    out |= {
        "step": mean(step_time(x) for x in tail),
        "computed": avg("tokens/computed"),
        "with_loss": avg("tokens/with_loss"),
        "prompt": avg("tokens/prompt"),
        "floor": mean(f for f, _ in floors),
        "tflop": mean(f for _, f in floors) / 1e12,
        "length": avg("completions/mean_length"),
        "rate": r["rate"] / 1e9,
        "masked": avg("rollout/masked_share"),
    }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--max-completion-length", type=int, default=256)
    ap.add_argument("--arms", default="old,new")
    ap.add_argument("--arm", default=None, help=argparse.SUPPRESS)  # the child process's arm
    ap.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = ap.parse_args()
    if args.arm:  # child: one arm in this process
        with tempfile.TemporaryDirectory() as tmp:
            result = run_arm(args.arm, args, Path(tmp))
        args.result.write_text(json.dumps(result), encoding="utf-8")
        return 0

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for arm in args.arms.split(","):
            result_path = Path(tmp) / f"{arm}.json"
            env = {**os.environ, "THP_MEM_ALLOC_ENABLE": ARMS[arm][1]}
            cmd = [sys.executable, __file__, "--arm", arm, "--result", str(result_path)]
            cmd += ["--model", args.model, "--steps", str(args.steps)]
            cmd += ["--max-completion-length", str(args.max_completion_length)]
            subprocess.run(cmd, check=True, env=env, cwd=Path(__file__).parent)
            results[arm] = json.loads(result_path.read_text())
    # One floor per machine: the best rate any arm measured (single measurements vary on shared cores).
    best_rate = max(r["rate"] for r in results.values())
    for r in results.values():
        r["rate"] = best_rate
    summary = {arm: summarise(r) for arm, r in results.items()}
    first = next(iter(results.values()))
    print(
        f"\nGRPO step, {args.model} + LoRA, 8 prompts x 4 completions <= {args.max_completion_length} tokens, "
        f"CTranslate2 int8 rollouts; {cpu_name()}; training in {'bf16' if first['bf16'] else 'fp32'}; "
        f"means over steps 2..{args.steps}"
    )
    names = list(summary)
    print("| figure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    rows = [(label, label) for label, _ in PHASES] + [
        ("step (s)", "step"),
        ("tokens computed", "computed"),
        ("tokens with loss", "with_loss"),
        ("prompt tokens", "prompt"),
        ("mean completion", "length"),
        ("masked share", "masked"),
        ("matmul GFLOP/s", "rate"),
        ("step TFLOP", "tflop"),
        ("floor (s)", "floor"),
    ]
    for label, key in rows:
        print(f"| {label} | " + " | ".join(f"{summary[n][key]:.4g}" for n in names) + " |")
    print(
        "| step / floor | "
        + " | ".join(f"{summary[n]['step'] / summary[n]['floor']:.2f}" for n in names)
        + " |"
    )
    # Step 1 samples the same completions in every arm (same seed, same initial weights); later
    # steps sample from policies whose numerics differed, so their lengths (and work) differ.
    first_steps = {n: step_time(results[n]["records"][0]) for n in names if results[n]["records"]}
    print(
        "| step 1, same rollouts in every arm (s) | "
        + " | ".join(f"{first_steps[n]:.4g}" for n in names)
        + " |"
    )
    if "old" in summary and "new" in summary:
        print(
            f"speed-up new / old: {summary['old']['step'] / summary['new']['step']:.2f}x over steps 2..{args.steps}, "
            f"{first_steps['old'] / first_steps['new']:.2f}x on step 1"
        )
    if args.out:
        args.out.write_text(
            json.dumps({"cpu": cpu_name(), "summary": summary, "runs": results}, indent=2), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
