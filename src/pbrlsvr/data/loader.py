"""One entry point: a :class:`DataConfig` → a list of :class:`Problem`.

``source`` is resolved in this order:

1. ``hf:<id>`` or ``format: hf`` → the Hugging Face Hub (``juletxara/mgsm`` and ``openai/gsm8k``
   get their dedicated loaders, any other id needs a column mapping or same-named columns);
2. a built-in name → the data packaged with pbrlsvr: ``mgsm`` (250 × 11 languages),
   ``mgsm-exemplars`` (8 × 11), ``msvamp`` (1,000 × 10), ``gsm8k`` / ``gsm8k:test`` (the 250 GSM8K
   test problems MGSM uses, not all 1,319). ``gsm8k:train`` is not packaged: give the path of
   GSM8K's ``train.jsonl`` or the HF id ``openai/gsm8k`` with ``split: train``;
3. an existing folder → ``mgsm_<lang>.tsv``, ``msvamp_<lang>.jsonl`` or ``train_<lang>.jsonl``
   (GSM8K translated) files, whichever it holds (or as ``format`` says);
4. an existing file → by ``format``, else by its name (``mgsm_<lang>.tsv``, ``msvamp_<lang>.jsonl``,
   ``train_<lang>.jsonl``, ``exemplars.jsonl``) and, for JSON lines, its first record's keys
   (GSM8K's ``question``/``answer`` with ``#### N``; MSVAMP's ``m_query``/``response``); anything
   else is a generic table mapped with ``columns``;
5. ``owner/name`` that is not a local path → a Hugging Face dataset id.

Then the problems are grouped by language (in ``langs`` order, else the order languages first
appear), ``langs`` keeps those languages (one the source lacks is an error) and ``limit`` keeps
the first N problems of each language: with parallel data, the same ids in every language.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pbrlsvr.config import DataConfig, format_validation_error
from pbrlsvr.data.generic import FILE_FORMATS, load_hf_table, load_table
from pbrlsvr.data.gsm8k import GSM8K_HF_ID, load_gsm8k, load_gsm8k_hf, load_gsm8k_translated
from pbrlsvr.data.mgsm import MGSM_HF_ID, load_mgsm, load_mgsm_exemplars, load_mgsm_hf
from pbrlsvr.data.msvamp import load_msvamp
from pbrlsvr.data.problem import Problem
from pbrlsvr.data.readers import lang_from_name, peek_jsonl_keys
from pbrlsvr.data.report import Issues, LoadReport
from pbrlsvr.errors import ConfigError, DataError

BUILTIN_SOURCES: dict[str, str] = {
    "mgsm": "MGSM test: 250 problems × 11 languages (packaged, CC BY 4.0)",
    "mgsm-exemplars": "MGSM few-shot exemplars: 8 × 11 languages (packaged, CC BY 4.0)",
    "msvamp": "MSVAMP: 1,000 problems × 10 languages (packaged, Apache-2.0)",
    "gsm8k": "GSM8K test, the 250 problems MGSM uses (packaged, MIT); same as gsm8k:test",
    "gsm8k:test": "GSM8K test, the 250 problems MGSM uses (packaged, MIT)",
    "gsm8k:train": "not packaged: use the path of GSM8K train.jsonl or hf:openai/gsm8k with split train",
}

_HF_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def _as_config(cfg: DataConfig | str | None, fields: dict[str, Any]) -> DataConfig:
    if isinstance(cfg, DataConfig) and not fields:
        return cfg
    raw: dict[str, Any] = cfg.model_dump() if isinstance(cfg, DataConfig) else {}
    if isinstance(cfg, str):
        raw["source"] = cfg
    raw.update(fields)
    try:
        return DataConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, raw, "load_problems arguments")) from None


def _builtin(name: str, cfg: DataConfig, issues: Issues) -> list[Problem]:
    if name == "mgsm":
        return load_mgsm(langs=cfg.langs, link_english=cfg.link_english, issues=issues)
    if name == "mgsm-exemplars":
        return load_mgsm_exemplars(langs=cfg.langs, issues=issues)
    if name == "msvamp":
        return load_msvamp(langs=cfg.langs, issues=issues)
    split = "train" if name == "gsm8k:train" else (cfg.split or "test")
    if split != "test":
        raise DataError(
            f"GSM8K {split} is not packaged with pbrlsvr (only the 250 test problems MGSM uses are): "
            f"set data.source to the path of GSM8K's {split}.jsonl (e.g. ../shared/data/gsm8k/{split}.jsonl) "
            f"or to the Hugging Face id {GSM8K_HF_ID} with data.split={split}"
        )
    return load_gsm8k(issues=issues)


def _load_format(fmt: str, path: Path, cfg: DataConfig, issues: Issues) -> list[Problem] | None:
    """Load ``path``, a file or a folder, as the dataset format ``fmt`` (``mgsm``, ``msvamp``,
    ``translated``, ``gsm8k``); ``None`` when ``fmt`` is none of them. A GSM8K folder is read from
    its ``<split>.jsonl`` (``test`` by default)."""
    if fmt == "mgsm":
        return load_mgsm(path, langs=cfg.langs, link_english=cfg.link_english, issues=issues)
    if fmt == "msvamp":
        return load_msvamp(path, langs=cfg.langs, issues=issues)
    if fmt == "translated":
        return load_gsm8k_translated(path, langs=cfg.langs, split=cfg.split, issues=issues)
    if fmt == "gsm8k":
        if path.is_dir():
            split = cfg.split or "test"
            return load_gsm8k(path / f"{split}.jsonl", split=split, issues=issues)
        return load_gsm8k(path, split=cfg.split, issues=issues)
    return None


def _folder(path: Path, cfg: DataConfig, issues: Issues) -> list[Problem]:
    fmt = cfg.format
    names = sorted(p.name for p in path.iterdir() if p.is_file())
    if fmt == "auto":
        if any(lang_from_name(Path(n), "mgsm_", ".tsv") for n in names):
            fmt = "mgsm"
        elif any(lang_from_name(Path(n), "msvamp_", ".jsonl") for n in names):
            fmt = "msvamp"
        elif any(lang_from_name(Path(n), f"{cfg.split or 'train'}_", ".jsonl") for n in names):
            fmt = "translated"
        elif f"{cfg.split or 'test'}.jsonl" in names:
            fmt = "gsm8k"
    problems = _load_format(fmt, path, cfg, issues)
    if problems is not None:
        return problems
    shown = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
    raise DataError(
        f"cannot load the folder {path} as {fmt!r}: expected mgsm_<lang>.tsv, msvamp_<lang>.jsonl, "
        f"train_<lang>.jsonl or GSM8K <split>.jsonl files (or a single file as data.source); "
        f"it holds: {shown or 'nothing'}"
    )


def _file(path: Path, cfg: DataConfig, issues: Issues) -> list[Problem]:
    fmt = cfg.format
    if fmt == "auto" and not cfg.columns:
        if lang_from_name(path, "mgsm_", ".tsv"):
            fmt = "mgsm"
        elif lang_from_name(path, "msvamp_", ".jsonl"):
            fmt = "msvamp"
        elif path.name == "exemplars.jsonl":
            return load_mgsm_exemplars(path, langs=cfg.langs, issues=issues)
        elif path.suffix.lower() == ".jsonl":
            keys = peek_jsonl_keys(path) or set()
            if {"m_query", "response"} <= keys:
                fmt = "msvamp"
            elif {"question", "question_en", "answer"} <= keys and re.fullmatch(
                r"(train|test)_.+", path.stem
            ):
                fmt = "translated"
            elif keys == {"question", "answer"}:
                fmt = "gsm8k"
    problems = _load_format(fmt, path, cfg, issues)
    if problems is not None:
        return problems
    if fmt == "hf":
        raise DataError(f"data.format is 'hf' but {path} is a local file; use jsonl, csv or parquet")
    table_fmt = fmt if fmt in ("jsonl", "csv", "parquet") else "auto"
    if table_fmt == "auto" and path.suffix.lower() not in FILE_FORMATS:
        raise DataError(
            f"{path}: cannot tell the format from the extension {path.suffix!r}: expected one of "
            f"{', '.join(sorted(FILE_FORMATS))}, or set data.format"
        )
    return load_table(path, fmt=table_fmt, columns=cfg.columns, lang=cfg.lang, issues=issues)


def _hf(dataset_id: str, cfg: DataConfig, issues: Issues) -> list[Problem]:
    key = dataset_id.lower()
    if not cfg.columns and (key == MGSM_HF_ID or cfg.format == "mgsm"):
        return load_mgsm_hf(
            dataset_id,
            langs=cfg.langs,
            split=cfg.split or "test",
            link_english=cfg.link_english,
            issues=issues,
        )
    if not cfg.columns and (key in (GSM8K_HF_ID, "gsm8k") or cfg.format == "gsm8k"):
        return load_gsm8k_hf(
            dataset_id, subset=cfg.subset or "main", split=cfg.split or "test", issues=issues
        )
    return load_hf_table(
        dataset_id, subset=cfg.subset, split=cfg.split, columns=cfg.columns, lang=cfg.lang, issues=issues
    )


def _dispatch(cfg: DataConfig, issues: Issues) -> list[Problem]:
    source = cfg.source.strip()
    if source.lower().startswith("hf:"):
        return _hf(source[3:].strip(), cfg, issues)
    path = Path(source).expanduser()
    if source.lower() in BUILTIN_SOURCES and not path.exists():
        return _builtin(source.lower(), cfg, issues)
    if path.is_dir():
        return _folder(path, cfg, issues)
    if path.is_file():
        return _file(path, cfg, issues)
    if cfg.format == "hf" or (_HF_ID.fullmatch(source) and path.suffix.lower() not in FILE_FORMATS):
        return _hf(source, cfg, issues)
    raise DataError(
        f"data source not found: {source!r} is not a built-in name ({', '.join(BUILTIN_SOURCES)}), "
        "an existing file or folder, or a Hugging Face dataset id (owner/name or hf:owner/name)"
    )


def select_problems(
    problems: list[Problem], langs: list[str] | None, limit: int | None, source: str
) -> list[Problem]:
    """Keep ``langs`` (in that order; a language with no problems is a :class:`DataError`) and the
    first ``limit`` problems of each; ``source`` names the data in the error."""
    by_lang: dict[str, list[Problem]] = {}
    for p in problems:
        by_lang.setdefault(p.lang, []).append(p)
    if langs is not None:
        missing = [lang for lang in langs if lang not in by_lang]
        if missing:
            raise DataError(
                f"{source} has no problems in language(s) {', '.join(missing)}; "
                f"available: {', '.join(by_lang) or 'none'}"
            )
        by_lang = {lang: by_lang[lang] for lang in langs}
    return [p for rows in by_lang.values() for p in (rows[:limit] if limit is not None else rows)]


def load_problems_with_report(cfg: DataConfig | str | None = None, **fields: Any) -> LoadReport:
    """Like :func:`load_problems`, and also return the malformed rows that were skipped."""
    cfg = _as_config("mgsm" if cfg is None else cfg, fields)
    issues = Issues(cfg.on_error)
    problems = select_problems(_dispatch(cfg, issues), cfg.langs, cfg.limit, cfg.source)
    issues.warn_summary(cfg.source, stacklevel=3)
    ordered = sorted(issues.items, key=lambda i: (i.file, i.line or 0))
    return LoadReport(source=cfg.source, problems=problems, issues=ordered)


def load_problems(cfg: DataConfig | str | None = None, **fields: Any) -> list[Problem]:
    """Load problems as ``cfg`` says (see the module docstring for how ``source`` is resolved).

    ``cfg`` is a :class:`DataConfig`, or a source string; keyword arguments set or override any
    ``DataConfig`` field: ``load_problems("mgsm", langs=["sw", "bn"], limit=5)``.

    Raises:
        DataError: a missing file, folder or column, an unknown source, a language the source
            lacks, or (``on_error="raise"``) the first malformed row, named as ``file:line``.
        ConfigError: a keyword argument is not a valid ``DataConfig`` value.
    """
    return load_problems_with_report(cfg, **fields).problems


def problems_to_jsonl(problems: Iterable[Problem], path: str | Path) -> int:
    """Write problems as JSON lines (``Problem.to_dict``); returns how many were written.

    The file loads back with ``load_problems(path)`` into equal problems.
    """
    out = Path(path).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with out.open("w", encoding="utf-8", newline="\n") as fh:
        for p in problems:
            fh.write(json.dumps(p.to_dict(), ensure_ascii=False, default=str) + "\n")
            n += 1
    return n
