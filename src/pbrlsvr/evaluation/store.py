"""The append-only predictions file of an evaluation run, and resuming from it.

``<output>/predictions.jsonl`` holds one JSON object per evaluated ``(id, lang)``; each batch is
appended with one write, then flushed and ``fsync``-ed, so a killed run loses at most the batch
in flight. ``<output>/run.json`` records the run's fingerprint (model, data, prompt, decoding,
extractor, language-ID settings) and is written before the first prediction.

On resume:

* a last line without its newline (the write a SIGKILL interrupted) is cut off;
* a complete line that is not valid JSON is an error naming the line (the file was edited);
* a fingerprint that differs from the stored one is an error listing the differing settings,
  unless ``force`` — which deletes the predictions and reports and starts over;
* an advisory ``fcntl`` lock on ``<output>/.lock`` stops two runs from writing one folder.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pbrlsvr.config import settings_diff
from pbrlsvr.errors import ConfigError, DataError

PREDICTIONS = "predictions.jsonl"
RUN_FILE = "run.json"
OUTPUT_FILES = (
    PREDICTIONS,
    RUN_FILE,
    "report.json",
    "report.md",
    "config.yaml",
    "metrics.png",
    "accuracy.png",
)


METRIC_FIELDS: tuple[str, ...] = (
    "id",
    "lang",
    "gold",
    "extracted",
    "correct",
    "lang_share",
    "consistent",
    "finish_reason",
    "seconds",
    "completion_tokens",
)
"""The fields metrics are computed from (what resuming keeps in memory), with each prediction's
generation time and tokens so a report's timing covers every run that made its predictions."""


def slim(rec: Mapping[str, Any], fields: Sequence[str] = METRIC_FIELDS) -> dict[str, Any]:
    """Only ``fields`` of a record (prompts and responses are large; metrics do not need them)."""
    return {k: rec[k] for k in fields if k in rec}


def read_predictions(
    path: Path, *, repair: bool = False, fields: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The records of a predictions file, in file order (only ``fields`` of each, if given).

    A final line without a newline is a torn write: with ``repair`` it is cut from the file,
    otherwise it is ignored. A complete line that is not a JSON object is a :class:`DataError`.
    """
    if not path.is_file():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data) and repair:
        with path.open("r+b") as fh:
            fh.truncate(end)
            fh.flush()
            os.fsync(fh.fileno())
    records: list[dict[str, Any]] = []
    for number, raw in enumerate(data[:end].split(b"\n")[:-1], start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(
                f"{path}:{number}: not a valid prediction line ({exc}); fix or delete the line, or "
                "start over with --force"
            ) from None
        if not isinstance(rec, dict) or "id" not in rec or "lang" not in rec:
            raise DataError(f"{path}:{number}: a prediction line needs 'id' and 'lang'")
        records.append(rec if fields is None else slim(rec, fields))
    return records


def record_key(rec: Mapping[str, Any]) -> str:
    return f"{rec['id']}:{rec['lang']}"


class PredictionStore:
    """The predictions and run files of one output folder (see the module docstring).

    Use as a context manager: it holds the folder's lock while open.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder).expanduser()
        self.path = self.folder / PREDICTIONS
        self.run_path = self.folder / RUN_FILE
        self._lock: contextlib.ExitStack | None = None
        self._fh: Any = None

    def __enter__(self) -> PredictionStore:
        from pbrlsvr.outputs import hold_folder

        lock = contextlib.ExitStack()
        lock.enter_context(hold_folder(self.folder, f"another evaluation's output {self.folder}"))
        self._lock = lock
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # -- settings ----------------------------------------------------------------------------

    def check_or_start(self, fingerprint: str, settings: Mapping[str, Any], *, force: bool) -> None:
        """Make the folder belong to a run with ``fingerprint`` (see the module docstring)."""
        has_predictions = self.path.is_file() and self.path.stat().st_size > 0
        stored: dict[str, Any] | None = None
        if self.run_path.is_file():
            try:
                stored = json.loads(self.run_path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                stored = None
        if force:
            self.clear()
        elif stored is not None and stored.get("fingerprint") != fingerprint:
            diff = settings_diff(stored.get("settings", {}), settings)
            shown = "\n  - ".join(diff[:20]) or "(settings unreadable)"
            raise ConfigError(
                f"{self.folder} holds predictions made with other settings:\n  - {shown}\n"
                "use the same settings to resume, another --output, or --force to start over"
            )
        elif stored is None and has_predictions:
            raise ConfigError(
                f"{self.folder} has {PREDICTIONS} but no {RUN_FILE}, so its settings are unknown; "
                "use another --output or --force to start over"
            )
        if force or stored is None:
            payload = {"fingerprint": fingerprint, "settings": dict(settings)}
            tmp = self.run_path.with_suffix(".json.tmp")
            tmp.write_text(
                json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
            )
            os.replace(tmp, self.run_path)

    def clear(self) -> None:
        """Delete the predictions, run file, reports and plots of this folder."""
        for name in OUTPUT_FILES:
            (self.folder / name).unlink(missing_ok=True)

    # -- predictions -------------------------------------------------------------------------

    def load(self) -> dict[str, dict[str, Any]]:
        """Finished predictions by ``id:lang``, metric fields only (a torn last line is cut first)."""
        out: dict[str, dict[str, Any]] = {}
        for rec in read_predictions(self.path, repair=True, fields=METRIC_FIELDS):
            out.setdefault(record_key(rec), rec)
        return out

    def append(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Append records in one write, then flush and fsync; returns how many were written."""
        lines = [json.dumps(dict(r), ensure_ascii=False, default=str) + "\n" for r in records]
        if not lines:
            return 0
        if self._fh is None:
            self._fh = self.path.open("a", encoding="utf-8", newline="\n")
        self._fh.write("".join(lines))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        return len(lines)
