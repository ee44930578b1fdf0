"""One entry point: a :class:`DataConfig` → a list of :class:`Problem` (and, for evaluation, a
:class:`Benchmark`: the problems with their task kind and languages).

Which registered source reads ``data.source`` is :func:`pbrlsvr.data.sources.resolve_source`'s
choice: a registered name (``mgsm``, ``mgsm-exemplars``, ``msvamp``, ``gsm8k``/``gsm8k:test``,
``mmlu-prox``, ``polymath``, a plugin's) or a Hub id a source lists (``juletxara/mgsm``,
``openai/gsm8k``, ``li-lab/MMLU-ProX``, ``Qwen/PolyMath``); else ``data.format``; else, for a local
file or folder, the first source that recognises it (``mgsm_<lang>.tsv``, ``msvamp_<lang>.jsonl``,
``train_<lang>.jsonl``, ``exemplars.jsonl``, GSM8K's ``question``/``answer`` records,
MMLU-ProX's options, PolyMath's ids and ``<lang>/<level>.jsonl`` layout); else a generic table
mapped with ``columns`` (by extension) or a Hugging Face dataset. ``gsm8k:train`` is not packaged:
give the path of GSM8K's ``train.jsonl`` or the HF id ``openai/gsm8k`` with ``split: train``.

Then the problems are grouped by language (in ``langs`` order, else the order languages first
appear), ``langs`` keeps those languages (one the source lacks is an error) and ``limit`` keeps
the first N problems of each language: with parallel data, the same ids in every language.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pbrlsvr.config import format_validation_error
from pbrlsvr.data.config import DataConfig
from pbrlsvr.data.problem import Problem
from pbrlsvr.data.report import Issues, LoadReport
from pbrlsvr.data.sources import AUTO, CHOICE_LETTERS, resolve_source
from pbrlsvr.errors import ConfigError, DataError


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
    loaded = resolve_source(cfg).source.load(cfg, issues)
    problems = select_problems(loaded, cfg.langs, cfg.limit, cfg.source)
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
        ConfigError: a keyword argument is not a valid ``DataConfig`` value, or ``format``
            names no registered source.
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


# --- evaluation -----------------------------------------------------------------------------------


@dataclass
class Benchmark:
    """What an evaluation runs on.

    Attributes:
        name: the source's name (``mgsm``, ``mmlu-prox``, a plugin's) when ``data.source`` named it
            or holds a copy of the benchmark, else ``data.source`` as given.
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


def load_benchmark(data: DataConfig, *, benchmark: str = AUTO, task: str = AUTO) -> Benchmark:
    """Load and select what ``pbrlsvr eval`` runs on, with its task kind and languages.

    ``benchmark`` names a registered source (``auto``: :func:`~pbrlsvr.data.sources.resolve_source`
    decides; ``math``: the same without multiple-choice sources). The kind is the source's, or
    for generic tables ``choice`` when every gold answer is a letter A–J; ``task`` overrides it.

    Raises:
        DataError: a missing file or column, a language the source lacks, a malformed row,
            duplicate problems, or problems without a gold answer (evaluation needs one).
    """
    resolved = resolve_source(data, benchmark)
    source = resolved.source
    full = data if source.reads_selection else data.model_copy(update={"langs": None, "limit": None})
    issues = Issues(data.on_error)
    problems = source.load(full, issues)
    issues.warn_summary(data.source)
    identity = resolved.named or source.copies_are_benchmark
    name = source.name if identity else data.source
    languages = (
        source.languages if identity and source.languages else tuple(dict.fromkeys(p.lang for p in problems))
    )
    kind = source.task
    if kind is None:
        golds = [p.gold for p in problems]
        letters = golds and all(g is not None and g.strip().upper() in CHOICE_LETTERS for g in golds)
        kind = "choice" if letters else "math"
    if task != AUTO:
        kind = task
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
