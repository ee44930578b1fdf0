"""The demo's report folder: one ``report.md`` a person reads, ``report.json`` for scripts, PNG plots.

Everything here is rebuilt from files the demo steps already wrote (the pivot outcome, the two
eval folders, the training ``metrics.jsonl``), so re-running the demo on finished steps only
re-renders the report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pbrlsvr.evaluation.compare import delta_cell
from pbrlsvr.evaluation.metrics import METRICS
from pbrlsvr.evaluation.report import LABELS, pct, write_json, write_text
from pbrlsvr.generation.progress import format_duration


def step_record(computed: int, total: int, unit: str, seconds: float | None) -> dict[str, Any]:
    """What one demo step did in this run and what its output cost when it was made.

    ``status`` is ``computed`` (all of it now), ``resumed`` (part now, part from an earlier run) or
    ``reused`` (nothing now); ``seconds`` comes from what the step stored, so it is the same on a
    re-run. ``line`` is the log line saying so.
    """
    status = "reused" if computed <= 0 < total else "computed" if computed >= total else "resumed"
    took = "time unknown" if seconds is None else format_duration(seconds)
    if status == "reused":
        line = f"      reused: {total} {unit} from an earlier run (made in {took})"
    elif status == "resumed":
        line = f"      resumed: {computed} of {total} {unit} computed now, {total - computed} reused ({took} in all)"
    else:
        line = f"      computed {total} {unit} in {took}"
    return {
        "status": status,
        "computed_now": computed,
        "total": total,
        "unit": unit,
        "seconds": None if seconds is None else round(seconds, 3),
        "line": line,
    }


def training_seconds(metrics_path: Path) -> float | None:
    """Training time over every sitting: the sum of the Trainer's closing ``train_runtime`` records
    in ``metrics.jsonl`` (one per sitting that trained); None when there is none."""
    try:
        lines = metrics_path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    runtimes = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("train_runtime"), int | float):
            runtimes.append(float(rec["train_runtime"]))
    return sum(runtimes) if runtimes else None


def _first_last(series: list[tuple[int, float]]) -> dict[str, float]:
    return {
        "first_step": series[0][0],
        "first": series[0][1],
        "last_step": series[-1][0],
        "last": series[-1][1],
    }


def build_demo_report(
    out: Path,
    *,
    settings: Mapping[str, Any],
    pivot: Mapping[str, Any],
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    comparison: Mapping[str, Any],
    metrics_path: Path,
    steps: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``out/report.md``, ``out/report.json`` and ``out/plots/*.png``; return the JSON payload.

    ``steps`` holds each step's :func:`step_record` (without its log line)."""
    from pbrlsvr.evaluation.plots import plot_before_after, plot_compare
    from pbrlsvr.train.curves import plot_series, read_metrics, reward_series

    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    series = reward_series(read_metrics(metrics_path))
    training = {name: _first_last(points) for name, points in series.items() if points}
    trained = max((p[-1][0] for p in series.values() if p), default=0)
    title = (
        f"{settings.get('policy')} on MGSM: before vs after {trained} GRPO steps "
        f"({settings.get('eval_problems')} problems per language; %, 95% intervals)"
    )
    written = {
        "training_curves": plot_series(series, plots / "training_curves.png", "demo GRPO"),
        "before_after": plot_before_after(before, after, plots / "before_after.png", title=title),
        "compare": plot_compare(comparison, plots / "compare.png"),
    }
    payload = {
        "settings": dict(settings),
        "pivot": dict(pivot),
        "training": {"steps": trained, "series": training, "metrics": str(metrics_path)},
        "before": {"languages": before["languages"], "averages": before.get("averages", {})},
        "after": {"languages": after["languages"], "averages": after.get("averages", {})},
        "compare": {k: comparison.get(k) for k in ("languages", "macro", "warnings", "bootstrap", "alpha")},
        "decoding": (before.get("settings") or {}).get("decoding"),
        "steps": dict(steps or {}),
        "plots": {k: str(v.relative_to(out)) for k, v in written.items() if v is not None},
    }
    write_json(out / "report.json", payload)
    write_text(out / "report.md", render_demo_markdown(payload))
    return payload


def render_demo_markdown(payload: Mapping[str, Any]) -> str:
    s, pv, tr = payload["settings"], payload["pivot"], payload["training"]
    acc = pv.get("pivot_accuracy")
    gen = pv.get("generation") or {}
    lines = [
        "# pbrlsvr demo report",
        "",
        f"Policy **{s.get('policy')}** trained with GRPO (LoRA) on the PB-RLSVR reward against English "
        f"references written by the pivot **{s.get('pivot')}**, in {', '.join(s.get('langs', []))}. "
        "Training prompts are MSVAMP; evaluation is MGSM, which training never sees.",
        "",
        "A few GRPO steps of a small model on a CPU check the whole pipeline; they are not a measure of "
        "the method's effect: on 2 cores a GRPO step of the 0.5B model takes about 4 minutes, so 15 minutes "
        "cannot show a significant change. The matched-budget experiment is `pbrlsvr experiment -c "
        "configs/experiment/small.yaml` (committed results: `results/small/results.md`), and `configs/paper/` "
        "holds the GPU-scale presets. Deltas are in points with their paired-"
        f"bootstrap interval; * = significant at α = {payload['compare'].get('alpha')}.",
        "",
        "## Pivot references",
        "",
        f"- problems: {pv.get('problems')} ({pv.get('problem_rows')} problem rows over the languages), "
        f"references kept: {pv.get('kept')} (rule: {s.get('keep')}), training rows: {pv.get('training_rows')} "
        "(every language of every kept problem)",
        f"- pivot accuracy vs gold: {'n/a' if acc is None else pct(acc)}%",
        f"- samples: {gen.get('samples')}, generated in {_took(gen.get('generation_seconds'))}"
        + (f" ({gen['tokens_per_second']:.1f} tokens/s)" if gen.get("tokens_per_second") else ""),
        "",
        "## Training",
        "",
        f"{tr['steps']} steps. First → last logged value of the reward and each component:",
        "",
        "| series | first | last |",
        "|---|---|---|",
    ]
    for name, v in sorted(tr["series"].items(), key=lambda kv: (kv[0] != "reward", kv[0])):
        lines.append(
            f"| {name} | {v['first']:.3f} (step {v['first_step']}) | {v['last']:.3f} (step {v['last_step']}) |"
        )
    lines += [
        "",
        "## MGSM before → after",
        "",
        "| language | " + " | ".join(LABELS[m] for m in METRICS) + " |",
        "|---" * (len(METRICS) + 1) + "|",
    ]
    cmp_langs = payload["compare"].get("languages") or {}
    for lang, row in cmp_langs.items():
        lines.append(
            f"| {lang} (n={row['n']}) | " + " | ".join(delta_cell(row.get(m)) for m in METRICS) + " |"
        )
    macro = payload["compare"].get("macro")
    if macro:
        lines.append("| **avg (non-en)** | " + " | ".join(delta_cell(macro.get(m)) for m in METRICS) + " |")
    for w in payload["compare"].get("warnings") or []:
        lines.append(f"\n> warning: {w}")
    dec = payload.get("decoding") or {}
    if dec:
        lines += ["", "Decoding: " + ", ".join(f"{k}={v}" for k, v in dec.items() if k != "stop") + "."]
    steps = payload.get("steps") or {}
    if steps:
        lines += [
            "",
            "## Steps",
            "",
            "What this run did with each step, and the time its output took when it was made "
            "(a re-run reuses finished steps and keeps their original timings).",
            "",
            "| step | this run | output | time |",
            "|---|---|---|---|",
        ]
        for name, st in steps.items():
            lines.append(
                f"| {name.replace('_', ' ')} | {st['status']} ({st['computed_now']} now) | "
                f"{st['total']} {st['unit']} | {_took(st.get('seconds'))} |"
            )
    lines += ["", "## Plots", ""]
    titles = {
        "training_curves": "Reward and components over steps",
        "before_after": "Accuracy, language consistency and LC&Acc per language, before vs after",
        "compare": "Per-language change with 95% paired-bootstrap intervals",
    }
    for key, rel in payload["plots"].items():
        lines += [f"### {titles.get(key, key)}", "", f"![{key}]({rel})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _took(seconds: float | None) -> str:
    return "n/a" if seconds is None else format_duration(seconds)
