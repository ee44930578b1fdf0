r"""Per-language metrics with bootstrap confidence intervals, computed from prediction records.

For the problems of one language, with :math:`c_i` = the extracted answer matches the gold and
:math:`l_i` = the response is language-consistent (share of the prompt's language ≥ threshold):

* ``accuracy`` = :math:`\frac1n \sum_i c_i`;
* ``language_consistency`` = :math:`\frac1n \sum_i l_i`;
* ``lc_acc`` = :math:`\frac1n \sum_i c_i l_i` (right *and* in the right language).

Averages: ``macro`` is the unweighted mean over the evaluated **non-English** languages (a metric
is averaged over the languages where it is defined: languages without a language-ID model have no
consistency); ``en_gap`` is English minus that macro average, when English was evaluated.

Confidence intervals are **percentile bootstrap** intervals over problems (default 1,000
resamples, 95%). Outcomes are binary, so a resample of the *n* problems of a language is drawn as
multinomial counts over the four (correct, consistent) cells: distributionally identical to
resampling problems with replacement, and independent of *n* in cost. Each language has its own
random stream, seeded by ``(seed, language)``, so a language's interval does not depend on which
other languages were evaluated, and a report is reproducible. Macro and gap intervals combine the
per-language resamples (languages are independent samples).

:func:`paired_delta` is the paired version for comparing two runs on the same problems.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

METRICS: tuple[str, ...] = ("accuracy", "language_consistency", "lc_acc")
DIGITS = 6


def _stream(seed: int, *names: str) -> np.random.Generator:
    """A random stream for ``names`` (e.g. a language), reproducible and order-independent."""
    words = [int.from_bytes(hashlib.sha256(n.encode("utf-8")).digest()[:4], "little") for n in names]
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *words])


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), DIGITS)


def percentile_interval(draws: np.ndarray, confidence: float) -> list[float]:
    """The central ``confidence`` percentile interval of bootstrap draws."""
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(draws, [alpha, 1.0 - alpha])
    return [_r(lo), _r(hi)]  # type: ignore[list-item]


def bootstrap_binary(
    correct: Sequence[bool],
    consistent: Sequence[bool] | None,
    *,
    resamples: int = 1000,
    seed: int = 0,
    stream: str = "",
) -> dict[str, np.ndarray]:
    """Bootstrap draws of the three metrics' means (``consistent=None``: accuracy only).

    Returns ``{metric: array of shape (resamples,)}``; an empty sample gives empty arrays.
    """
    c = np.asarray(correct, dtype=bool)
    n = c.size
    if n == 0:
        return {}
    rng = _stream(seed, stream)
    if consistent is None:
        draws = rng.binomial(n, c.mean(), size=resamples)
        return {"accuracy": draws / n}
    l_ = np.asarray(consistent, dtype=bool)
    if l_.size != n:
        raise ValueError(f"{n} correctness values but {l_.size} consistency values")
    cells = np.bincount(c.astype(int) * 2 + l_.astype(int), minlength=4) / n  # (c,l): 00 01 10 11
    counts = rng.multinomial(n, cells, size=resamples)
    return {
        "accuracy": (counts[:, 2] + counts[:, 3]) / n,
        "language_consistency": (counts[:, 1] + counts[:, 3]) / n,
        "lc_acc": counts[:, 3] / n,
    }


def _lang_summary(
    recs: Sequence[Mapping[str, Any]], lang: str, boot: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    n = len(recs)
    correct = [bool(r.get("correct")) for r in recs]
    cons_raw = [r.get("consistent") for r in recs]
    consistent = None if any(v is None for v in cons_raw) else [bool(v) for v in cons_raw]
    shares = [r.get("lang_share") for r in recs]
    out: dict[str, Any] = {
        "n": n,
        "correct": sum(correct),
        "consistent": None if consistent is None else sum(consistent),
        "lc_correct": None
        if consistent is None
        else sum(a and b for a, b in zip(correct, consistent, strict=True)),
        "no_answer": sum(r.get("extracted") is None for r in recs),
        "truncated": sum(r.get("finish_reason") == "length" for r in recs),
        "mean_language_share": None if any(s is None for s in shares) or not n else _r(np.mean(shares)),
    }
    values = {
        "accuracy": out["correct"] / n if n else None,
        "language_consistency": None if consistent is None or not n else out["consistent"] / n,
        "lc_acc": None if consistent is None or not n else out["lc_correct"] / n,
    }
    draws = bootstrap_binary(
        correct, consistent, resamples=int(boot["resamples"]), seed=int(boot["seed"]), stream=lang
    )
    for m in METRICS:
        out[m] = _r(values[m])
        out[f"{m}_ci"] = percentile_interval(draws[m], float(boot["confidence"])) if m in draws else None
    return out, draws


def summarize(
    records: Iterable[Mapping[str, Any]],
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    langs: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Per-language metrics, macro average over non-English languages and the English gap.

    ``records`` are prediction lines (``lang``, ``correct``, ``consistent``, ``extracted``,
    ``finish_reason``, ``lang_share``). ``langs`` fixes the order (default: first appearance).
    Returns ``{"languages": {lang: {...}}, "averages": {"macro": {...}, "en_gap": {...} | None}}``.
    """
    boot = {"resamples": resamples, "seed": seed, "confidence": confidence}
    by_lang: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        by_lang.setdefault(str(r["lang"]), []).append(r)
    order = [lang for lang in (langs or by_lang) if lang in by_lang]
    languages: dict[str, Any] = {}
    draws: dict[str, dict[str, np.ndarray]] = {}
    for lang in order:
        languages[lang], draws[lang] = _lang_summary(by_lang[lang], lang, boot)

    non_en = [lang for lang in order if lang != "en"]
    macro: dict[str, Any] = {"langs": non_en}
    macro_draws: dict[str, np.ndarray] = {}
    for m in METRICS:
        have = [lang for lang in non_en if languages[lang][m] is not None]
        macro[f"{m}_langs"] = len(have)
        if not have:
            macro[m], macro[f"{m}_ci"] = None, None
            continue
        macro[m] = _r(np.mean([languages[lang][m] for lang in have]))
        macro_draws[m] = np.mean([draws[lang][m] for lang in have], axis=0)
        macro[f"{m}_ci"] = percentile_interval(macro_draws[m], confidence)

    gap: dict[str, Any] | None = None
    if "en" in languages and non_en:
        gap = {}
        for m in METRICS:
            en_value = languages["en"][m]
            if en_value is None or macro[m] is None:
                gap[m], gap[f"{m}_ci"] = None, None
                continue
            gap[m] = _r(en_value - macro[m])
            gap[f"{m}_ci"] = percentile_interval(draws["en"][m] - macro_draws[m], confidence)
    return {"languages": languages, "averages": {"macro": macro, "en_gap": gap}}


def paired_delta(
    a: Sequence[bool],
    b: Sequence[bool],
    *,
    resamples: int = 1000,
    seed: int = 0,
    stream: str = "",
) -> np.ndarray:
    """Bootstrap draws of ``mean(b) - mean(a)`` over paired binary outcomes (same problems).

    A resample draws the n pairs with replacement, as multinomial counts over the four
    (a, b) cells; the delta is ``(n_01 - n_10) / n``.
    """
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if x.size != y.size:
        raise ValueError(f"paired samples differ in size: {x.size} vs {y.size}")
    n = x.size
    if n == 0:
        return np.zeros(0)
    cells = np.bincount(x.astype(int) * 2 + y.astype(int), minlength=4) / n  # (a,b): 00 01 10 11
    counts = _stream(seed, "paired", stream).multinomial(n, cells, size=resamples)
    return (counts[:, 1] - counts[:, 2]) / n


def bootstrap_p_value(draws: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "the delta is 0": twice the smaller tail beyond 0, at most 1.

    A delta whose draws are all 0 (identical outcomes) gets 1.0.
    """
    if draws.size == 0:
        return 1.0
    le, ge = float(np.mean(draws <= 0)), float(np.mean(draws >= 0))
    return round(min(1.0, 2.0 * min(le, ge)), DIGITS)
