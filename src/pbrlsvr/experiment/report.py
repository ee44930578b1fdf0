"""`results.md`, `results.json` and `plots/` of a `pbrlsvr experiment` (finished or not).

Reads only what the stages wrote (eval ``report.json`` / ``predictions.jsonl``, train
``metrics.jsonl``, the pivot summary in ``state.json``), so it can be re-rendered at any time and
shows a half-finished experiment as such: every missing stage is listed, never silently dropped.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pbrlsvr.evaluation.compare import compare_runs
from pbrlsvr.evaluation.metrics import METRICS
from pbrlsvr.evaluation.report import LABELS, cell, load_report, pct, write_json, write_text

if TYPE_CHECKING:
    from pbrlsvr.experiment.config import ArmConfig, ExperimentConfig


def _eval_dir(out: Path, arm: str, eval_set: str) -> Path:
    return out / "arms" / arm / f"eval_{eval_set}"


def _training_summary(metrics: Path) -> dict[str, Any] | None:
    from pbrlsvr.train.curves import read_metrics

    if not metrics.is_file():
        return None
    # One record per step, the last one logged (a run resumed by an older version logged the
    # steps after its last checkpoint twice).
    by_step = {int(r["step"]): r for r in read_metrics(metrics) if "reward" in r}
    records = [by_step[k] for k in sorted(by_step)]
    if not records:
        return None
    first, last = records[0], records[-1]
    keys = ["reward", "completions/mean_length", "rollout/masked_share", "rollout/logp_abs_diff"]
    keys += sorted(k for k in last if k.startswith("rewards/") and k.endswith("/mean"))
    step_times = [r["step_time"] for r in records[1:] if "step_time" in r]
    # GRPO learns only from groups whose rewards differ: a sparse reward that is 0 for every
    # completion of a prompt gives that prompt no gradient at all.
    zero_std = [float(r["frac_reward_zero_std"]) for r in records if "frac_reward_zero_std" in r]
    return {
        "steps": int(last["step"]),
        "groups_with_signal": 1.0 - sum(zero_std) / len(zero_std) if zero_std else None,
        "first": {k: first.get(k) for k in keys},
        "last": {k: last.get(k) for k in keys},
        "mean_step_seconds": sum(step_times) / len(step_times) if step_times else None,
    }


def write_results(
    cfg: ExperimentConfig, state: Mapping[str, Any], arms: Sequence[ArmConfig]
) -> dict[str, Any]:
    """Write the results folder's reports from what exists; returns ``results.json``'s content."""
    out = cfg.output
    names = [a.name for a in arms]
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    missing = [
        key
        for key in (
            ["pivot"]
            + [f"train/{a.name}" for a in arms if a.reward is not None]
            + [f"eval/{a.name}/{es.name}" for a in arms for es in cfg.eval_sets]
        )
        if state.get(key, {}).get("status") != "done"
    ]
    results: dict[str, Any] = {
        "created": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "finished": not missing,
        "missing_stages": missing,
        "meta": state.get("meta", {}),
        "wall_seconds": {
            k: v.get("seconds") for k, v in state.items() if isinstance(v, dict) and "seconds" in v
        },
        "pivot": (state.get("pivot") or {}).get("summary"),
        "arms": {a.name: {"reward": a.reward} for a in arms},
        "training": {},
        "eval_sets": {},
    }
    curves: dict[str, Path] = {}
    for a in arms:
        metrics = out / "arms" / a.name / "train" / "metrics.jsonl"
        summary = _training_summary(metrics) if a.reward is not None else None
        if summary:
            results["training"][a.name] = summary
            curves[a.name] = metrics
    figures: list[str] = []
    if curves:
        png = _plot_arm_curves(curves, plots / "training_curves.png")
        if png:
            figures.append(str(png.relative_to(out)))

    for es in cfg.eval_sets:
        reports: dict[str, dict[str, Any]] = {}
        for name in names:
            folder = _eval_dir(out, name, es.name)
            if (
                state.get(f"eval/{name}/{es.name}", {}).get("status") == "done"
                and (folder / "report.json").is_file()
            ):
                reports[name] = load_report(folder)[0]
        entry: dict[str, Any] = {"arms": {}, "vs_base": {}, "vs_accuracy": {}}
        for name, rep in reports.items():
            entry["arms"][name] = {"languages": rep["languages"], "averages": rep.get("averages")}
        for name in reports:
            if name != "base" and "base" in reports:
                entry["vs_base"][name] = _compare(out, "base", name, es.name)
            if name not in ("base", "accuracy") and "accuracy" in reports:
                entry["vs_accuracy"][name] = _compare(out, "accuracy", name, es.name)
        results["eval_sets"][es.name] = entry
        if reports:
            from pbrlsvr.evaluation.plots import plot_arms

            png = plot_arms(reports, plots / f"{es.name}_arms.png", title=es.name.upper())
            figures.append(str(png.relative_to(out)))
    results["plots"] = figures
    write_json(out / "results.json", results)
    write_text(out / "results.md", render_results(cfg, results))
    return results


def _compare(out: Path, a: str, b: str, eval_set: str) -> dict[str, Any]:
    result = compare_runs(_eval_dir(out, a, eval_set), _eval_dir(out, b, eval_set))
    return {"languages": result["languages"], "macro": result["macro"], "warnings": result["warnings"]}


def _plot_arm_curves(curves: Mapping[str, Path], png: Path) -> Path | None:
    """Each arm's reward (its own scale), answer and language components and completion length
    over steps, overlaid: what each reward pushed the policy towards."""
    from matplotlib.ticker import MaxNLocator

    from pbrlsvr.evaluation.plots import pyplot
    from pbrlsvr.train.curves import read_metrics

    panels = [
        ("reward", "reward (each arm's own)"),
        ("rewards/answer/mean", "answer component"),
        ("rewards/language/mean", "language component"),
        ("completions/mean_length", "completion length (tokens)"),
    ]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    drawn = False
    for ax, (key, label) in zip(axes, panels, strict=True):
        lines = 0
        for arm, path in curves.items():
            points = sorted({int(r["step"]): float(r[key]) for r in read_metrics(path) if key in r}.items())
            if points:
                steps, values = zip(*points, strict=True)
                ax.plot(steps, values, marker="o", markersize=2.5, label=arm)
                lines += 1
        drawn = drawn or lines > 0
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if lines:  # an arm whose reward has no such component simply has no line here
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no arm logs this", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    if drawn:
        fig.savefig(png, dpi=120)
    plt.close(fig)
    return png if drawn else None


def render_results(cfg: ExperimentConfig, results: Mapping[str, Any]) -> str:
    """The Markdown report: one table per evaluation set and metric, then the deltas."""
    meta = results.get("meta", {})
    machine = meta.get("machine", {})
    b = cfg.budget
    lines = [
        "# PB-RLSVR experiment: matched-budget arms",
        "",
        f"Policy **{cfg.policy}**, languages {', '.join(cfg.langs)}; every training arm: {b.steps} GRPO steps × "
        f"{b.prompts_per_step} prompts × {b.completions_per_prompt} completions (≤ {b.max_completion_length} tokens), "
        f"lr {b.learning_rate}, LoRA r={b.lora_r}, seed {b.seed}, the same rows in the same order. "
        f"Evaluation: greedy, ≤ {cfg.eval_max_new_tokens} tokens, the training prompt; 95% bootstrap intervals; "
        "deltas are paired (same problems) with two-sided bootstrap p-values.",
        "",
        f"Commit `{meta.get('commit')}`; machine: {machine.get('cpus')} × {machine.get('cpu')}, "
        f"{machine.get('memory_gb')} GB; torch {machine.get('torch')}, transformers {machine.get('transformers')}, "
        f"TRL {machine.get('trl')}, CTranslate2 {machine.get('ctranslate2')}; generation: {cfg.engine} "
        f"({cfg.compute_type}).",
        "",
    ]
    if results.get("missing_stages"):
        lines += [
            "**Unfinished**: " + ", ".join(f"`{s}`" for s in results["missing_stages"]) + ". Re-run the same "
            "command to continue; the tables below show only finished stages.",
            "",
        ]
    pivot = results.get("pivot") or {}
    if pivot:
        acc = pivot.get("pivot_accuracy")
        lines += [
            f"**Pivot** {cfg.pivot.model} ({cfg.pivot.samples} samples, majority vote, kept at agreement ≥ "
            f"{cfg.pivot.min_agreement}, never by gold): {pivot.get('kept')} of {pivot.get('problems')} problems kept; "
            f"accuracy of its voted answer against gold: {'n/a' if acc is None else pct(acc)}%.",
            "",
        ]
    arms = list(results["arms"])
    for name, entry in results["eval_sets"].items():
        reps = entry["arms"]
        if not reps:
            lines += [f"## {name}: no arm evaluated yet", ""]
            continue
        present = [a for a in arms if a in reps]
        langs = list(dict.fromkeys(lang for r in reps.values() for lang in r["languages"]))
        for m in METRICS:
            lines += [f"## {name}: {LABELS[m]} (%)", "", "| lang | " + " | ".join(present) + " |"]
            lines.append("|---" * (len(present) + 1) + "|")
            for lang in langs:
                row = [cell(reps[a]["languages"].get(lang, {}), m) for a in present]
                lines.append(f"| {lang} | " + " | ".join(row) + " |")
            macro = [cell((reps[a].get("averages") or {}).get("macro") or {}, m) for a in present]
            lines.append("| **avg (non-en)** | " + " | ".join(macro) + " |")
            gaps = []
            for a in present:
                gap = ((reps[a].get("averages") or {}).get("en_gap") or {}).get(m)
                gaps.append(
                    "–" if gap is None else f"{100 * gap:+.1f}" if isinstance(gap, float) else str(gap)
                )
            lines += ["| gap (en − avg) | " + " | ".join(gaps) + " |", ""]
        # Why an answer was wrong: no final answer at all, or cut at the token limit. A reward can
        # teach the model to finish with an answer long before it teaches it to be right.
        lines += [
            f"## {name}: no final answer / cut at the token limit (% of problems)",
            "",
            "| lang | " + " | ".join(present) + " |",
            "|---" * (len(present) + 1) + "|",
        ]
        for lang in langs:
            row = []
            for a in present:
                r = reps[a]["languages"].get(lang) or {}
                n = r.get("n") or 0
                row.append(
                    "–"
                    if not n
                    else f"{100 * r.get('no_answer', 0) / n:.0f} / {100 * r.get('truncated', 0) / n:.0f}"
                )
            lines.append(f"| {lang} | " + " | ".join(row) + " |")
        lines.append("")
        for label, key in (("vs base", "vs_base"), ("vs accuracy", "vs_accuracy")):
            deltas = entry.get(key) or {}
            if not deltas:
                continue
            lines += [
                f"### {name}: deltas {label} (points, 95% CI, p)",
                "",
                "| arm | metric | " + " | ".join([*langs, "avg"]) + " |",
                "|---" * (len(langs) + 3) + "|",
            ]
            for arm, d in deltas.items():
                for m in ("accuracy", "lc_acc"):
                    cells = [_short_delta((d["languages"].get(lang) or {}).get(m)) for lang in langs]
                    cells.append(_short_delta((d.get("macro") or {}).get(m)))
                    lines.append(f"| {arm} | {LABELS[m]} | " + " | ".join(cells) + " |")
            lines.append("")
    training = results.get("training") or {}
    if training:
        lines += [
            "## Training (first → last step)",
            "",
            "| arm | steps | reward | answer | language | length | groups with signal | masked tokens "
            "| s/step |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for arm, t in training.items():
            f, la = t["first"], t["last"]

            def fl(key: str, digits: int = 3, f: Mapping[str, Any] = f, la: Mapping[str, Any] = la) -> str:
                a, z = f.get(key), la.get(key)
                return "–" if a is None or z is None else f"{a:.{digits}f} → {z:.{digits}f}"

            sec = t.get("mean_step_seconds")
            signal = t.get("groups_with_signal")
            lines.append(
                f"| {arm} | {t['steps']} | {fl('reward')} | {fl('rewards/answer/mean')} | "
                f"{fl('rewards/language/mean')} | {fl('completions/mean_length', 0)} | "
                f"{'–' if signal is None else f'{signal:.0%}'} | "
                f"{fl('rollout/masked_share', 4)} | {'–' if sec is None else f'{sec:.0f}'} |"
            )
        lines += [
            "",
            "*Groups with signal*: the share of prompt groups, over all steps, whose completions got "
            "different rewards; GRPO's advantage is zero in the others, so they teach nothing.",
            "",
        ]
    walls = results.get("wall_seconds") or {}
    if walls:
        total = sum(v for v in walls.values() if isinstance(v, int | float))
        lines += [
            "## Wall time",
            "",
            ", ".join(f"{k} {v / 60:.1f} min" for k, v in walls.items() if isinstance(v, int | float))
            + f"; total {total / 60:.0f} min.",
            "",
        ]
    if results.get("plots"):
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in results["plots"]] + [""]
    return "\n".join(lines)


def _short_delta(row: Mapping[str, Any] | None) -> str:
    """``+3.0 [-1.0, +7.0] p=0.14`` (points), or – when missing."""
    if not row:
        return "–"
    ci = row["delta_ci"]
    star = "*" if row.get("significant") else ""
    return f"{row['delta'] * 100:+.1f} [{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}] p={row['p_value']:.2f}{star}"
