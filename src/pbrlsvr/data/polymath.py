"""PolyMath: math problems at four difficulty levels in 18 languages (answers numbers or LaTeX).

From the Hugging Face Hub (``Qwen/PolyMath``): one configuration per language and one split per
level (``low``, ``medium``, ``high``, ``top``; ``data.split`` picks some, comma-separated; default
all). Rows: ``id`` (``low-zh-0``), ``question``, ``answer``. The parallel id drops the language:
``polymath-low-0``.

A local folder laid out ``<lang>/<level>.jsonl`` (or ``.parquet``) as in its repository, or one
such file, is recognised by that layout or by an ``id`` like ``low-zh-0`` in its first record. A
row's language comes from a ``lang``/``language`` column, the id, ``data.lang``, or the file or
folder name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pbrlsvr.data.config import DataConfig
from pbrlsvr.data.generic import read_table
from pbrlsvr.data.hf import load_hf_rows
from pbrlsvr.data.mmlu_prox import first_record, path_lang, row_lang, table_files
from pbrlsvr.data.problem import Problem
from pbrlsvr.data.readers import TABLE_SUFFIXES, missing_value
from pbrlsvr.data.report import Issues
from pbrlsvr.data.sources import DataSource, locate, register_source
from pbrlsvr.errors import DataError, UnknownLanguageError
from pbrlsvr.languages import LANGUAGES, normalize_lang

POLYMATH_HF = "Qwen/PolyMath"
POLYMATH_LEVELS: tuple[str, ...] = ("low", "medium", "high", "top")
POLYMATH_LANGS: tuple[str, ...] = tuple(c for c, lang in LANGUAGES.items() if "polymath" in lang.benchmarks)

_POLY_ID = re.compile(r"(?P<level>low|medium|high|top)-(?P<lang>[A-Za-z_-]{2,8}?)-(?P<n>\d+)")


def polymath_problem(rec: dict[str, Any], lang: str | None, level: str | None, source: str) -> Problem:
    """One PolyMath row → a :class:`Problem` with the parallel id ``polymath-<level>-<n>``.

    Raises:
        ValueError: no question or answer, or no way to tell the language.
    """
    raw_id = str(rec.get("id", "")).strip()
    m = _POLY_ID.fullmatch(raw_id)
    if m:
        level = level or m.group("level")
        try:
            lang = lang or normalize_lang(m.group("lang"))
        except UnknownLanguageError as exc:
            raise ValueError(str(exc)) from None
        pid = f"polymath-{m.group('level')}-{m.group('n')}"
    elif raw_id:
        pid = f"polymath-{raw_id}"
    else:
        raise ValueError("no id")
    if lang is None:
        raise ValueError(f"cannot tell the language of id {raw_id!r}; add a 'lang' column or set data.lang")
    question, answer = rec.get("question"), rec.get("answer")
    if missing_value(question):
        raise ValueError("empty question")
    if missing_value(answer):
        raise ValueError("empty answer")
    gold = str(answer).strip()
    if gold.startswith("$") and gold.endswith("$") and len(gold) > 1:
        gold = gold.strip("$").strip()
    meta: dict[str, Any] = {"polymath_id": raw_id}
    if level:
        meta["level"] = level
    return Problem(pid, lang, str(question).strip(), None, gold, source, None, meta)


def _levels(split: str | None) -> tuple[str, ...]:
    if not split:
        return POLYMATH_LEVELS
    levels = tuple(s.strip().lower() for s in split.split(",") if s.strip())
    bad = [s for s in levels if s not in POLYMATH_LEVELS]
    if bad:
        raise DataError(f"PolyMath has levels {', '.join(POLYMATH_LEVELS)}; data.split asked for {bad}")
    return levels


def _local(path: Path, cfg: DataConfig, issues: Issues) -> list[Problem]:
    levels = _levels(cfg.split)
    if path.is_dir():
        files = sorted(
            (f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in TABLE_SUFFIXES),
            key=lambda f: (str(f.parent), POLYMATH_LEVELS.index(f.stem) if f.stem in POLYMATH_LEVELS else 9),
        )
        files = [f for f in files if f.stem not in POLYMATH_LEVELS or f.stem in levels]
        if not files:
            raise DataError(f"{path}: no PolyMath files (<lang>/<level>.jsonl or .parquet) in the folder")
    else:
        files = [path]
    problems: list[Problem] = []
    for file in files:
        level = file.stem if file.stem in POLYMATH_LEVELS else None
        fallback = cfg.lang or (path_lang(file) if level is None else path_lang(file.parent))
        for number, _index, rec in read_table(file, issues=issues).rows:
            has_lang = not missing_value(rec.get("lang", rec.get("language")))
            lang = row_lang(rec, None, f"{file}:{number}") if has_lang else fallback
            try:
                p = polymath_problem(rec, lang, level, str(file))
            except ValueError as exc:
                issues.add(file, number, str(exc))
                continue
            if p.meta.get("level") in levels or "level" not in p.meta:
                problems.append(p)
    return problems


def _hub(dataset_id: str, cfg: DataConfig, issues: Issues) -> list[Problem]:
    problems: list[Problem] = []
    for lang in cfg.langs or POLYMATH_LANGS:
        for level in _levels(cfg.split):
            for i, rec in enumerate(load_hf_rows(dataset_id, subset=lang, split=level)):
                try:
                    problems.append(polymath_problem(dict(rec), lang, level, f"hf:{dataset_id}"))
                except ValueError as exc:
                    issues.add(f"hf:{dataset_id}/{lang}[{level}]", i + 1, str(exc), unit="row")
    return problems


def load(cfg: DataConfig, issues: Issues) -> list[Problem]:
    """PolyMath from a local copy or the Hub (``Qwen/PolyMath`` unless ``data.source`` is another id)."""
    loc = locate(cfg.source)
    if loc.kind == "path":
        return _local(loc.path, cfg, issues)
    return _hub(POLYMATH_HF if loc.kind == "name" else loc.value, cfg, issues)


def detect(path: Path, cfg: DataConfig) -> bool:
    """A ``<lang>/<level>.jsonl`` folder, or a table whose first record has an id like ``low-zh-0``."""
    if path.is_dir():
        if any(
            (sub / f"{lvl}{ext}").is_file()
            for sub in path.iterdir()
            if sub.is_dir()
            for lvl in POLYMATH_LEVELS
            for ext in (".jsonl", ".parquet")
        ):
            return True
        first = table_files(path)[:1]
    else:
        first = [path] if path.suffix.lower() in TABLE_SUFFIXES else []
    rec = first_record(first[0]) if first else None
    return (
        bool(rec)
        and isinstance(rec.get("id"), str)
        and bool(_POLY_ID.fullmatch(rec["id"]))
        and "answer" in rec
    )


register_source(
    DataSource(
        "polymath",
        load,
        "PolyMath: math at 4 levels (low..top), 18 languages (Hugging Face Qwen/PolyMath, or a local copy)",
        task="math",
        hf_ids=(POLYMATH_HF,),
        detect=detect,
        languages=POLYMATH_LANGS,
        copies_are_benchmark=True,
        order=20,
        reads_selection=True,
    )
)
