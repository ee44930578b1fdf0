"""MSVAMP: 1,000 SVAMP arithmetic word problems in 10 languages (no Telugu).

``msvamp_<lang>.jsonl``, one object per line: ``m_query`` (the problem in that language),
``query`` (the English problem, lower-cased and tokenised; absent in the English file),
``response`` (the gold number, ``"8.0"``) and ``equation``. Line i of every file is the same
problem, so ids ``msvamp-0000`` … ``msvamp-0999`` are parallel across languages. ``question_en``
is line i of ``msvamp_en.jsonl`` (else the row's own ``query``); gold is canonical (``"8"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pbrlsvr.data.config import DataConfig
from pbrlsvr.data.problem import Problem
from pbrlsvr.data.readers import (
    Line,
    ParallelRow,
    canonical_number,
    iter_jsonl,
    lang_from_name,
    locate_lang_files,
    parallel_mismatch,
    peek_jsonl_keys,
)
from pbrlsvr.data.report import Issues
from pbrlsvr.data.resources import msvamp_dir
from pbrlsvr.data.sources import DataSource, locate, register_source
from pbrlsvr.errors import DataError
from pbrlsvr.languages import MSVAMP_LANGS

_Row = tuple[Line, str, str, dict[str, Any]]  # line, question, gold, record


def _read(file: Path, issues: Issues) -> list[_Row]:
    rows: list[_Row] = []
    for line, rec in iter_jsonl(file, issues):
        missing = [k for k in ("m_query", "response") if k not in rec]
        if missing:
            issues.add(file, line.number, f"missing column(s) {missing}; row has: {', '.join(rec)}")
            continue
        question = rec["m_query"]
        if not isinstance(question, str) or not question.strip():
            issues.add(file, line.number, "empty question (m_query)")
            continue
        gold = canonical_number(rec["response"])
        if gold is None:
            issues.add(file, line.number, f"response {rec['response']!r} is not a number")
            continue
        rows.append((line, question, gold, rec))
    issues.check_file_not_empty(file, len(rows))
    return rows


def load_msvamp(
    path: str | Path | None = None,
    *,
    langs: list[str] | None = None,
    issues: Issues | None = None,
) -> list[Problem]:
    """MSVAMP files (a folder, one ``msvamp_<lang>.jsonl``, or None for the packaged copy) → problems."""
    issues = issues or Issues()
    folder, files = locate_lang_files(
        path, msvamp_dir(), "msvamp_", ".jsonl", name="MSVAMP", langs=langs, issues=issues
    )
    source = "msvamp" if path is None else str(Path(path).expanduser())

    en_file = files.get("en") or folder / "msvamp_en.jsonl"
    en_rows = _read(en_file, issues) if en_file.is_file() else None
    english = (
        {line.index: ParallelRow(line.index, line.number, q, gold) for line, q, gold, _ in en_rows}
        if en_rows is not None
        else None
    )

    problems: list[Problem] = []
    for lang, file in files.items():
        rows = en_rows if lang == "en" and en_rows is not None else _read(file, issues)
        for line, question, gold, rec in rows:
            query = rec.get("query") if isinstance(rec.get("query"), str) else None
            en, differs = parallel_mismatch(english, lang, line.index, gold, query=query)
            if differs is not None and en is not None:
                issues.add(
                    file,
                    line.number,
                    f"{differs} differs from {en_file.name}:{en.number} "
                    "(are the language files in the same line order?)",
                )
                continue
            question_en = en.question if en is not None else (question if lang == "en" else query)
            problems.append(
                Problem(
                    id=f"msvamp-{line.index:04d}",
                    lang=lang,
                    question=question,
                    question_en=question_en,
                    gold=gold,
                    source=source,
                    meta={"line": line.number, "equation": rec.get("equation")},
                )
            )
    return problems


def _load(cfg: DataConfig, issues: Issues) -> list[Problem]:
    loc = locate(cfg.source)
    if loc.kind == "hf":
        raise DataError(
            f"MSVAMP is read from files, not the Hugging Face Hub ({cfg.source!r}): use source: msvamp"
        )
    return load_msvamp(None if loc.kind == "name" else loc.path, langs=cfg.langs, issues=issues)


def _detect(path: Path, cfg: DataConfig) -> bool:
    if path.is_dir():
        return any(lang_from_name(f, "msvamp_", ".jsonl") for f in sorted(path.iterdir()) if f.is_file())
    if lang_from_name(path, "msvamp_", ".jsonl"):
        return True
    return path.suffix.lower() == ".jsonl" and {"m_query", "response"} <= (peek_jsonl_keys(path) or set())


register_source(
    DataSource(
        "msvamp",
        _load,
        "MSVAMP: 1,000 problems x 10 languages (packaged, Apache-2.0; or msvamp_<lang>.jsonl files)",
        detect=_detect,
        languages=MSVAMP_LANGS,
        order=40,
    )
)
