"""The reference store: every pivot sample in one SQLite file, committed as soon as it arrives.

One row per sample, keyed by ``(pivot model name, prompt-template hash, sampling-settings hash,
problem id, sample index)`` (the :class:`KeySet` plus the problem and the index). The key is the
``PRIMARY KEY`` and rows are written with ``INSERT OR IGNORE`` inside one transaction per batch,
so:

* a process killed at any moment (``SIGKILL`` included) loses at most the batch it had not
  committed yet; SQLite's journal never leaves half a transaction or a broken row behind;
* re-running the same command finds the finished keys and generates only the missing ones;
* two writers on one file never duplicate a key (the second insert of a key is ignored) and never
  corrupt the file: the file is in WAL mode (readers never block the writer), and a writer waits
  up to ``busy_timeout`` seconds for another's lock, then fails with :class:`StoreLockedError`.

WAL needs a local file system (not NFS). ``synchronous=NORMAL``: a committed batch survives the
process being killed; only an operating-system crash or power loss can lose the last commits.

>>> store = ReferenceStore(":memory:")
>>> key = KeySet("pivot-model", "p0", "s0")
>>> store.add(key, [Sample("q-1", 0, "2 + 2 = 4. The answer is 4.", "4", "stop", "h")])
1
>>> store.count(key)
1
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pbrlsvr.errors import PbrlsvrError
from pbrlsvr.hashing import text_hash

SCHEMA_VERSION = 1
"""``PRAGMA user_version`` of the files this code writes; a newer file is refused."""

_CHUNK = 500  # ids per IN (...) query

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    model TEXT NOT NULL,
    prompt_hash TEXT NOT NULL,
    settings_hash TEXT NOT NULL,
    problem_id TEXT NOT NULL,
    sample_index INTEGER NOT NULL CHECK (sample_index >= 0),
    question_hash TEXT NOT NULL,
    text TEXT NOT NULL,
    answer TEXT,
    finish_reason TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    seconds REAL,
    meta TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (model, prompt_hash, settings_hash, problem_id, sample_index)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS key_sets (
    model TEXT NOT NULL,
    prompt_hash TEXT NOT NULL,
    settings_hash TEXT NOT NULL,
    prompt TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (model, prompt_hash, settings_hash)
) WITHOUT ROWID;
"""


class StoreError(PbrlsvrError):
    """The store file cannot be used (not a SQLite file, written by a newer version, ...)."""


class StoreLockedError(StoreError):
    """Another process held the store's write lock for longer than ``busy_timeout``."""


def question_hash(question: str) -> str:
    """Hash of an English question (whitespace normalised), stored with every sample.

    A resumed run checks it: the same problem id with a different question (another dataset
    reusing ids) must not silently reuse the old samples.
    """
    return text_hash(question)


@dataclass(frozen=True, order=True)
class KeySet:
    """The part of a sample's key shared by one pivot run: model, prompt template, sampling."""

    model: str
    prompt_hash: str
    settings_hash: str

    def __str__(self) -> str:
        return f"{self.model} (prompt {self.prompt_hash}, sampling {self.settings_hash})"


@dataclass(frozen=True)
class Sample:
    """One stored pivot sample (one completion of one problem's English prompt)."""

    problem_id: str
    index: int
    text: str
    answer: str | None
    finish_reason: str
    question_hash: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    seconds: float | None = None
    meta: dict[str, Any] | None = field(default=None, compare=False)
    created_at: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class KeySetInfo:
    """A key set found in a store, with how many samples and problems it holds."""

    key: KeySet
    samples: int
    problems: int
    prompt: dict[str, Any]
    settings: dict[str, Any]


class ReferenceStore:
    """A SQLite file of pivot samples (see the module docstring).

    Args:
        path: the file (created with its folder when missing), or ``":memory:"``.
        busy_timeout: seconds a write waits for another process's lock before
            :class:`StoreLockedError`.
        create: ``False`` refuses a missing file (exports read an existing store).

    One object is used from one thread; open one per process or thread.
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 60.0, create: bool = True) -> None:
        self.path = Path(path).expanduser() if str(path) != ":memory:" else Path(":memory:")
        self.busy_timeout = busy_timeout
        memory = str(path) == ":memory:"
        if not memory:
            if self.path.is_dir():
                raise StoreError(f"reference store {self.path} is a folder; give a file path")
            if not self.path.exists():
                if not create:
                    raise StoreError(f"reference store not found: {self.path}")
                self.path.parent.mkdir(parents=True, exist_ok=True)
            elif not create:
                # Reading only (pivot export): SQLite would happily turn an empty or unrelated
                # file into a new database; an existing store starts with SQLite's magic header.
                with open(self.path, "rb") as fh:
                    head = fh.read(16)
                if head != b"SQLite format 3\x00":
                    what = "an empty file" if not head else "not a SQLite file"
                    raise StoreError(
                        f"reference store {self.path} is {what}; nothing to read (left unchanged)"
                    )
        self._conn = sqlite3.connect(
            ":memory:" if memory else str(self.path), timeout=busy_timeout, isolation_level=None
        )
        try:
            # Two writers opening a new store at once can get SQLITE_BUSY *without* SQLite's busy
            # handler waiting (switching to WAL, or a read upgraded to a write, are answered at
            # once to avoid a deadlock): seen once in CI as a "locked" error on opening. Every
            # step below is idempotent, so it is retried until busy_timeout has passed.
            deadline = time.monotonic() + busy_timeout
            while True:
                try:
                    self._open(memory)
                    break
                except StoreLockedError:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(0.05)
        except BaseException:
            self._conn.close()
            raise

    def _open(self, memory: bool) -> None:
        with self._errors("opening"):
            self._conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            if not memory:
                mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"reference store {self.path}: cannot switch to WAL mode ({mode})")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._init_schema()

    # --- plumbing ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            text = str(exc).lower()
            if "locked" in text or "busy" in text:
                raise StoreLockedError(
                    f"reference store {self.path} is locked by another writer for more than "
                    f"{self.busy_timeout:g} s while {doing}; wait for it, or raise pivot.busy_timeout"
                ) from None
            raise StoreError(f"reference store {self.path}: {exc} (while {doing})") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"reference store {self.path} is not a usable SQLite file: {exc} (while {doing})"
            ) from None

    @contextlib.contextmanager
    def _write(self, doing: str) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` takes the write lock up front (waiting up to
        ``busy_timeout``), so a transaction never fails half-way on a lock upgrade."""
        with self._errors(doing):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _init_schema(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"reference store {self.path} has schema version {version}, newer than this "
                f"pbrlsvr's ({SCHEMA_VERSION}); upgrade pbrlsvr"
            )
        if version == SCHEMA_VERSION:
            return
        with self._write("creating the schema") as conn:
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if tables - {"samples", "key_sets"}:
                    raise StoreError(
                        f"{self.path} is a SQLite file of something else (tables: {', '.join(sorted(tables))})"
                    )
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ReferenceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -------------------------------------------------------------------------------

    def register(self, key: KeySet, prompt: dict[str, Any], settings: dict[str, Any]) -> None:
        """Record what a key set's hashes stand for (its prompt and sampling settings)."""
        with self._write("registering a key set") as conn:
            conn.execute(
                "INSERT OR IGNORE INTO key_sets VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key.model,
                    key.prompt_hash,
                    key.settings_hash,
                    json.dumps(prompt, ensure_ascii=False, sort_keys=True),
                    json.dumps(settings, ensure_ascii=False, sort_keys=True),
                    time.time(),
                ),
            )

    def add(self, key: KeySet, samples: Iterable[Sample]) -> int:
        """Insert samples in one transaction; keys already present are left as they are.

        Returns how many rows were inserted (the rest were already there).
        """
        now = time.time()
        rows = [
            (
                key.model,
                key.prompt_hash,
                key.settings_hash,
                s.problem_id,
                s.index,
                s.question_hash,
                s.text,
                s.answer,
                s.finish_reason,
                s.prompt_tokens,
                s.completion_tokens,
                s.seconds,
                None if s.meta is None else json.dumps(s.meta, ensure_ascii=False, sort_keys=True),
                s.created_at or now,
            )
            for s in samples
        ]
        if not rows:
            return 0
        with self._write("committing samples") as conn:
            before = conn.total_changes
            conn.executemany("INSERT OR IGNORE INTO samples VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            return conn.total_changes - before

    def delete(self, key: KeySet, problem_ids: Iterable[str] | None = None) -> int:
        """Delete a key set's samples (only those of ``problem_ids`` when given); returns how many."""
        with self._write("deleting samples") as conn:
            before = conn.total_changes
            if problem_ids is None:
                conn.execute(
                    "DELETE FROM samples WHERE model=? AND prompt_hash=? AND settings_hash=?",
                    (key.model, key.prompt_hash, key.settings_hash),
                )
            else:
                for chunk in _chunks(list(dict.fromkeys(problem_ids))):
                    conn.execute(
                        "DELETE FROM samples WHERE model=? AND prompt_hash=? AND settings_hash=? "
                        f"AND problem_id IN ({','.join('?' * len(chunk))})",
                        (key.model, key.prompt_hash, key.settings_hash, *chunk),
                    )
            return conn.total_changes - before

    # --- reading -------------------------------------------------------------------------------

    def _select(self, columns: str, key: KeySet, problem_ids: Sequence[str] | None) -> Iterator[tuple]:
        base = f"SELECT {columns} FROM samples WHERE model=? AND prompt_hash=? AND settings_hash=?"
        args: tuple[Any, ...] = (key.model, key.prompt_hash, key.settings_hash)
        with self._errors("reading"):
            if problem_ids is None:
                yield from self._conn.execute(base + " ORDER BY problem_id, sample_index", args)
                return
            for chunk in _chunks(list(dict.fromkeys(problem_ids))):
                yield from self._conn.execute(
                    base
                    + f" AND problem_id IN ({','.join('?' * len(chunk))}) ORDER BY problem_id, sample_index",
                    (*args, *chunk),
                )

    def index(self, key: KeySet, problem_ids: Sequence[str] | None = None) -> dict[str, dict[int, str]]:
        """``{problem id: {sample index: question hash}}`` of the stored samples (no texts read)."""
        out: dict[str, dict[int, str]] = {}
        for pid, idx, qhash in self._select("problem_id, sample_index, question_hash", key, problem_ids):
            out.setdefault(pid, {})[idx] = qhash
        return out

    def samples(self, key: KeySet, problem_ids: Sequence[str] | None = None) -> dict[str, list[Sample]]:
        """``{problem id: samples in index order}`` for a key set (all problems, or these)."""
        out: dict[str, list[Sample]] = {}
        columns = (
            "problem_id, sample_index, text, answer, finish_reason, question_hash, prompt_tokens, "
            "completion_tokens, seconds, meta, created_at"
        )
        for row in self._select(columns, key, problem_ids):
            meta = json.loads(row[9]) if row[9] else None
            out.setdefault(row[0], []).append(Sample(*row[:9], meta=meta, created_at=row[10]))
        return out

    def count(self, key: KeySet | None = None) -> int:
        """Samples stored (for one key set, or in all)."""
        with self._errors("counting"):
            if key is None:
                return self._conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
            return self._conn.execute(
                "SELECT COUNT(*) FROM samples WHERE model=? AND prompt_hash=? AND settings_hash=?",
                (key.model, key.prompt_hash, key.settings_hash),
            ).fetchone()[0]

    def key_sets(self) -> list[KeySetInfo]:
        """Every key set in the store (registered or holding samples), sorted."""
        with self._errors("listing key sets"):
            counts = {
                KeySet(m, p, s): (n, k)
                for m, p, s, n, k in self._conn.execute(
                    "SELECT model, prompt_hash, settings_hash, COUNT(*), COUNT(DISTINCT problem_id) "
                    "FROM samples GROUP BY model, prompt_hash, settings_hash"
                )
            }
            registered = {
                KeySet(r[0], r[1], r[2]): (json.loads(r[3]), json.loads(r[4]))
                for r in self._conn.execute(
                    "SELECT model, prompt_hash, settings_hash, prompt, settings FROM key_sets"
                )
            }
        keys = sorted(set(counts) | set(registered))
        out = []
        for k in keys:
            samples, problems = counts.get(k, (0, 0))
            prompt, settings = registered.get(k, ({}, {}))
            out.append(KeySetInfo(k, samples, problems, prompt, settings))
        return out

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``"ok"`` for a sound file."""
        with self._errors("checking integrity"):
            return self._conn.execute("PRAGMA integrity_check").fetchone()[0]


def _chunks(items: list[str], size: int = _CHUNK) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


__all__ = [
    "SCHEMA_VERSION",
    "KeySet",
    "KeySetInfo",
    "ReferenceStore",
    "Sample",
    "StoreError",
    "StoreLockedError",
    "question_hash",
]
