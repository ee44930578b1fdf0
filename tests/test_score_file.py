"""`pbrlsvr score` and the JSONL engine behind it: per-line errors, alignment, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pbrlsvr.cli import app
from pbrlsvr.config import RewardConfig
from pbrlsvr.errors import DataError
from pbrlsvr.rewards.reward import Reward
from pbrlsvr.rewards.score_file import score_jsonl
from tests.hash_encoder import HashEncoder
from tests.test_rewards_reward import REF, SW, SW_WRONG


@pytest.fixture(scope="module")
def reward() -> Reward:
    return Reward(RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder())


def _write(path: Path, lines: list[str | bytes]) -> Path:
    path.write_bytes(b"\n".join(x if isinstance(x, bytes) else x.encode() for x in lines) + b"\n")
    return path


def _item(response: str, **extra: object) -> str:
    return json.dumps({"response": response, "lang": "sw", "reference": REF, **extra}, ensure_ascii=False)


def test_every_line_is_scored_or_reported_in_place(tmp_path: Path, reward: Reward) -> None:
    src = _write(
        tmp_path / "in.jsonl",
        [
            _item(SW, id="a", extra={"keep": [1, 2]}),
            "{broken",
            _item(SW_WRONG, id="c"),
            json.dumps({"response": SW, "lang": "xx", "reference": REF}),
            b'{"response": "\xff\xfe", "lang": "sw", "reference": "r"}',
            json.dumps({"response": SW, "lang": "sw"}),
            "[1, 2]",
            "",
            _item("", id="h"),
        ],
    )
    out = tmp_path / "out" / "scored.jsonl"
    report = score_jsonl(reward, src, out, batch_size=2)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 8 == report.lines  # the blank line is not an item
    assert rows[0]["id"] == "a" and rows[0]["extra"] == {"keep": [1, 2]}  # fields copied through
    assert rows[0]["reward"] > rows[2]["reward"] + 0.05
    assert set(rows[0]["components"]) == {"semantic", "answer", "trace", "language", "format"}
    errors = dict(report.errors)
    assert "invalid JSON" in errors[2] and rows[1] == {"line": 2, "error": errors[2]}
    assert "unknown language code 'xx'" in errors[4]
    assert "invalid UTF-8" in errors[5]
    assert "missing field" in errors[6]
    assert "expected a JSON object" in errors[7]
    assert rows[7]["reward"] == 0.0 and rows[7]["note"] == "empty response"
    assert report.scored == 3 and not report.ok
    assert not (out.parent / "scored.jsonl.partial").exists()


def test_batching_does_not_change_scores(tmp_path: Path, reward: Reward) -> None:
    src = _write(tmp_path / "in.jsonl", [_item(t) for t in (SW, SW_WRONG, REF, "Jibu ni 11.")] * 3)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    score_jsonl(reward, src, a, batch_size=1)
    score_jsonl(reward, src, b, batch_size=64)
    assert a.read_text(encoding="utf-8") == b.read_text(encoding="utf-8")


def test_missing_input(tmp_path: Path, reward: Reward) -> None:
    with pytest.raises(DataError, match="not found"):
        score_jsonl(reward, tmp_path / "nope.jsonl", tmp_path / "out.jsonl")


@pytest.mark.integration
def test_cli_score_exit_codes_and_config(tmp_path: Path) -> None:
    runner = CliRunner()
    good = _write(tmp_path / "good.jsonl", [_item(SW), _item(SW_WRONG)])
    cfg = tmp_path / "reward.yaml"
    cfg.write_text("reward:\n  langs: [sw]\n  weights: {semantic: 0}\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["score", "-i", str(good), "-o", str(out), "-c", str(cfg)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["reward"] == 1.0 and rows[1]["reward"] < 0.7
    assert "semantic" not in rows[0]["components"]  # weight 0: not computed, not loaded
    assert (tmp_path / "out.jsonl.config.yaml").is_file()

    bad = _write(tmp_path / "bad.jsonl", [_item(SW), "{oops"])
    result = runner.invoke(app, ["score", "-i", str(bad), "-o", str(out), "-c", str(cfg)])
    assert result.exit_code == 1
    assert "line 2:" in result.output and "invalid JSON" in result.output

    result = runner.invoke(
        app, ["score", "-i", str(good), "-o", str(out), "--set", "reward.weights.answer=-1"]
    )
    assert result.exit_code == 2 and "reward.weights.answer = -1" in result.output
    result = runner.invoke(app, ["score", "-o", str(out)])
    assert result.exit_code == 2 and "--input" in result.output
