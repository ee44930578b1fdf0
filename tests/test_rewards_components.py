"""The reward-component registry: built-ins in report order, weights validated against it, the
reward composing what is registered, and every built-in's documented example."""

from __future__ import annotations

import doctest
import importlib
import json
from collections.abc import Iterator, Sequence

import pytest

from pbrlsvr.config import load_config
from pbrlsvr.errors import ConfigError
from pbrlsvr.rewards.components import (
    BUILT_INS,
    REGISTRY,
    Component,
    ScoringContext,
    component_names,
    default_weights,
    gated_components,
    register_component,
)
from pbrlsvr.rewards.config import RewardConfig, ScoreCommandConfig
from pbrlsvr.rewards.reward import Reward, RewardItem
from tests.hash_encoder import HashEncoder
from tests.test_rewards_reward import REF, SW

DEFAULT_REWARD_JSON = (
    '{"preset":"pbrlsvr","weights":{"semantic":0.2,"translation":0.0,"answer":0.3,"trace":0.2,'
    '"language":0.15,"format":0.05},"language_gate":true,"gate_low":0.6,"gate_high":0.95,'
    '"require_answer":true,"answer_against":"reference","langs":null,"encoder":{"name":"e5-small-torch",'
    '"device":"cpu","calibration":null,"cache_size":4096},"translator":{"kind":"seq2seq",'
    '"model":"facebook/nllb-200-distilled-600M","device":"cpu","metric":"chrf","alignment":false,'
    '"batch_size":8},"max_response_chars":20000,"max_reference_chars":20000}'
)
"""``RewardConfig().model_dump_json()`` as it was when the weights were a fixed set of fields: run
dumps and the signal filter's settings digest are made of it."""


@pytest.fixture
def toy() -> Iterator[list[Sequence[RewardItem]]]:
    """A registered toy component (weight 0.4 by default) that records the batches it is given."""
    seen: list[Sequence[RewardItem]] = []

    @register_component("toy", default_weight=0.4)
    def toy_reward(items: Sequence[RewardItem], context: ScoringContext) -> list[float]:
        seen.append(items)
        return [0.5] * len(items)

    yield seen
    REGISTRY.unregister("toy")


def _reward(**cfg: object) -> Reward:
    return Reward(
        RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}, **cfg), encoder=HashEncoder()
    )


def test_builtins_in_report_order_with_their_defaults_and_gates() -> None:
    assert component_names() == list(BUILT_INS)
    assert BUILT_INS == ("semantic", "translation", "answer", "trace", "language", "format")
    assert default_weights() == {
        "semantic": 0.2,
        "translation": 0.0,
        "answer": 0.3,
        "trace": 0.2,
        "language": 0.15,
        "format": 0.05,
    }
    assert gated_components() == {"semantic", "translation"}
    needs = {name: REGISTRY.get(name).requirements(RewardConfig()) for name in BUILT_INS}
    assert needs == {
        "semantic": {"encoder"},
        "translation": {"translator"},
        "answer": {"verifier"},
        "trace": set(),
        "language": {"language_id"},
        "format": set(),
    }
    with_encoder = RewardConfig(translator={"metric": "chrf+encoder"})
    assert REGISTRY.get("translation").requirements(with_encoder) == {"translator", "encoder"}


def test_default_config_dumps_exactly_as_before() -> None:
    assert RewardConfig().model_dump_json() == DEFAULT_REWARD_JSON
    assert json.dumps(ScoreCommandConfig().model_dump(mode="json")["reward"], separators=(",", ":")) == (
        DEFAULT_REWARD_JSON
    )
    # the presets still set every component, and explicit keys still override them
    accuracy = RewardConfig(preset="accuracy", weights={"format": 0.5})
    assert accuracy.weights == {**dict.fromkeys(BUILT_INS, 0.0), "answer": 1.0, "format": 0.5}
    assert RewardConfig(preset="semantic-only").weights.active() == {"semantic": 1.0}


def test_weights_are_validated_against_the_registry(toy: list[Sequence[RewardItem]]) -> None:
    cfg = load_config(RewardConfig, overrides={"weights.answer": 1, "weights.toy": "0.25"})
    assert list(cfg.weights) == [*BUILT_INS, "toy"]  # report order, whatever order the config used
    assert cfg.weights["answer"] == 1.0 and cfg.weights["toy"] == 0.25 and cfg.weights["trace"] == 0.2
    assert RewardConfig().weights["toy"] == 0.4  # unnamed: its registered default
    assert RewardConfig(preset="accuracy").weights["toy"] == 0.0  # a preset turns plugins off too
    with pytest.raises(
        ConfigError, match=r"weights\.tyo = 1: unknown reward component 'tyo' \(did you mean 'toy'\?\)"
    ):
        load_config(RewardConfig, overrides={"weights.tyo": 1})
    for bad, why in ((-0.1, "greater than or equal to 0"), (float("nan"), "finite"), ("x", "valid number")):
        with pytest.raises(ConfigError, match=rf"weights\.toy = .*{why}"):
            load_config(RewardConfig, overrides={"weights.toy": bad})
    with pytest.raises(ConfigError, match="at least one component"):
        load_config(RewardConfig, overrides={f"weights.{c}": 0 for c in [*BUILT_INS, "toy"]})
    cfg.weights = {"toy": 1.0}  # assignment is validated like the file
    assert cfg.weights["toy"] == 1.0 and cfg.weights["answer"] == 0.3


def test_the_reward_composes_registered_components(toy: list[Sequence[RewardItem]]) -> None:
    reward = _reward(weights={"semantic": 0.0})
    assert list(reward.weights) == ["answer", "trace", "language", "format", "toy"]
    items = [{"response": r, "lang": "sw", "reference": REF} for r in (SW, "", SW)]
    results = reward.score_batch(items)
    assert [len(batch) for batch in toy] == [2]  # one call per batch, empty responses left out
    assert results[0].components["toy"] == 0.5 and results[1].components["toy"] == 0.0
    plain = _reward(weights={"semantic": 0.0, "toy": 0.0}).score_batch(items)
    w = reward.weights
    assert results[0].reward == pytest.approx(
        (plain[0].reward * (sum(w.values()) - 0.4) + 0.4 * 0.5) / sum(w.values())
    )
    assert reward.registered[-1] == "toy" and "toy" not in reward.gated


def test_a_gated_component_is_multiplied_by_the_gate() -> None:
    register_component("toy-gated", gated=True)(lambda items, context: [1.0] * len(items))
    try:
        reward = _reward(
            weights={
                "semantic": 0.0,
                "answer": 0.0,
                "trace": 0.0,
                "language": 0.0,
                "format": 0.0,
                "toy-gated": 1.0,
            }
        )
        english = reward.score(REF, "sw", REF)  # an English copy: gate 0
        assert english.components["toy-gated"] == 1.0 and english.gate == 0.0 and english.reward == 0.0
        assert reward.score(SW, "sw", REF).reward == 1.0
    finally:
        REGISTRY.unregister("toy-gated")


def test_a_broken_component_fails_loudly_naming_itself() -> None:
    for name, scorer in (
        ("toy-short", lambda items, context: [1.0] * (len(items) - 1)),
        ("toy-range", lambda items, context: [1.5] * len(items)),
        ("toy-nan", lambda items, context: [float("nan")] * len(items)),
    ):
        register_component(name, default_weight=1.0)(scorer)
        try:
            with pytest.raises(RuntimeError, match=f"reward component '{name}'"):
                _reward().score(SW, "sw", REF)
        finally:
            REGISTRY.unregister(name)


def test_a_component_declares_what_it_needs_and_may_refuse_items() -> None:
    got: list[ScoringContext] = []

    def needs_encoder(items: Sequence[RewardItem], context: ScoringContext) -> list[float]:
        got.append(context)
        assert context.semantic is not None
        return context.semantic.score_batch([it.response for it in items], [it.reference for it in items])

    def refuse_german(item: RewardItem, context: ScoringContext) -> None:
        if item.lang == "de":
            raise ValueError("toy-encoder does not score German")

    register_component("toy-encoder", needs=("encoder",), check=refuse_german)(needs_encoder)
    try:
        cfg = RewardConfig(
            langs=["sw", "de"],
            weights={"semantic": 0.0, "toy-encoder": 1.0},
            encoder={"calibration": (0.2, 0.9)},
        )
        reward = Reward(cfg, encoder=HashEncoder())
        assert reward.semantic is not None and reward.score(SW, "sw", REF).components["toy-encoder"] > 0
        assert got[0].semantic is reward.semantic
        with pytest.raises(ValueError, match="item 0: toy-encoder does not score German"):
            reward.score(SW, "de", REF)
        assert Reward(RewardConfig(langs=["sw"], weights={"semantic": 0.0})).semantic is None
    finally:
        REGISTRY.unregister("toy-encoder")


def test_component_entries_are_checked() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_component("answer")(lambda items, context: [0.0] * len(items))
    with pytest.raises(ValueError, match="default_weight"):
        Component("x", lambda items, context: [], default_weight=-1)
    with pytest.raises(ValueError, match="unknown needs"):
        Component("x", lambda items, context: [], needs=("gpu",))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown reward component 'nope'"):
        REGISTRY.get("nope")


@pytest.mark.parametrize("module", ["__init__", "translation", "answer", "trace", "language", "format"])
def test_every_builtin_documents_its_formula_and_its_example_runs(module: str) -> None:
    name = "pbrlsvr.rewards.components" + ("" if module == "__init__" else f".{module}")
    mod = importlib.import_module(name)
    doc = mod.__doc__ or ""
    if module != "__init__":
        assert "Formula" in doc and "Range" in doc and "Arguments" in doc and ">>>" in doc, module
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0, result


@pytest.mark.slow
def test_the_semantic_example_runs_with_the_packaged_encoder() -> None:
    mod = importlib.import_module("pbrlsvr.rewards.components.semantic")
    assert "Formula" in (mod.__doc__ or "")
    result = doctest.testmod(mod)
    assert result.attempted > 0 and result.failed == 0, result
