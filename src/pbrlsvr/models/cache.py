"""The on-disk cache of prepared (dequantized) models, written atomically and once.

Dequantizing a GGUF file takes from seconds (SmolLM2-135M) to minutes (Qwen2.5 0.5B ≈ 40-90 s on
two cores), while loading the same weights from a saved transformers folder takes a second or
two. So every GGUF is converted once into a normal Hugging Face folder under the user cache and
reused afterwards.

Guarantees:

* A folder is only used when it carries the marker file :data:`MARKER_NAME`, which is written
  last, inside a temporary sibling folder that is then renamed into place (one atomic rename on
  the same filesystem). A crash leaves at most a ``.<name>.tmp-*`` folder, never a half-written
  model at the final path.
* Two processes preparing the same model at once do the work once: the builder holds an
  exclusive ``fcntl.flock`` on ``.<name>.lock``; the other waits, then finds the folder ready.
  Where ``fcntl`` is missing (Windows) both may build, and the loser of the rename race throws
  its copy away.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import platformdirs

try:  # POSIX only; see the module docstring for the fallback.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

CACHE_ENV = "PBRLSVR_CACHE_DIR"
"""Environment variable that overrides the cache root (default: the platform's user cache dir)."""

MARKER_NAME = ".pbrlsvr-prepared.json"
"""Written last into a prepared folder; a folder without it is never used."""


def cache_root() -> Path:
    """The pbrlsvr cache root: ``$PBRLSVR_CACHE_DIR``, else ``platformdirs.user_cache_dir("pbrlsvr")``.

    Read on every call (not at import) so tests and the CLI can point it elsewhere at run time.
    """
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("pbrlsvr"))


def models_cache_dir() -> Path:
    """Where prepared models live: ``<cache root>/models``."""
    return cache_root() / "models"


def is_prepared(folder: Path) -> bool:
    """True when ``folder`` was completely written by :func:`build_once` (its marker exists)."""
    return (folder / MARKER_NAME).is_file()


def read_marker(folder: Path) -> dict[str, Any]:
    """The metadata stored in a prepared folder's marker (empty if missing or unreadable)."""
    try:
        data = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def _exclusive_lock(lock_path: Path, on_wait: Callable[[], None] | None) -> Iterator[bool]:
    """Hold an exclusive advisory lock on ``lock_path``; yields whether locking is available."""
    if fcntl is None:  # pragma: no cover - Windows
        yield False
        return
    with open(lock_path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _tmp_prefix(dest: Path) -> str:
    return f".{dest.name}.tmp-"


def _remove_leftovers(dest: Path) -> None:
    """Remove what a crashed earlier build left: temp folders, and ``dest`` if it has no marker.

    Only called while holding the lock, so nobody else is writing these paths.
    """
    for leftover in dest.parent.glob(_tmp_prefix(dest) + "*"):
        shutil.rmtree(leftover, ignore_errors=True)
    if dest.is_dir() and not is_prepared(dest):
        shutil.rmtree(dest, ignore_errors=True)
    elif dest.exists() and not dest.is_dir():
        dest.unlink()


def _new_dir(dest: Path, tag: str) -> Path:
    """A fresh uniquely named sibling of ``dest`` (``os.mkdir`` honours the umask, unlike mkdtemp)."""
    path = dest.parent / f"{_tmp_prefix(dest)}{tag}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    return path


def _share_like_folder(folder: Path) -> None:
    """Give the files the folder's permissions (umask-based), as some writers create them 0600.

    A cache shared by a team (``PBRLSVR_CACHE_DIR`` on a group drive) must stay readable.
    """
    file_mode = folder.stat().st_mode & 0o666
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            path.chmod(folder.stat().st_mode & 0o777 if path.is_dir() else file_mode)


def build_once(
    dest: Path,
    build: Callable[[Path, Path], Mapping[str, Any] | None],
    *,
    on_wait: Callable[[], None] | None = None,
) -> Path:
    """Make sure ``dest`` is a complete prepared folder, calling ``build`` only if it is not.

    ``build(out_dir, scratch_dir)`` writes the folder's content into ``out_dir`` and may use
    ``scratch_dir`` for intermediate files (an assembled GGUF), which is always deleted. Whatever
    mapping it returns is stored in the marker, with the creation time. On any exception the
    temporary folders are removed and the exception propagates; ``dest`` is left untouched.
    """
    if is_prepared(dest):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(dest.parent / f".{dest.name}.lock", on_wait) as locked:
        if is_prepared(dest):  # another process finished while we waited
            return dest
        if locked:
            _remove_leftovers(dest)
        out_dir = _new_dir(dest, "")
        scratch = _new_dir(dest, "scratch-")
        try:
            info = dict(build(out_dir, scratch) or {})
            shutil.rmtree(scratch, ignore_errors=True)
            _share_like_folder(out_dir)
            info.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            (out_dir / MARKER_NAME).write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
            try:
                os.rename(out_dir, dest)
            except OSError:
                if not is_prepared(dest):  # not a lost race: a real error
                    raise
                shutil.rmtree(out_dir, ignore_errors=True)
        except BaseException:
            shutil.rmtree(out_dir, ignore_errors=True)
            shutil.rmtree(scratch, ignore_errors=True)
            raise
    return dest
