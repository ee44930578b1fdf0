"""Any table of problems: JSONL / JSON / CSV / TSV / Parquet files and Hugging Face datasets.

``columns`` maps :class:`Problem` fields (``id``, ``lang``, ``question``, ``question_en``, ``gold``,
``solution_en``) to column names. Unmapped fields fall back to a column of the same name when
there is one (``gold`` also to ``answer``, ``lang`` also to ``language``); ``question`` is
required. A mapped column that the table does not have is a :class:`DataError` naming it and the
columns that exist.

* language: the ``lang`` column (every value validated against the languages table), else
  ``lang=`` (``DataConfig.lang``), else a ``_<code>`` suffix of the file name (``probs_de.jsonl``).
* id: the ``id`` column; else, when languages come from a column and ``question_en`` is mapped,
  ``<name>-<hash of question_en>`` (so the same problem gets the same id in every language);
  else ``<name>-<row index>`` (``<name>`` is the file stem without its language suffix).
* gold: a number is made canonical (``"1,000"`` → ``"1000"``), anything else (``"B"``) is kept.
* the other columns go to ``meta``; a ``meta`` object column is merged in, and an unmapped
  ``source`` column becomes the problem's ``source`` (so :func:`problems_to_jsonl` output loads
  back unchanged).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pbrlsvr.data.config import DataConfig
from pbrlsvr.data.hf import load_hf_rows
from pbrlsvr.data.problem import Problem
from pbrlsvr.data.readers import (
    FILE_FORMATS,
    DuplicateGuard,
    canonical_number,
    iter_jsonl,
    missing_value,
    name_and_lang,
    read_bytes,
    stable_hash,
)
from pbrlsvr.data.report import Issues
from pbrlsvr.data.sources import DataSource, folder_error, locate, register_source
from pbrlsvr.errors import DataError, UnknownLanguageError
from pbrlsvr.io_checks import find_unencodable, loads_strict
from pbrlsvr.languages import normalize_lang

FIELDS = ("id", "lang", "question", "question_en", "gold", "solution_en")
_FALLBACKS: dict[str, tuple[str, ...]] = {
    "id": ("id",),
    "lang": ("lang", "language"),
    "question": ("question",),
    "question_en": ("question_en",),
    "gold": ("gold", "answer"),
    "solution_en": ("solution_en",),
}


@dataclass
class _Table:
    name: str  # file path or hf:<id>, for messages
    unit: str  # "line" or "row"
    columns: list[str]
    rows: list[tuple[int, int, dict[str, Any]]]  # (line/row number, index, record)


# --- readers -------------------------------------------------------------------------------------


def _read_jsonl(path: Path, issues: Issues) -> _Table:
    rows = [(line.number, line.index, rec) for line, rec in iter_jsonl(path, issues)]
    columns: dict[str, None] = {}
    for _, _, rec in rows:
        columns.update(dict.fromkeys(rec))
    return _Table(str(path), "line", list(columns), rows)


def _read_json(path: Path, issues: Issues) -> _Table:
    data = read_bytes(path)
    if not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
        return _read_jsonl(path, issues)
    try:
        items = loads_strict(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    except ValueError as exc:
        raise DataError(f"{path}: not valid JSON: {exc}") from None
    rows: list[tuple[int, int, dict[str, Any]]] = []
    columns: dict[str, None] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            issues.add(path, i + 1, f"expected a JSON object, got {type(item).__name__}", unit="row")
            continue
        unusable = find_unencodable(item)
        if unusable is not None:
            issues.add(path, i + 1, unusable, unit="row")
            continue
        rows.append((i + 1, i, item))
        columns.update(dict.fromkeys(item))
    return _Table(str(path), "row", list(columns), rows)


def _read_csv(path: Path, issues: Issues, delimiter: str) -> _Table:
    text = read_bytes(path).decode("utf-8-sig", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        while header is not None and not any(h.strip() for h in header):
            header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: the file is empty (no header row)")
        header = [h.strip() for h in header]
        rows: list[tuple[int, int, dict[str, Any]]] = []
        index, last = 0, reader.line_num
        for fields in reader:
            start, last = last + 1, reader.line_num
            if not fields or not any(f.strip() for f in fields):
                continue
            if any(re.search("[\udc80-\udcff]", f) for f in fields):
                issues.add(path, start, "invalid UTF-8")
            elif len(fields) != len(header):
                issues.add(
                    path, start, f"expected {len(header)} fields (as in the header), found {len(fields)}"
                )
            else:
                rows.append((start, index, dict(zip(header, fields, strict=True))))
            index += 1
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from None
    return _Table(str(path), "line", header, rows)


def _read_parquet(path: Path) -> _Table:
    read_bytes(path)  # existence check with a clear message
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise DataError(f"{path}: not a readable Parquet file: {exc}") from None
    rows = [(i + 1, i, rec) for i, rec in enumerate(table.to_pylist())]
    return _Table(str(path), "row", list(table.column_names), rows)


def read_table(path: str | Path, fmt: str = "auto", issues: Issues | None = None) -> _Table:
    """Read a file into rows; ``fmt`` is ``auto`` (from the extension), jsonl, json, csv, tsv or parquet."""
    file = Path(path).expanduser()
    issues = issues or Issues("raise")
    if fmt == "auto":
        fmt = FILE_FORMATS.get(file.suffix.lower(), "")
        if not fmt:
            raise DataError(
                f"{file}: cannot tell the format from the extension {file.suffix!r}; "
                f"expected one of {', '.join(sorted(FILE_FORMATS))} or set data.format"
            )
    if fmt == "csv" and file.suffix.lower() == ".tsv":
        fmt = "tsv"
    if fmt == "jsonl":
        return _read_json(file, issues) if file.suffix.lower() == ".json" else _read_jsonl(file, issues)
    if fmt == "json":
        return _read_json(file, issues)
    if fmt in ("csv", "tsv"):
        return _read_csv(file, issues, "\t" if fmt == "tsv" else ",")
    if fmt == "parquet":
        return _read_parquet(file)
    raise DataError(f"{file}: unsupported table format {fmt!r}")


# --- rows → problems -----------------------------------------------------------------------------


def resolve_columns(
    table_name: str, available: list[str], columns: Mapping[str, str] | None
) -> dict[str, str]:
    """Problem field → column: the explicit mapping (checked) plus same-name fallbacks."""
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise DataError(
            f"unknown Problem field(s) {unknown} in the column mapping; expected some of {list(FIELDS)}"
        )
    absent = {f: c for f, c in columns.items() if c not in available}
    if absent:
        what = ", ".join(f"{c!r} (mapped to {f})" for f, c in absent.items())
        raise DataError(
            f"{table_name}: column(s) {what} not found; columns: {', '.join(available) or 'none'}"
        )
    resolved = dict(columns)
    taken = set(columns.values())
    for f in FIELDS:
        if f not in resolved:
            hit = next((c for c in _FALLBACKS[f] if c in available and c not in taken), None)
            if hit is not None:
                resolved[f] = hit
                taken.add(hit)
    if "question" not in resolved:
        raise DataError(
            f"{table_name}: no question column: expected a column named 'question' or a mapping "
            f"data.columns.question=<column>; columns: {', '.join(available) or 'none'}"
        )
    return resolved


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "row"


@dataclass(frozen=True)
class _Plan:
    """How the rows of one table become problems."""

    columns: dict[str, str]  # Problem field → column
    lang: str | None  # the language when there is no lang column (or it is empty)
    id_mode: str  # "column", "hash" or "row"
    prefix: str
    source: str


def _cell(rec: Mapping[str, Any], plan: _Plan, f: str) -> Any:
    value = rec.get(plan.columns[f]) if f in plan.columns else None
    return None if missing_value(value) else value


def _row_to_problem(rec: dict[str, Any], number: int, index: int, unit: str, plan: _Plan) -> Problem | str:
    """One row → a Problem, or the reason it is malformed."""
    m = plan.columns
    absent = [c for f, c in m.items() if f in ("question", "lang", "id") and c not in rec]
    if absent:
        return f"missing column(s) {absent}; row has: {', '.join(map(str, rec)) or 'nothing'}"
    question = rec[m["question"]]
    if missing_value(question):
        return "empty question"
    if not isinstance(question, str):
        return f"question is not text ({type(question).__name__})"
    raw_lang = _cell(rec, plan, "lang")
    if raw_lang is not None:
        try:
            lang = normalize_lang(str(raw_lang))
        except UnknownLanguageError as exc:
            return str(exc)
    elif plan.lang is not None:
        lang = plan.lang
    else:
        return "empty language code"
    question_en = _cell(rec, plan, "question_en")
    question_en = str(question_en) if question_en is not None else (question if lang == "en" else None)
    if plan.id_mode == "column":
        raw_id = _cell(rec, plan, "id")
        if raw_id is None:
            return "empty id"
        pid = str(raw_id)
    elif plan.id_mode == "hash" and question_en is not None:
        pid = f"{plan.prefix}-{stable_hash(question_en)}"
    else:
        pid = f"{plan.prefix}-{index:05d}"
    gold_raw = _cell(rec, plan, "gold")
    gold = None if gold_raw is None else (canonical_number(gold_raw) or str(gold_raw).strip())
    solution = _cell(rec, plan, "solution_en")
    mapped = set(m.values())
    meta: dict[str, Any] = {}
    if isinstance(rec.get("meta"), dict) and "meta" not in mapped:
        meta.update(rec["meta"])
    meta.update({k: v for k, v in rec.items() if k not in mapped and k not in ("meta", "source")})
    meta.setdefault(unit, number)
    row_source = rec.get("source") if "source" not in mapped else None
    return Problem(
        id=pid,
        lang=lang,
        question=question,
        question_en=question_en,
        gold=gold,
        source=row_source if isinstance(row_source, str) and row_source else plan.source,
        solution_en=str(solution) if solution is not None else None,
        meta=meta,
    )


def table_to_problems(
    table: _Table,
    *,
    columns: Mapping[str, str] | None,
    lang: str | None,
    name: str,
    source: str,
    issues: Issues,
) -> list[Problem]:
    """Map the rows of a table to problems (see the module docstring)."""
    m = resolve_columns(table.name, table.columns, columns)
    if "lang" not in m and lang is None:
        raise DataError(
            f"{table.name}: the language is unknown: add a 'lang' column (or map data.columns.lang), "
            "set data.lang, or name the file <name>_<lang>.<ext>"
        )
    id_mode = "column" if "id" in m else ("hash" if "lang" in m and "question_en" in m else "row")
    plan = _Plan(m, lang, id_mode, _slug(name), source)
    guard = DuplicateGuard(issues)
    problems: list[Problem] = []
    for number, index, rec in table.rows:
        result = _row_to_problem(rec, number, index, table.unit, plan)
        if isinstance(result, str):
            issues.add(table.name, number, result, unit=table.unit)
        elif guard.ok(result.id, result.lang, table.name, number, unit=table.unit):
            problems.append(result)
    issues.check_file_not_empty(table.name, len(problems))
    return problems


def load_table(
    path: str | Path,
    *,
    fmt: str = "auto",
    columns: Mapping[str, str] | None = None,
    lang: str | None = None,
    issues: Issues | None = None,
    source: str | None = None,
) -> list[Problem]:
    """A JSONL / JSON / CSV / TSV / Parquet file of problems (see the module docstring)."""
    issues = issues or Issues()
    file = Path(path).expanduser()
    table = read_table(file, fmt, issues)
    name, name_lang = name_and_lang(file.stem)
    return table_to_problems(
        table,
        columns=columns,
        lang=normalize_lang(lang) if lang else name_lang,
        name=name,
        source=source or str(file),
        issues=issues,
    )


def load_hf_table(
    dataset_id: str,
    *,
    subset: str | None = None,
    split: str | None = None,
    columns: Mapping[str, str] | None = None,
    lang: str | None = None,
    issues: Issues | None = None,
) -> list[Problem]:
    """Any Hugging Face dataset split, mapped like a file (needs the network or the HF cache).

    Without a ``lang`` column or ``lang=``, a subset named after a language (``"de"``) gives it.
    """
    issues = issues or Issues()
    hf = load_hf_rows(dataset_id, subset, split)
    table = _Table(hf.name, "row", hf.columns, [(i + 1, i, dict(rec)) for i, rec in enumerate(hf)])
    name = dataset_id.rsplit("/", 1)[-1]
    _, subset_lang = name_and_lang(f"x_{subset}") if subset else ("", None)
    return table_to_problems(
        table,
        columns=columns,
        lang=normalize_lang(lang) if lang else subset_lang,
        name=name,
        source=f"hf:{dataset_id}",
        issues=issues,
    )


# --- registered sources ----------------------------------------------------------------------


def _table_loader(fmt: str) -> Any:
    """The generic reader of ``fmt``: a local file as that format, a Hub id as a dataset split."""

    def load(cfg: DataConfig, issues: Issues) -> list[Problem]:
        loc = locate(cfg.source)
        if loc.kind == "name":
            raise DataError(
                f"data.source {cfg.source!r} names a reader, not data: set data.source to a file "
                f"(or a Hub id) and data.format: {fmt}"
            )
        if loc.path.is_dir():
            raise folder_error(loc.path, fmt)
        if loc.kind == "path" and loc.path.exists() and fmt == "hf":
            raise DataError(f"data.format is 'hf' but {loc.path} is a local file; use jsonl, csv or parquet")
        mapping: dict[str, Any] = {"columns": cfg.columns, "lang": cfg.lang, "issues": issues}
        if loc.kind != "path" or (fmt == "hf" and not loc.path.exists()):
            return load_hf_table(loc.value, subset=cfg.subset, split=cfg.split, **mapping)
        return load_table(loc.path, fmt=fmt, **mapping)

    return load


_GENERIC = "any table, mapped to problems with data.columns (question, gold, lang, id, ...)"
for _fmt, _what in (
    ("jsonl", "JSON lines or a JSON array (.jsonl, .ndjson, .json)"),
    ("csv", "CSV or TSV with a header row (.csv, .tsv)"),
    ("parquet", "Parquet (.parquet, .pq)"),
    ("hf", "a Hugging Face dataset split (owner/name or hf:owner/name; data.subset, data.split)"),
):
    register_source(DataSource(_fmt, _table_loader(_fmt), f"{_what}: {_GENERIC}", task=None, order=90))
