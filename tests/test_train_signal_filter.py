"""filter_no_signal: prompts whose sampled group all got the same reward are dropped before GRPO;
decisions are resumable, tied to their settings, and wired into ``train()``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pbrlsvr.config import load_config
from pbrlsvr.errors import DataError
from pbrlsvr.generation.base import Generation, Generator, Message, ProgressFn, SamplingConfig
from pbrlsvr.rewards.config import RewardConfig
from pbrlsvr.rewards.reward import Reward, RewardItem, RewardResult
from pbrlsvr.train.config import TrainConfig
from pbrlsvr.train.dataset import build_rows, read_rows
from pbrlsvr.train.signal_filter import FILENAME, HEADER_KEY, filter_no_signal, group_std
from tests.hash_encoder import HashEncoder
from tests.test_rewards_reward import REF, SW, SW_NO_ANSWER, SW_WRONG
from tests.test_train import tiny_causal_lm

EN_NO_ANSWER = "Roger started with many tennis balls and then he bought some more cans of them."

# question → the completions the stub policy returns for it (one group of num_generations=2).
GROUPS = {
    "q0 roger had 5 balls": [SW, SW],  # both right: identical reward → dropped
    "q1 roger had 5 balls": [SW, SW_WRONG],  # right and wrong → kept
    "q2 roger had 5 balls": [SW_NO_ANSWER, SW_NO_ANSWER],  # both 0 → dropped
    "q3 roger had 5 balls": [SW_WRONG, SW],  # kept
    "q4 roger had 5 balls": [SW_WRONG, SW_WRONG],  # dropped
}


class StubPolicy(Generator):
    """Returns fixed completions per question and records every conversation it is asked for."""

    name = "stub"

    def __init__(self, groups: dict[str, list[str]], fail_on_call: int | None = None) -> None:
        self.groups = groups
        self.fail_on_call = fail_on_call
        self.calls: list[list[list[Message]]] = []

    def questions(self) -> list[str]:
        return [self._question(c) for call in self.calls for c in call]

    def _question(self, conversation: list[Message]) -> str:
        text = conversation[-1]["content"]
        found = [q for q in self.groups if q in text]
        assert len(found) == 1, text
        return found[0]

    def _generate(
        self, conversations: list[list[Message]], settings: SamplingConfig, progress: ProgressFn | None
    ) -> list[list[Generation]]:
        if self.fail_on_call is not None and len(self.calls) + 1 == self.fail_on_call:
            raise KeyboardInterrupt("killed")  # like a kill: nothing after this point runs
        self.calls.append(conversations)
        out = []
        for conv in conversations:
            texts = self.groups[self._question(conv)]
            assert len(texts) == settings.n
            out.append([Generation(t, 10, len(t.split()), "stop") for t in texts])
        return out


def _data(tmp_path: Path, questions: Sequence[str], references: dict[str, str] | None = None) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "refs.jsonl"
    rows = [
        {
            "id": f"msvamp-{i:04d}",
            "lang": "sw",
            "question": q,
            "reference": (references or {}).get(q, REF),
            "reference_answer": "11",
        }
        for i, q in enumerate(questions)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _cfg(
    tmp_path: Path, questions: Sequence[str] = tuple(GROUPS), *, data: Path | None = None, **kw: Any
) -> TrainConfig:
    base: dict[str, Any] = {
        "data": str(data or _data(tmp_path, questions)),
        "output_dir": str(tmp_path / "run"),
        "max_steps": 1,
        "num_generations": 2,
        "per_device_train_batch_size": 2,
        "max_completion_length": 8,
        "save_steps": 1,
        "lora": {"enabled": False},
        "filter_no_signal": {"enabled": True, "batch_size": 2},  # 1 prompt per generate call
    }
    return load_config(TrainConfig, overrides={**base, **kw})


def _rows(cfg: TrainConfig) -> list[dict[str, Any]]:
    assert cfg.data is not None
    return build_rows(read_rows(cfg.data))


def _lines(cfg: TrainConfig) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (cfg.output_dir / FILENAME).read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def reward() -> Reward:
    return Reward(RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder())


def _qid(question: str) -> str:
    return f"msvamp-{list(GROUPS).index(question):04d}"


def test_same_reward_groups_are_dropped_and_the_rest_kept(tmp_path: Path, reward: Reward) -> None:
    cfg = _cfg(tmp_path)
    rows = _rows(cfg)
    stub = StubPolicy(GROUPS)
    res = filter_no_signal(rows, cfg, reward, generator=stub, progress=False)

    # The policy was asked for exactly the training prompts (the dataset's own prompt, not a copy).
    assert [c for call in stub.calls for c in call] == [r["prompt"] for r in rows]
    # Whether a group has signal follows from the reward itself, computed independently here.
    expected = {
        _qid(q)
        for q, texts in GROUPS.items()
        if group_std([reward.score(t, "sw", REF, "11").reward for t in texts]) >= cfg.filter_no_signal.min_std
    }
    assert expected == {"msvamp-0001", "msvamp-0003"}  # the groups above were built for this
    assert {r["id"] for r in res.rows} == expected
    assert [r["id"] for r in res.rows] == sorted(expected)  # original order kept
    assert (res.total, res.kept, res.dropped, res.sampled, res.reused) == (5, 2, 3, 5, 0)

    lines = _lines(cfg)
    assert HEADER_KEY in lines[0] and lines[0][HEADER_KEY]["min_std"] == cfg.filter_no_signal.min_std
    decided = {d["id"]: d for d in lines[1:]}
    assert len(lines) == 6 and set(decided) == {r["id"] for r in rows}
    for q, texts in GROUPS.items():
        d = decided[_qid(q)]
        assert d["lang"] == "sw" and d["kept"] == (_qid(q) in expected)
        assert d["rewards"] == pytest.approx([reward.score(t, "sw", REF, "11").reward for t in texts])
        assert d["std"] == pytest.approx(group_std(d["rewards"]), abs=1e-6)


def test_normalize_then_sum_keeps_groups_where_a_component_varies(tmp_path: Path, reward: Reward) -> None:
    # Neither response states an answer, so both combined rewards are 0; but one is Swahili and one
    # English, so the language component differs, which normalize_then_sum trains on.
    groups = {"q0 roger had 5 balls": [SW_NO_ANSWER, EN_NO_ANSWER], "q1 roger had 5 balls": [SW, SW_WRONG]}
    summed = filter_no_signal(
        _rows(cfg := _cfg(tmp_path / "a", list(groups))),
        cfg,
        reward,
        generator=StubPolicy(groups),
        progress=False,
    )
    assert [r["id"] for r in summed.rows] == ["msvamp-0001"]
    cfg = _cfg(tmp_path / "b", list(groups), aggregation="normalize_then_sum")
    per_component = filter_no_signal(_rows(cfg), cfg, reward, generator=StubPolicy(groups), progress=False)
    assert [r["id"] for r in per_component.rows] == ["msvamp-0000", "msvamp-0001"]
    first = _lines(cfg)[1]
    assert first["component_std"]["language"] > 0 and first["std"] == max(first["component_std"].values())


def test_killed_run_resumes_without_lost_or_repeated_rows(tmp_path: Path, reward: Reward) -> None:
    fresh_cfg = _cfg(tmp_path / "fresh")
    fresh = filter_no_signal(
        _rows(fresh_cfg), fresh_cfg, reward, generator=StubPolicy(GROUPS), progress=False
    )

    cfg = _cfg(tmp_path / "killed")
    rows = _rows(cfg)
    with pytest.raises(KeyboardInterrupt):  # killed during the 3rd prompt's generation
        filter_no_signal(rows, cfg, reward, generator=StubPolicy(GROUPS, fail_on_call=3), progress=False)
    assert [d["id"] for d in _lines(cfg)[1:]] == ["msvamp-0000", "msvamp-0001"]
    with open(cfg.output_dir / FILENAME, "a", encoding="utf-8") as fh:
        fh.write('{"id": "msvamp-0002", "lang": "sw", "rew')  # a line cut off by the kill

    stub = StubPolicy(GROUPS)
    res = filter_no_signal(rows, cfg, reward, generator=stub, progress=False)
    assert stub.questions() == list(GROUPS)[2:]  # only the undecided rows, each once
    assert (res.sampled, res.reused) == (3, 2)
    assert [r["id"] for r in res.rows] == [r["id"] for r in fresh.rows]
    lines = _lines(cfg)
    assert [d["id"] for d in lines[1:]] == [d["id"] for d in _lines(fresh_cfg)[1:]]  # no duplicates

    # A third run samples nothing and decides the same.
    again = StubPolicy(GROUPS)
    res3 = filter_no_signal(rows, cfg, reward, generator=again, progress=False)
    assert again.calls == [] and res3.reused == 5 and res3.rows == res.rows


def test_changed_settings_or_data_are_refused(tmp_path: Path, reward: Reward) -> None:
    cfg = _cfg(tmp_path)
    filter_no_signal(_rows(cfg), cfg, reward, generator=StubPolicy(GROUPS), progress=False)
    for change in ({"temperature": 0.7}, {"filter_no_signal": {"enabled": True, "min_std": 0.5}}):
        other = _cfg(tmp_path, **change)
        stub = StubPolicy(GROUPS)
        with pytest.raises(DataError, match=r"other settings.*delete .*signal_filter\.jsonl"):
            filter_no_signal(_rows(other), other, reward, generator=stub, progress=False)
        assert stub.calls == []
    other_reward = Reward(
        RewardConfig(langs=["sw"], weights={"semantic": 0.5}, encoder={"calibration": (0.2, 0.9)}),
        encoder=HashEncoder(),
    )
    with pytest.raises(DataError, match=r"reward\.weights\.semantic"):
        filter_no_signal(_rows(cfg), cfg, other_reward, generator=StubPolicy(GROUPS), progress=False)

    # Same ids, another reference: the old decision does not apply.
    changed = _data(tmp_path, list(GROUPS), references={"q1 roger had 5 balls": REF.replace("11", "12")})
    with pytest.raises(DataError, match="other data"):
        filter_no_signal(
            build_rows(read_rows(changed)), cfg, reward, generator=StubPolicy(GROUPS), progress=False
        )

    # After deleting the file as told, the new settings run.
    (cfg.output_dir / FILENAME).unlink()
    other = _cfg(tmp_path, temperature=0.7)
    assert (
        filter_no_signal(_rows(other), other, reward, generator=StubPolicy(GROUPS), progress=False).kept == 2
    )


def test_all_prompts_without_signal_is_an_error(tmp_path: Path, reward: Reward) -> None:
    flat = {q: texts for q, texts in GROUPS.items() if texts[0] == texts[1]}
    cfg = _cfg(tmp_path, list(flat))
    with pytest.raises(DataError, match=f"all {len(flat)} prompts got identical rewards"):
        filter_no_signal(_rows(cfg), cfg, reward, generator=StubPolicy(flat), progress=False)
    assert len(_lines(cfg)) == 1 + len(flat)  # still recorded: a rerun does not sample again


FLAT_REF = "FLAT: the answer is 11."


class SpyReward(Reward):
    """Flat reward for rows whose reference is FLAT_REF, a hash of the text otherwise; records the
    reference of every item it scores (the filter's and training's calls alike)."""

    def __init__(self) -> None:
        super().__init__(
            RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder()
        )
        self.seen: list[str] = []

    def score_batch(self, items: Sequence[RewardItem | dict[str, Any]]) -> list[RewardResult]:
        out = []
        for item in items:
            assert isinstance(item, RewardItem)
            self.seen.append(item.reference)
            if item.reference == FLAT_REF:
                value = 0.5
            else:
                value = int(hashlib.sha256(item.response.encode()).hexdigest()[:6], 16) / 0xFFFFFF
            out.append(RewardResult(reward=value, components={c: value for c in self.weights}, gate=1.0))
        return out


def test_train_drops_no_signal_prompts_end_to_end(tmp_path: Path) -> None:
    from pbrlsvr.train.grpo import train

    questions = [f"q{i} roger had 5 balls" for i in range(6)]
    flat = set(questions[2:])  # 4 of 6 rows: every completion gets 0.5
    path = _data(tmp_path, questions, references=dict.fromkeys(flat, FLAT_REF))
    cfg = _cfg(tmp_path, data=path, per_device_train_batch_size=4, temperature=1.5)
    spy = SpyReward()
    model, tok = tiny_causal_lm()
    res = train(cfg, model=model, tokenizer=tok, reward=spy)
    assert res.steps == 1
    lines = _lines(cfg)
    assert len(lines) == 7 and lines[0][HEADER_KEY]["sampling"]["temperature"] == 1.5
    assert {d["id"] for d in lines[1:] if d["kept"]} == {"msvamp-0000", "msvamp-0001"}
    assert all(len(d["rewards"]) == 2 for d in lines[1:])
    # The filter scored each flat row's group once (4 rows x 2); training never saw those rows.
    assert spy.seen.count(FLAT_REF) == len(flat) * cfg.num_generations
    assert spy.seen.count(REF) == 2 * 2 + 2 * 2  # filter: 2 rows x 2; one step: 2 prompts x 2
    records = [json.loads(x) for x in res.metrics_path.read_text().splitlines()]
    assert any(r.get("frac_reward_zero_std") == 0.0 for r in records)  # TRL's online view agrees

    spy.seen.clear()  # a resumed run reuses the decisions: the filter scores nothing again
    more = _cfg(tmp_path, data=path, per_device_train_batch_size=4, temperature=1.5, max_steps=2, resume=True)
    model2, tok2 = tiny_causal_lm()
    res2 = train(more, model=model2, tokenizer=tok2, reward=spy)
    assert res2.steps == 2 and spy.seen == [REF] * 4 and len(_lines(more)) == 7


def test_cli_reaches_the_settings_through_set(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pbrlsvr.cli import app

    runner = CliRunner()
    data = str(_data(tmp_path, list(GROUPS)))
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            data,
            "--set",
            "filter_no_signal.enabled=true",
            "--set",
            "filter_no_signal.min_std=0",
        ],
    )
    assert result.exit_code == 2 and "filter_no_signal.min_std" in result.output
    result = runner.invoke(app, ["train", "--data", data, "--set", "filter_no_signal.enabld=true"])
    assert result.exit_code == 2 and "filter_no_signal.enabld" in result.output
    cfg = load_config(
        TrainConfig, overrides={"filter_no_signal.enabled": True, "filter_no_signal.batch_size": 4}
    )
    assert cfg.filter_no_signal.enabled and cfg.filter_no_signal.batch_size == 4
    assert not TrainConfig().filter_no_signal.enabled  # off by default
