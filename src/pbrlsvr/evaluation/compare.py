"""``pbrlsvr eval compare A B``: per-language deltas (B − A) with paired bootstrap significance.

Both runs' ``predictions.jsonl`` are read and paired on the problems they share (the same
``(id, lang)``); every metric is recomputed on those pairs, so the delta compares like with like
even when one run covers more problems. The delta's interval is a percentile bootstrap over
pairs (resampling problems, keeping each problem's two outcomes together), and its p-value is the
two-sided bootstrap p-value of "no difference" (:func:`~pbrlsvr.evaluation.metrics.bootstrap_p_value`).
The macro average over the shared non-English languages gets the same treatment, languages
resampled independently.

Runs made with a different prompt, decoding, extractor or language-ID setting are still compared,
but every such difference is listed as a warning: it, not the model, may explain the delta.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pbrlsvr.errors import DataError
from pbrlsvr.evaluation.config import BootstrapConfig
from pbrlsvr.evaluation.metrics import METRICS, bootstrap_p_value, paired_delta, percentile_interval
from pbrlsvr.evaluation.report import LABELS, load_report, pct
from pbrlsvr.evaluation.store import METRIC_FIELDS, PREDICTIONS, read_predictions, record_key

_MUST_MATCH = (
    "benchmark",
    "task",
    "decoding",
    "prompt.template_hash",
    "extractor_version",
    "consistency.threshold",
    "consistency.candidates",
    "shots",
    "data.source",
    "data.split",
)


def _get(tree: Mapping[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _predictions(folder: Path) -> dict[str, dict[str, Any]]:
    path = folder / PREDICTIONS
    if not path.is_file():
        raise DataError(f"{folder} has no {PREDICTIONS}; compare needs the predictions of both runs")
    out: dict[str, dict[str, Any]] = {}
    for rec in read_predictions(path, fields=METRIC_FIELDS):
        out.setdefault(record_key(rec), rec)
    return out


def compare_runs(
    a: str | Path, b: str | Path, bootstrap: BootstrapConfig | None = None, alpha: float = 0.05
) -> dict[str, Any]:
    """Compare run ``b`` against baseline ``a`` (folders or report.json paths).

    Returns a dict with ``a`` / ``b`` (model, path, settings), ``warnings``, ``languages``
    (per language: ``n`` paired, and per metric ``a``, ``b``, ``delta``, ``delta_ci``, ``p_value``,
    ``significant``) and ``macro`` (the same over non-English languages).
    """
    boot = bootstrap or BootstrapConfig()
    report_a, folder_a = load_report(a)
    report_b, folder_b = load_report(b)
    pred_a, pred_b = _predictions(folder_a), _predictions(folder_b)
    sa, sb = report_a.get("settings", {}), report_b.get("settings", {})
    warnings = [
        f"{key} differs: A={_get(sa, key)!r}, B={_get(sb, key)!r}"
        for key in _MUST_MATCH
        if _get(sa, key) != _get(sb, key)
    ]
    shared = [k for k in pred_a if k in pred_b]
    if not shared:
        raise DataError(f"{folder_a} and {folder_b} share no (id, lang) problem: nothing to pair")
    only = len(pred_a) - len(shared), len(pred_b) - len(shared)
    if any(only):
        warnings.append(f"paired on {len(shared)} shared problems ({only[0]} only in A, {only[1]} only in B)")
    order = list(dict.fromkeys([*report_a["languages"], *report_b["languages"]]))
    by_lang: dict[str, list[str]] = {}
    for k in shared:
        by_lang.setdefault(str(pred_a[k]["lang"]), []).append(k)
    order = [lang for lang in order if lang in by_lang] + [lang for lang in by_lang if lang not in order]
    confidence = boot.confidence
    languages: dict[str, Any] = {}
    draws: dict[str, dict[str, np.ndarray]] = {}
    for lang in order:
        keys = by_lang[lang]
        row: dict[str, Any] = {"n": len(keys)}
        draws[lang] = {}
        for m in METRICS:
            xa, xb = _outcomes(pred_a, keys, m), _outcomes(pred_b, keys, m)
            if xa is None or xb is None:
                row[m] = None
                continue
            d = paired_delta(xa, xb, resamples=boot.resamples, seed=boot.seed, stream=f"{lang}:{m}")
            draws[lang][m] = d
            row[m] = _delta_row(float(np.mean(xa)), float(np.mean(xb)), d, confidence, alpha)
        languages[lang] = row
    macro: dict[str, Any] | None = None
    non_en = [lang for lang in order if lang != "en"]
    if non_en:
        macro = {"langs": non_en}
        for m in METRICS:
            have = [lang for lang in non_en if languages[lang].get(m)]
            if not have:
                macro[m] = None
                continue
            va = float(np.mean([languages[lang][m]["a"] for lang in have]))
            vb = float(np.mean([languages[lang][m]["b"] for lang in have]))
            d = np.mean([draws[lang][m] for lang in have], axis=0)
            macro[m] = _delta_row(va, vb, d, confidence, alpha) | {"langs": len(have)}
    return {
        "created": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "a": {"path": str(folder_a), "model": sa.get("model"), "settings": sa},
        "b": {"path": str(folder_b), "model": sb.get("model"), "settings": sb},
        "bootstrap": {**boot.model_dump(mode="json"), "method": "paired percentile"},
        "alpha": alpha,
        "warnings": warnings,
        "languages": languages,
        "macro": macro,
    }


def _outcomes(preds: Mapping[str, Mapping[str, Any]], keys: list[str], metric: str) -> list[bool] | None:
    if metric == "accuracy":
        return [bool(preds[k].get("correct")) for k in keys]
    cons = [preds[k].get("consistent") for k in keys]
    if any(c is None for c in cons):
        return None
    if metric == "language_consistency":
        return [bool(c) for c in cons]
    return [bool(preds[k].get("correct")) and bool(c) for k, c in zip(keys, cons, strict=True)]


def _delta_row(va: float, vb: float, d: np.ndarray, confidence: float, alpha: float) -> dict[str, Any]:
    p = bootstrap_p_value(d)
    return {
        "a": round(va, 6),
        "b": round(vb, 6),
        "delta": round(vb - va, 6),
        "delta_ci": percentile_interval(d, confidence),
        "p_value": p,
        "significant": bool(p < alpha),
    }


def arrow_text(row: Mapping[str, Any]) -> str:
    """``A → B`` of one metric row, in %."""
    return f"{pct(row['a'])} → {pct(row['b'])}"


def delta_text(row: Mapping[str, Any], sep: str = " ") -> str:
    """``+d [lo, hi]<sep>p=…`` of one metric row, in points."""
    lo, hi = row["delta_ci"]
    return f"{100 * row['delta']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]{sep}p={row['p_value']:.3f}"


def delta_cell(row: Mapping[str, Any] | None) -> str:
    """One metric's ``A → B (delta [interval], p)`` Markdown cell, ``*`` when significant."""
    if not row:
        return "n/a"
    return f"{arrow_text(row)} ({delta_text(row, ', ')})" + (" *" if row["significant"] else "")


def render_compare_markdown(result: Mapping[str, Any]) -> str:
    """The comparison as a Markdown table (A → B, delta in points with its interval and p-value)."""
    conf = round(100 * result["bootstrap"]["confidence"])
    lines = [
        f"# {result['b']['model']} (B) vs {result['a']['model']} (A)",
        "",
        f"A: `{result['a']['path']}`; B: `{result['b']['path']}`. Values in %, delta B − A in points with "
        f"its {conf}% paired bootstrap interval ({result['bootstrap']['resamples']} resamples) and "
        f"two-sided p-value; * = significant at α = {result['alpha']}.",
        "",
        "| language | n | " + " | ".join(LABELS[m] for m in METRICS) + " |",
        "| --- | ---: |" + " --- |" * len(METRICS),
    ]
    for lang, row in result["languages"].items():
        lines.append(f"| {lang} | {row['n']} | " + " | ".join(delta_cell(row.get(m)) for m in METRICS) + " |")
    macro = result.get("macro")
    if macro:
        lines.append(
            f"| **avg (non-en, {len(macro['langs'])})** | | "
            + " | ".join(delta_cell(macro.get(m)) for m in METRICS)
            + " |"
        )
    if result["warnings"]:
        lines += ["", "Warnings:", ""] + [f"- {w}" for w in result["warnings"]]
    return "\n".join(lines) + "\n"
