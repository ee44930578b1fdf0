"""Configuration: pydantic models for every command, loaded from YAML, overridable from the CLI.

Every command takes ``--config file.yaml`` and ``--set key.sub=value`` (repeatable), plus typed
flags for the common keys. The order of precedence is: defaults < YAML file < ``--set`` < flags.
A wrong key or value fails *before any work starts*, with a message naming the key, the value
given and what was expected (``ConfigError``), never a traceback from deep inside a trainer.

>>> cfg = load_config(DataConfig, overrides={"source": "mgsm", "langs": "sw,bn", "limit": "5"})
>>> cfg.langs, cfg.limit
(['sw', 'bn'], 5)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pbrlsvr.errors import ConfigError
from pbrlsvr.languages import normalize_langs


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def validate_langs(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str | list | tuple):
        return normalize_langs(value)
    raise ValueError(f"expected a list of language codes or a comma-separated string, got {value!r}")


class DataConfig(StrictModel):
    """Where problems come from (see :func:`pbrlsvr.data.load_problems`).

    ``source`` is one of: a built-in name (``mgsm``, ``mgsm-exemplars``, ``msvamp``, ``gsm8k``,
    ``gsm8k:test``), a local file (``.jsonl``, ``.json``, ``.csv``, ``.tsv``, ``.parquet``), a
    local folder of ``mgsm_<lang>.tsv`` / ``msvamp_<lang>.jsonl`` / ``train_<lang>.jsonl`` files,
    or a Hugging Face dataset id (``juletxara/mgsm``, optionally prefixed ``hf:``).
    """

    source: str = Field("mgsm", description="built-in name, file, folder or HF dataset id")
    format: Literal["auto", "mgsm", "msvamp", "gsm8k", "translated", "jsonl", "csv", "parquet", "hf"] = Field(
        "auto", description="how to read `source`; auto guesses from the name and extension"
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


class ModelConfig(StrictModel):
    """A model to load (see :func:`pbrlsvr.models.load_model`)."""

    name: str = Field(
        "qwen2.5-coder-0.5b-instruct",
        description="offline alias, HF id, local folder or .gguf file",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "float32"
    device: str = Field("cpu", description="cpu, cuda, cuda:1, auto")
    revision: str | None = Field(None, description="HF revision (branch, tag or commit)")
    trust_remote_code: bool = False


class DataCommandConfig(StrictModel):
    """`pbrlsvr data`: load problems and summarise them (a dry run of any data spec)."""

    data: DataConfig = Field(default_factory=DataConfig)
    output: Path | None = Field(None, description="also write the problems as JSONL here")


C = TypeVar("C", bound=BaseModel)


def _parse_scalar(text: str) -> Any:
    """A ``--set`` value is parsed as YAML, so ``5`` is an int, ``[a, b]`` a list, ``null`` None."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    if not all(parts):
        raise ConfigError(f"malformed override key {dotted!r}: expected dotted names like 'data.limit'")
    node = tree
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise ConfigError(f"cannot set {dotted!r}: {'.'.join(parts[: i + 1])!r} is not a section")
        node = child
    node[parts[-1]] = value


def parse_set_options(items: Sequence[str]) -> dict[str, Any]:
    """Turn ``["data.limit=5", "data.langs=[sw, bn]"]`` into ``{"data.limit": 5, ...}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"malformed --set {item!r}: expected KEY=VALUE, e.g. --set data.limit=10")
        out[key.strip()] = _parse_scalar(value.strip())
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file, bad YAML or a non-mapping is a :class:`ConfigError`."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {p} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a mapping of keys, got {type(data).__name__}")
    return data


def format_validation_error(exc: ValidationError, raw: Mapping[str, Any], origin: str) -> str:
    """One line per problem: the dotted key, the value given, and what was expected."""
    lines = [f"invalid configuration ({origin}):"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        if err["type"] == "extra_forbidden":
            lines.append(f"  - unknown key {loc!r} (value {err['input']!r}); check the spelling")
            continue
        value: Any = raw
        for part in err["loc"]:
            value = value.get(part, "<missing>") if isinstance(value, Mapping) else err.get("input")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            lines.append(f"  - {loc}: required key is missing")
        else:
            lines.append(f"  - {loc} = {value!r}: {msg}")
    return "\n".join(lines)


def load_config(
    model: type[C],
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> C:
    """Build a config: defaults, then the YAML file at ``path``, then dotted ``overrides``.

    Override values that are ``None`` are ignored (an unset CLI flag). Raises :class:`ConfigError`
    with every problem listed when a key is unknown or a value has the wrong type.
    """
    raw: dict[str, Any] = read_yaml(path) if path is not None else {}
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_path(raw, key, value)
    origin = f"{path} with overrides" if path and overrides else str(path) if path else "overrides"
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, raw, origin)) from None


def dump_config(cfg: BaseModel) -> str:
    """The resolved config as YAML, to save beside every run's outputs."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
