"""`pbrlsvr score` and the JSONL engine behind it: one output line per input line, results that
never overwrite input fields, paths that are refused before any work, resume after a kill."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pbrlsvr.cli import app
from pbrlsvr.errors import DataError
from pbrlsvr.rewards.config import RewardConfig
from pbrlsvr.rewards.reward import Reward, RewardItem
from pbrlsvr.rewards.score_file import ScoreInterrupted, partial_paths, score_jsonl
from tests.hash_encoder import HashEncoder
from tests.test_rewards_reward import REF, SW, SW_WRONG

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reward() -> Reward:
    return Reward(RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder())


def _write(path: Path, lines: list[str | bytes]) -> Path:
    path.write_bytes(b"\n".join(x if isinstance(x, bytes) else x.encode() for x in lines) + b"\n")
    return path


def _item(response: str, **extra: object) -> str:
    """One JSONL line; a lone surrogate is written as its JSON escape, as any real file holds it."""
    obj = {"response": response, "lang": "sw", "reference": REF, **extra}
    text = json.dumps(obj, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(obj)
    return text


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_line_gets_one_output_line_in_place(tmp_path: Path, reward: Reward) -> None:
    src = _write(
        tmp_path / "in.jsonl",
        [
            _item(SW, id="a", extra={"keep": [1, 2]}),
            "{broken",
            _item(SW_WRONG, id="c"),
            json.dumps({"response": SW, "lang": "xx", "reference": REF, "id": "d"}),
            b'{"response": "\xff\xfe", "lang": "sw", "reference": "r"}',
            json.dumps({"response": SW, "lang": "sw"}),
            "[1, 2]",
            "",
            _item("", id="h"),
            "   ",
        ],
    )
    out = tmp_path / "out" / "scored.jsonl"
    report = score_jsonl(reward, src, out, batch_size=2)
    rows = _rows(out)
    assert len(rows) == 10 == report.lines  # blank lines included: line N is line N
    assert [r["pbrlsvr"]["line"] for r in rows] == list(range(1, 11))
    assert rows[0]["id"] == "a" and rows[0]["extra"] == {"keep": [1, 2]}  # fields copied through
    res = rows[0]["pbrlsvr"]
    assert res["reward"] > rows[2]["pbrlsvr"]["reward"] + 0.05
    assert set(res) == {"line", "reward", "components", "gate", "answer", "note"}  # a stable schema
    assert set(res["components"]) == {"semantic", "answer", "trace", "language", "format"}
    errors = dict(report.errors)
    assert "invalid JSON" in errors[2] and rows[1] == {"pbrlsvr": {"line": 2, "error": errors[2]}}
    assert "unknown language code 'xx'" in errors[4] and rows[3]["id"] == "d"  # parsed input kept
    assert "invalid UTF-8" in errors[5]
    assert "missing field" in errors[6]
    assert "expected a JSON object" in errors[7]
    assert rows[7] == {"pbrlsvr": {"line": 8, "skipped": "blank line"}}
    assert rows[9]["pbrlsvr"]["skipped"] == "blank line"
    assert rows[8]["pbrlsvr"]["reward"] == 0.0 and rows[8]["pbrlsvr"]["note"] == "empty response"
    assert (report.scored, report.failed, report.blank) == (3, 5, 2) and not report.ok
    assert not partial_paths(out)[0].exists() and not partial_paths(out)[1].exists()


def test_results_never_overwrite_input_fields(tmp_path: Path, reward: Reward) -> None:
    # GSM8K rows carry their own `answer`; users keep a `note` or a `reward` column of their own.
    src = _write(
        tmp_path / "in.jsonl",
        [
            _item(SW, answer="#### 11", note="mine", reward="human: good", components=[1]),
            _item(SW, pbrlsvr={"old": 1}),
        ],
    )
    out = tmp_path / "out.jsonl"
    report = score_jsonl(reward, src, out)
    first, second = _rows(out)
    assert (first["answer"], first["note"], first["reward"], first["components"]) == (
        "#### 11",
        "mine",
        "human: good",
        [1],
    )
    assert first["pbrlsvr"]["answer"] == "11" and first["pbrlsvr"]["note"] is None
    assert second == {"pbrlsvr": {"line": 2, "error": report.errors[0][1]}}
    assert "field 'pbrlsvr'" in report.errors[0][1] and "result_key" in report.errors[0][1]
    # Another result_key scores that line, keeping its old field.
    out2 = tmp_path / "out2.jsonl"
    assert score_jsonl(reward, src, out2, result_key="pbrlsvr_v2").ok
    assert _rows(out2)[1]["pbrlsvr"] == {"old": 1} and "reward" in _rows(out2)[1]["pbrlsvr_v2"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (_item("Jibu ni 11 \ud800"), "lone surrogate U+D800"),
        (_item("Jibu\u0000 ni 11"), "NUL character"),
        ("[" * 100_000, "nested too deeply"),
        ('{"response": "Jibu ni 11.", "lang": "sw", "reference": "r", "x": NaN}', "NaN is not standard JSON"),
        ('{"response": "Jibu ni 11.", "lang": "sw", "reference": "r", "x": -Infinity}', "-Infinity"),
        ('{"response": "Jibu ni 11.", "lang": "sw", "reference": "r", "x": 1e999}', "out of range"),
        ('{"response": "Jibu ni 11.", "lang": "sw", "lang": "en", "reference": "r"}', "duplicate key 'lang'"),
        (_item("Jibu ni 11.", x="NaN", y=1e308), None),  # a control: the string "NaN" is fine
    ],
)
def test_one_hostile_line_costs_only_itself(
    tmp_path: Path, reward: Reward, line: str, reason: str | None
) -> None:
    src = _write(tmp_path / "in.jsonl", [_item(SW, id=1), line, _item(SW_WRONG, id=3)])
    before = _digest(src)
    out = tmp_path / "out.jsonl"
    report = score_jsonl(reward, src, out, batch_size=64)
    rows = _rows(out)
    assert len(rows) == 3 and _digest(src) == before
    alone = [reward.score_batch([RewardItem.from_mapping(json.loads(_item(t)))])[0] for t in (SW, SW_WRONG)]
    assert rows[0]["pbrlsvr"]["reward"] == alone[0].reward and rows[2]["pbrlsvr"]["reward"] == alone[1].reward
    if reason is None:
        assert report.ok
    else:
        assert report.failed == 1 and reason in rows[1]["pbrlsvr"]["error"]


def test_a_lone_surrogate_in_a_copied_field_is_kept_escaped(tmp_path: Path, reward: Reward) -> None:
    src = _write(tmp_path / "in.jsonl", [_item(SW, tag="a\ud800b")])
    out = tmp_path / "out.jsonl"
    assert score_jsonl(reward, src, out).ok
    raw = out.read_bytes()
    raw.decode("utf-8")  # the output is valid UTF-8
    assert json.loads(raw)["tag"] == "a\ud800b"  # and the field survives, as the input had it


def test_an_overlong_line_is_an_error_and_never_read_whole(tmp_path: Path, reward: Reward) -> None:
    src = _write(tmp_path / "in.jsonl", [_item(SW), _item("x" * 5000), _item(SW_WRONG)])
    out = tmp_path / "out.jsonl"
    report = score_jsonl(reward, src, out, max_line_bytes=2048)
    rows = _rows(out)
    assert [r["pbrlsvr"]["line"] for r in rows] == [1, 2, 3]
    assert "longer than 2048 bytes" in rows[1]["pbrlsvr"]["error"]
    assert "reward" in rows[2]["pbrlsvr"] and report.failed == 1


def test_batching_does_not_change_scores(tmp_path: Path, reward: Reward) -> None:
    src = _write(tmp_path / "in.jsonl", [_item(t) for t in (SW, SW_WRONG, REF, "Jibu ni 11.")] * 3)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    score_jsonl(reward, src, a, batch_size=1)
    score_jsonl(reward, src, b, batch_size=64)
    assert a.read_text(encoding="utf-8") == b.read_text(encoding="utf-8")


def test_a_scorer_bug_on_one_item_fails_only_that_line(tmp_path: Path) -> None:
    reward = Reward(RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder())
    real = reward.score_batch

    def flaky(items: Any) -> Any:
        if any("BOOM" in it.response for it in items):
            raise RuntimeError("encoder exploded")
        return real(items)

    reward.score_batch = flaky  # type: ignore[method-assign]
    src = _write(tmp_path / "in.jsonl", [_item(SW), _item("BOOM 11"), _item(SW_WRONG)])
    out = tmp_path / "out.jsonl"
    report = score_jsonl(reward, src, out)
    rows = _rows(out)
    assert "encoder exploded" in rows[1]["pbrlsvr"]["error"] and report.failed == 1
    assert rows[0]["pbrlsvr"]["reward"] == real([RewardItem.from_mapping(json.loads(_item(SW)))])[0].reward


def test_a_reward_that_fails_on_everything_stops_the_run(tmp_path: Path) -> None:
    reward = Reward(RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder())

    def broken(items: Any) -> Any:
        raise RuntimeError("no encoder")

    reward.score_batch = broken  # type: ignore[method-assign]
    src = _write(tmp_path / "in.jsonl", [_item(SW)] * 50)
    with pytest.raises(RuntimeError, match="failed on every item"):
        score_jsonl(reward, src, tmp_path / "out.jsonl", batch_size=4)


# --- paths ---------------------------------------------------------------------------------------


def test_output_onto_input_is_refused_and_input_kept(tmp_path: Path, reward: Reward) -> None:
    src = _write(tmp_path / "in.jsonl", [_item(SW), "{broken"])
    before = _digest(src)
    (tmp_path / "link.jsonl").symlink_to(src)
    os.link(src, tmp_path / "hard.jsonl")
    for dst in (src, tmp_path / "." / "in.jsonl", tmp_path / "link.jsonl", tmp_path / "hard.jsonl"):
        with pytest.raises(DataError, match="is the input file"):
            score_jsonl(reward, src, dst)
    odd = _write(tmp_path / "x.jsonl.partial", [_item(SW)])
    with pytest.raises(DataError, match="is the input file"):  # its .partial would be the input
        score_jsonl(reward, odd, tmp_path / "x.jsonl")
    assert _digest(src) == before and not (tmp_path / "in.jsonl.partial").exists()


def test_bad_paths_are_refused_before_any_work(tmp_path: Path, reward: Reward) -> None:
    src = _write(tmp_path / "in.jsonl", [_item(SW)])
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataError, match="existing folder"):
        score_jsonl(reward, src, tmp_path / "folder")
    assert list((tmp_path / "folder").iterdir()) == [] and not (tmp_path / "folder.partial").exists()
    with pytest.raises(DataError, match="not found"):
        score_jsonl(reward, tmp_path / "nope.jsonl", tmp_path / "out.jsonl")
    with pytest.raises(DataError, match="is a folder"):
        score_jsonl(reward, tmp_path / "folder", tmp_path / "out.jsonl")
    with pytest.raises(DataError, match="is a file, not a folder"):
        score_jsonl(reward, src, tmp_path / "in.jsonl" / "out.jsonl")


# --- resume --------------------------------------------------------------------------------------


class _Interrupting:
    """Wraps a reward: counts the items it scores, raises KeyboardInterrupt on batch ``stop_at``."""

    def __init__(self, reward: Reward, stop_at: int | None = None) -> None:
        self.reward, self.stop_at, self.batches, self.items = reward, stop_at, 0, 0
        self.config = reward.config

    def check_item(self, item: RewardItem) -> None:
        self.reward.check_item(item)

    def score_batch(self, items: Any) -> Any:
        self.batches += 1
        if self.batches == self.stop_at:
            raise KeyboardInterrupt
        self.items += len(items)
        return self.reward.score_batch(items)


def _mixed(n: int) -> list[str | bytes]:
    lines: list[str | bytes] = []
    for i in range(n):
        lines.append(
            [_item(SW, i=i), _item(SW_WRONG, i=i), "{bad", "", _item("Jibu ni 11 \ud800", i=i)][i % 5]
        )
    return lines


def test_interrupted_run_resumes_without_losing_or_redoing_lines(tmp_path: Path, reward: Reward) -> None:
    src = _write(tmp_path / "in.jsonl", _mixed(100))
    clean = tmp_path / "clean.jsonl"
    score_jsonl(reward, src, clean, batch_size=4)
    out = tmp_path / "out.jsonl"
    first = _Interrupting(reward, stop_at=5)
    with pytest.raises(ScoreInterrupted) as info:
        score_jsonl(first, src, out, batch_size=4)  # type: ignore[arg-type]
    partial = partial_paths(out)[0]
    assert info.value.partial == partial and not out.exists()
    kept = len(partial.read_bytes().splitlines())
    assert kept == info.value.written > 0
    second = _Interrupting(reward)
    report = score_jsonl(second, src, out, batch_size=4)  # type: ignore[arg-type]
    assert out.read_bytes() == clean.read_bytes()  # nothing lost, nothing twice, same order
    assert report.resumed == kept and report.lines == 100
    assert first.items + second.items == 40  # each of the 40 valid items scored exactly once
    assert (report.scored, report.failed, report.blank) == (40, 40, 20)


def test_a_torn_partial_is_cut_back_to_its_last_whole_line(tmp_path: Path, reward: Reward) -> None:
    src = _write(tmp_path / "in.jsonl", _mixed(30))
    clean = tmp_path / "clean.jsonl"
    score_jsonl(reward, src, clean, batch_size=4)
    out = tmp_path / "out.jsonl"
    with pytest.raises(ScoreInterrupted):
        score_jsonl(_Interrupting(reward, stop_at=3), src, out, batch_size=4)  # type: ignore[arg-type]
    partial = partial_paths(out)[0]
    whole = partial.read_bytes()
    with open(partial, "ab") as fh:  # a crash mid-write: half of the next line, then garbage
        fh.write(clean.read_bytes()[len(whole) :][:25])
    score_jsonl(reward, src, out, batch_size=4)
    assert out.read_bytes() == clean.read_bytes()


def test_a_partial_from_other_settings_or_input_is_refused_unless_forced(
    tmp_path: Path, reward: Reward
) -> None:
    src = _write(tmp_path / "in.jsonl", _mixed(30))
    out = tmp_path / "out.jsonl"
    with pytest.raises(ScoreInterrupted):
        score_jsonl(_Interrupting(reward, stop_at=3), src, out, batch_size=4)  # type: ignore[arg-type]
    other = Reward(
        RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}, gate_low=0.5), encoder=HashEncoder()
    )
    with pytest.raises(DataError, match=r"other settings.*gate_low.*--force"):
        score_jsonl(other, src, out)
    _write(src, _mixed(31))  # the input changed
    with pytest.raises(DataError, match="input_size"):
        score_jsonl(reward, src, out)
    report = score_jsonl(other, src, out, force=True)
    assert report.resumed == 0 and len(_rows(out)) == 31 and report.notes


@pytest.mark.slow
def test_sigkill_mid_run_then_resume(tmp_path: Path, reward: Reward) -> None:
    """A real SIGKILL (no handler runs): the rerun scores only what the .partial lacks."""
    src = _write(tmp_path / "in.jsonl", _mixed(400))
    out = tmp_path / "out.jsonl"
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from pbrlsvr.rewards.config import RewardConfig
        from pbrlsvr.rewards.reward import Reward
        from pbrlsvr.rewards.score_file import score_jsonl
        from tests.hash_encoder import HashEncoder
        r = Reward(RewardConfig(langs=["sw"], encoder={{"calibration": (0.2, 0.9)}}), encoder=HashEncoder())
        real = r.score_batch
        def slow(items):
            time.sleep(0.05)
            return real(items)
        r.score_batch = slow
        score_jsonl(r, {str(src)!r}, {str(out)!r}, batch_size=4)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    partial = partial_paths(out)[0]
    deadline = time.monotonic() + 60
    while not (partial.exists() and partial.stat().st_size > 2000):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = len(partial.read_bytes().splitlines())
    counting = _Interrupting(reward)
    report = score_jsonl(counting, src, out, batch_size=4)  # type: ignore[arg-type]
    clean = tmp_path / "clean.jsonl"
    score_jsonl(reward, src, clean, batch_size=4)
    assert out.read_bytes() == clean.read_bytes()
    assert report.resumed >= kept - 1  # at most the torn last line is redone
    valid_resumed = sum(1 for r in _rows(out)[: report.resumed] if "reward" in r["pbrlsvr"])
    assert counting.items == 160 - valid_resumed  # no valid line scored twice


# --- the command ---------------------------------------------------------------------------------


def test_cli_refuses_bad_paths_before_loading_the_reward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pbrlsvr.rewards.reward as reward_module

    def no_load(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the reward was loaded")

    monkeypatch.setattr(reward_module, "Reward", no_load)
    runner = CliRunner()
    src = _write(tmp_path / "in.jsonl", [_item(SW)])
    before = _digest(src)
    (tmp_path / "folder").mkdir()
    for dst, message in ((src, "is the input file"), (tmp_path / "folder", "existing folder")):
        result = runner.invoke(app, ["score", "-i", str(src), "-o", str(dst)])
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
    assert _digest(src) == before
    result = runner.invoke(app, ["score", "-i", str(tmp_path / "folder"), "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2 and "is a folder" in result.output


@pytest.mark.integration
def test_cli_score_exit_codes_and_config(tmp_path: Path) -> None:
    runner = CliRunner()
    good = _write(tmp_path / "good.jsonl", [_item(SW), _item(SW_WRONG)])
    cfg = tmp_path / "reward.yaml"
    cfg.write_text("reward:\n  langs: [sw]\n  weights: {semantic: 0}\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["score", "-i", str(good), "-o", str(out), "-c", str(cfg)])
    assert result.exit_code == 0, result.output
    rows = [r["pbrlsvr"] for r in _rows(out)]
    assert rows[0]["reward"] == 1.0 and rows[1]["reward"] < 0.7
    assert "semantic" not in rows[0]["components"]  # weight 0: not computed, not loaded
    assert (tmp_path / "out.jsonl.config.yaml").is_file()

    bad = _write(tmp_path / "bad.jsonl", [_item(SW), "{oops", "", _item("x\ud800")])
    result = runner.invoke(app, ["score", "-i", str(bad), "-o", str(out), "-c", str(cfg)])
    assert result.exit_code == 1
    assert "line 2:" in result.output and "invalid JSON" in result.output
    assert "line 4:" in result.output and "lone surrogate" in result.output
    assert "scored 1 of 4 lines" in result.output and "2 failed, 1 blank" in result.output

    result = runner.invoke(
        app, ["score", "-i", str(good), "-o", str(out), "--set", "reward.weights.answer=-1"]
    )
    assert result.exit_code == 2 and "reward.weights.answer = -1" in result.output
    result = runner.invoke(app, ["score", "-o", str(out)])
    assert result.exit_code == 2 and "--input" in result.output


@pytest.mark.integration
@pytest.mark.slow
def test_cli_sigterm_says_where_it_stopped_and_the_rerun_resumes(tmp_path: Path) -> None:
    n = 3000
    src = _write(tmp_path / "in.jsonl", [_item(SW, i=i) for i in range(n)])
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "pbrlsvr", "score", "-i", str(src), "-o", str(out)]
    cmd += ["--set", "reward.weights.semantic=0", "--set", "reward.langs=[sw]", "--batch-size", "16"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = partial_paths(out)[0]
    deadline = time.monotonic() + 120
    while not (partial.exists() and partial.stat().st_size > 0):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, (stdout, stderr)
    assert "SIGTERM:" in stderr and "run the same command again" in stderr and "Traceback" not in stderr
    kept = len(partial.read_bytes().splitlines())
    assert 0 < kept < n
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stderr
    m = re.search(r"(\d+) taken from the unfinished run", again.stdout)
    assert m and int(m.group(1)) in (kept, kept - 1)  # at most a torn last line is redone
    lines = [r["pbrlsvr"]["line"] for r in _rows(out)]
    assert lines == list(range(1, n + 1))


def test_a_second_score_on_one_output_is_refused_naming_the_first(tmp_path: Path, reward: Reward) -> None:
    """Two `score` runs on one output used to race on its .partial (the second died with a
    FileNotFoundError traceback); now the second is refused at once and writes nothing."""
    from pbrlsvr.outputs import OutputBusyError, hold_output

    src = _write(tmp_path / "in.jsonl", [json.dumps({"response": SW, "lang": "sw", "reference": REF})])
    dst = tmp_path / "out.jsonl"
    with hold_output(dst.with_name(dst.name + ".lock"), "the score output"):
        with pytest.raises(OutputBusyError, match=f"pid {os.getpid()}"):
            score_jsonl(reward, src, dst)
        assert not partial_paths(dst)[0].exists() and not dst.exists()
    assert score_jsonl(reward, src, dst).lines == 1
