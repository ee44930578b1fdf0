"""TRL and verl adapters: same numbers as the reward itself, bad rows never crash a run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pbrlsvr.config import RewardConfig
from pbrlsvr.integrations import verl as verl_adapter
from pbrlsvr.integrations.trl import PBRLSVRReward, completion_text, make_reward_funcs
from pbrlsvr.rewards.reward import Reward
from tests.hash_encoder import HashEncoder
from tests.test_rewards_reward import REF, SW, SW_SLIP, SW_WRONG


@pytest.fixture(scope="module")
def reward() -> Reward:
    return Reward(RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder())


def _columns(n: int) -> dict[str, list[object]]:
    return {"reference": [REF] * n, "lang": ["sw"] * n, "reference_answer": ["11"] * n, "gold": [None] * n}


def test_trl_sum_returns_the_combined_reward_and_logs_components(reward: Reward) -> None:
    completions = [[{"role": "assistant", "content": t}] for t in (SW, SW_WRONG, SW_SLIP, REF)]
    logged: dict[str, float] = {}
    fn = PBRLSVRReward(reward)
    out = fn(
        prompts=[[{"role": "user", "content": "q"}]] * 4,
        completions=completions,
        log_metric=logged.__setitem__,
        **_columns(4),
    )
    expected = [
        reward.score(completion_text(c), "sw", REF, reference_answer="11").reward for c in completions
    ]
    assert out == expected
    assert out[0] > max(out[1:])
    assert {"rewards/semantic/mean", "rewards/answer/mean", "rewards/trace/mean", "pbrlsvr/gate"} <= set(
        logged
    )
    assert logged["rewards/answer/mean"] == pytest.approx(0.75)
    assert fn.__name__ == "pbrlsvr"


def test_trl_unscorable_rows_become_none_not_a_crash(reward: Reward) -> None:
    cols = _columns(3)
    cols["lang"] = ["sw", "xx", "sw"]
    cols["reference"] = [REF, REF, None]
    out = PBRLSVRReward(reward)(prompts=["q"] * 3, completions=[SW, SW, SW], **cols)
    assert out[0] is not None and out[1] is None and out[2] is None


def test_trl_normalize_then_sum_components(reward: Reward) -> None:
    funcs, weights = make_reward_funcs(reward, "normalize_then_sum")
    assert [f.__name__ for f in funcs] == list(reward.weights)
    assert weights == list(reward.weights.values())
    texts = [SW, REF]
    per = {f.__name__: f(prompts=["q"] * 2, completions=texts, **_columns(2)) for f in funcs}
    full = [reward.score(t, "sw", REF, reference_answer="11") for t in texts]
    assert per["answer"] == [r.components["answer"] for r in full]
    assert per["semantic"][1] == 0.0  # the English copy's semantic reward is gated off here too
    # a new batch of the same size must not reuse the previous batch's scores
    again = funcs[list(reward.weights).index("answer")](
        prompts=["q"] * 2, completions=[SW_WRONG, SW_WRONG], **_columns(2)
    )
    assert again == [0.0, 0.0]
    with pytest.raises(ValueError, match="aggregation"):
        make_reward_funcs(reward, "mean")  # type: ignore[arg-type]


def test_verl_compute_score_and_export(
    tmp_path: Path, reward: Reward, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verl_adapter, "_reward", reward)
    rows = [
        {
            "id": "mgsm-0001",
            "lang": "sw",
            "question": "Swali?",
            "reference": REF,
            "reference_answer": "11",
            "gold": "11",
        },
        {"id": "mgsm-0002", "lang": "sw", "question": "Swali 2?", "reference": REF, "reference_answer": "11"},
    ]
    path = tmp_path / "train.parquet"
    assert verl_adapter.export_verl(rows, path) == 2
    df = pd.read_parquet(path)
    assert list(df.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    first = df.iloc[0]
    assert first["reward_model"]["ground_truth"] == "11"
    assert first["extra_info"]["reference"] == REF and first["extra_info"]["lang"] == "sw"
    assert first["prompt"][0]["content"] == "Swali?"
    info = dict(first["extra_info"])
    good = verl_adapter.compute_score("pbrlsvr", SW, "11", info)
    bad = verl_adapter.compute_score("pbrlsvr", SW_WRONG, "11", info)
    assert good["score"] == reward.score(SW, "sw", REF, reference_answer="11").reward
    assert good["score"] > bad["score"] and "semantic" in good
    broken = verl_adapter.compute_score("pbrlsvr", SW, "11", {"lang": "sw"})
    assert broken["score"] == 0.0 and "reference" in broken["error"]
    with pytest.raises(ValueError, match="missing"):
        verl_adapter.verl_row({"id": "x", "lang": "sw"}, 0)


def test_verl_reward_config_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "r.yaml"
    cfg.write_text("reward:\n  preset: accuracy\n  answer_against: reference\n", encoding="utf-8")
    monkeypatch.setenv(verl_adapter.CONFIG_ENV, str(cfg))
    monkeypatch.setattr(verl_adapter, "_reward", None)
    out = verl_adapter.compute_score("pbrlsvr", SW, "11", {"lang": "sw", "reference": REF})
    assert out["score"] == 1.0 and set(out) == {"score", "answer", "gate"}
