"""Low-level reading shared by the loaders: lines, JSONL records, numbers, language files, ids.

Text files are read as bytes and split on ``\\n`` only, then each line is decoded on its own, so
a line with invalid UTF-8 is reported with its own line number instead of failing the whole file,
and Unicode line separators inside a JSON string (GSM8K has ``\\u2028``) never split a record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pbrlsvr.data.report import Issues
from pbrlsvr.errors import DataError, UnknownLanguageError
from pbrlsvr.hashing import normalize_ws, text_hash
from pbrlsvr.io_checks import find_unencodable, loads_strict
from pbrlsvr.languages import normalize_lang

FILE_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv"}
FILE_FORMATS.update({".parquet": "parquet", ".pq": "parquet"})
"""A table file's parser by its name's ending (the generic readers, the benchmarks' local copies,
and ``auto`` telling a file from a Hub id)."""
TABLE_SUFFIXES = tuple(FILE_FORMATS)

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Line:
    """One non-blank line: its 1-based ``number``, its 0-based ``index`` among non-blank lines."""

    number: int
    index: int
    text: str


def read_bytes(path: Path) -> bytes:
    """The file's bytes; a missing or unreadable file is a :class:`DataError` naming it."""
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if not path.is_file():
        raise DataError(f"not a file: {path}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None


def iter_lines(path: Path, issues: Issues) -> Iterator[Line]:
    """Non-blank lines of a UTF-8 text file.

    ``index`` counts every non-blank line, the undecodable ones too, so a skipped line never
    shifts the ids of the lines after it (ids of parallel files stay aligned).
    """
    data = read_bytes(path)
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    index = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            issues.add(
                path,
                number,
                f"invalid UTF-8 (byte {raw[exc.start : exc.start + 1]!r} at column {exc.start + 1})",
            )
            index += 1
            continue
        yield Line(number, index, text)
        index += 1


def iter_jsonl(path: Path, issues: Issues) -> Iterator[tuple[Line, dict[str, Any]]]:
    """JSON objects, one per non-blank line; bad or non-standard JSON (:func:`loads_strict`),
    non-objects and text with a NUL or lone surrogate are reported, each for its own line."""
    for line in iter_lines(path, issues):
        try:
            record = loads_strict(line.text)
        except ValueError as exc:  # bad syntax, deep nesting, NaN/Infinity, duplicate keys
            issues.add(path, line.number, str(exc))
            continue
        if not isinstance(record, dict):
            issues.add(path, line.number, f"expected a JSON object, got {type(record).__name__}")
            continue
        unusable = find_unencodable(record)
        if unusable is not None:  # a lone surrogate or NUL would fail later, in a tokenizer
            issues.add(path, line.number, unusable)
            continue
        yield line, record


def peek_jsonl_keys(path: Path) -> set[str] | None:
    """Keys of the first decodable JSON object in the file (for format detection), else None."""
    try:
        with path.open("rb") as fh:
            for _ in range(20):
                raw = fh.readline()
                if not raw:
                    return None
                try:
                    record = loads_strict(raw.decode("utf-8-sig"))
                except ValueError:  # UnicodeDecodeError too; and deep nesting, NaN, ...
                    continue
                return set(record) if isinstance(record, dict) else None
    except OSError:
        return None
    return None


# --- numbers ----------------------------------------------------------------------------------

_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")
_PLAIN = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def canonical_number(value: Any) -> str | None:
    """The canonical string of a number, or ``None`` when ``value`` is not one.

    Thousands separators go (``"2,125"`` → ``"2125"``), integral values lose their decimals
    (``"8.0"`` → ``"8"``, ``70000`` → ``"70000"``), others are written plainly
    (``"0.50"`` → ``"0.5"``, ``"1e-3"`` → ``"0.001"``). A comma that is not a thousands
    separator (``"1,5"``) is not guessed at: the value is not a number.

    >>> canonical_number("2,125"), canonical_number("8.0"), canonical_number(" -3 "), canonical_number("B")
    ('2125', '8', '-3', None)
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    text = repr(value) if isinstance(value, float) else str(value)
    text = text.strip()
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    elif not _PLAIN.fullmatch(text):
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


# --- ids and text ------------------------------------------------------------------------------


def stable_hash(text: str, n: int = 12) -> str:
    """The id hash of generic rows without an id (sha1, 12 hex: ids written before stay the same)."""
    return text_hash(text, n, "sha1")


class DuplicateGuard:
    """Reports a second row with the same ``(id, lang)``: the unique key of a problem."""

    def __init__(self, issues: Issues) -> None:
        self._issues = issues
        self._seen: dict[tuple[str, str], str] = {}

    def ok(self, pid: str, lang: str, file: str | Path, line: int, *, unit: str = "line") -> bool:
        where = f"{file}:{line}" if unit == "line" else f"{file} {unit} {line}"
        first = self._seen.get((pid, lang))
        if first is not None:
            self._issues.add(
                file, line, f"duplicate id {pid!r} for language {lang!r} (first at {first})", unit=unit
            )
            return False
        self._seen[(pid, lang)] = where
        return True


# --- per-language files ------------------------------------------------------------------------


def lang_files(folder: Path, prefix: str, suffix: str, issues: Issues) -> dict[str, Path]:
    """``<prefix><lang><suffix>`` files in ``folder`` → ``{canonical lang: path}``, sorted by code.

    A file whose language part is not a known code is reported (as a whole-file issue).
    """
    if not folder.is_dir():
        raise DataError(f"data folder not found: {folder}")
    pattern = re.compile(re.escape(prefix) + r"(?P<lang>[^.]+)" + re.escape(suffix) + r"$")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        m = pattern.fullmatch(path.name)
        if not m or not path.is_file():
            continue
        try:
            code = normalize_lang(m.group("lang"))
        except UnknownLanguageError as exc:
            issues.add(path, None, f"file name has {exc}")
            continue
        if code in found:
            issues.add(path, None, f"a second file for language {code!r} (first: {found[code].name})")
            continue
        found[code] = path
    return dict(sorted(found.items()))


_NAME_LANG = re.compile(r"(?P<name>.+?)[_.-](?P<lang>[A-Za-z]{2,3}(?:[_-][A-Za-z]{4})?)")


def _lang(code: str) -> str | None:
    try:
        return normalize_lang(code)
    except UnknownLanguageError:
        return None


def name_and_lang(stem: str) -> tuple[str, str | None]:
    """``probs_de`` → (``probs``, ``de``), ``mmlu-prox-swh_Latn`` → (``mmlu-prox``, ``sw``); a stem
    without a language suffix → (stem, None)."""
    m = _NAME_LANG.fullmatch(stem)
    lang = _lang(m.group("lang")) if m else None
    return (m.group("name"), lang) if m and lang else (stem, None)


def lang_from_name(path: str | Path, prefix: str = "", suffix: str = "") -> str | None:
    """The language a file (or folder) name gives, or None: the one place names are read for it.

    With ``prefix``/``suffix``: the name must be exactly ``<prefix><lang><suffix>``
    (``mgsm_sw.tsv``; what format detection asks). Without: the stem is a code (``sw.jsonl``,
    a ``sw/`` folder) or ends in one after ``_``, ``-`` or ``.`` (``test_sw.jsonl``,
    ``mmlu-prox-sw.parquet``, ``probs_swh_Latn.csv``).
    """
    name = Path(path).name
    if prefix or suffix:
        if not (name.startswith(prefix) and name.endswith(suffix)) or len(name) <= len(prefix) + len(suffix):
            return None
        return _lang(name[len(prefix) : len(name) - len(suffix)])
    stem = Path(name).stem
    return _lang(stem) or name_and_lang(stem)[1]


def missing_value(value: Any) -> bool:
    """None, NaN (a Parquet/CSV empty cell) or blank text: a cell with nothing in it."""
    return (
        value is None
        or (isinstance(value, float) and value != value)
        or (isinstance(value, str) and not value.strip())
    )


def select_langs(available: dict[str, Path], langs: list[str] | None, what: str) -> dict[str, Path]:
    """Keep the requested languages (in request order); one not available is a DataError."""
    if langs is None:
        return available
    missing = [lang for lang in langs if lang not in available]
    if missing:
        raise DataError(
            f"{what} has no file for language(s) {', '.join(missing)}; "
            f"available: {', '.join(available) or 'none'}"
        )
    return {lang: available[lang] for lang in langs}


# --- parallel files ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParallelRow:
    """A row of a parallel dataset (MGSM, MSVAMP), where row ``index`` of every language's file is
    the same problem and its id."""

    index: int  # 0-based position among the file's rows: the parallel id
    number: int  # 1-based line (file) or row (HF table) number, for messages
    question: str
    gold: str


def parallel_mismatch(
    english: Mapping[int, ParallelRow] | None,
    lang: str,
    index: int,
    gold: str,
    *,
    query: str | None = None,
) -> tuple[ParallelRow | None, str | None]:
    """Check a row against the English row with the same index (the same parallel id).

    Returns the English row (``None`` when there is none) and what disagrees with it: ``"gold"``
    (the gold answers differ), ``"English query"`` (the row's own English ``query`` differs from
    the English question, whitespace aside; checked only when ``query`` is given), or ``None``.
    English rows and rows without an English counterpart are not checked. A disagreement means
    the language files are not in the same order: the caller reports the row and skips it.
    """
    en = english.get(index) if english is not None else None
    if en is None or lang == "en":
        return en, None
    if en.gold != gold:
        return en, "gold"
    if query is not None and normalize_ws(query) != normalize_ws(en.question):
        return en, "English query"
    return en, None


def locate_lang_files(
    path: str | Path | None,
    packaged: Path,
    prefix: str,
    suffix: str,
    *,
    name: str,
    langs: list[str] | None,
    issues: Issues,
) -> tuple[Path, dict[str, Path]]:
    """The folder and ``{lang: file}`` of a per-language dataset (MGSM, MSVAMP).

    ``path`` is None (the packaged copy in ``packaged``), one ``<prefix><lang><suffix>`` file, or a
    folder of them; ``langs`` selects and orders them (:func:`select_langs`). ``name`` labels the
    errors (``MGSM``) and the packaged source (lower-cased).
    """
    if path is None:
        return packaged, select_langs(lang_files(packaged, prefix, suffix, issues), langs, name.lower())
    target = Path(path).expanduser()
    if target.is_file():
        lang = lang_from_name(target, prefix, suffix)
        if lang is None:
            raise DataError(
                f"{target}: expected a file named {prefix}<lang>{suffix} with a known language code"
            )
        return target.parent, select_langs({lang: target}, langs, str(target))
    if target.is_dir():
        found = lang_files(target, prefix, suffix, issues)
        if not found:
            raise DataError(f"no {prefix}<lang>{suffix} files in {target}")
        return target, select_langs(found, langs, str(target))
    raise DataError(f"{name} data not found: {target}")
