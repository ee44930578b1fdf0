"""The verl adapters' contract verl's reward loop and GDPO rely on (no verl needed; see
test_verl_engine.py for the same code under the real verl)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pbrlsvr.cli import app
from pbrlsvr.errors import ConfigError
from pbrlsvr.integrations import verl as verl_adapter
from pbrlsvr.integrations.verl_result import failed, scored, verl_keys
from pbrlsvr.prompts import build_messages
from pbrlsvr.rewards.config import RewardConfig
from pbrlsvr.rewards.reward import Reward
from tests.hash_encoder import HashEncoder
from tests.test_rewards_reward import REF, SW, SW_NO_ANSWER, SW_WRONG

BUILT_IN = ("semantic", "translation", "answer", "trace", "language", "format")
VERL_KEYS = ("score", *BUILT_IN, *(f"{c}_term" for c in BUILT_IN), "gate", "failed")
INFO = {"lang": "sw", "reference": REF}


@pytest.fixture
def reward(monkeypatch: pytest.MonkeyPatch) -> Reward:
    r = Reward(RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder())
    monkeypatch.setattr(verl_adapter, "_reward", r)
    return r


@pytest.mark.parametrize("response", [SW, SW_WRONG, SW_NO_ANSWER, REF, ""])
def test_terms_add_up_to_the_score(reward: Reward, response: str) -> None:
    """score == Σ w·term / Σ w: what GDPO normalises per component is what the total is made of."""
    out = verl_adapter.compute_score("pbrlsvr", response, "11", INFO)
    assert tuple(out) == VERL_KEYS
    w = reward.weights
    total = sum(w[c] * out[f"{c}_term"] for c in w) / sum(w.values())
    assert total == pytest.approx(out["score"], abs=1e-5)


def test_terms_carry_the_gate_and_the_zeroing_rules(reward: Reward) -> None:
    copied = verl_adapter.compute_score("pbrlsvr", REF, "11", INFO)  # English: gate 0
    assert copied["gate"] == 0.0 and copied["semantic"] > 0.5 and copied["semantic_term"] == 0.0
    assert copied["answer_term"] == copied["answer"] == 1.0  # ungated components pass unchanged
    unanswered = verl_adapter.compute_score("pbrlsvr", SW_NO_ANSWER, "11", INFO)  # require_answer
    assert unanswered["score"] == 0.0 and unanswered["language"] > 0.5
    assert all(unanswered[f"{c}_term"] == 0.0 for c in reward.weights)
    assert scored(0.5, {"semantic": 0.8}, 0.5)["semantic_term"] == pytest.approx(0.4)
    assert failed("x")["semantic_term"] == 0.0 and tuple(failed("x")) == VERL_KEYS


def test_keys_come_from_the_registry_taken_when_the_reward_is_built(reward: Reward) -> None:
    """verl keys every sample's dict by the first sample's keys: a component registered after the
    reward was built must not change them, while a reward built after it reports it."""
    from pbrlsvr.rewards.components import REGISTRY, register_component

    assert verl_keys() == VERL_KEYS
    register_component("toy-late", default_weight=0.0)(lambda items, context: [1.0] * len(items))
    try:
        assert verl_keys()[-4:] == ("format_term", "toy-late_term", "gate", "failed")
        assert tuple(verl_adapter.compute_score("pbrlsvr", SW, "11", INFO)) == VERL_KEYS
        assert tuple(verl_adapter.compute_score("pbrlsvr", SW, "11", {"lang": "xx"})) == VERL_KEYS
        later = Reward(RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder())
        assert later.registered[-1] == "toy-late" and "toy-late" not in later.weights  # default 0
    finally:
        REGISTRY.unregister("toy-late")


def test_reward_config_from_verls_reward_kwargs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """reward_kwargs.config (in the Hydra config every worker gets) wins over the environment."""
    accuracy = tmp_path / "accuracy.yaml"
    accuracy.write_text("reward:\n  preset: accuracy\n  answer_against: reference\n", encoding="utf-8")
    only_language = tmp_path / "language.yaml"
    only_language.write_text(
        "reward:\n  weights: {semantic: 0, translation: 0, answer: 0, trace: 0, language: 1, format: 0}\n"
        "  require_answer: false\n  language_gate: false\n  langs: [sw]\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(verl_adapter.CONFIG_ENV, str(only_language))
    monkeypatch.setattr(verl_adapter, "_reward", None)
    monkeypatch.setattr(verl_adapter, "_rewards", {})
    by_kwarg = verl_adapter.compute_score("pbrlsvr", SW_WRONG, "11", INFO, config=str(accuracy))
    assert by_kwarg["score"] == 0.0 and by_kwarg["language"] == 0.0  # accuracy: wrong answer, no language
    by_env = verl_adapter.compute_score("pbrlsvr", SW_WRONG, "11", INFO)
    assert by_env["score"] == by_env["language"] > 0.5
    first = verl_adapter._rewards[str(accuracy)]
    verl_adapter.compute_score("pbrlsvr", SW, "11", INFO, config=str(accuracy))
    assert verl_adapter._rewards[str(accuracy)] is first  # built once per worker process


def test_a_broken_reward_config_raises_rather_than_scoring_zero(tmp_path: Path) -> None:
    """A bad config is not a bad sample: scoring every sample 0 would silently train on noise."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("reward:\n  weights: {semantik: 1}\n", encoding="utf-8")
    with pytest.raises((ConfigError, ValueError)):
        verl_adapter.compute_score("pbrlsvr", SW, "11", INFO, config=str(bad))
    with pytest.raises((ConfigError, OSError)):
        verl_adapter.compute_score("pbrlsvr", SW, "11", INFO, config=str(tmp_path / "missing.yaml"))


def test_export_verl_prompt_is_the_training_prompt_once(tmp_path: Path) -> None:
    """`pbrlsvr export-verl` writes the prompt TRL training builds, with the instruction once."""
    pivot = tmp_path / "pivot.jsonl"
    row = {
        "id": "gsm8k-train-1",
        "lang": "sw",
        "question": "Swali?",
        "reference": REF,
        "reference_answer": "11",
    }
    pivot.write_text(json.dumps(row) + "\n", encoding="utf-8")
    out = tmp_path / "train.parquet"
    result = CliRunner().invoke(app, ["export-verl", "--data", str(pivot), "-o", str(out)])
    assert result.exit_code == 0, result.output
    got = pd.read_parquet(out).iloc[0]
    assert list(got["prompt"]) == build_messages("Swali?", "sw")
    assert got["reward_model"]["ground_truth"] == "11" and got["extra_info"]["reference"] == REF
