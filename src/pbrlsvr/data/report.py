"""Malformed-row reporting shared by every loader.

A loader meets a bad row (a TSV line with the wrong number of fields, a line that is not JSON,
invalid UTF-8, an empty question, an unknown language code, ...) and hands it to an
:class:`Issues` collector. Under ``on_error="raise"`` the collector raises :class:`DataError`
naming ``file:line`` and the reason at once; under ``on_error="skip"`` it records a
:class:`RowIssue`, logs it, and the loader goes on with the next row. The skipped rows end up in
:attr:`LoadReport.issues` and one :class:`DataWarning` summarises them.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pbrlsvr.data.problem import Problem
from pbrlsvr.errors import DataError

logger = logging.getLogger("pbrlsvr.data")

OnError = Literal["raise", "skip"]


class DataWarning(UserWarning):
    """Issued once per load when malformed rows were skipped (``on_error="skip"``)."""


@dataclass(frozen=True)
class RowIssue:
    """One malformed row (or file, where ``line`` is ``None``).

    Attributes:
        file: the file (or dataset id) it came from.
        line: 1-based line number in text files; 1-based row number where ``unit`` is ``"row"``
            (Parquet, Hugging Face datasets, JSON arrays); ``None`` for a whole-file problem.
        reason: what is wrong, in words.
        unit: ``"line"`` or ``"row"``.
    """

    file: str
    line: int | None
    reason: str
    unit: str = "line"

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.file}: {self.reason}"
        if self.unit == "line":
            return f"{self.file}:{self.line}: {self.reason}"
        return f"{self.file} {self.unit} {self.line}: {self.reason}"


class Issues:
    """Collects malformed rows under one policy (see the module docstring)."""

    def __init__(self, on_error: OnError = "raise") -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.on_error: OnError = on_error
        self.items: list[RowIssue] = []

    def add(self, file: str | Path, line: int | None, reason: str, *, unit: str = "line") -> None:
        """Report one bad row: raise :class:`DataError` or record it and return."""
        issue = RowIssue(str(file), line, reason, unit)
        if self.on_error == "raise":
            raise DataError(f"{issue} (set data.on_error=skip to skip malformed rows)")
        self.items.append(issue)
        logger.warning("skipped malformed row: %s", issue)

    def count_for(self, file: str | Path) -> int:
        return sum(1 for i in self.items if i.file == str(file))

    def first_for(self, file: str | Path) -> RowIssue | None:
        return next((i for i in self.items if i.file == str(file)), None)

    def check_file_not_empty(self, file: str | Path, n_rows: int) -> None:
        """A file that yields no valid row at all is an error even under ``skip``."""
        if n_rows:
            return
        bad = self.count_for(file)
        if bad:
            raise DataError(
                f"{file}: no valid rows ({bad} malformed, all skipped); first: {self.first_for(file)}"
            )
        raise DataError(f"{file}: the file holds no rows")

    def warn_summary(self, source: str, *, stacklevel: int = 3) -> None:
        """One :class:`DataWarning` naming how many rows were skipped and the first few."""
        if not self.items:
            return
        shown = "; ".join(str(i) for i in self.items[:3])
        more = f"; ... ({len(self.items) - 3} more)" if len(self.items) > 3 else ""
        warnings.warn(
            DataWarning(f"{source}: skipped {len(self.items)} malformed row(s): {shown}{more}"),
            stacklevel=stacklevel,
        )


@dataclass
class LoadReport:
    """What :func:`pbrlsvr.data.load_problems_with_report` loaded and what it skipped."""

    source: str
    problems: list[Problem] = field(default_factory=list)
    issues: list[RowIssue] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Problems per language, in the order the languages appear."""
        return dict(Counter(p.lang for p in self.problems))

    @property
    def ok(self) -> bool:
        """True when no row was skipped."""
        return not self.issues
