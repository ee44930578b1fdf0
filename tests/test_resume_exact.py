"""A killed and resumed `train` equals an uninterrupted one: every logged value (timings aside), the
adapter's bytes, the weight version and the run's train_loss, whatever the kill point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMING = ("time", "seconds", "per_second", "runtime", "sitting_train_loss")


def _run(out: Path, *args: str) -> int:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRL_EXPERIMENTAL_SILENCE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.resume_driver", str(out), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode not in (0, 9):
        raise AssertionError(f"driver {args} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.returncode


def _records(out: Path) -> list[dict[str, Any]]:
    """Every logged record, timing keys dropped (they differ between any two runs)."""
    lines = (out / "run" / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [{k: v for k, v in json.loads(x).items() if not any(t in k for t in TIMING)} for x in lines]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("full")
    assert _run(out, "full") == 0
    return out


@pytest.mark.parametrize(
    ("kill", "at"), [("kill-after-save", 2), ("kill-before-save", 3), ("kill-during-save", 2)]
)
def test_a_killed_run_resumes_to_the_uninterrupted_result(
    uninterrupted: Path, tmp_path: Path, kill: str, at: int
) -> None:
    assert _run(tmp_path, kill, str(at)) == 9
    assert _run(tmp_path, "resume") == 0
    expected, got = _records(uninterrupted), _records(tmp_path)
    assert [r["step"] for r in got] == [r["step"] for r in expected]  # no step lost or logged twice
    for want, have in zip(expected, got, strict=True):
        assert have == want, f"step {want['step']} differs after {kill} at {at}"
    adapter = Path("run") / "final" / "adapter_model.safetensors"
    assert (tmp_path / adapter).read_bytes() == (uninterrupted / adapter).read_bytes()
    versions = [r["rollout/weight_version"] for r in got if "loss" in r]
    assert versions == [0.0, 1.0, 2.0, 3.0]  # continues across the sittings
