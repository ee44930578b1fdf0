"""The registry of data sources: every benchmark, dataset format and generic reader by name.

One :class:`DataSource` per name: its task kind, its loader ``(DataConfig, Issues) -> problems``,
a one-line description, and how ``auto`` recognises it (its Hugging Face ids, a check of a local
file or folder). ``pbrlsvr data``, ``eval``, ``pivot``, ``train``, the experiment and the CLI help
all read this registry, so a benchmark is one module that registers itself, built-in or plugin:

.. code-block:: python

    from pbrlsvr.data import DataSource, Problem, register_source

    def load_toy(cfg, issues):
        langs = cfg.langs or ["en", "de"]
        return [Problem(f"toy-{i}", lang, f"{i} + {i} = ?", f"{i} + {i} = ?", str(2 * i), "toy")
                for lang in langs for i in range(3)]

    register_source(DataSource("toy-arith", load_toy, "three sums per language", task="math"))

after which ``data: {source: toy-arith}`` (or ``--data toy-arith``) loads it everywhere.

Dataset formats and the generic readers (``jsonl``, ``csv``, ``parquet``, ``hf``) are entries of
the same registry: ``data.format`` and ``eval``'s ``benchmark`` name one of them, and ``auto``
picks one the way :func:`resolve_source` describes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pbrlsvr.data.problem import Problem
from pbrlsvr.data.readers import FILE_FORMATS
from pbrlsvr.data.report import Issues
from pbrlsvr.errors import DataError
from pbrlsvr.registry import PLUGINS_ENV, Registry

if TYPE_CHECKING:
    from pbrlsvr.data.config import DataConfig

TaskKind = Literal["math", "choice"]
CHOICE_LETTERS = "ABCDEFGHIJ"
"""The letters a ``choice`` problem's gold and options use (up to ten options)."""
Loader = Callable[["DataConfig", Issues], list[Problem]]
Detector = Callable[[Path, "DataConfig"], bool]

AUTO = "auto"


@dataclass(frozen=True)
class DataSource:
    """One registered data source.

    Attributes:
        name: what ``data.source``, ``data.format`` and ``eval --benchmark`` call it.
        load: ``(DataConfig, Issues) -> list[Problem]``. It reads ``cfg.source`` (a registered
            name, a local path or a Hub id: :func:`locate` tells which) and reports malformed
            rows to ``issues``. It may use ``cfg.langs``/``cfg.limit`` to read less; the caller
            selects languages and the first ``limit`` problems of each afterwards either way.
        description: one line for ``pbrlsvr list sources``.
        task: ``math`` (a final number or expression) or ``choice`` (a letter A-J); ``None``
            where the data decides (every gold a letter A-J means ``choice``).
        aliases: other names for ``data.source`` (``gsm8k:test``).
        hf_ids: Hugging Face dataset ids this source reads (``openai/gsm8k``), with or
            without ``hf:``; matched case-insensitively when no local path has that name.
        detect: ``(path, cfg) -> bool``: whether an existing local file or folder is this
            source's (by file names or the first record's keys), for ``format: auto``.
        order: where the source stands when ``auto`` asks the ``detect`` of each in turn (the
            first that says yes reads the path) and in listings; lower first, ties in
            registration order. Built-ins use 10-90 (a copy of a benchmark before the layouts
            other data shares, generic readers last), so a plugin's default of 100 never takes
            a path a built-in recognises.
        languages: every language the benchmark has (evaluation's default language-ID
            candidates); empty: the languages found in the data.
        copies_are_benchmark: data this source reads under another name (a local copy, a Hub
            mirror) is still the benchmark, so reports use its name and languages (MMLU-ProX,
            PolyMath); False for layouts other datasets share (MGSM's ``mgsm_<lang>.tsv``).
        reads_selection: the loader reads only ``cfg.langs`` and ``cfg.limit`` rows per language
            (Hub datasets with one configuration per language), so evaluation hands them on;
            otherwise evaluation loads every language so its candidates do not depend on the
            selection.
    """

    name: str
    load: Loader
    description: str
    task: TaskKind | None = "math"
    aliases: tuple[str, ...] = ()
    hf_ids: tuple[str, ...] = ()
    detect: Detector | None = field(default=None, compare=False)
    order: int = 100
    languages: tuple[str, ...] = ()
    copies_are_benchmark: bool = False
    reads_selection: bool = False

    @property
    def label(self) -> str:
        """The name with its aliases, for listings: ``gsm8k (gsm8k:test, gsm8k:train)``."""
        return self.name + (f" ({', '.join(self.aliases)})" if self.aliases else "")

    @property
    def task_label(self) -> str:
        """The task kind, or ``by gold`` where the data decides."""
        return self.task or "by gold"


SOURCES: Registry[DataSource] = Registry("data source")
"""Every data source by name (aliases are registered names of the same entry)."""


def register_source(source: DataSource, *, replace: bool = False) -> DataSource:
    """Register ``source`` under its name and aliases (what a plugin module calls at import).

    Raises:
        ValueError: a name is taken by another source (unless ``replace``), or is ``auto``/``math``
            (values ``eval --benchmark`` keeps for itself).
    """
    for name in (source.name, *source.aliases):
        if name.strip().lower() in (AUTO, "math"):
            raise ValueError(
                f"{name!r} cannot name a data source: it is a reserved value of data.format/benchmark"
            )
        SOURCES.register(name, source, replace=replace)
    return source


def unregister_source(name: str) -> None:
    """Remove a source and all its names (tests, plugins replacing a built-in)."""
    if name not in SOURCES:
        return
    source = SOURCES.get(name)
    for alias in (source.name, *source.aliases):
        SOURCES.unregister(alias)


def source_entries() -> list[DataSource]:
    """Each registered source once, by ``order`` (then registration)."""
    unique = list({id(s): s for _, s in SOURCES.items()}.values())
    return sorted(unique, key=lambda s: s.order)


def describe_sources() -> list[tuple[str, str, str]]:
    """``(name, task, description)`` per source, for ``pbrlsvr list sources``.

    ``task`` is ``math``, ``choice`` or ``by gold`` (decided by the data); aliases follow the
    name (``gsm8k (gsm8k:test, gsm8k:train)``).
    """
    return [(s.label, s.task_label, s.description) for s in source_entries()]


def known_names() -> list[str]:
    """Every registered name, aliases after their source's name, in listing order."""
    return [n for s in source_entries() for n in (s.name, *s.aliases)]


def check_source_name(value: str, *, extra: tuple[str, ...] = ()) -> str:
    """``value`` lower-cased when it is ``auto``, one of ``extra`` or a registered source.

    For config validators: an unknown name is a ``ValueError`` whose message names the closest
    known one and all of them.
    """
    key = value.strip().lower()
    if key in (AUTO, *extra) or key in SOURCES:
        return key
    from pbrlsvr.registry import did_you_mean

    known = [AUTO, *extra, *known_names()]
    near = did_you_mean(key, known)
    hint = f" (did you mean {near!r}?)" if near else ""
    known_text = ", ".join(repr(k) for k in known)
    raise ValueError(
        f"unknown data source {value!r}{hint}; expected one of {known_text} "
        f"(a plugin registers more: --plugin or {PLUGINS_ENV})"
    )


# --- where a source string points --------------------------------------------------------------

_HF_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


@dataclass(frozen=True)
class Location:
    """What ``data.source`` names: ``kind`` is ``name`` (a registered name, no such path), ``path``
    (an existing file or folder, or a path that does not exist), or ``hf`` (a Hub dataset id)."""

    kind: Literal["name", "path", "hf"]
    value: str
    path: Path

    @property
    def key(self) -> str:
        return self.value.lower()


def locate(source: str) -> Location:
    """Tell what a ``data.source`` string names (see :class:`Location`)."""
    text = source.strip()
    path = Path(text).expanduser()
    if text.lower().startswith("hf:"):
        return Location("hf", text[3:].strip(), path)
    if path.exists():
        return Location("path", text, path)
    if text.lower() in SOURCES:
        return Location("name", text.lower(), path)
    if _HF_ID.fullmatch(text) and path.suffix.lower() not in FILE_FORMATS:
        return Location("hf", text, path)
    return Location("path", text, path)


# --- resolution --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """The source that reads ``data.source``, and whether the source string named it (a registered
    name or one of its Hub ids) rather than a format or detection choosing it."""

    source: DataSource
    named: bool


def _named(loc: Location, allowed: Callable[[DataSource], bool], columns: bool) -> DataSource | None:
    """The source a registered name, or (without a column mapping) a source's Hub id, names."""
    hit: DataSource | None = None
    if loc.kind == "name" or (loc.kind == "hf" and not columns and loc.key in SOURCES):
        hit = SOURCES.get(loc.key)
    elif loc.kind == "hf" and not columns:
        hit = next((s for s in source_entries() if loc.key in (h.lower() for h in s.hf_ids)), None)
    return hit if hit is not None and allowed(hit) else None


def resolve_source(cfg: DataConfig, benchmark: str = AUTO) -> Resolved:
    """Which source reads ``cfg.source``.

    1. a registered name (when no file or folder has that name) or, without ``columns``, a Hub
       id a source lists (``openai/gsm8k``, ``hf:juletxara/mgsm``): that source;
    2. ``benchmark`` (evaluation), else ``cfg.format``, when it names a source: that source;
    3. an existing file or folder, without ``columns``: the first source whose ``detect`` says yes;
    4. the generic readers: a file by its extension (``jsonl``/``csv``/``parquet``), a Hub id
       (``hf``); a folder no source recognised is an error naming what it holds.

    ``benchmark: math`` is ``auto`` without the multiple-choice sources.

    Raises:
        ConfigError: ``benchmark`` or ``format`` names no registered source.
        DataError: ``cfg.source`` is no registered name, existing path or Hub id.
    """
    loc = locate(cfg.source)
    math_only = benchmark == "math"

    def allowed(s: DataSource) -> bool:
        return not (math_only and s.task == "choice")

    hit = _named(loc, allowed, bool(cfg.columns))
    if hit is not None:
        return Resolved(hit, True)
    explicit = benchmark if benchmark not in (AUTO, "math") else cfg.format
    if explicit != AUTO:
        return Resolved(SOURCES.get(explicit), False)
    if loc.kind == "path" and loc.path.exists():
        if not cfg.columns:
            for s in source_entries():
                if s.detect is not None and allowed(s) and s.detect(loc.path, cfg):
                    return Resolved(s, False)
        if loc.path.is_dir():
            raise folder_error(loc.path, AUTO)
        return Resolved(SOURCES.get(_table_format(loc.path)), False)
    if loc.kind == "hf":
        return Resolved(SOURCES.get("hf"), False)
    known = ", ".join(s.name for s in source_entries())
    from pbrlsvr.registry import did_you_mean

    near = did_you_mean(cfg.source.strip().lower(), SOURCES.names())
    hint = f" (did you mean {near!r}?)" if near else ""
    raise DataError(
        f"data source not found: {cfg.source!r} is not a built-in name or a registered data source{hint} "
        f"({known}), an existing file or folder, or a Hugging Face dataset id (owner/name or hf:owner/name)"
    )


def _table_format(path: Path) -> str:
    fmt = FILE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"{path}: cannot tell the format from the extension {path.suffix!r}: expected one of "
            f"{', '.join(sorted(FILE_FORMATS))}, or set data.format"
        )
    return {"json": "jsonl", "tsv": "csv"}.get(fmt, fmt)


def folder_error(path: Path, fmt: str) -> DataError:
    """A folder that ``fmt`` (or no detected source, for ``auto``) cannot read, naming what it holds."""
    names = sorted(p.name for p in path.iterdir() if p.is_file())
    shown = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
    layouts = "; ".join(f"{s.name}" for s in source_entries() if s.detect is not None)
    return DataError(
        f"cannot load the folder {path} as {fmt!r}: expected mgsm_<lang>.tsv, msvamp_<lang>.jsonl, "
        f"train_<lang>.jsonl or GSM8K <split>.jsonl files (or a single file as data.source), or the "
        f"layout of a source that recognises folders ({layouts}); it holds: {shown or 'nothing'}"
    )
