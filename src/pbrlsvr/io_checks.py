"""Checks every reader and writer of user files shares, so hostile input fails the same way
everywhere: ``pbrlsvr score``, the service, the data loaders, ``pivot import``, the exports.

* :func:`loads_strict`: JSON as the standard defines it. Python's ``json`` also takes ``NaN``,
  ``Infinity``, numbers that overflow to ``inf`` and duplicate keys (keeping the last), and raises
  ``RecursionError`` on deep nesting; each of these becomes a ``ValueError`` saying what is wrong,
  so a caller can fail the one line or row instead of the whole run.
* :func:`find_unencodable`: a NUL or a lone surrogate anywhere in a parsed value (JSON's
  ``"\\ud800"`` escape makes one), which tokenizers and UTF-8 writers raise on much later.
* :func:`same_file` / :func:`check_output`: an output that is one of the inputs (through a
  symlink or hard link too) or an existing folder is refused before any work, so a command never
  replaces the file it reads.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pbrlsvr.errors import DataError

_UNENCODABLE = re.compile("[\x00\ud800-\udfff]")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not standard JSON (write null or a string)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range for a 64-bit float")
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key[:80]!r} in a JSON object (which value is meant?)")
            seen.add(key)
    return obj


def loads_strict(text: str | bytes) -> Any:
    """Parse standard JSON; ``ValueError("invalid JSON: ...")`` on anything else.

    Refused: syntax errors (with the column), NaN/Infinity, numbers beyond a 64-bit float,
    duplicate keys, nesting deeper than Python's recursion limit.
    """
    try:
        return json.loads(
            text, parse_constant=_no_constant, parse_float=_finite_float, object_pairs_hook=_object
        )
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise ValueError("invalid JSON: nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"invalid UTF-8 at byte {exc.start}") from None
    except ValueError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None


def find_unencodable(value: Any, name: str = "") -> str | None:
    """Why ``value`` (a parsed JSON value) cannot be used as text, or ``None``: the first NUL or
    lone surrogate in any string, named by its path (``question``, ``options[2]``)."""
    stack: list[tuple[str, Any]] = [(name, value)]
    while stack:
        where, v = stack.pop()
        if isinstance(v, str):
            m = _UNENCODABLE.search(v)
            if m is not None:
                ch = m.group()
                what = (
                    "a NUL character (U+0000)"
                    if ch == "\x00"
                    else f"a lone surrogate U+{ord(ch):04X} (not encodable as UTF-8)"
                )
                label = f"field {where!r}" if where else "the text"
                return f"{label} contains {what} at character {m.start()}"
        elif isinstance(v, dict):
            stack.extend((f"{where}.{k}" if where else str(k), x) for k, x in reversed(v.items()))
            stack.extend((f"{where}.<key>" if where else "<key>", k) for k in v)
        elif isinstance(v, list):
            stack.extend((f"{where}[{i}]", x) for i, x in reversed(list(enumerate(v))))
    return None


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (symlinks and hard links included)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.expanduser().resolve() == b.expanduser().resolve()


def check_output(output: str | Path, inputs: Iterable[str | Path | None], *, folder_ok: bool = False) -> None:
    """Refuse an output that is one of ``inputs`` or (unless ``folder_ok``) an existing folder.

    Raises:
        DataError: naming the output and why it is refused.
    """
    out = Path(output).expanduser()
    if out.is_dir() and not folder_ok:
        raise DataError(f"output {out} is an existing folder; give a file path")
    for src in inputs:
        if src is None:
            continue
        p = Path(src).expanduser()
        if p.exists() and same_file(p, out):
            raise DataError(
                f"output {out} is the input {p}; writing it would replace what is being read: "
                "choose another output path"
            )
