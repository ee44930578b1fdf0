"""Score a JSONL file of responses: the engine behind ``pbrlsvr score``.

Each input line is a JSON object with ``response``, ``lang``, ``reference`` and optionally
``reference_answer``, ``gold``, ``question``; any other fields are copied through. Each output line
is the input object plus ``reward``, ``components`` (and ``answer`` / ``note`` where there is one).
A line that cannot be scored (broken JSON, invalid UTF-8, a missing field, an unknown language)
becomes ``{"line": N, "error": "..."}`` at the same position, so output line N always belongs to
input line N, and every other line is still scored. The output is written to a ``.partial`` file
and renamed when complete: a killed run never leaves a file that looks finished.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pbrlsvr.errors import DataError, UnknownLanguageError
from pbrlsvr.rewards.reward import Reward, RewardItem


@dataclass
class ScoreFileReport:
    """What happened: lines read, scored, failed (line number, reason)."""

    lines: int = 0
    scored: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _lines(path: Path) -> Iterator[tuple[int, bytes, int]]:
    """(line number, raw bytes, bytes read so far); split on b"\\n" only (U+2028 is text)."""
    done = 0
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            done += len(raw)
            yield number, raw.rstrip(b"\r\n"), done


def _parse(raw: bytes, reward: Reward) -> tuple[dict[str, Any], RewardItem]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"invalid UTF-8 at byte {exc.start}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    try:
        item = RewardItem.from_mapping(obj)
    except UnknownLanguageError as exc:
        raise ValueError(str(exc)) from None
    reward.check_item(item)
    return obj, item


def score_jsonl(
    reward: Reward,
    input_path: str | Path,
    output_path: str | Path,
    *,
    batch_size: int = 64,
    on_progress: Callable[[int, int], None] | None = None,
) -> ScoreFileReport:
    """Score ``input_path`` into ``output_path`` (see the module docstring).

    Args:
        reward: the reward to apply.
        input_path: JSONL input.
        output_path: JSONL output (parent folders are created).
        batch_size: items scored per :meth:`Reward.score_batch` call.
        on_progress: called with (bytes read, total bytes) after each batch.

    Raises:
        DataError: the input file does not exist or the output cannot be written.
    """
    src, dst = Path(input_path), Path(output_path)
    if not src.is_file():
        raise DataError(f"input file not found: {src}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    total = src.stat().st_size
    partial = dst.with_name(dst.name + ".partial")
    report = ScoreFileReport()
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        out = open(partial, "w", encoding="utf-8")  # noqa: SIM115 - closed in finally
    except OSError as exc:
        raise DataError(f"cannot write {dst}: {exc}") from None
    pending: list[tuple[int, dict[str, Any] | None, RewardItem | None, str | None]] = []

    def flush(done: int) -> None:
        items = [item for _, _, item, _ in pending if item is not None]
        results = iter(reward.score_batch(items)) if items else iter(())
        for number, obj, item, error in pending:
            if item is None:
                out.write(json.dumps({"line": number, "error": error}, ensure_ascii=False) + "\n")
                continue
            res = next(results)
            out.write(json.dumps({**(obj or {}), **res.to_dict()}, ensure_ascii=False) + "\n")
            report.scored += 1
        out.flush()
        pending.clear()
        if on_progress is not None:
            on_progress(done, total)

    try:
        done = 0
        for number, raw, done in _lines(src):
            if not raw.strip():
                continue  # blank lines are not items
            report.lines += 1
            try:
                obj, item = _parse(raw, reward)
                pending.append((number, obj, item, None))
            except ValueError as exc:
                report.errors.append((number, str(exc)))
                pending.append((number, None, None, str(exc)))
            if sum(p[2] is not None for p in pending) >= batch_size:
                flush(done)
        flush(done)
    finally:
        out.close()
    os.replace(partial, dst)
    return report
