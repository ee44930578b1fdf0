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


def _untimed(value: Any) -> Any:
    """``value`` without timing keys at any depth."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if not any(t in k for t in TIMING)}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _experiment_outputs(out: Path) -> tuple[list[dict[str, Any]], bytes, dict[str, list[str]]]:
    """The pbrlsvr arm's logged records (timings dropped), its adapter, and every arm's predictions."""
    arm = out / "exp" / "arms" / "pbrlsvr"
    lines = (arm / "train" / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    records = [_untimed(json.loads(x)) for x in lines]
    predictions = {}
    for path in sorted((out / "exp" / "arms").glob("*/eval_*/predictions.jsonl")):
        rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
        predictions[str(path.relative_to(out))] = [json.dumps(_untimed(r), sort_keys=True) for r in rows]
    return records, (arm / "train" / "final" / "adapter_model.safetensors").read_bytes(), predictions


def test_a_killed_experiment_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    """The issue's case: an experiment killed right after its pbrlsvr arm saved checkpoint-1 and
    resumed trains the same policy (every logged value, the adapter's bytes) and predicts the same."""
    full, killed = tmp_path / "full", tmp_path / "killed"
    full.mkdir()
    killed.mkdir()
    assert _run(full, "full", "experiment") == 0
    assert _run(killed, "kill-after-save", "1", "experiment") == 9
    assert _run(killed, "resume", "experiment") == 0
    want, got = _experiment_outputs(full), _experiment_outputs(killed)
    assert [r["step"] for r in got[0]] == [r["step"] for r in want[0]]
    for a, b in zip(want[0], got[0], strict=True):
        assert b == a, f"step {a['step']} differs after the kill"
    assert got[1] == want[1]
    assert got[2] == want[2] and got[2]
