"""The reference store under real processes: SIGKILL mid-run, then resume; two concurrent writers.

Each test runs ``tests/test_pivot_fakes.py`` (the pivot runner with a slow, deterministic fake
generator) in subprocesses. A fake writes one line to its count file per sample it generated.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pbrlsvr.data import load_problems
from pbrlsvr.pivot import PivotConfig, ReferenceStore, pivot_key_set, run_pivot
from tests.test_pivot_fakes import FakeGenerator

HELPER = Path(__file__).with_name("test_pivot_fakes.py")
PROBLEMS, SAMPLES, BATCH = 20, 3, 2
EXPECTED = PROBLEMS * SAMPLES

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


def _start(store: Path, count: Path, delay: float = 0.01) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, str(HELPER), "--store", str(store), "--count", str(count)]
    cmd += ["--delay", str(delay), "--limit", str(PROBLEMS), "--samples", str(SAMPLES), "--batch", str(BATCH)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _committed(store: Path) -> int:
    """Rows committed so far, read like any other reader would (0 before the table exists)."""
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _check_store(store: Path) -> int:
    """Integrity ok, every key at most once, only whole batches; returns the number of samples."""
    with ReferenceStore(store) as s:
        assert s.integrity_check() == "ok"
        key = pivot_key_set(PivotConfig(model="fake:pivot", samples=SAMPLES))
        index = s.index(key)
        n = s.count()
    assert n == sum(len(v) for v in index.values())  # one key set, no stray rows
    assert all(set(v) == set(range(SAMPLES)) for v in index.values())  # whole problems only
    with sqlite3.connect(store) as conn:
        dupes = conn.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM samples GROUP BY model, prompt_hash, settings_hash, "
            "problem_id, sample_index HAVING COUNT(*) > 1)"
        ).fetchone()[0]
    assert dupes == 0
    return n


def _finish(proc: subprocess.Popen[bytes], timeout: float = 60) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def test_sigkill_at_any_moment_then_resume_generates_exactly_the_missing(tmp_path: Path) -> None:
    store = tmp_path / "refs.sqlite"
    rng = random.Random(4)
    # 1) killed once a few batches are committed
    proc = _start(store, tmp_path / "count0")
    deadline = time.monotonic() + 30
    while _committed(store) < 2 * BATCH * SAMPLES and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    after_kill = _check_store(store)
    assert 2 * BATCH * SAMPLES <= after_kill < EXPECTED, "the kill came too late to test anything"
    assert after_kill % (BATCH * SAMPLES) == 0  # only whole batches were committed
    # 2) killed at random moments (start-up, mid-generation, mid-commit)
    for i in range(2):
        proc = _start(store, tmp_path / f"count{i + 1}")
        time.sleep(rng.uniform(0.05, 1.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        before = after_kill
        after_kill = _check_store(store)
        assert after_kill >= before
    # 3) the run that completes generates exactly what is missing, nothing twice
    missing = EXPECTED - after_kill
    final_count = tmp_path / "count-final"
    out = _finish(_start(store, final_count))
    assert _lines(final_count) == missing
    assert f"generated={missing} duplicates=0" in out
    assert _check_store(store) == EXPECTED
    # 4) and once complete, a rerun generates nothing
    idle = FakeGenerator()
    with ReferenceStore(store) as s:
        problems = load_problems("mgsm", langs=["en", "sw"], limit=PROBLEMS)
        report = run_pivot(problems, PivotConfig(model="fake:pivot", samples=SAMPLES), s, idle)
    assert (report.present_before, report.generated, idle.samples) == (EXPECTED, 0, 0)


def test_two_concurrent_writers_never_corrupt_or_duplicate(tmp_path: Path) -> None:
    store = tmp_path / "refs.sqlite"
    a = _start(store, tmp_path / "count-a", delay=0.004)
    b = _start(store, tmp_path / "count-b", delay=0.004)
    out_a, out_b = _finish(a), _finish(b)
    assert _check_store(store) == EXPECTED

    def field(out: str, name: str) -> int:
        return int(out.split(f"{name}=")[1].split()[0])

    # every key was inserted by exactly one of them; work done twice is counted, never stored twice
    assert field(out_a, "generated") + field(out_b, "generated") == EXPECTED
    generated = _lines(tmp_path / "count-a") + _lines(tmp_path / "count-b")
    assert generated == EXPECTED + field(out_a, "duplicates") + field(out_b, "duplicates")
