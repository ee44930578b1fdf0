"""The GRPO training set: pivot references + prompts in the target language.

Each row becomes a conversational prompt (:func:`pbrlsvr.prompts.build_messages`) plus the columns
the reward reads: ``reference``, ``reference_answer``, ``lang``, ``gold``. Test sets are refused
here, not by convention: an id from MGSM or MSVAMP in a training file is an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pbrlsvr.errors import DataError
from pbrlsvr.io_checks import find_unencodable, loads_strict
from pbrlsvr.languages import get_language
from pbrlsvr.prompts import build_messages

REQUIRED = ("id", "lang", "question", "reference")
TEST_SET_PREFIXES = ("mgsm-", "gsm8k-test-")
"""Ids of the evaluation sets MGSM and GSM8K test (MGSM's source); training on them would make every
reported number meaningless. MSVAMP (SVAMP-derived, disjoint from MGSM) is allowed as training data,
which is what the shipped demo does; do not then report MSVAMP scores for that model."""


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a pivot export: ``.jsonl``, ``.parquet`` or a ``datasets`` ``save_to_disk`` folder."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"training data not found: {p}")
    if p.is_dir():
        from datasets import load_from_disk

        return [dict(r) for r in load_from_disk(str(p))]
    if p.suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(p).to_dict("records")
    rows = []
    with open(p, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                row = loads_strict(raw)
            except ValueError as exc:  # syntax, NaN/Infinity, duplicate keys, deep nesting, bad UTF-8
                raise DataError(f"{p}:{number}: {exc}") from None
            if not isinstance(row, dict):
                raise DataError(f"{p}:{number}: not a JSON object (got {type(row).__name__})")
            problem = find_unencodable(row)
            if problem is not None:
                raise DataError(f"{p}:{number}: {problem}")
            rows.append(row)
    return rows


def build_rows(
    rows: Sequence[dict[str, Any]],
    *,
    langs: Sequence[str] | None = None,
    limit: int | None = None,
    min_agreement: float = 0.0,
    allow_test_sets: bool = False,
) -> list[dict[str, Any]]:
    """Validated training rows with their ``prompt``; ``DataError`` names the first bad row."""
    wanted = None if langs is None else {get_language(x).code for x in langs}
    per_lang: dict[str, int] = {}
    out = []
    for i, row in enumerate(rows):
        missing = [k for k in REQUIRED if not row.get(k)]
        if missing:
            raise DataError(f"training row {i}: missing {missing} (columns: {sorted(row)})")
        rid = str(row["id"])
        if not allow_test_sets and rid.startswith(TEST_SET_PREFIXES):
            raise DataError(
                f"training row {i} has id {rid!r}, from an evaluation set; train on training data "
                "(e.g. GSM8K train and its translations), never on MGSM or GSM8K test"
            )
        lang = get_language(str(row["lang"])).code
        if wanted is not None and lang not in wanted:
            continue
        agreement = row.get("agreement")
        if agreement is not None and float(agreement) < min_agreement:
            continue
        if limit is not None and per_lang.get(lang, 0) >= limit:
            continue
        per_lang[lang] = per_lang.get(lang, 0) + 1
        out.append(
            {
                "prompt": build_messages(str(row["question"]), lang),
                "id": rid,
                "lang": lang,
                "reference": str(row["reference"]),
                "reference_answer": None
                if row.get("reference_answer") is None
                else str(row["reference_answer"]),
                "gold": None if row.get("gold") is None else str(row["gold"]),
            }
        )
    if not out:
        raise DataError("no training rows left after filtering (check langs, limit, min_agreement)")
    return out


def to_dataset(rows: list[dict[str, Any]]) -> Any:
    """A ``datasets.Dataset`` for ``GRPOTrainer``."""
    from datasets import Dataset

    return Dataset.from_list(rows)
