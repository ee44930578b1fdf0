"""The experiment's YAML: policy, pivot, data, languages, evaluation sets, budget and arms."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pbrlsvr.config import StrictModel, load_config, validate_langs
from pbrlsvr.data.config import DataConfig
from pbrlsvr.errors import ConfigError

ARMS: dict[str, dict[str, Any] | None] = {
    "base": None,
    "accuracy": {"preset": "accuracy"},
    "accuracy+language": {
        "preset": "accuracy",
        "weights": {"answer": 1.0, "language": 0.2, "format": 0.2},
    },
    "semantic": {"preset": "semantic-only"},
    "pbrlsvr": {"preset": "pbrlsvr", "answer_against": "reference"},
}
"""The built-in arms: name → reward overrides (``None``: no training).

- ``base``: the policy as it is;
- ``accuracy``: plain RLVR, math-verify against gold (what peers call naive RL);
- ``accuracy+language``: the Budget Alignment recipe, 1.0 accuracy + 0.2 language + 0.2 format
  (gold answers);
- ``semantic``: the embedding reward alone, no gate (the paper's pure embedding variant);
- ``pbrlsvr``: the default hybrid reward, answers checked against the pivot's (no gold).
"""


class ArmConfig(StrictModel):
    """One arm: a name and the reward it trains on (``reward: null`` = no training)."""

    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.+-]+$")
    reward: dict[str, Any] | None = Field(None, description="RewardConfig overrides; null = untrained")


class ExperimentPivotConfig(StrictModel):
    model: str = Field("qwen2.5-coder-0.5b-instruct", description="the English pivot (any model spec)")
    samples: int = Field(4, ge=1, description="samples per problem for the majority vote")
    temperature: float = Field(0.7, ge=0)
    max_new_tokens: int = Field(384, ge=16)
    keep: Literal["min_agreement", "all"] = Field(
        "min_agreement", description="which references to train on; never by gold (the pbrlsvr arm sees none)"
    )
    min_agreement: float = Field(
        0.5, ge=0, le=1, description="keep references whose voted answer has at least this agreement"
    )
    keep_truncated: bool = Field(
        False, description="let samples cut at max_new_tokens vote and become references"
    )


class BudgetConfig(StrictModel):
    """What every training arm gets, identically."""

    steps: int = Field(20, ge=1, description="optimizer steps")
    prompts_per_step: int = Field(8, ge=1)
    completions_per_prompt: int = Field(4, ge=2, description="GRPO group size")
    max_completion_length: int = Field(256, ge=8)
    learning_rate: float = Field(2e-5, gt=0)
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    micro_batch: int = Field(8, ge=1, description="completions per forward/backward (memory, not budget)")
    temperature: float = Field(1.0, gt=0)
    seed: int = 0
    save_steps: int = Field(5, ge=1, description="checkpoint interval (what a resume can lose)")


class EvalSetConfig(StrictModel):
    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$")
    data: DataConfig


class ExperimentConfig(StrictModel):
    """`pbrlsvr experiment -c configs/experiment/small.yaml` (see the module docstring)."""

    output: Path = Field(Path("results/experiment"), description="everything the experiment writes")
    policy: str = Field("qwen2.5-coder-0.5b-instruct", description="the multilingual policy")
    pivot: ExperimentPivotConfig = Field(default_factory=ExperimentPivotConfig)
    train_data: DataConfig = Field(..., description="training problems (never a test set)")
    langs: list[str] = Field(..., description="target languages (training and reward)")
    eval_sets: list[EvalSetConfig] = Field(..., min_length=1)
    eval_max_new_tokens: int = Field(256, ge=16)
    eval_batch_size: int = Field(16, ge=1)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    arms: list[str | ArmConfig] = Field(
        default_factory=lambda: ["base", "accuracy", "pbrlsvr"],
        description="built-in names (base, accuracy, accuracy+language, semantic, pbrlsvr) or {name, reward}",
    )
    engine: Literal["ct2", "hf"] = Field("ct2", description="generation for pivot, eval and rollouts")
    compute_type: str = Field("int8", description="CTranslate2 compute type")

    _check_langs = field_validator("langs", mode="before")(validate_langs)

    @model_validator(mode="after")
    def _known_arms(self) -> ExperimentConfig:
        names = [a if isinstance(a, str) else a.name for a in self.arms]
        unknown = [a for a in self.arms if isinstance(a, str) and a not in ARMS]
        if unknown:
            raise ValueError(f"unknown arm(s) {unknown}; built-in arms are {', '.join(ARMS)}")
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be unique, got {names}")
        if "base" not in names:
            raise ValueError("the arms must include 'base' (every delta is measured against it)")
        if self.budget.prompts_per_step * self.budget.completions_per_prompt % self.budget.micro_batch:
            raise ValueError("budget.micro_batch must divide prompts_per_step × completions_per_prompt")
        if self.budget.micro_batch % self.budget.completions_per_prompt:
            raise ValueError("budget.micro_batch must be a multiple of completions_per_prompt (whole groups)")
        return self

    def resolved_arms(self) -> list[ArmConfig]:
        return [ArmConfig(name=a, reward=ARMS[a]) if isinstance(a, str) else a for a in self.arms]


def load_experiment_config(path: Path | None, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    if path is None:
        raise ConfigError("experiment needs a config: pbrlsvr experiment -c configs/experiment/small.yaml")
    return load_config(ExperimentConfig, path, overrides=overrides)
