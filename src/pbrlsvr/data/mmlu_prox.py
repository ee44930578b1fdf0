"""MMLU-ProX and MMLU-ProX-Lite: multiple-choice questions (letters A-J) in 29 languages.

From the Hugging Face Hub (``li-lab/MMLU-ProX``, ``li-lab/MMLU-ProX-Lite``), one configuration per
language, split ``data.split`` (default ``test``). Rows: ``question_id``, ``question``,
``option_0`` … ``option_9`` (``None`` where a question has fewer options), ``answer`` (the
letter), ``answer_index``, ``cot_content``, ``category``, ``src``.

A local file or folder in the same schema (``.jsonl``, ``.json``, ``.csv``, ``.parquet``) is
recognised by its first record (``option_0``, or ``options`` + ``answer`` + ``question``). A folder
holds one file per language named ``<lang>.jsonl`` or ``<name>_<lang>.jsonl``; a row's language
comes from a ``lang``/``language`` column, else ``data.lang``, else the file or folder name.
Ids ``mmlu-prox-<question_id>`` (``mmlu-prox-lite-…`` for Lite) are parallel across languages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pbrlsvr.data.config import DataConfig
from pbrlsvr.data.generic import read_table
from pbrlsvr.data.hf import load_hf_rows
from pbrlsvr.data.problem import Problem
from pbrlsvr.data.readers import TABLE_SUFFIXES, lang_from_name, missing_value
from pbrlsvr.data.report import Issues
from pbrlsvr.data.sources import CHOICE_LETTERS, DataSource, locate, register_source
from pbrlsvr.errors import DataError, UnknownLanguageError
from pbrlsvr.languages import normalize_lang

MMLU_PROX_HF = {"mmlu-prox": "li-lab/MMLU-ProX", "mmlu-prox-lite": "li-lab/MMLU-ProX-Lite"}

MMLU_PROX_LANGS: tuple[str, ...] = (
    *("en", "zh", "ja", "ko", "fr", "de", "es", "pt", "ar", "th", "vi", "hi", "bn", "sw", "af", "cs"),
    *("hu", "id", "it", "mr", "ne", "ru", "sr", "te", "uk", "ur", "wo", "yo", "zu"),
)
"""The 29 MMLU-ProX (and -Lite) configurations, one per language."""


def row_lang(rec: dict[str, Any], fallback: str | None, where: str) -> str:
    """A row's ``lang``/``language`` column, else ``fallback``; neither is a :class:`DataError`."""
    raw = rec.get("lang", rec.get("language"))
    if missing_value(raw):
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


def path_lang(path: Path) -> str | None:
    """The language of a file's name, else of its folder's (``sw/low.jsonl``)."""
    return lang_from_name(path) or lang_from_name(path.parent.name)


def first_record(path: Path) -> dict[str, Any] | None:
    """The first record of a local table (for detection); None when it cannot be read."""
    try:
        table = read_table(path, issues=Issues("skip"))
    except (DataError, OSError, ValueError):
        return None
    return next((rec for _number, _index, rec in table.rows), None)


def table_files(folder: Path) -> list[Path]:
    """The table files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES)


def mmlu_prox_problem(rec: dict[str, Any], lang: str, index: int, source: str, prefix: str) -> Problem:
    """One MMLU-ProX row → a multiple-choice :class:`Problem` (``meta['options']``, gold a letter).

    Raises:
        ValueError: no question, no options, or no usable answer.
    """
    question = rec.get("question")
    if missing_value(question):
        raise ValueError("empty question")
    if isinstance(rec.get("options"), list | tuple):
        raw = list(rec["options"])
    else:
        raw = [rec.get(f"option_{i}") for i in range(len(CHOICE_LETTERS))]
    while raw and missing_value(raw[-1]):
        raw.pop()
    if not raw:
        raise ValueError("no options (expected option_0 ... option_9 or an options list)")
    if len(raw) > len(CHOICE_LETTERS):
        raise ValueError(f"{len(raw)} options; at most {len(CHOICE_LETTERS)} (A-J) are supported")
    options = ["N/A" if missing_value(o) else str(o).strip() for o in raw]
    gold: str | None = None
    answer = rec.get("answer")
    if isinstance(answer, str) and answer.strip().upper() in CHOICE_LETTERS:
        gold = answer.strip().upper()
    elif not missing_value(rec.get("answer_index")):
        gold = CHOICE_LETTERS[int(rec["answer_index"])]
    elif isinstance(answer, int) and not isinstance(answer, bool):
        gold = CHOICE_LETTERS[answer]
    if gold is None or CHOICE_LETTERS.index(gold) >= len(options):
        raise ValueError(f"answer {answer!r} is not a letter of one of the {len(options)} options")
    qid = rec.get("question_id", rec.get("id"))
    pid = f"{prefix}-{qid}" if not missing_value(qid) else f"{prefix}-{index:05d}"
    meta = {
        k: rec[k]
        for k in ("question_id", "answer_index", "category", "src")
        if k in rec and not missing_value(rec[k])
    }
    meta["options"] = options
    return Problem(pid, lang, str(question).strip(), None, gold, source, None, meta)


def _local(path: Path, cfg: DataConfig, prefix: str, issues: Issues) -> list[Problem]:
    files = table_files(path) if path.is_dir() else [path]
    if not files:
        raise DataError(f"{path}: no .jsonl/.json/.csv/.parquet files in the folder")
    problems: list[Problem] = []
    for file in files:
        fallback = cfg.lang or path_lang(file)
        for i, (number, _index, rec) in enumerate(read_table(file, issues=issues).rows):
            lang = row_lang(rec, fallback, f"{file}:{number}")
            try:
                problems.append(mmlu_prox_problem(rec, lang, i, str(file), prefix))
            except ValueError as exc:
                issues.add(file, number, str(exc))
    return problems


def _hub(dataset_id: str, cfg: DataConfig, prefix: str, issues: Issues) -> list[Problem]:
    split = cfg.split or "test"
    problems: list[Problem] = []
    for lang in cfg.langs or MMLU_PROX_LANGS:
        name = f"hf:{dataset_id}/{lang}[{split}]"
        for i, rec in enumerate(load_hf_rows(dataset_id, subset=lang, split=split)):
            try:
                problems.append(mmlu_prox_problem(dict(rec), lang, i, f"hf:{dataset_id}", prefix))
            except ValueError as exc:
                issues.add(name, i + 1, str(exc), unit="row")
            if cfg.limit is not None and i + 1 >= cfg.limit:
                break
    return problems


def _loader(prefix: str) -> Any:
    def load(cfg: DataConfig, issues: Issues) -> list[Problem]:
        loc = locate(cfg.source)
        if loc.kind == "path":
            return _local(loc.path, cfg, prefix, issues)
        dataset_id = MMLU_PROX_HF.get(loc.key) or loc.value
        return _hub(dataset_id, cfg, prefix, issues)

    return load


def detect(path: Path, cfg: DataConfig) -> bool:
    """A local table (or a folder's first one) whose first record has MMLU-ProX's options."""
    first = table_files(path)[:1] if path.is_dir() else [path]
    if not first or first[0].suffix.lower() not in TABLE_SUFFIXES:
        return False
    rec = first_record(first[0])
    return bool(rec) and ("option_0" in rec or {"options", "answer", "question"} <= set(rec))


for _name, _what, _order in (
    ("mmlu-prox", "MMLU-ProX: multiple choice A-J, 29 languages", 10),
    ("mmlu-prox-lite", "MMLU-ProX-Lite: a smaller subset of MMLU-ProX, same schema and languages", 11),
):
    register_source(
        DataSource(
            _name,
            _loader(_name),
            f"{_what} (Hugging Face {MMLU_PROX_HF[_name]}, or a local copy)",
            task="choice",
            hf_ids=(MMLU_PROX_HF[_name],),
            detect=detect if _name == "mmlu-prox" else None,
            languages=MMLU_PROX_LANGS,
            copies_are_benchmark=True,
            reads_selection=True,
            order=_order,
        )
    )
