"""Benchmarks for evaluation: the data loaders' sources plus MMLU-ProX and PolyMath.

``data.source`` (with ``benchmark: auto``) is resolved as:

* ``mmlu-prox`` / ``mmlu-prox-lite`` / ``li-lab/MMLU-ProX`` / ``li-lab/MMLU-ProX-Lite`` (``hf:``
  optional): MMLU-ProX from the Hugging Face Hub, one configuration per language, split
  ``data.split`` (default ``test``). Rows: ``question_id``, ``question``, ``option_0`` …
  ``option_9`` (``None`` where a question has fewer options), ``answer`` (the letter),
  ``answer_index``, ``cot_content``, ``category``, ``src``. Multiple choice, letters A–J.
* ``polymath`` / ``Qwen/PolyMath``: PolyMath from the Hub, one configuration per language and one
  split per difficulty level (``low``, ``medium``, ``high``, ``top``; ``data.split`` picks some,
  comma-separated; default all). Rows: ``id`` (``low-zh-0``), ``question``, ``answer`` (a number or
  LaTeX). The parallel id drops the language: ``polymath-low-0``.
* a local file or folder *in the same schema* (``.jsonl``, ``.json``, ``.csv``, ``.parquet``):
  detected by the first record's keys (``option_0``/``options`` → MMLU-ProX; an ``id`` like
  ``low-zh-0`` → PolyMath) or forced with ``benchmark: mmlu-prox`` / ``polymath``. A PolyMath folder
  is laid out ``<lang>/<level>.jsonl`` (or ``.parquet``) as in its repository and on the Hub; an
  MMLU-ProX folder holds one file per language named ``<lang>.jsonl`` or ``<name>_<lang>.jsonl``.
  The language of a row comes from a ``lang``/``language`` column, the id (PolyMath), the file
  name, or ``data.lang``.
* anything else: :func:`pbrlsvr.data.load_problems` (MGSM, MSVAMP, GSM8K, generic tables with a
  column mapping, other HF ids).

Then ``data.langs`` keeps those languages (in that order) and ``data.limit`` the first N problems
of each, exactly as the data loaders do. A multiple-choice task is recognised by its reader, or
for generic tables by every gold answer being a letter A–J (``task`` overrides).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pbrlsvr.config import DataConfig
from pbrlsvr.data.loader import select_problems
from pbrlsvr.data.problem import Problem
from pbrlsvr.data.report import Issues
from pbrlsvr.errors import DataError, UnknownLanguageError
from pbrlsvr.evaluation.config import EvalConfig
from pbrlsvr.languages import LANGUAGES, MGSM_LANGS, MSVAMP_LANGS, normalize_lang

MMLU_PROX_HF = {"mmlu-prox": "li-lab/MMLU-ProX", "mmlu-prox-lite": "li-lab/MMLU-ProX-Lite"}
POLYMATH_HF = "Qwen/PolyMath"
POLYMATH_LEVELS: tuple[str, ...] = ("low", "medium", "high", "top")

MMLU_PROX_LANGS: tuple[str, ...] = (
    *("en", "zh", "ja", "ko", "fr", "de", "es", "pt", "ar", "th", "vi", "hi", "bn", "sw", "af", "cs"),
    *("hu", "id", "it", "mr", "ne", "ru", "sr", "te", "uk", "ur", "wo", "yo", "zu"),
)
"""The 29 MMLU-ProX (and -Lite) configurations, one per language."""
POLYMATH_LANGS: tuple[str, ...] = tuple(c for c, lang in LANGUAGES.items() if "polymath" in lang.benchmarks)

_POLY_ID = re.compile(r"(?P<level>low|medium|high|top)-(?P<lang>[A-Za-z_-]{2,8}?)-(?P<n>\d+)")
_LETTERS = "ABCDEFGHIJ"
_TABLE_EXT = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".pq")


@dataclass
class Benchmark:
    """What an evaluation runs on.

    Attributes:
        name: ``mgsm``, ``msvamp``, ``gsm8k``, ``mmlu-prox``, ``mmlu-prox-lite``, ``polymath``, or the
            source as given for other data.
        kind: ``math`` (a final number or expression) or ``choice`` (a letter A–J).
        problems: the selected problems, grouped by language.
        languages: every language the benchmark has (the default language-ID candidates).
    """

    name: str
    kind: str
    problems: list[Problem]
    languages: tuple[str, ...]

    @property
    def langs(self) -> list[str]:
        """The evaluated languages, in order."""
        return list(dict.fromkeys(p.lang for p in self.problems))


# --- helpers ---------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and value != value)
        or (isinstance(value, str) and not value.strip())
    )


def _lang_of(rec: dict[str, Any], fallback: str | None, where: str) -> str:
    raw = rec.get("lang", rec.get("language"))
    if _missing(raw):
        if fallback is None:
            raise DataError(
                f"{where}: no language: add a 'lang' column, name the file <lang>.jsonl or "
                "<name>_<lang>.jsonl, or set data.lang"
            )
        return fallback
    try:
        return normalize_lang(str(raw))
    except UnknownLanguageError as exc:
        raise DataError(f"{where}: {exc}") from None


def _lang_from_path(path: Path) -> str | None:
    """``sw.jsonl``, ``test_sw.jsonl``, ``mmlu-prox-sw.parquet`` or a ``sw/`` parent → ``sw``."""
    candidates = [path.stem, path.stem.rsplit("_", 1)[-1], path.stem.rsplit("-", 1)[-1], path.parent.name]
    for c in candidates:
        try:
            return normalize_lang(c)
        except UnknownLanguageError:
            continue
    return None


def _rows(path: Path, on_error: str) -> Iterable[tuple[int, dict[str, Any]]]:
    from pbrlsvr.data.generic import read_table

    table = read_table(path, issues=Issues(on_error))  # type: ignore[arg-type]
    for number, _index, rec in table.rows:
        yield number, rec


def _peek(path: Path) -> dict[str, Any] | None:
    """The first record of a local table (for format detection)."""
    try:
        for _number, rec in _rows(path, "skip"):
            return rec
    except (DataError, OSError, ValueError):
        return None
    return None


def _hf_rows(dataset_id: str, subset: str, split: str) -> Iterable[dict[str, Any]]:
    from pbrlsvr.data.hf import load_hf_rows

    return load_hf_rows(dataset_id, subset=subset, split=split)


def _hf_key(source: str) -> str:
    s = source.strip()
    return (s[3:] if s.lower().startswith("hf:") else s).strip().lower()


# --- MMLU-ProX -------------------------------------------------------------------------------


def mmlu_prox_problem(rec: dict[str, Any], lang: str, index: int, source: str, prefix: str) -> Problem:
    """One MMLU-ProX row → a multiple-choice :class:`Problem` (``meta['options']``, gold a letter).

    Raises:
        ValueError: no question, no options, or no usable answer.
    """
    question = rec.get("question")
    if _missing(question):
        raise ValueError("empty question")
    if isinstance(rec.get("options"), list | tuple):
        raw = list(rec["options"])
    else:
        raw = [rec.get(f"option_{i}") for i in range(len(_LETTERS))]
    while raw and _missing(raw[-1]):
        raw.pop()
    if not raw:
        raise ValueError("no options (expected option_0 ... option_9 or an options list)")
    if len(raw) > len(_LETTERS):
        raise ValueError(f"{len(raw)} options; at most {len(_LETTERS)} (A-J) are supported")
    options = ["N/A" if _missing(o) else str(o).strip() for o in raw]
    gold: str | None = None
    answer = rec.get("answer")
    if isinstance(answer, str) and answer.strip().upper() in _LETTERS:
        gold = answer.strip().upper()
    elif not _missing(rec.get("answer_index")):
        gold = _LETTERS[int(rec["answer_index"])]
    elif isinstance(answer, int) and not isinstance(answer, bool):
        gold = _LETTERS[answer]
    if gold is None or _LETTERS.index(gold) >= len(options):
        raise ValueError(f"answer {answer!r} is not a letter of one of the {len(options)} options")
    qid = rec.get("question_id", rec.get("id"))
    pid = f"{prefix}-{qid}" if not _missing(qid) else f"{prefix}-{index:05d}"
    meta = {
        k: rec[k]
        for k in ("question_id", "answer_index", "category", "src")
        if k in rec and not _missing(rec[k])
    }
    meta["options"] = options
    return Problem(pid, lang, str(question).strip(), None, gold, source, None, meta)


def _mmlu_prox_local(path: Path, cfg: DataConfig, prefix: str) -> list[Problem]:
    files = (
        sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in _TABLE_EXT)
        if path.is_dir()
        else [path]
    )
    if not files:
        raise DataError(f"{path}: no .jsonl/.json/.csv/.parquet files in the folder")
    problems: list[Problem] = []
    issues = Issues(cfg.on_error)
    for file in files:
        fallback = cfg.lang or _lang_from_path(file)
        for i, (number, rec) in enumerate(_rows(file, cfg.on_error)):
            lang = _lang_of(rec, fallback, f"{file}:{number}")
            try:
                problems.append(mmlu_prox_problem(rec, lang, i, str(file), prefix))
            except ValueError as exc:
                issues.add(file, number, str(exc))
    issues.warn_summary(str(path))
    return problems


def _mmlu_prox_hf(dataset_id: str, cfg: DataConfig, prefix: str) -> list[Problem]:
    split = cfg.split or "test"
    problems: list[Problem] = []
    issues = Issues(cfg.on_error)
    for lang in cfg.langs or MMLU_PROX_LANGS:
        name = f"hf:{dataset_id}/{lang}[{split}]"
        for i, rec in enumerate(_hf_rows(dataset_id, lang, split)):
            try:
                problems.append(mmlu_prox_problem(dict(rec), lang, i, f"hf:{dataset_id}", prefix))
            except ValueError as exc:
                issues.add(name, i + 1, str(exc), unit="row")
            if cfg.limit is not None and i + 1 >= cfg.limit:
                break
    issues.warn_summary(dataset_id)
    return problems


# --- PolyMath --------------------------------------------------------------------------------


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
    if _missing(question):
        raise ValueError("empty question")
    if _missing(answer):
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


def _polymath_local(path: Path, cfg: DataConfig) -> list[Problem]:
    levels = _levels(cfg.split)
    if path.is_dir():
        files = sorted(
            (f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in _TABLE_EXT),
            key=lambda f: (str(f.parent), POLYMATH_LEVELS.index(f.stem) if f.stem in POLYMATH_LEVELS else 9),
        )
        files = [f for f in files if f.stem not in POLYMATH_LEVELS or f.stem in levels]
        if not files:
            raise DataError(f"{path}: no PolyMath files (<lang>/<level>.jsonl or .parquet) in the folder")
    else:
        files = [path]
    problems: list[Problem] = []
    issues = Issues(cfg.on_error)
    for file in files:
        level = file.stem if file.stem in POLYMATH_LEVELS else None
        fallback = cfg.lang or (_lang_from_path(file) if level is None else _lang_from_path(file.parent))
        for number, rec in _rows(file, cfg.on_error):
            has_lang = not _missing(rec.get("lang", rec.get("language")))
            lang = _lang_of(rec, None, f"{file}:{number}") if has_lang else fallback
            try:
                p = polymath_problem(rec, lang, level, str(file))
            except ValueError as exc:
                issues.add(file, number, str(exc))
                continue
            if p.meta.get("level") in levels or "level" not in p.meta:
                problems.append(p)
    issues.warn_summary(str(path))
    return problems


def _polymath_hf(cfg: DataConfig) -> list[Problem]:
    problems: list[Problem] = []
    issues = Issues(cfg.on_error)
    for lang in cfg.langs or POLYMATH_LANGS:
        for level in _levels(cfg.split):
            for i, rec in enumerate(_hf_rows(POLYMATH_HF, lang, level)):
                try:
                    problems.append(polymath_problem(dict(rec), lang, level, f"hf:{POLYMATH_HF}"))
                except ValueError as exc:
                    issues.add(f"hf:{POLYMATH_HF}/{lang}[{level}]", i + 1, str(exc), unit="row")
    issues.warn_summary(POLYMATH_HF)
    return problems


# --- resolution ------------------------------------------------------------------------------


def detect_reader(cfg: EvalConfig) -> str:
    """``mmlu-prox``, ``mmlu-prox-lite``, ``polymath`` or ``math`` for ``cfg.data.source``."""
    key = _hf_key(cfg.data.source)
    path = Path(cfg.data.source).expanduser()
    if cfg.benchmark == "mmlu-prox":
        return "mmlu-prox-lite" if "lite" in key else "mmlu-prox"
    if cfg.benchmark in ("polymath", "math"):
        return cfg.benchmark
    if not path.exists():
        for name, hf_id in MMLU_PROX_HF.items():
            if key in (name, hf_id.lower()):
                return name
        if key in ("polymath", POLYMATH_HF.lower()):
            return "polymath"
        return "math"
    if path.is_dir():
        if any(
            (sub / f"{lvl}{ext}").is_file()
            for sub in path.iterdir()
            if sub.is_dir()
            for lvl in POLYMATH_LEVELS
            for ext in (".jsonl", ".parquet")
        ):
            return "polymath"
        first = next((f for f in sorted(path.iterdir()) if f.suffix.lower() in _TABLE_EXT), None)
        rec = _peek(first) if first is not None else None
    else:
        rec = _peek(path) if path.suffix.lower() in _TABLE_EXT else None
    if rec:
        if "option_0" in rec or ("options" in rec and "answer" in rec and "question" in rec):
            return "mmlu-prox"
        if isinstance(rec.get("id"), str) and _POLY_ID.fullmatch(rec["id"]) and "answer" in rec:
            return "polymath"
    return "math"


def _math_name(source: str) -> tuple[str, tuple[str, ...]]:
    key = source.strip().lower()
    if key in ("mgsm", "mgsm-exemplars", "juletxara/mgsm", "hf:juletxara/mgsm"):
        return "mgsm", MGSM_LANGS
    if key == "msvamp":
        return "msvamp", MSVAMP_LANGS
    if key.startswith("gsm8k") or key in ("openai/gsm8k", "hf:openai/gsm8k"):
        return "gsm8k", MGSM_LANGS
    return source, ()


def load_benchmark(cfg: EvalConfig) -> Benchmark:
    """Load and select the problems ``cfg`` asks for (see the module docstring).

    Raises:
        DataError: a missing file or column, a language the source lacks, a malformed row, or
            problems without a gold answer (evaluation needs one).
    """
    data = cfg.data
    reader = detect_reader(cfg)
    path = Path(data.source).expanduser()
    if reader in ("mmlu-prox", "mmlu-prox-lite"):
        prefix = reader
        if path.exists():
            problems = _mmlu_prox_local(path, data, prefix)
        else:
            key = _hf_key(data.source)
            dataset_id = MMLU_PROX_HF.get(key) or data.source.removeprefix("hf:").strip()
            problems = _mmlu_prox_hf(dataset_id, data, prefix)
        name, kind, languages = reader, "choice", MMLU_PROX_LANGS
    elif reader == "polymath":
        problems = _polymath_local(path, data) if path.exists() else _polymath_hf(data)
        name, kind, languages = "polymath", "math", POLYMATH_LANGS
    else:
        from pbrlsvr.data import load_problems

        problems = load_problems(data.model_copy(update={"langs": None, "limit": None}))
        name, languages = _math_name(data.source)
        if not languages:
            languages = tuple(dict.fromkeys(p.lang for p in problems))
        golds = [p.gold for p in problems]
        kind = (
            "choice"
            if golds and all(g is not None and g.strip().upper() in _LETTERS for g in golds)
            else "math"
        )
    if cfg.task != "auto":
        kind = cfg.task
    selected = select_problems(problems, data.langs, data.limit, data.source)
    if not selected:
        raise DataError(f"{data.source}: no problems to evaluate")
    no_gold = [p.key for p in selected if p.gold is None]
    if no_gold:
        shown = ", ".join(no_gold[:5]) + (" ..." if len(no_gold) > 5 else "")
        raise DataError(
            f"{data.source}: {len(no_gold)} problem(s) have no gold answer ({shown}); evaluation needs "
            "one per problem (map it with data.columns.gold=<column>)"
        )
    seen: set[str] = set()
    for p in selected:
        if p.key in seen:
            raise DataError(f"{data.source}: duplicate problem {p.key}; ids must be unique per language")
        seen.add(p.key)
    return Benchmark(name, kind, selected, tuple(languages))
