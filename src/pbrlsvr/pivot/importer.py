"""Import references written elsewhere as a pivot's samples: GSM8K's example model solutions.

``example_model_solutions.jsonl`` (OpenAI's GSM8K release) holds, for every GSM8K test question,
the solutions of four 2021 models (``6b_finetuning``, ``6b_verification``, ``175b_finetuning``,
``175b_verification``). One of them is imported as a pivot named e.g. ``gpt3-175b-verification``:
each problem is linked through its English question (exact, then whitespace-normalised) and its
solution becomes sample 0 of the key set ``(model, "import", <solution key>)`` in the same store,
so voting, gold filtering and export work as for generated samples. Several keys
(``key: 175b_verification,6b_verification``) become samples 0, 1, ... of one pivot: a vote across
models. Importing is idempotent
(``INSERT OR IGNORE``); ``force`` replaces what an earlier import stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pbrlsvr.data.gsm8k import read_example_model_solutions
from pbrlsvr.data.problem import Problem
from pbrlsvr.data.resources import gsm8k_mgsm_model_solutions
from pbrlsvr.errors import DataError
from pbrlsvr.pivot.config import SolutionsConfig
from pbrlsvr.pivot.runner import PivotError, unique_problems
from pbrlsvr.pivot.store import KeySet, ReferenceStore, Sample
from pbrlsvr.rewards.answer import extract_final_answer

IMPORT_PROMPT_HASH = "import"
"""The prompt-hash part of an imported key set (the prompt is unknown)."""


def import_key_set(cfg: SolutionsConfig) -> KeySet:
    """``(model, "import", solution key)``: the key set an import writes."""
    return KeySet(cfg.model, IMPORT_PROMPT_HASH, cfg.key)


@dataclass
class ImportReport:
    """What :func:`import_solutions` did."""

    key: KeySet
    file: Path
    problems: int
    matched: int = 0
    inserted: int = 0
    already: int = 0
    deleted: int = 0
    unmatched: list[str] = field(default_factory=list)
    """Problem ids whose English question is not in the file."""
    no_solution: list[str] = field(default_factory=list)
    """Problem ids whose record lacks a usable solution under some key."""
    no_english: list[str] = field(default_factory=list)


def _solution(record: dict[str, Any], key: str) -> tuple[str, dict[str, Any]] | None:
    entry = record.get(key)
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, dict) and isinstance(entry.get("solution"), str):
        meta = {k: v for k, v in entry.items() if k != "solution"}
        return entry["solution"], meta
    return None


def import_solutions(
    problems: list[Problem], store: ReferenceStore, cfg: SolutionsConfig, *, force: bool = False
) -> ImportReport:
    """Store the solutions (``cfg.key``, comma-separated keys = samples 0, 1, ...) of every problem
    found in the file under the key set :func:`import_key_set`.

    Raises:
        DataError: the file is missing or malformed (named by line), or no record has ``cfg.key``.
        PivotError: the store holds this import for some ids under a different English question.
    """
    file = Path(cfg.path).expanduser() if cfg.path is not None else gsm8k_mgsm_model_solutions()
    if not file.is_file():
        raise DataError(f"model solutions file not found: {file}")
    records = read_example_model_solutions(file)
    keys = sorted({k for r in records.values() for k, v in r.items() if isinstance(v, dict)})
    absent = [k for k in cfg.keys if not any(k in r for r in records.values())]
    if records and absent:
        raise DataError(f"{file}: no record has the solution key(s) {absent}; keys found: {', '.join(keys)}")
    loose = {" ".join(q.split()): r for q, r in records.items()}
    unique = unique_problems(problems)
    key = import_key_set(cfg)
    report = ImportReport(key, file, len(unique.problems), no_english=list(unique.no_english))
    store.register(key, {"import": str(file), "key": cfg.key}, {})
    if force and unique.problems:
        report.deleted = store.delete(key, [p.id for p in unique.problems])
    stored = store.index(key, [p.id for p in unique.problems]) if unique.problems else {}
    clash = [
        p.id for p in unique.problems if any(h != p.question_hash for h in stored.get(p.id, {}).values())
    ]
    if clash:
        raise PivotError(
            f"the store {store.path} holds {key} samples for {', '.join(clash[:3])} imported for a "
            "different English question: use another store or --force to replace them"
        )
    samples: list[Sample] = []
    for p in unique.problems:
        record = records.get(p.question_en) or loose.get(" ".join(p.question_en.split()))
        if record is None:
            report.unmatched.append(p.id)
            continue
        found = 0
        for index, name in enumerate(cfg.keys):
            got = _solution(record, name)
            if got is None or not got[0].strip():
                continue
            text, meta = got
            found += 1
            samples.append(
                Sample(
                    problem_id=p.id,
                    index=index,
                    text=text,
                    answer=extract_final_answer(text, "en"),
                    finish_reason="stop",
                    question_hash=p.question_hash,
                    meta={**meta, "file": file.name, "key": name},
                )
            )
        if found:
            report.matched += 1
        if found < len(cfg.keys):
            report.no_solution.append(p.id)
    report.inserted = store.add(key, samples)
    report.already = len(samples) - report.inserted
    return report


__all__ = ["IMPORT_PROMPT_HASH", "ImportReport", "import_key_set", "import_solutions"]
