"""Training curves: the combined reward and each component over GRPO steps, from ``metrics.jsonl``.

A reward that rises while its language component falls is the drift to English that plain RL
shows; one plot of every component side by side is how a person sees that at a glance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pbrlsvr.errors import DataError


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The per-step records of ``metrics.jsonl`` (lines that are not JSON objects are skipped:
    a run killed mid-write leaves at most one broken last line)."""
    if not path.is_file():
        raise DataError(f"no training metrics at {path}")
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "step" in rec:
            records.append(rec)
    return records


def reward_series(records: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """``{"reward": [(step, value), ...], "semantic": ..., ...}`` from the per-step logs.

    ``reward`` is the weighted total that GRPO optimised; each ``rewards/<name>/mean`` is one
    component as it enters that total (semantic and translation times the language gate, the same
    in every aggregation mode and with ``reward_url``), or, with ``aggregation: sum``, the combined
    reward under the reward function's name.
    A step logged twice (a resumed run) keeps its last value.
    """
    series: dict[str, dict[int, float]] = {}
    for rec in records:
        step = int(rec["step"])
        for key, value in rec.items():
            if not isinstance(value, int | float):
                continue
            if key == "reward":
                name = "reward"
            elif key.startswith("rewards/") and key.endswith("/mean"):
                name = key[len("rewards/") : -len("/mean")]
            elif key in ("pbrlsvr/gate", "frac_reward_zero_std"):
                name = key
            else:
                continue
            series.setdefault(name, {})[step] = float(value)
    total = series.get("reward")
    out = {}
    for name, points in series.items():
        # With ``aggregation: sum`` the combined reward is logged twice (``reward`` and under the
        # preset's name); keep one.
        duplicate = name != "reward" and total is not None and points.keys() == total.keys()
        if duplicate and all(abs(points[k] - total[k]) < 1e-9 for k in points):  # type: ignore[index]
            continue
        out[name] = sorted(points.items())
    return out


def plot_training_curves(metrics_path: Path, png: Path, title: str = "GRPO") -> Path | None:
    """Write ``png`` from a run's ``metrics.jsonl`` (see :func:`plot_series`); ``None`` when there
    is no step to plot yet."""
    return plot_series(reward_series(read_metrics(metrics_path)), png, title)


def plot_series(series: dict[str, list[tuple[int, float]]], png: Path, title: str = "GRPO") -> Path | None:
    """Write ``png``: the reward and components over steps, and beside them the language gate and
    the share of groups without learning signal. ``series`` is :func:`reward_series`'s output (not
    modified). Returns ``None`` when it is empty."""
    if not series:
        return None
    from matplotlib.ticker import MaxNLocator

    from pbrlsvr.evaluation.plots import pyplot

    plt = pyplot()
    series = dict(series)
    aux = {k: series.pop(k) for k in ("pbrlsvr/gate", "frac_reward_zero_std") if k in series}
    fig, axes = plt.subplots(1, 2 if aux else 1, figsize=(11 if aux else 6.5, 4), squeeze=False)
    ax = axes[0][0]
    for name in sorted(series, key=lambda n: (n != "reward", n)):
        steps, values = zip(*series[name], strict=True)
        style = {"linewidth": 2.2, "color": "black"} if name == "reward" else {"linewidth": 1.2}
        ax.plot(steps, values, marker="o", markersize=3, label=name, **style)
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("mean over the step's completions")
    ax.set_title(f"{title}: reward and components", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if aux:
        ax2 = axes[0][1]
        labels = {"pbrlsvr/gate": "language gate", "frac_reward_zero_std": "groups with no signal"}
        for name, points in aux.items():
            steps, values = zip(*points, strict=True)
            ax2.plot(steps, values, marker="o", markersize=3, label=labels[name])
        ax2.set_ylim(-0.05, 1.05)
        ax2.set_xlabel("step")
        ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax2.set_title("language gate and zero-std groups", fontsize=10)
        ax2.grid(alpha=0.3)
        ax2.legend(fontsize=8)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png
