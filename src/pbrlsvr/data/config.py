"""The ``data:`` section every command that reads problems takes, and ``pbrlsvr data``'s own config.

``format`` (and eval's ``benchmark``) are checked against the data-source registry
(:mod:`pbrlsvr.data.sources`); importing this module imports the ``pbrlsvr.data`` package, whose
built-in sources register themselves, so the check sees them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from pbrlsvr.config import StrictModel, validate_langs
from pbrlsvr.data.sources import check_source_name
from pbrlsvr.languages import normalize_langs


class DataConfig(StrictModel):
    """Where problems come from (see :func:`pbrlsvr.data.load_problems`).

    ``source`` is one of: a registered data source (``mgsm``, ``mgsm-exemplars``, ``msvamp``,
    ``gsm8k``, ``gsm8k:test``, ``mmlu-prox``, ``polymath``, a plugin's; ``pbrlsvr list sources``), a
    local file (``.jsonl``, ``.json``, ``.csv``, ``.tsv``, ``.parquet``), a local folder of
    ``mgsm_<lang>.tsv`` / ``msvamp_<lang>.jsonl`` / ``train_<lang>.jsonl`` files, or a Hugging Face
    dataset id (``juletxara/mgsm``, optionally prefixed ``hf:``). ``format`` names the registered
    source that reads it (``auto``: see :func:`pbrlsvr.data.sources.resolve_source`).
    """

    source: str = Field("mgsm", description="registered source name, file, folder or HF dataset id")
    format: str = Field(
        "auto",
        description="the registered source that reads `source` (mgsm, msvamp, gsm8k, translated, jsonl, "
        "csv, parquet, hf, ...); auto guesses from the name, the files and the extension",
    )
    split: str | None = Field(None, description="dataset split for HF ids and gsm8k (train/test)")
    subset: str | None = Field(None, description="HF dataset configuration name")
    langs: list[str] | None = Field(None, description="languages to keep (ISO 639-1); None = all")
    limit: int | None = Field(None, ge=1, description="keep the first N problems per language")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="generic files: map Problem fields (id, lang, question, question_en, gold, "
        "solution_en) to column names",
    )
    lang: str | None = Field(None, description="generic files without a lang column: their language")
    on_error: Literal["raise", "skip"] = Field(
        "raise", description="a malformed row: fail naming its line (raise) or report it and go on (skip)"
    )
    link_english: bool = Field(
        True, description="MGSM: attach the English GSM8K worked solution to each problem"
    )

    _check_langs = field_validator("langs", mode="before")(validate_langs)

    @field_validator("format")
    @classmethod
    def _check_format(cls, value: str) -> str:
        return check_source_name(value)

    @field_validator("lang", mode="before")
    @classmethod
    def _check_lang(cls, value: Any) -> str | None:
        return None if value is None else normalize_langs([value])[0]

    @field_validator("columns")
    @classmethod
    def _check_columns(cls, value: dict[str, str]) -> dict[str, str]:
        allowed = {"id", "lang", "question", "question_en", "gold", "solution_en"}
        bad = sorted(set(value) - allowed)
        if bad:
            raise ValueError(f"unknown Problem field(s) {bad}; expected some of {sorted(allowed)}")
        return value


class DataCommandConfig(StrictModel):
    """`pbrlsvr data`: load problems and summarise them (a dry run of any data spec)."""

    data: DataConfig = Field(default_factory=DataConfig)
    output: Path | None = Field(None, description="also write the problems as JSONL here")
