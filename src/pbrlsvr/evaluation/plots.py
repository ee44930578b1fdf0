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


def _errors(
    values: Sequence[float | None],
    cis: Sequence[Sequence[float] | None],
    limits: tuple[float, float] | None = None,
) -> list[list[float]]:
    """Error bar lengths (points) below and above each value; with ``limits`` (the axis range,
    points) each bar is cut at the axis, so no interval runs off the chart."""
    low, high = [], []
    for v, ci in zip(values, cis, strict=True):
        if v is None or ci is None:
            low.append(0.0)
            high.append(0.0)
            continue
        lo, hi = 100 * ci[0], 100 * ci[1]
        if limits is not None:
            lo, hi = max(lo, limits[0]), min(hi, limits[1])
        low.append(max(0.0, 100 * v - lo))
        high.append(max(0.0, hi - 100 * v))
    return [low, high]


Series = tuple[str, Sequence[float | None], Sequence[Sequence[float] | None]]
"""One bar series: its legend label, a value per group (fractions) and each value's interval."""


def _grouped_bars(
    ax: Any,
    names: Sequence[str],
    series: Sequence[Series],
    limits: tuple[float, float] | None = None,
    signed: bool = False,
    labels: bool = True,
) -> None:
    """One cluster of bars per name, one bar per series, in percent with interval error bars.

    Every bar carries its value as a label (0 included: a panel of zeros must read as "all 0",
    not as an empty chart), and with ``limits`` the axis is set to them and error bars are cut
    at its edges. ``signed`` writes labels as ``+1.5`` (deltas)."""
    width = 0.8 / len(series)
    for j, (label, values, cis) in enumerate(series):
        xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(names))]
        bars = ax.bar(
            xs,
            [100 * v if v is not None else 0.0 for v in values],
            width,
            yerr=_errors(values, cis, limits),
            capsize=2,
            label=label,
        )
        if labels:
            texts = [
                "n/a" if v is None else (f"{100 * v:+.1f}" if signed else f"{100 * v:.0f}") for v in values
            ]
            ax.bar_label(bars, labels=texts, fontsize=7, padding=2)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.grid(axis="y", alpha=0.3)
    if limits is not None:
        ax.set_ylim(*limits)


def _metric_series(groups: Mapping[str, Mapping[str, Any]], metrics: Sequence[str]) -> list[Series]:
    """A series per metric over ``groups`` (each holding ``<metric>`` and ``<metric>_ci``)."""
    return [
        (LABELS[m], [groups[g].get(m) for g in groups], [groups[g].get(f"{m}_ci") for g in groups])
        for m in metrics
    ]


PERCENT = (0.0, 108.0)
"""The y range of percentage panels: 0-100 plus room for the value labels above a full bar."""


def _bars(ax: Any, groups: Mapping[str, Mapping[str, Any]], metrics: Sequence[str]) -> None:
    _grouped_bars(ax, list(groups), _metric_series(groups, metrics), PERCENT)
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


def _delta_limits(rows: Mapping[str, Mapping[str, Any]]) -> tuple[float, float]:
    """A symmetric y range (points) holding every delta and interval, at least ±5, at most ±100."""
    reach = 0.0
    for row in rows.values():
        for m in METRICS:
            if row.get(m) is not None:
                reach = max(reach, abs(100 * row[m]))
            ci = row.get(f"{m}_ci")
            if ci is not None:
                reach = max(reach, abs(100 * ci[0]), abs(100 * ci[1]))
    edge = min(100.0, max(5.0, reach * 1.15 + 1))
    return (-edge, edge)


def compare_figure(result: Mapping[str, Any]) -> Any:
    """The figure :func:`plot_compare` saves (tests read its texts and limits)."""
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
    _grouped_bars(ax, list(rows), _metric_series(rows, METRICS), _delta_limits(rows), signed=True)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("Δ (B − A), points")
    a_name = (result.get("a") or {}).get("model", "A")
    b_name = (result.get("b") or {}).get("model", "B")
    ax.set_title(f"change per language: {b_name} (B) vs {a_name} (A)", fontsize=10)
    deltas = [row[m] for row in rows.values() for m in METRICS if row.get(m) is not None]
    if deltas and all(abs(d) < 1e-12 for d in deltas):
        # Zero-height bars draw nothing: say it in words, or the chart looks broken.
        ax.text(
            0.5,
            0.75,
            "no change: every delta is 0",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=12,
            bbox={"facecolor": "white", "edgecolor": "0.6"},
        )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_compare(result: Mapping[str, Any], path: Path) -> Path:
    """Per-language deltas (B − A) of each metric with their paired-bootstrap intervals, each bar
    labelled with its value, intervals cut at the axis, and "no change" written out when every
    delta is 0."""
    plt = pyplot()
    fig = compare_figure(result)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def before_after_figure(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    metrics: Sequence[str] = METRICS,
    names: tuple[str, str] = ("before", "after"),
    title: str | None = None,
) -> Any:
    """The figure :func:`plot_before_after` saves (tests read its texts and limits)."""
    plt = pyplot()
    langs = [lang for lang in before["languages"] if lang in after["languages"]]
    groups = list(langs)
    macro_b = (before.get("averages") or {}).get("macro") or {}
    macro_a = (after.get("averages") or {}).get("macro") or {}
    if macro_b.get("langs") and macro_a.get("langs"):
        groups.append("avg")

    def row(report: Mapping[str, Any], group: str) -> Mapping[str, Any]:
        if group == "avg":
            return (report.get("averages") or {}).get("macro") or {}
        return report["languages"][group]

    fig, axes = plt.subplots(
        1, len(metrics), figsize=(max(4.5, 0.9 * len(groups) + 1.5) * len(metrics) / 1.2, 4.2)
    )
    axes = [axes] if len(metrics) == 1 else list(axes)
    for ax, m in zip(axes, metrics, strict=True):
        series = [
            (
                name,
                [row(report, g).get(m) for g in groups],
                [row(report, g).get(f"{m}_ci") for g in groups],
            )
            for name, report in zip(names, (before, after), strict=True)
        ]
        _grouped_bars(ax, groups, series, PERCENT)
        ax.set_ylabel("%")
        ax.set_title(LABELS[m], fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()  # one legend below the panels, off the bars
    fig.legend(handles, labels, loc="lower center", ncol=len(names), fontsize=9, frameon=False)
    fig.suptitle(title or f"{names[0]} vs {names[1]}, per language (%, 95% intervals)", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def plot_before_after(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    path: Path,
    metrics: Sequence[str] = METRICS,
    names: tuple[str, str] = ("before", "after"),
    title: str | None = None,
) -> Path:
    """One panel per metric (accuracy, language consistency, LC&Acc): each language's value (and
    the non-English average) in two reports side by side, labelled, with intervals.

    The demo's "did training help, and did it keep the language" picture: accuracy alone hides the
    drift to English, so language consistency and LC&Acc sit next to it.
    """
    plt = pyplot()
    fig = before_after_figure(before, after, metrics, names, title)
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
        _grouped_bars(ax, groups, series, labels=False)
        ax.set_ylim(0, 100)
        ax.set_ylabel("%")
        ax.set_title(f"{title} {LABELS[m]}".strip(), fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
