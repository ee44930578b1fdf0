"""The combined reward: gates, weights, defined scores for bad input, determinism, threads."""

from __future__ import annotations

import dataclasses
import math
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pbrlsvr.config import load_config
from pbrlsvr.errors import ConfigError
from pbrlsvr.rewards.config import RewardConfig
from pbrlsvr.rewards.reward import Reward, RewardItem
from pbrlsvr.rewards.semantic import Calibration, SemanticSimilarity
from tests.hash_encoder import HashEncoder

REF = "Roger started with 5 balls. 2 cans of 3 tennis balls each is 6 tennis balls. 5 + 6 = 11. The answer is 11."
SW = "Roger alianza na mipira 5. Makopo 2 ya mipira 3 ya tenisi kila moja ni mipira 6 ya tenisi. 5 + 6 = 11. Jibu ni 11."
SW_WRONG = SW.replace("= 11. Jibu ni 11", "= 12. Jibu ni 12")
SW_SLIP = "Roger alianza na mipira 5. Makopo 2 ya mipira 3 ya tenisi kila moja ni mipira 7 ya tenisi. 5 + 7 = 11. Jibu ni 11."
SW_NO_ANSWER = "Roger alianza na mipira mingi ya tenisi na akanunua makopo zaidi."
CAL = Calibration(unrelated=0.2, parallel=0.9)


@pytest.fixture(scope="module")
def reward() -> Reward:
    return Reward(
        RewardConfig(langs=["sw", "de"], encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder()
    )


def score(reward: Reward, response: str, lang: str = "sw", **kw: str) -> float:
    return reward.score(response, lang, REF, **kw).reward


def test_correct_target_language_answer_beats_every_worse_variant(reward: Reward) -> None:
    good = score(reward, SW)
    assert good > 0.8
    for worse in (SW_WRONG, SW_SLIP, REF, "Jibu ni 11.", SW_NO_ANSWER):
        assert good - score(reward, worse) >= 0.05, worse


def test_english_copy_gets_no_semantic_reward(reward: Reward) -> None:
    res = reward.score(REF, "sw", REF)
    assert res.components["semantic"] == pytest.approx(1.0)  # it *is* the reference...
    assert res.gate == 0.0  # ...but it is not Swahili, so the gate removes the semantic part
    w = reward.config.weights
    expected = (w["answer"] + w["trace"] + w["format"]) / sum(reward.weights.values())
    assert res.reward == pytest.approx(expected, abs=1e-6)
    assert score(reward, SW) - res.reward >= 0.2


def test_without_gate_the_english_copy_wins() -> None:
    # The reason for the gate: a semantic-only reward prefers copying the English reference.
    r = Reward(
        RewardConfig(preset="semantic-only", encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder()
    )
    assert r.score(REF, "sw", REF).reward > r.score(SW, "sw", REF).reward


def test_zero_for_empty_too_long_and_answerless(reward: Reward) -> None:
    for text, note in (("", "empty"), ("   \n", "empty"), (SW_NO_ANSWER, "no final answer")):
        res = reward.score(text, "sw", REF)
        assert res.reward == 0.0
        assert note in (res.note or "")
    huge = SW * 20_000  # ~2 MB
    start = time.perf_counter()
    res = reward.score(huge, "sw", REF)
    assert time.perf_counter() - start < 2
    assert res.reward == 0.0 and "longer than" in (res.note or "")


def test_components_are_all_reported_and_in_range(reward: Reward) -> None:
    res = reward.score(SW, "sw", REF)
    assert set(res.components) == {"semantic", "answer", "trace", "language", "format"}
    assert all(0.0 <= v <= 1.0 for v in res.components.values())
    assert res.answer == "11"
    assert set(res.to_dict()) >= {"reward", "components", "gate", "answer"}


def test_reference_answer_overrides_extraction(reward: Reward) -> None:
    assert reward.score(SW, "sw", REF, reference_answer="11").components["answer"] == 1.0
    assert reward.score(SW, "sw", REF, reference_answer="12").components["answer"] == 0.0


def test_deterministic_and_batch_equals_single(reward: Reward) -> None:
    texts = [SW, SW_WRONG, SW_SLIP, REF, "Jibu ni 11.", ""] * 3
    batch = reward.score_batch([{"response": t, "lang": "sw", "reference": REF} for t in texts])
    singles = [reward.score(t, "sw", REF) for t in texts]
    assert [b.reward for b in batch] == [s.reward for s in singles]
    again = reward.score_batch([{"response": t, "lang": "sw", "reference": REF} for t in texts])
    assert batch == again


def test_threads_give_the_same_results(reward: Reward) -> None:
    texts = [SW, SW_WRONG, SW_SLIP, REF] * 8
    expected = [reward.score(t, "sw", REF).reward for t in texts]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda t: reward.score(t, "sw", REF).reward, texts))
    assert got == expected


def test_bad_items_fail_clearly(reward: Reward) -> None:
    with pytest.raises(ValueError, match="item 1: missing field"):
        reward.score_batch([{"response": SW, "lang": "sw", "reference": REF}, {"response": SW}])
    with pytest.raises(ValueError, match="unknown language code 'xx'"):
        reward.score(SW, "xx", REF)
    with pytest.raises(ValueError, match="not among the reward's languages"):
        reward.score(SW, "th", REF)
    with pytest.raises(ValueError, match="'reference' is empty"):
        reward.score(SW, "sw", "  ")
    with pytest.raises(ValueError, match="must be a string"):
        RewardItem.from_mapping({"response": 5, "lang": "sw", "reference": REF})
    assert (
        RewardItem.from_mapping({"response": None, "lang": "SW", "reference": REF, "gold": 11}).gold == "11"
    )
    assert reward.score_batch([]) == []


def test_bad_configuration_fails_at_construction() -> None:
    with pytest.raises(ConfigError, match="finite"):
        load_config(RewardConfig, overrides={"weights.answer": float("nan")})
    with pytest.raises(ConfigError, match="greater than or equal to 0"):
        load_config(RewardConfig, overrides={"weights.answer": -1})
    with pytest.raises(ConfigError, match="at least one component"):
        load_config(RewardConfig, overrides={k: 0 for k in _all_weights()})
    with pytest.raises(ConfigError, match="gate_high"):
        load_config(RewardConfig, overrides={"gate_low": 0.9, "gate_high": 0.5})
    with pytest.raises(ValueError, match="parallel > unrelated"):
        Calibration(0.9, 0.5)
    with pytest.raises(ValueError, match="finite"):
        Calibration(math.nan, 0.5)


def _all_weights() -> list[str]:
    return [f"weights.{c}" for c in ("semantic", "translation", "answer", "trace", "language", "format")]


def test_accuracy_preset_checks_gold_only() -> None:
    r = Reward(RewardConfig(preset="accuracy"))
    assert r.semantic is None and r.language is None  # nothing else is loaded
    assert r.score(SW, "sw", REF, gold="11").reward == 1.0
    assert r.score(SW, "sw", REF, gold="12").reward == 0.0
    with pytest.raises(ValueError, match="no gold"):
        r.score(SW, "sw", REF)
    # explicit keys next to a preset override it
    mixed = RewardConfig(preset="accuracy", weights={"format": 0.5})
    assert mixed.weights["answer"] == 1.0 and mixed.weights["format"] == 0.5


def test_reference_embeddings_are_cached() -> None:
    enc = HashEncoder()
    sem = SemanticSimilarity(enc, CAL, cache_size=2)
    refs = ["ref a", "ref b"] * 4
    sem.score_batch(["x"] * 8, refs)
    first = enc.texts_encoded
    assert first == 8 + 2  # responses + each distinct reference once
    sem.score_batch(["x"] * 8, refs)
    assert enc.texts_encoded == first + 8  # second pass: references all from the cache
    assert sem.hits == 14 and sem.misses == 2
    sem.score_batch(["x"], ["ref c"])  # evicts the least recently used reference
    assert len(sem._cache) == 2


def test_semantic_ranks_closer_text_higher() -> None:
    sem = SemanticSimilarity(HashEncoder(), CAL)
    close, far = sem.score_batch([REF.replace("Roger", "Rogers"), "Leah had 32 chocolates."], [REF, REF])
    assert close > far
    assert sem.score_batch([""], [REF]) == [0.0]
    with pytest.raises(ValueError, match="1 responses but 2 references"):
        sem.score_batch(["a"], ["b", "c"])


def test_null_required_fields_are_clear_errors() -> None:
    for key in ("lang", "reference"):
        item = {"response": SW, "lang": "sw", "reference": REF, key: None}
        with pytest.raises(ValueError, match=f"'{key}' is null"):
            RewardItem.from_mapping(item)


def test_an_overlong_reference_is_a_defined_result_for_its_item_alone(
    reward: Reward, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1 MB reference used to hold the scorer for 96 s: now it scores 0 with a note, never reaches
    a component, and the other items of its batch are scored as they would be alone."""
    seen: list[int] = []
    for name, component in list(reward.components.items()):

        def spy(items, context, _score=component.score):  # type: ignore[no-untyped-def]
            seen.extend(len(it.reference) for it in items)
            return _score(items, context)

        monkeypatch.setitem(reward.components, name, dataclasses.replace(component, score=spy))
    alone = reward.score(SW, "sw", REF)
    ok, long_ref, long_question = reward.score_batch(
        [
            {"response": SW, "lang": "sw", "reference": REF},
            {"response": SW, "lang": "sw", "reference": REF * 5_000},
            {"response": SW, "lang": "sw", "reference": REF, "question": "x" * 30_000},
        ]
    )
    assert ok.reward == alone.reward > 0
    for res in (long_ref, long_question):
        assert res.reward == 0.0 and "reference longer than 20000" in (res.note or "")
    assert seen and max(seen) == len(REF)
