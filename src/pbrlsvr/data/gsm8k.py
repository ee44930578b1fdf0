"""GSM8K (English) and its machine-translated training sets.

* :func:`load_gsm8k`: GSM8K JSONL (``question``, ``answer`` = worked solution ending in ``#### N``);
  gold is ``N`` without thousands separators; ids ``gsm8k-<split>-<index>`` (index = row).
  Without a path it reads the packaged slice: the 250 GSM8K test problems MGSM translated
  (test rows 0-249, so their ids equal the full test set's). GSM8K train is not packaged.
* :func:`load_gsm8k_translated`: ``train_<lang>.jsonl`` files (``question`` in the language,
  ``question_en``, ``answer`` = gold number). Each row is linked to GSM8K train by its English
  question when the English file is found (ids ``gsm8k-train-<index>``, shared with the English
  set, and the English worked solution attached); otherwise ids are a stable hash of
  ``question_en`` (``gsm8k-train-h<hash>``), still shared across languages.
* :class:`EnglishIndex`: the English question → (index, worked solution) lookup used for that
  linking and for MGSM's.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pbrlsvr.data.config import DataConfig
from pbrlsvr.data.hf import load_hf_rows, require_columns
from pbrlsvr.data.problem import Problem
from pbrlsvr.data.readers import (
    DuplicateGuard,
    canonical_number,
    iter_jsonl,
    lang_files,
    lang_from_name,
    normalize_ws,
    peek_jsonl_keys,
    read_bytes,
    select_langs,
    stable_hash,
)
from pbrlsvr.data.report import Issues
from pbrlsvr.data.resources import gsm8k_mgsm_model_solutions, gsm8k_mgsm_test
from pbrlsvr.data.sources import DataSource, locate, register_source
from pbrlsvr.errors import DataError, UnknownLanguageError
from pbrlsvr.io_checks import find_unencodable, loads_strict
from pbrlsvr.languages import MGSM_LANGS, normalize_lang

logger = logging.getLogger("pbrlsvr.data")

GSM8K_HF_ID = "openai/gsm8k"


def gsm8k_final_answer(answer: str) -> str | None:
    """The canonical number after the last ``####`` of a GSM8K worked solution, else ``None``.

    >>> gsm8k_final_answer("2+1=<<2+1=3>>3 bolts\\n#### 1,000")
    '1000'
    """
    at = answer.rfind("####")
    if at < 0:
        return None
    return canonical_number(answer[at + 4 :].strip())


def _split_from_name(path: Path) -> str:
    stem = path.stem
    for split in ("train", "test"):
        if stem == split or stem.startswith(f"{split}_") or stem.startswith(f"{split}-"):
            return split
    return re.sub(r"[^A-Za-z0-9]+", "-", stem).strip("-").lower() or "data"


def _text(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    return value if isinstance(value, str) else None


def load_gsm8k(
    path: str | Path | None = None,
    *,
    split: str | None = None,
    issues: Issues | None = None,
    source: str | None = None,
) -> list[Problem]:
    """GSM8K JSONL → English problems with gold and ``solution_en`` (see the module docstring)."""
    issues = issues or Issues()
    if path is None:
        file, split, source = gsm8k_mgsm_test(), split or "test", source or "gsm8k:test"
    else:
        file = Path(path).expanduser()
        split = split or _split_from_name(file)
        source = source or str(file)
    problems: list[Problem] = []
    for line, rec in iter_jsonl(file, issues):
        question, answer = _text(rec, "question"), _text(rec, "answer")
        if question is None or answer is None:
            missing = [k for k in ("question", "answer") if _text(rec, k) is None]
            issues.add(
                file, line.number, f"missing or non-text column(s) {missing}; row has: {', '.join(rec)}"
            )
            continue
        if not question.strip():
            issues.add(file, line.number, "empty question")
            continue
        gold = gsm8k_final_answer(answer)
        if gold is None:
            issues.add(file, line.number, "answer has no final '#### <number>' line")
            continue
        problems.append(
            Problem(
                id=f"gsm8k-{split}-{line.index:04d}",
                lang="en",
                question=question,
                question_en=question,
                gold=gold,
                source=source,
                solution_en=answer,
                meta={"line": line.number},
            )
        )
    issues.check_file_not_empty(file, len(problems))
    return problems


@dataclass(frozen=True)
class EnglishMatch:
    """A GSM8K row found for an English question."""

    index: int
    question: str
    solution: str
    gold: str | None


class EnglishIndex:
    """GSM8K English questions → row index and worked solution.

    Lookup is exact first, then with whitespace normalised (GSM8K train holds a few ``\\u2028``
    line separators that translated copies dropped).
    """

    def __init__(self, rows: list[EnglishMatch], split: str, path: Path) -> None:
        self.split = split
        self.path = path
        self._exact = {r.question: r for r in rows}
        self._loose: dict[str, EnglishMatch] = {}
        for r in rows:
            self._loose.setdefault(normalize_ws(r.question), r)
        self.size = len(rows)

    @classmethod
    def from_jsonl(cls, path: str | Path, split: str | None = None) -> EnglishIndex:
        """Read a GSM8K JSONL file; its rows are trusted, a malformed one raises :class:`DataError`."""
        file = Path(path)
        rows = [
            EnglishMatch(int(p.id.rsplit("-", 1)[1]), p.question, p.solution_en or "", p.gold)
            for p in load_gsm8k(file, split=split or _split_from_name(file))
        ]
        return cls(rows, split or _split_from_name(file), file)

    @classmethod
    def packaged_mgsm(cls) -> EnglishIndex:
        """The packaged 250 GSM8K test problems (row i = GSM8K test row i)."""
        return cls.from_jsonl(gsm8k_mgsm_test(), split="test")

    def find(self, question: str) -> EnglishMatch | None:
        hit = self._exact.get(question)
        return hit if hit is not None else self._loose.get(normalize_ws(question))

    def id_of(self, match: EnglishMatch) -> str:
        return f"gsm8k-{self.split}-{match.index:04d}"


def _find_english(folder: Path, split: str) -> Path | None:
    for candidate in (folder / f"{split}.jsonl", folder.parent / "gsm8k" / f"{split}.jsonl"):
        if candidate.is_file():
            return candidate
    return None


def load_gsm8k_translated(
    path: str | Path,
    *,
    langs: list[str] | None = None,
    split: str | None = None,
    english_path: str | Path | None = None,
    issues: Issues | None = None,
    source: str | None = None,
) -> list[Problem]:
    """``<split>_<lang>.jsonl`` files (a folder of them or one file) → problems.

    ``english_path`` is the English GSM8K JSONL of the same split; by default ``<split>.jsonl``
    beside the files or ``../gsm8k/<split>.jsonl`` is used when it exists.
    """
    issues = issues or Issues()
    target = Path(path).expanduser()
    if target.is_file():
        split = split or _split_from_name(target)
        lang = lang_from_name(target, f"{split}_", ".jsonl")
        if lang is None:
            raise DataError(
                f"{target}: expected a file named {split}_<lang>.jsonl with a known language code"
            )
        files = select_langs({lang: target}, langs, str(target))
        folder = target.parent
    else:
        split = split or "train"
        folder = target
        files = lang_files(folder, f"{split}_", ".jsonl", issues)
        if not files:
            raise DataError(f"no {split}_<lang>.jsonl files in {folder}")
        files = select_langs(files, langs, str(folder))
    source = source or str(target)

    english_file = Path(english_path) if english_path is not None else _find_english(folder, split)
    english = EnglishIndex.from_jsonl(english_file, split) if english_file is not None else None
    if english is None:
        logger.info("no English GSM8K %s file found near %s: ids are hashes of question_en", split, folder)

    problems: list[Problem] = []
    guard = DuplicateGuard(issues)
    for lang, file in files.items():
        start = len(problems)
        for line, rec in iter_jsonl(file, issues):
            question, question_en = _text(rec, "question"), _text(rec, "question_en")
            if question is None or question_en is None or "answer" not in rec:
                missing = [k for k in ("question", "question_en", "answer") if k not in rec]
                issues.add(
                    file,
                    line.number,
                    f"missing or non-text column(s) {missing or ['question']}; row has: {', '.join(rec)}",
                )
                continue
            if not question.strip() or not question_en.strip():
                issues.add(
                    file, line.number, "empty question" if not question.strip() else "empty question_en"
                )
                continue
            if "lang" in rec:
                try:
                    row_lang = normalize_lang(str(rec["lang"]))
                except UnknownLanguageError as exc:
                    issues.add(file, line.number, str(exc))
                    continue
                if row_lang != lang:
                    issues.add(
                        file, line.number, f"row language {row_lang!r} differs from the file's {lang!r}"
                    )
                    continue
            gold = canonical_number(rec["answer"])
            if gold is None:
                issues.add(file, line.number, f"answer {rec['answer']!r} is not a number")
                continue
            match = english.find(question_en) if english is not None else None
            meta: dict[str, Any] = {"line": line.number}
            if match is not None and english is not None:
                pid, solution = english.id_of(match), match.solution
                if match.gold != gold:
                    meta["gsm8k_gold"] = match.gold
                    logger.warning(
                        "%s:%d: gold %s differs from GSM8K's %s", file, line.number, gold, match.gold
                    )
            else:
                pid, solution = f"gsm8k-{split}-h{stable_hash(question_en)}", None
            if not guard.ok(pid, lang, file, line.number):
                continue
            problems.append(Problem(pid, lang, question, question_en, gold, source, solution, meta))
        issues.check_file_not_empty(file, len(problems) - start)
    return problems


def load_gsm8k_hf(
    dataset_id: str = GSM8K_HF_ID,
    *,
    subset: str | None = "main",
    split: str = "test",
    issues: Issues | None = None,
) -> list[Problem]:
    """GSM8K from the Hugging Face Hub (``openai/gsm8k``, subset ``main``); needs the network or cache."""
    issues = issues or Issues()
    table = load_hf_rows(dataset_id, subset, split)
    require_columns(table, {"question": "question", "solution_en": "answer"})
    problems: list[Problem] = []
    for i, rec in enumerate(table):
        question, answer = rec.get("question"), rec.get("answer")
        gold = gsm8k_final_answer(answer) if isinstance(answer, str) else None
        if not isinstance(question, str) or not question.strip():
            issues.add(table.name, i + 1, "empty question", unit="row")
            continue
        if gold is None:
            issues.add(table.name, i + 1, "answer has no final '#### <number>' line", unit="row")
            continue
        problems.append(
            Problem(
                f"gsm8k-{split}-{i:04d}",
                "en",
                question,
                question,
                gold,
                f"hf:{dataset_id}",
                answer,
                {"row": i},
            )
        )
    issues.check_file_not_empty(table.name, len(problems))
    return problems


def read_example_model_solutions(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """GSM8K's ``example_model_solutions.jsonl`` as ``{English question: record}``.

    Each record has ``ground_truth`` and, per model (``6b_finetuning``, ``6b_verification``,
    ``175b_finetuning``, ``175b_verification``), ``{"solution", "is_correct"}``: real outputs of
    large 2021 English models, usable as pivot references. Without ``path``: the packaged
    records for MGSM's 250 problems.
    """
    file = Path(path) if path is not None else gsm8k_mgsm_model_solutions()
    out: dict[str, dict[str, Any]] = {}
    for number, raw in enumerate(read_bytes(file).split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            rec = loads_strict(raw)
        except ValueError as exc:  # also deep nesting, NaN, duplicate keys, invalid UTF-8
            raise DataError(f"{file}:{number}: {exc}") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("question"), str):
            raise DataError(f"{file}:{number}: expected an object with a 'question'")
        unusable = find_unencodable(rec)
        if unusable is not None:
            raise DataError(f"{file}:{number}: {unusable}")
        out[rec["question"]] = rec
    return out


# --- registered sources ----------------------------------------------------------------------


def _load_translated(cfg: DataConfig, issues: Issues) -> list[Problem]:
    loc = locate(cfg.source)
    if loc.kind != "path":
        raise DataError(
            f"translated GSM8K is read from <split>_<lang>.jsonl files; {cfg.source!r} is not a path"
        )
    return load_gsm8k_translated(loc.path, langs=cfg.langs, split=cfg.split, issues=issues)


def _detect_translated(path: Path, cfg: DataConfig) -> bool:
    if path.is_dir():
        prefix = f"{cfg.split or 'train'}_"
        return any(lang_from_name(f, prefix, ".jsonl") for f in sorted(path.iterdir()) if f.is_file())
    keys = (peek_jsonl_keys(path) if path.suffix.lower() == ".jsonl" else None) or set()
    return {"question", "question_en", "answer"} <= keys and bool(re.fullmatch(r"(train|test)_.+", path.stem))


def _load_gsm8k(cfg: DataConfig, issues: Issues) -> list[Problem]:
    loc = locate(cfg.source)
    if loc.kind == "hf":
        return load_gsm8k_hf(loc.value, subset=cfg.subset or "main", split=cfg.split or "test", issues=issues)
    if loc.kind == "name":
        split = "train" if loc.key == "gsm8k:train" else (cfg.split or "test")
        if split != "test":
            raise DataError(
                f"GSM8K {split} is not packaged with pbrlsvr (only the 250 test problems MGSM uses are): "
                f"set data.source to the path of GSM8K's {split}.jsonl (e.g. ../shared/data/gsm8k/{split}.jsonl) "
                f"or to the Hugging Face id {GSM8K_HF_ID} with data.split={split}"
            )
        return load_gsm8k(issues=issues)
    if loc.path.is_dir():
        split = cfg.split or "test"
        return load_gsm8k(loc.path / f"{split}.jsonl", split=split, issues=issues)
    return load_gsm8k(loc.path, split=cfg.split, issues=issues)


def _detect_gsm8k(path: Path, cfg: DataConfig) -> bool:
    if path.is_dir():
        return (path / f"{cfg.split or 'test'}.jsonl").is_file()
    return path.suffix.lower() == ".jsonl" and peek_jsonl_keys(path) == {"question", "answer"}


register_source(
    DataSource(
        "translated",
        _load_translated,
        "machine-translated GSM8K: <split>_<lang>.jsonl files (question, question_en, answer), linked to GSM8K",
        detect=_detect_translated,
        order=50,
    )
)
register_source(
    DataSource(
        "gsm8k",
        _load_gsm8k,
        "GSM8K test, the 250 problems MGSM uses (packaged, MIT); train: its train.jsonl or openai/gsm8k",
        aliases=("gsm8k:test", "gsm8k:train"),
        hf_ids=(GSM8K_HF_ID,),
        detect=_detect_gsm8k,
        languages=MGSM_LANGS,
        order=51,
    )
)
