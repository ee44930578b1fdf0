"""``report.json`` and ``report.md``: the metrics and everything needed to reproduce them."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pbrlsvr.evaluation.metrics import METRICS
from pbrlsvr.languages import get_language

REPORT_VERSION = 1

LABELS = {"accuracy": "Acc", "language_consistency": "LC", "lc_acc": "LC&Acc"}


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically (temp file + rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def load_report(path: str | Path) -> tuple[dict[str, Any], Path]:
    """A report from an output folder or a ``report.json``; returns it and its folder."""
    from pbrlsvr.errors import DataError

    p = Path(path).expanduser()
    file = p / "report.json" if p.is_dir() else p
    if not file.is_file():
        raise DataError(f"no report at {p}: expected an eval output folder or its report.json")
    try:
        report = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{file}: not a readable report ({exc})") from None
    if not isinstance(report, dict) or "languages" not in report:
        raise DataError(f"{file}: not a pbrlsvr eval report (no 'languages')")
    return report, file.parent


def pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}"


def cell(values: Mapping[str, Any], metric: str, *, ci: bool = True) -> str:
    v = values.get(metric)
    if v is None:
        return "n/a"
    interval = values.get(f"{metric}_ci") if ci else None
    return f"{pct(v)} [{pct(interval[0])}, {pct(interval[1])}]" if interval else pct(v)


def _lang_name(code: str) -> str:
    try:
        return get_language(code).name
    except Exception:
        return code


def render_markdown(report: Mapping[str, Any]) -> str:
    """A self-contained Markdown report: settings, a per-language table and a paper row."""
    s = report["settings"]
    langs: dict[str, Any] = report["languages"]
    avg = report["averages"]
    conf = round(100 * s["bootstrap"]["confidence"])
    lines = [
        f"# {s['benchmark']}: {s['model']}",
        "",
        f"Accuracy (Acc), language consistency (LC) and both (LC&Acc), in %, with {conf}% percentile "
        f"bootstrap intervals ({s['bootstrap']['resamples']} resamples, seed {s['bootstrap']['seed']}).",
        "",
        "| language | n | Acc | LC | LC&Acc | no answer | truncated |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for code, v in langs.items():
        lines.append(
            f"| {code} ({_lang_name(code)}) | {v['n']} | {cell(v, 'accuracy')} | "
            f"{cell(v, 'language_consistency')} | {cell(v, 'lc_acc')} | {v['no_answer']} | {v['truncated']} |"
        )
    macro = avg.get("macro") or {}
    if macro.get("langs"):
        lines.append(
            f"| **avg (non-en, {len(macro['langs'])})** | | {cell(macro, 'accuracy')} | "
            f"{cell(macro, 'language_consistency')} | {cell(macro, 'lc_acc')} | | |"
        )
    gap = avg.get("en_gap")
    if gap:
        lines.append(
            f"| **en − avg** | | {cell(gap, 'accuracy')} | {cell(gap, 'language_consistency')} | "
            f"{cell(gap, 'lc_acc')} | | |"
        )
    # One row per metric, languages as columns: the layout papers use.
    codes = list(langs)
    head = ["metric", *codes] + (["avg"] if macro.get("langs") else []) + (["en − avg"] if gap else [])
    lines += ["", "Paper layout (point estimates, %):", "", "| " + " | ".join(head) + " |"]
    lines.append("| --- |" + " ---: |" * (len(head) - 1))
    for m in METRICS:
        row = [LABELS[m], *(pct(langs[c].get(m)) for c in codes)]
        if macro.get("langs"):
            row.append(pct(macro.get(m)))
        if gap:
            row.append(pct(gap.get(m)))
        lines.append("| " + " | ".join(row) + " |")
    dec = s["decoding"]
    lines += [
        "",
        "## Settings",
        "",
        f"- model: `{s['model']}`"
        + (f" (generator `{s['generator']}`)" if s.get("generator") not in (None, s["model"]) else ""),
        f"- data: `{s['data']['source']}`"
        + (f", split `{s['data']['split']}`" if s["data"].get("split") else "")
        + f"; task: {s['task']}; {report['counts']['items']} problems in {len(langs)} languages",
        f"- prompt: {s['prompt']['style']}, {s['shots']}-shot, template hash `{s['prompt']['template_hash']}`",
        f"- decoding: temperature {dec['temperature']}"
        + (" (greedy)" if dec["temperature"] == 0 else f", top_p {dec['top_p']}, top_k {dec['top_k']}")
        + f", max_new_tokens {dec['max_new_tokens']}, seed {dec['seed']}",
        f"- answer extraction: `{s['extractor_version']}` (the reward's extractor and matcher)",
        f"- language consistency: share of the prompt's language ≥ {s['consistency']['threshold']} "
        f"(lingua over {', '.join(s['consistency']['candidates'])})",
        f"- pbrlsvr {s['pbrlsvr_version']}, {report['created']}",
    ]
    if report["counts"].get("missing"):
        lines.append(
            f"- **incomplete**: {report['counts']['missing']} problem(s) have no prediction yet (re-run to finish)"
        )
    return "\n".join(lines) + "\n"
