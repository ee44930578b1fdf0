"""Plots that read at a glance: labelled values (0 included), the LC&Acc panel, titles, "no change"
said in words, and error bars that stay on the chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pbrlsvr.evaluation.metrics import METRICS
from pbrlsvr.evaluation.plots import (
    _errors,
    before_after_figure,
    compare_figure,
    plot_before_after,
    plot_compare,
    pyplot,
)

LANGS = ["de", "sw"]


def _report(value: float, ci: tuple[float, float]) -> dict[str, Any]:
    row = {m: value for m in METRICS} | {f"{m}_ci": list(ci) for m in METRICS}
    return {
        "languages": {lang: dict(row) for lang in LANGS},
        "averages": {"macro": {**row, "langs": LANGS}},
    }


def _compare(delta: float, ci: tuple[float, float]) -> dict[str, Any]:
    cell = {
        "delta": delta,
        "delta_ci": list(ci),
        "a": 0.5,
        "b": 0.5 + delta,
        "p_value": 1.0,
        "significant": False,
    }
    return {
        "languages": {lang: {m: dict(cell) for m in METRICS} for lang in LANGS},
        "macro": {m: dict(cell) for m in METRICS},
        "a": {"model": "base"},
        "b": {"model": "trained"},
    }


def _texts(ax: Any) -> list[str]:
    return [t.get_text() for t in ax.texts]


def _errorbar_extent(ax: Any) -> tuple[float, float]:
    ys = [y for coll in ax.collections for seg in coll.get_segments() for _, y in seg]
    return min(ys), max(ys)


def test_before_after_with_every_value_zero_still_shows_labelled_bars_in_three_panels() -> None:
    fig = before_after_figure(
        _report(0.0, (0.0, 0.0)), _report(0.0, (0.0, 0.0)), title="demo: before vs after"
    )
    try:
        axes = fig.get_axes()
        assert [ax.get_title() for ax in axes] == ["Acc", "LC", "LC&Acc"]
        assert fig._suptitle is not None and fig._suptitle.get_text() == "demo: before vs after"
        for ax in axes:
            # 2 runs x (2 languages + the average): every bar says its value, zeros included
            assert _texts(ax) == ["0"] * 6, _texts(ax)
            assert [t.get_text() for t in ax.get_xticklabels()] == ["de", "sw", "avg"]
    finally:
        pyplot().close(fig)


def test_error_bars_never_leave_the_axes() -> None:
    fig = before_after_figure(_report(0.98, (0.9, 1.0)), _report(0.02, (0.0, 0.08)))
    try:
        for ax in fig.get_axes():
            lo, hi = ax.get_ylim()
            bottom, top = _errorbar_extent(ax)
            assert lo <= bottom and top <= hi
    finally:
        pyplot().close(fig)
    # a delta interval wider than the axis allows is cut at the axis edge
    assert _errors([0.5], [(-2.0, 3.0)], (-100.0, 100.0)) == [[150.0], [50.0]]
    low, high = _errors([0.5], [(0.4, 0.7)])
    assert low == [pytest.approx(10.0)] and high == [pytest.approx(20.0)]


def test_compare_says_no_change_when_every_delta_is_zero() -> None:
    fig = compare_figure(_compare(0.0, (0.0, 0.0)))
    try:
        (ax,) = fig.get_axes()
        texts = _texts(ax)
        assert "no change: every delta is 0" in texts
        assert texts.count("+0.0") == 9  # 3 metrics x (2 languages + the average), labelled
        assert ax.get_ylim() == (-5.0, 5.0)
    finally:
        pyplot().close(fig)
    moved = compare_figure(_compare(0.25, (0.05, 0.45)))
    try:
        (ax,) = moved.get_axes()
        assert "no change: every delta is 0" not in _texts(ax) and "+25.0" in _texts(ax)
        lo, hi = ax.get_ylim()
        bottom, top = _errorbar_extent(ax)
        assert lo <= bottom and top <= hi and hi >= 45
    finally:
        pyplot().close(moved)


def test_plots_are_written_as_png(tmp_path: Path) -> None:
    a = plot_before_after(_report(0.0, (0.0, 0.0)), _report(0.5, (0.25, 0.75)), tmp_path / "ba.png")
    b = plot_compare(_compare(0.0, (0.0, 0.0)), tmp_path / "c.png")
    for path in (a, b):
        assert path.read_bytes()[:4] == b"\x89PNG"
