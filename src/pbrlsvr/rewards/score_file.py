"""Score a JSONL file of responses: the engine behind ``pbrlsvr score``.

Each input line is a JSON object with ``response``, ``lang``, ``reference`` and optionally
``reference_answer``, ``gold``, ``question``. Every input line, blank or broken ones included,
gets exactly one output line at the same position: the input object, unchanged, plus one field
named ``result_key`` (default ``"pbrlsvr"``) that holds what pbrlsvr says about the line::

    {...input..., "pbrlsvr": {"line": 3, "reward": 0.94, "components": {...}, "gate": 1.0,
                              "answer": "11", "note": null}}
    {...input..., "pbrlsvr": {"line": 4, "error": "unknown language code 'xx'; ..."}}
    {"pbrlsvr": {"line": 5, "error": "invalid JSON: Expecting value (column 1)"}}
    {"pbrlsvr": {"line": 6, "skipped": "blank line"}}

Why one namespaced field: results then never overwrite the user's data (GSM8K's own ``answer``
column stays the gold solution, an input ``note`` stays the user's). An input that already has
the field is refused for that line, naming it. Why every line: output line N belongs to input
line N, always, so files can be pasted side by side and a resume knows where it stopped.

Streaming: lines are read one at a time and scored in batches of ``batch_size`` valid items, so
time is linear and memory is bounded (by ``batch_size`` and ``max_line_bytes``) whatever mix of
good and bad lines the file holds; a line longer than ``max_line_bytes`` is an error without
ever being held in memory. A line that cannot be scored (bad JSON, invalid UTF-8, nesting too
deep, NaN/Infinity, duplicate keys, a missing field, an unknown language, a NUL or lone
surrogate in a scored field) costs only itself; if the reward itself raises on a batch, its items
are scored one by one so only the culprit fails.

Output goes to ``<output>.partial`` (with a ``<output>.partial.json`` fingerprint of the input and
the settings) and is renamed when complete: a killed run never leaves a file that looks finished.
Running the same command again resumes after the last complete line of the ``.partial``; a
``.partial`` made from another input or with other settings is refused unless ``force``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pbrlsvr import __version__
from pbrlsvr.errors import DataError, UnknownLanguageError
from pbrlsvr.io_checks import loads_strict, same_file
from pbrlsvr.rewards.reward import Reward, RewardItem, RewardResult

RESULT_KEY = "pbrlsvr"
"""Default name of the one output field that holds a line's result, error or skip reason."""

MAX_LINE_BYTES = 16 * 1024 * 1024
"""Default longest input line (bytes); a longer one is an error, read past without keeping it."""

MAX_LISTED_ERRORS = 100
"""Failed lines whose reason the report keeps (all failures are counted and in the output)."""

_BOM = b"\xef\xbb\xbf"
_FSYNC_EVERY_S = 1.0


@dataclass
class ScoreFileReport:
    """What happened, over the whole file (lines taken from a resumed ``.partial`` included).

    ``errors`` keeps the first :data:`MAX_LISTED_ERRORS` failed lines (number, reason) so a file of
    a million bad lines does not hold a million messages; ``failed`` counts them all.
    """

    lines: int = 0
    scored: int = 0
    failed: int = 0
    blank: int = 0
    resumed: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No line failed (blank lines are not failures)."""
        return self.failed == 0

    def _fail(self, number: int, reason: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append((number, reason))


class ScoreInterrupted(KeyboardInterrupt):
    """Scoring was interrupted (Ctrl-C, or SIGTERM turned into this by the CLI).

    The ``.partial`` output holds ``written`` complete lines; running the same command again
    resumes after them. A subclass of ``KeyboardInterrupt`` so callers that do not know it still
    stop as they would on Ctrl-C.
    """

    def __init__(self, written: int, partial: Path) -> None:
        super().__init__(f"interrupted after {written} lines")
        self.written = written
        self.partial = partial


# --- paths -------------------------------------------------------------------------------------


def partial_paths(output: Path) -> tuple[Path, Path]:
    """``(<output>.partial, <output>.partial.json)``: the unfinished output and its fingerprint."""
    return output.with_name(output.name + ".partial"), output.with_name(output.name + ".partial.json")


def check_paths(
    input_path: str | Path, output_path: str | Path, *, also_written: tuple[Path, ...] = ()
) -> None:
    """Refuse, before any work, paths that would fail late or destroy data.

    The input must be a readable file; the output must not be a folder, and neither it nor any
    file this run writes (``.partial``, its fingerprint, ``also_written``) may be the input, even
    through a symlink or a hard link: scoring in place would replace the user's lines.

    Raises:
        DataError: naming the path and what is wrong with it.
    """
    src, dst = Path(input_path), Path(output_path)
    if not src.exists():
        raise DataError(f"input file not found: {src}")
    if src.is_dir():
        raise DataError(f"input {src} is a folder; give a JSONL file")
    if dst.is_dir():
        raise DataError(f"output {dst} is an existing folder; give a file path (e.g. {dst / 'scored.jsonl'})")
    for target in (dst, *partial_paths(dst), *also_written):
        if same_file(src, target):
            raise DataError(
                f"output {target} is the input file; scoring in place would replace its lines: "
                "choose another output path"
            )
    parent = dst.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise DataError(f"cannot write {dst}: {parent} is a file, not a folder")


parse_json_line = loads_strict  # the name the service imported first; kept for callers


# --- reading -----------------------------------------------------------------------------------


def _read_lines(fh: IO[bytes], limit: int) -> Iterator[tuple[int, bytes | None, int]]:
    """``(line number, raw bytes without the newline, bytes read so far)`` per line, split on
    ``b"\\n"`` only (U+2028 inside a string is text). ``raw`` is ``None`` for a line over ``limit``
    bytes, which is read past in 1 MiB pieces and never held whole."""
    number = done = 0
    while True:
        raw = fh.readline(limit + 1)
        if not raw:
            return
        number += 1
        done += len(raw)
        if len(raw) > limit and not raw.endswith(b"\n"):
            while True:
                rest = fh.readline(1 << 20)
                done += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            yield number, None, done
            continue
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        yield number, raw, done


@dataclass
class _Line:
    number: int
    obj: dict[str, Any] | None = None
    item: RewardItem | None = None
    error: str | None = None
    skipped: str | None = None


def _classify(number: int, raw: bytes | None, reward: Reward, key: str, limit: int) -> _Line:
    """One input line → a valid item, an error, or a skip; never raises for bad input."""
    if raw is None:
        return _Line(number, error=f"line is longer than {limit} bytes (max_line_bytes)")
    if not raw.strip():
        return _Line(number, skipped="blank line")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _Line(number, error=f"invalid UTF-8 at byte {exc.start}")
    try:
        obj = loads_strict(text)
    except ValueError as exc:
        return _Line(number, error=str(exc))
    if not isinstance(obj, dict):
        return _Line(number, error=f"expected a JSON object, got {type(obj).__name__}")
    if key in obj:
        return _Line(
            number,
            error=f"the input has a field {key!r}, which is where the result goes; rename it, or set "
            "result_key to another name",
        )
    try:
        item = RewardItem.from_mapping(obj)
        reward.check_item(item)
    except (ValueError, UnknownLanguageError) as exc:
        return _Line(number, obj=obj, error=str(exc))
    return _Line(number, obj=obj, item=item)


# --- writing -----------------------------------------------------------------------------------


def _result_fields(res: RewardResult) -> dict[str, Any]:
    # Every key, every time: a stable schema for pandas/jq, with null where there is no answer/note.
    return {
        "reward": res.reward,
        "components": res.components,
        "gate": res.gate,
        "answer": res.answer,
        "note": res.note,
    }


def _encode(obj: dict[str, Any]) -> bytes:
    """One JSON line as UTF-8. A lone surrogate in a copied-through field is written escaped
    (``\\ud800``, as the input had it) instead of failing the write."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        return json.dumps(obj, ensure_ascii=True, allow_nan=False).encode("ascii") + b"\n"


def _render(line: _Line, res: RewardResult | None, key: str) -> tuple[bytes, str | None]:
    """The output line and, when the line failed, why (an output that cannot be written fails
    only its own line)."""
    if line.skipped is not None:
        return _encode({key: {"line": line.number, "skipped": line.skipped}}), None
    error = line.error
    if error is None and res is not None:
        try:
            return _encode({**(line.obj or {}), key: {"line": line.number, **_result_fields(res)}}), None
        except (ValueError, RecursionError) as exc:
            error = f"the input cannot be copied to the output: {type(exc).__name__}: {exc}"
    assert error is not None
    body = {key: {"line": line.number, "error": error}}
    if line.obj is not None:
        try:
            return _encode({**line.obj, **body}), error
        except (ValueError, RecursionError):
            pass
    return _encode(body), error


# --- resuming ----------------------------------------------------------------------------------


def score_settings(
    reward_config: Any, *, result_key: str = RESULT_KEY, max_line_bytes: int = MAX_LINE_BYTES
) -> dict[str, Any]:
    """What a ``.partial`` must have been made with to be resumed: the reward and the output
    options (``batch_size`` is not in it: batching does not change a score)."""
    dump = reward_config.model_dump(mode="json") if hasattr(reward_config, "model_dump") else reward_config
    return {
        "reward": dump,
        "result_key": result_key,
        "max_line_bytes": max_line_bytes,
        "version": __version__,
    }


def _fingerprint(src: Path, settings: Mapping[str, Any]) -> dict[str, Any]:
    st = src.stat()
    return {
        "input": str(src.resolve()),
        "input_size": st.st_size,
        "input_mtime_ns": st.st_mtime_ns,
        "settings": dict(settings),
    }


def check_resume(
    input_path: str | Path, output_path: str | Path, settings: Mapping[str, Any], *, force: bool = False
) -> bool:
    """Whether a ``.partial`` of ``output_path`` will be resumed; raises when it cannot be.

    Cheap (reads only the fingerprint), so the CLI calls it before loading the reward.

    Raises:
        DataError: the ``.partial`` was made from another input (or the input changed since) or
            with other settings, and ``force`` is not set; the message lists the differences.
    """
    from pbrlsvr.config import settings_diff

    partial, meta_path = partial_paths(Path(output_path))
    if force or not partial.exists():
        return False
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # no usable fingerprint: the .partial is started over (said in the report)
    wanted = json.loads(json.dumps(_fingerprint(Path(input_path), settings)))
    diff = settings_diff(meta, wanted) if isinstance(meta, dict) else ["<unreadable fingerprint>"]
    if diff:
        shown = "; ".join(diff[:5]) + (f"; and {len(diff) - 5} more" if len(diff) > 5 else "")
        raise DataError(
            f"{partial} is an unfinished run from another input or other settings ({shown}); "
            "run with --force (score.force) to discard it and start over, or restore them to resume"
        )
    return True


def _scan_partial(partial: Path, key: str, report: ScoreFileReport) -> tuple[int, int]:
    """Check the ``.partial`` line by line: ``(complete lines kept, byte offset after them)``.

    A line is kept when it is whole JSON whose ``key.line`` is its own line number; the first one
    that is not (a torn write, a crash mid-line) and everything after it are dropped.
    """
    kept = offset = 0
    with open(partial, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            try:
                obj = json.loads(raw)
                info = obj[key]
                if info["line"] != kept + 1:
                    break
            except (ValueError, KeyError, TypeError, RecursionError):
                break
            kept += 1
            offset += len(raw)
            if "error" in info:
                report._fail(kept, str(info["error"]))
            elif "skipped" in info:
                report.blank += 1
            else:
                report.scored += 1
    return kept, offset


# --- the engine --------------------------------------------------------------------------------


def score_jsonl(
    reward: Reward,
    input_path: str | Path,
    output_path: str | Path,
    *,
    batch_size: int = 64,
    result_key: str = RESULT_KEY,
    max_line_bytes: int = MAX_LINE_BYTES,
    force: bool = False,
    settings: Mapping[str, Any] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ScoreFileReport:
    """Score ``input_path`` into ``output_path`` (see the module docstring).

    Args:
        reward: the reward to apply.
        input_path: JSONL input (never written to).
        output_path: JSONL output (parent folders are created); refused when it is the input or
            a folder.
        batch_size: valid items scored per :meth:`Reward.score_batch` call.
        result_key: the output field that holds each line's result (it must not be an input field).
        max_line_bytes: a longer input line is an error (read past, never held in memory).
        force: discard an unfinished ``.partial`` made from another input or with other settings.
        settings: what a ``.partial`` must match to be resumed; default
            :func:`score_settings` of ``reward.config``.
        on_progress: called with (bytes read, total bytes) after each batch.

    Raises:
        DataError: bad paths (:func:`check_paths`), an unresumable ``.partial``
            (:func:`check_resume`), or the output cannot be written.
        ScoreInterrupted: on ``KeyboardInterrupt``; the ``.partial`` is kept for a resume.
    """
    src, dst = Path(input_path), Path(output_path)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not result_key:
        raise ValueError("result_key must be a non-empty field name")
    check_paths(src, dst)
    from pbrlsvr.outputs import hold_output

    # One writer per output (a second `score` on it is refused, naming the holder); the lock
    # file <output>.lock stays beside the output, empty of meaning once no run holds it.
    with hold_output(dst.with_name(dst.name + ".lock"), f"the score output {dst}"):
        return _score_locked(
            reward, src, dst, batch_size, result_key, max_line_bytes, force, settings, on_progress
        )


def _score_locked(
    reward: Reward,
    src: Path,
    dst: Path,
    batch_size: int,
    result_key: str,
    max_line_bytes: int,
    force: bool,
    settings: Mapping[str, Any] | None,
    on_progress: Callable[[int, int], None] | None,
) -> ScoreFileReport:
    """:func:`score_jsonl` once the output is this run's."""
    if settings is None:
        settings = score_settings(reward.config, result_key=result_key, max_line_bytes=max_line_bytes)
    resume = check_resume(src, dst, settings, force=force)
    partial, meta_path = partial_paths(dst)
    report = ScoreFileReport()
    skip = 0
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if resume:
            skip, offset = _scan_partial(partial, result_key, report)
            report.resumed = report.lines = skip
            out = open(partial, "r+b")  # noqa: SIM115 - closed in finally
            out.truncate(offset)
            out.seek(offset)
        else:
            if partial.exists():
                report.notes.append(
                    f"discarded an unfinished {partial.name} (no resume fingerprint, or --force)"
                )
            tmp = meta_path.with_name(meta_path.name + ".tmp")
            tmp.write_text(json.dumps(_fingerprint(src, settings), indent=1), encoding="utf-8")
            os.replace(tmp, meta_path)
            out = open(partial, "wb")  # noqa: SIM115 - closed in finally
    except OSError as exc:
        raise DataError(f"cannot write {dst}: {exc}") from None

    total = src.stat().st_size
    max_pending = max(256, 4 * batch_size)
    pending: list[_Line] = []
    n_items = 0
    written = skip
    last_sync = time.monotonic()
    internal_failures = 0

    def score(items: list[RewardItem]) -> list[RewardResult | str]:
        nonlocal internal_failures
        try:
            results: list[RewardResult | str] = list(reward.score_batch(items))
            if len(results) == len(items):
                return results
        except Exception:  # retried item by item below, so only the culprit fails
            pass
        out_: list[RewardResult | str] = []
        for item in items:
            try:
                out_.append(reward.score_batch([item])[0])
            except Exception as exc:  # a scorer bug on one item costs only that item
                out_.append(f"internal error while scoring this line: {type(exc).__name__}: {exc}")
                internal_failures += 1
        if internal_failures >= 2 * batch_size and report.scored == 0:
            # Nothing scores at all: the reward is broken, not the input; stop instead of writing
            # an error for every line of the file.
            raise RuntimeError(f"the reward failed on every item so far; the last: {out_[-1]}")
        return out_

    def flush(done: int) -> None:
        nonlocal n_items, written, last_sync
        results = iter(score([ln.item for ln in pending if ln.item is not None])) if n_items else iter(())
        chunk: list[bytes] = []
        for ln in pending:
            res = next(results) if ln.item is not None else None
            if isinstance(res, str):
                ln.error, res = res, None
            data, error = _render(ln, res, result_key)
            chunk.append(data)
            if error is not None:
                report._fail(ln.number, error)
            elif ln.skipped is not None:
                report.blank += 1
            else:
                report.scored += 1
        out.write(b"".join(chunk))
        out.flush()
        written += len(pending)
        pending.clear()
        n_items = 0
        now = time.monotonic()
        if now - last_sync >= _FSYNC_EVERY_S:
            os.fsync(out.fileno())
            last_sync = now
        if on_progress is not None:
            on_progress(done, total)

    try:
        with open(src, "rb") as fh:
            done = 0
            for number, raw, done in _read_lines(fh, max_line_bytes):
                if number <= skip:
                    continue
                report.lines += 1
                line = _classify(number, raw, reward, result_key, max_line_bytes)
                pending.append(line)
                n_items += line.item is not None
                if n_items >= batch_size or len(pending) >= max_pending:
                    flush(done)
            flush(done)
        out.flush()
        os.fsync(out.fileno())
    except KeyboardInterrupt:
        out.close()
        raise ScoreInterrupted(written, partial) from None
    except OSError as exc:
        out.close()
        raise DataError(f"cannot read {src} or write {dst}: {exc}") from None
    finally:
        if not out.closed:
            out.close()
    os.replace(partial, dst)
    meta_path.unlink(missing_ok=True)
    return report
