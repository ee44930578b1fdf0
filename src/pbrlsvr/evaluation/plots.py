"""PNG plots of reports and comparisons (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pbrlsvr.evaluation.metrics import METRICS
from pbrlsvr.evaluation.report import LABELS


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _errors(values: Sequence[float | None], cis: Sequence[Sequence[float] | None]) -> list[list[float]]:
    low, high = [], []
    for v, ci in zip(values, cis, strict=True):
        if v is None or ci is None:
            low.append(0.0)
            high.append(0.0)
        else:
            low.append(max(0.0, 100 * (v - ci[0])))
            high.append(max(0.0, 100 * (ci[1] - v)))
    return [low, high]


Series = tuple[str, Sequence[float | None], Sequence[Sequence[float] | None]]
"""One bar series: its legend label, a value per group (fractions) and each value's interval."""


def _grouped_bars(ax: Any, names: Sequence[str], series: Sequence[Series]) -> None:
    """One cluster of bars per name, one bar per series, in percent with interval error bars."""
    width = 0.8 / len(series)
    for j, (label, values, cis) in enumerate(series):
        xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(names))]
        ax.bar(
            xs,
            [100 * v if v is not None else 0.0 for v in values],
            width,
            yerr=_errors(values, cis),
            capsize=2,
            label=label,
        )
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.grid(axis="y", alpha=0.3)


def _metric_series(groups: Mapping[str, Mapping[str, Any]], metrics: Sequence[str]) -> list[Series]:
    """A series per metric over ``groups`` (each holding ``<metric>`` and ``<metric>_ci``)."""
    return [
        (LABELS[m], [groups[g].get(m) for g in groups], [groups[g].get(f"{m}_ci") for g in groups])
        for m in metrics
    ]


def _bars(ax: Any, groups: Mapping[str, Mapping[str, Any]], metrics: Sequence[str]) -> None:
    _grouped_bars(ax, list(groups), _metric_series(groups, metrics))
    ax.set_ylim(0, 100)
    ax.set_ylabel("%")


def plot_report(report: Mapping[str, Any], folder: Path) -> list[Path]:
    """``metrics.png`` (Acc, LC, LC&Acc per language) and ``accuracy.png`` (with the average line)."""
    plt = pyplot()
    groups: dict[str, Mapping[str, Any]] = dict(report["languages"])
    macro = report["averages"].get("macro") or {}
    if macro.get("langs"):
        groups["avg"] = macro
    title = f"{report['settings']['benchmark']}: {report['settings']['model']}"
    written = []

    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(groups) + 2), 4))
    _bars(ax, groups, METRICS)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, fontsize=8, frameon=False)
    fig.tight_layout()
    path = folder / "metrics.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    written.append(path)

    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(groups) + 2), 4))
    _bars(ax, dict(report["languages"]), ["accuracy"])
    if macro.get("accuracy") is not None:
        ax.axhline(100 * macro["accuracy"], color="black", linestyle="--", linewidth=1, label="avg (non-en)")
    ax.set_title(f"accuracy, {title}", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    path = folder / "accuracy.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    written.append(path)
    return written


def plot_compare(result: Mapping[str, Any], path: Path) -> Path:
    """Per-language deltas (B − A) of each metric with their paired-bootstrap intervals."""
    plt = pyplot()
    rows: dict[str, Mapping[str, Any]] = {}
    for lang, v in result["languages"].items():
        rows[lang] = {m: v[m]["delta"] for m in METRICS if v.get(m)} | {
            f"{m}_ci": v[m]["delta_ci"] for m in METRICS if v.get(m)
        }
    if result.get("macro"):
        rows["avg"] = {m: result["macro"][m]["delta"] for m in METRICS if result["macro"].get(m)} | {
            f"{m}_ci": result["macro"][m]["delta_ci"] for m in METRICS if result["macro"].get(m)
        }
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(rows) + 2), 4))
    _grouped_bars(ax, list(rows), _metric_series(rows, METRICS))
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("Δ (B − A), points")
    ax.set_title(f"{result['b']['model']} vs {result['a']['model']}", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_before_after(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    path: Path,
    metrics: Sequence[str] = ("accuracy", "language_consistency"),
    names: tuple[str, str] = ("before", "after"),
) -> Path:
    """One panel per metric: each language's value in two reports side by side, with intervals.

    The demo's "did training help, and did it keep the language" picture: accuracy alone hides the
    drift to English, so language consistency sits next to it.
    """
    plt = pyplot()
    langs = [lang for lang in before["languages"] if lang in after["languages"]]
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(max(6.0, 0.9 * len(langs) + 2) * len(metrics) / 1.4, 4)
    )
    axes = [axes] if len(metrics) == 1 else list(axes)
    for ax, m in zip(axes, metrics, strict=True):
        series = [
            (
                name,
                [report["languages"][lang].get(m) for lang in langs],
                [report["languages"][lang].get(f"{m}_ci") for lang in langs],
            )
            for name, report in zip(names, (before, after), strict=True)
        ]
        _grouped_bars(ax, langs, series)
        ax.set_ylim(0, 100)
        ax.set_ylabel("%")
        ax.set_title(LABELS[m], fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_arms(
    reports: Mapping[str, Mapping[str, Any]],
    path: Path,
    metrics: Sequence[str] = ("accuracy", "lc_acc"),
    title: str = "",
) -> Path:
    """One panel per metric: each language (and the non-English average) with one bar per arm
    (``reports``: arm name → eval ``report.json`` content), with intervals: the experiment's
    "which reward helps where" picture."""
    plt = pyplot()
    names = list(reports)
    langs = list(dict.fromkeys(lang for r in reports.values() for lang in r["languages"]))
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(max(6.0, 0.6 * len(langs) * len(names) + 2) * len(metrics) / 1.6, 4.2)
    )
    axes = [axes] if len(metrics) == 1 else list(axes)
    for ax, m in zip(axes, metrics, strict=True):
        groups = [*langs, "avg"]
        series = []
        for name in names:
            rows = dict(reports[name]["languages"])
            rows["avg"] = (reports[name].get("averages") or {}).get("macro") or {}
            series.append(
                (
                    name,
                    [rows.get(g, {}).get(m) for g in groups],
                    [rows.get(g, {}).get(f"{m}_ci") for g in groups],
                )
            )
        _grouped_bars(ax, groups, series)
        ax.set_ylim(0, 100)
        ax.set_ylabel("%")
        ax.set_title(f"{title} {LABELS[m]}".strip(), fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
