"""Evaluation metrics: bootstrap intervals, averages, the English gap, paired deltas."""

from __future__ import annotations

import numpy as np
import pytest

from pbrlsvr.evaluation.metrics import (
    bootstrap_binary,
    bootstrap_p_value,
    paired_delta,
    percentile_interval,
    summarize,
)


def _records(lang: str, correct: list[int], consistent: list[int] | None = None) -> list[dict]:
    cons = consistent if consistent is not None else [1] * len(correct)
    return [
        {
            "id": f"p{i}",
            "lang": lang,
            "correct": bool(c),
            "consistent": bool(k),
            "extracted": "1",
            "finish_reason": "stop",
            "lang_share": float(k),
        }
        for i, (c, k) in enumerate(zip(correct, cons, strict=True))
    ]


def test_interval_contains_the_estimate_and_is_deterministic() -> None:
    rng = np.random.default_rng(1)
    for n, p in [(10, 0.3), (50, 0.5), (200, 0.9), (7, 0.0), (7, 1.0)]:
        correct = rng.random(n) < p
        consistent = rng.random(n) < 0.7
        a = bootstrap_binary(correct, consistent, resamples=1000, seed=3, stream="sw")
        b = bootstrap_binary(correct, consistent, resamples=1000, seed=3, stream="sw")
        for metric, draws in a.items():
            np.testing.assert_array_equal(draws, b[metric])
            lo, hi = percentile_interval(draws, 0.95)
            point = {
                "accuracy": correct.mean(),
                "language_consistency": consistent.mean(),
                "lc_acc": (correct & consistent).mean(),
            }[metric]
            assert lo <= point <= hi, (metric, n, p, lo, point, hi)
    c = bootstrap_binary([1, 0, 1, 1], [1, 1, 0, 1], resamples=500, seed=4, stream="x")
    d = bootstrap_binary([1, 0, 1, 1], [1, 1, 0, 1], resamples=500, seed=5, stream="x")
    assert not np.array_equal(c["accuracy"], d["accuracy"])  # the seed matters


def test_interval_narrows_with_n() -> None:
    widths = []
    for n in (20, 200, 2000):
        correct = np.arange(n) % 2 == 0  # accuracy 0.5
        lo, hi = percentile_interval(bootstrap_binary(correct, None, seed=0)["accuracy"], 0.95)
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]
    # ~ 2 * 1.96 * sqrt(0.25 / n) for the normal approximation
    assert widths[1] == pytest.approx(2 * 1.96 * (0.25 / 200) ** 0.5, rel=0.2)


def test_bootstrap_matches_resampling_problems() -> None:
    """The multinomial shortcut has the distribution of resampling problems with replacement."""
    correct = np.array([1, 1, 0, 1, 0, 0, 1, 1, 1, 0], dtype=bool)
    consistent = np.array([1, 0, 0, 1, 1, 1, 1, 0, 1, 1], dtype=bool)
    fast = bootstrap_binary(correct, consistent, resamples=20000, seed=0, stream="a")
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(correct), size=(20000, len(correct)))
    slow = (correct[idx] & consistent[idx]).mean(axis=1)
    assert fast["lc_acc"].mean() == pytest.approx(slow.mean(), abs=0.01)
    assert fast["lc_acc"].std() == pytest.approx(slow.std(), rel=0.05)


def test_summarize_per_language_macro_and_gap() -> None:
    records = (
        _records("en", [1, 1, 1, 0])
        + _records("sw", [1, 0, 0, 0], [1, 1, 0, 0])
        + _records("bn", [1, 1, 0, 0], [0, 0, 0, 0])
    )
    s = summarize(records, resamples=500, seed=0)
    sw, bn = s["languages"]["sw"], s["languages"]["bn"]
    assert (sw["n"], sw["correct"], sw["consistent"], sw["lc_correct"]) == (4, 1, 2, 1)
    assert (sw["accuracy"], sw["language_consistency"], sw["lc_acc"]) == (0.25, 0.5, 0.25)
    assert (bn["accuracy"], bn["language_consistency"], bn["lc_acc"]) == (0.5, 0.0, 0.0)
    macro = s["averages"]["macro"]
    assert macro["langs"] == ["sw", "bn"]
    assert macro["accuracy"] == pytest.approx(0.375)
    assert macro["lc_acc"] == pytest.approx(0.125)
    assert macro["accuracy_ci"][0] <= 0.375 <= macro["accuracy_ci"][1]
    gap = s["averages"]["en_gap"]
    assert gap["accuracy"] == pytest.approx(0.75 - 0.375)
    assert gap["accuracy_ci"][0] <= gap["accuracy"] <= gap["accuracy_ci"][1]
    # A language's interval does not depend on which other languages were evaluated.
    alone = summarize(_records("sw", [1, 0, 0, 0], [1, 1, 0, 0]), resamples=500, seed=0)
    assert alone["languages"]["sw"] == sw
    assert alone["averages"]["en_gap"] is None


def test_missing_consistency_is_not_averaged() -> None:
    ne = [dict(r, consistent=None, lang_share=None) for r in _records("ne", [1, 0])]
    s = summarize(_records("sw", [1, 1]) + ne, resamples=200)
    assert s["languages"]["ne"]["language_consistency"] is None
    assert s["languages"]["ne"]["language_consistency_ci"] is None
    assert s["averages"]["macro"]["accuracy"] == pytest.approx(0.75)
    assert s["averages"]["macro"]["language_consistency"] == pytest.approx(1.0)
    assert s["averages"]["macro"]["language_consistency_langs"] == 1


def test_paired_delta_known_difference_and_p_value() -> None:
    a = [1] * 5 + [0] * 15
    b = [1] * 15 + [0] * 5  # b right on every problem a got right, and 10 more
    d = paired_delta(a, b, resamples=2000, seed=0)
    assert d.mean() == pytest.approx(0.5, abs=0.02)
    lo, hi = percentile_interval(d, 0.95)
    assert 0 < lo <= 0.5 <= hi
    assert bootstrap_p_value(d) < 0.01
    same = paired_delta(a, a, resamples=500)
    assert np.all(same == 0) and bootstrap_p_value(same) == 1.0
    # A tiny, noisy difference is not significant.
    noisy = paired_delta([1, 0] * 10, [0, 1] * 9 + [1, 1], resamples=2000)
    assert bootstrap_p_value(noisy) > 0.3
