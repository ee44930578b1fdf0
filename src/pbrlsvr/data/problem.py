"""The one record every loader produces."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One problem in one language.

    ``id`` is the *parallel* id: the same problem has the same id in every language (MGSM row i
    is ``mgsm-000i`` in all 11 files), so ``(id, lang)`` is the unique key and references written
    once in English serve every language.

    Attributes:
        id: parallel problem id, shared across languages.
        lang: ISO 639-1 code of ``question`` (validated against :mod:`pbrlsvr.languages`).
        question: the problem in ``lang``.
        question_en: the English version (the pivot's input); equals ``question`` for English.
        gold: the gold final answer as a string (``"18"``, ``"0.5"``, ``"B"``) or ``None`` where
            the dataset has none (PB-RLSVR needs no gold; evaluation does).
        source: where it came from (``"mgsm"``, ``"gsm8k:test"``, a file path, an HF id).
        solution_en: an English worked solution where the dataset links one (GSM8K), else ``None``.
        meta: anything else the dataset carried (equations, choices, original row number).
    """

    id: str
    lang: str
    question: str
    question_en: str | None
    gold: str | None
    source: str
    solution_en: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> str:
        """Unique key across languages: ``"<id>:<lang>"``."""
        return f"{self.id}:{self.lang}"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, for JSONL/Parquet export and ``datasets.Dataset.from_list``."""
        return asdict(self)
