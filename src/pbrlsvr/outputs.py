"""Claiming an output before any work: writable, and one writer at a time.

**Writable.** :func:`writable_folder` / :func:`writable_file` fail with one line (exit code 2) when
an output names an existing file where a folder is needed (or the reverse) or lies on a read-only
or otherwise unwritable path, before a model is loaded: ``pivot -o ro/refs.jsonl`` used to fail
only after generating everything, and ``train``/``eval``/``experiment`` with a raw traceback.

**One writer.**
``train``, ``experiment``, ``score`` and ``eval`` write outputs that a second concurrent run would
interleave or overwrite (two ``train -o X`` both exited 0 with ``metrics.jsonl`` holding steps
1,1,2,2,3,3). Each holds ``fcntl.flock`` on a lock file beside its output for as long as it runs; a
second run is refused at once with one line naming the holder (its pid, command and start time,
which the holder writes into the lock file). A killed holder's lock is released by the kernel with
its file descriptors, so a crash never leaves a stale lock to clean up by hand. Where ``fcntl`` is
missing (Windows) runs are not serialised.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from pbrlsvr.errors import PbrlsvrError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class OutputBusyError(PbrlsvrError):
    """Another live run holds the output's lock."""


class OutputNotWritableError(PbrlsvrError):
    """The output cannot be written (a file where a folder is needed, a read-only place, ...)."""


def writable_folder(folder: Path, what: str) -> Path:
    """Create ``folder`` if needed and prove a file can be written in it; raise
    :class:`OutputNotWritableError` (one line) otherwise."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise OutputNotWritableError(f"{what} {folder} is a file, not a folder; choose another output")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".pbrlsvr-write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputNotWritableError(f"{what} {folder} cannot be written: {exc.strerror or exc}") from None
    return folder


def writable_file(path: Path, what: str) -> Path:
    """``path``'s folder is writable and ``path`` is not a folder; raise
    :class:`OutputNotWritableError` (one line) otherwise. Nothing is created at ``path`` itself."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputNotWritableError(f"{what} {path} is a folder, not a file; name a file")
    writable_folder(path.parent, f"the folder of {what}")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputNotWritableError(f"{what} {path} is not writable")
    return path


def _holder(lock_path: Path) -> str:
    try:
        info = json.loads(lock_path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    if not isinstance(info, dict) or "pid" not in info:
        return "another process"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info.get("since", 0))))
    return f"pid {info['pid']} ({info.get('command', '?')}, since {since})"


@contextlib.contextmanager
def hold_output(lock_path: Path, what: str) -> Iterator[None]:
    """Hold ``lock_path`` exclusively for the block, or raise :class:`OutputBusyError` naming the
    holder. ``what`` names the output in the message (``"the run folder runs/x"``)."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the block
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputBusyError(
                f"{what} is being written by {_holder(lock_path)}; wait for it to finish or choose another output"
            ) from None
        handle.seek(0)
        handle.truncate()
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200] if sys.argv else "python"
        handle.write(json.dumps({"pid": os.getpid(), "command": command, "since": time.time()}))
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock


def hold_folder(folder: Path, what: str) -> contextlib.AbstractContextManager[None]:
    """:func:`hold_output` on ``<folder>/.lock`` (the folder checked writable first)."""
    writable_folder(folder, what)
    return hold_output(Path(folder) / ".lock", what)
