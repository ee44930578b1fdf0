"""`pbrlsvr train` configuration: everything a practitioner sets, in one YAML."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pbrlsvr.config import StrictModel, validate_langs
from pbrlsvr.generation.backends import parse_model_spec
from pbrlsvr.models.config import ModelConfig
from pbrlsvr.rewards.config import RewardConfig


class LoraAdapterConfig(StrictModel):
    """LoRA through peft; ``enabled: false`` trains every weight (needs ~4× the memory)."""

    enabled: bool = True
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="LoRA dropout; 0 for RL: dropout makes the trainer's log-probs of a sample differ "
        "from the sampler's (read by the importance mask as mismatch) and costs ~9% of a CPU step",
    )
    target_modules: list[str] | str = Field("all-linear", description="peft target_modules")


class SignalFilterConfig(StrictModel):
    """Drop, before training, the prompts on which GRPO would learn nothing.

    GRPO's advantage is a completion's reward minus its group's mean: a prompt whose
    ``num_generations`` completions all get the same reward (all right, all wrong, all in the wrong
    language) contributes no gradient, only generation time. With ``enabled: true``,
    ``pbrlsvr train`` samples each prompt's group once with the initial policy, scores it with the
    training reward and keeps only rows whose group reward std reaches ``min_std``
    (:mod:`pbrlsvr.train.signal_filter`; decisions in ``<output_dir>/signal_filter.jsonl``).
    """

    enabled: bool = Field(
        False, description="sample and score every prompt once before training; drop no-signal ones"
    )
    min_std: float = Field(
        1e-6,
        gt=0,
        allow_inf_nan=False,
        description="keep a prompt when its group's reward std (ddof=1, as TRL) is at least this (> 0)",
    )
    batch_size: int = Field(
        16, ge=1, description="completions per generate call while sampling (rows = prompt × sample)"
    )


class RolloutConfig(StrictModel):
    """Where GRPO's completions are generated (:mod:`pbrlsvr.train.engine_rollout`).

    ``engine: auto`` uses CTranslate2 when the model trains on the CPU and ``pbrlsvr[engine]`` is
    installed (about 20x HF ``generate`` for sampling on 2 cores), and TRL's own generation
    otherwise (HF ``generate``, or vLLM with ``use_vllm``). ``trl`` always uses TRL's own.
    """

    engine: Literal["auto", "ct2", "trl"] = Field("auto", description="auto | ct2 | trl")
    compute_type: str = Field("int8", description="CTranslate2 compute type: int8, int8_float32, float32")
    threads: int = Field(0, ge=0, description="engine threads (0 = all cores)")
    sync_every: int = Field(
        1, ge=1, description="optimizer steps between weight pushes to the engine (1 = on-policy)"
    )
    importance_mask: bool | None = Field(
        None,
        description="mask tokens whose trainer/engine probability ratio leaves [mask_min, mask_max] "
        "(one extra no-grad forward per rollout); default: on unless compute_type is float32",
    )
    mask_min: float = Field(0.5, ge=0, lt=1)
    mask_max: float = Field(2.0, gt=1, allow_inf_nan=False)


GRPO_OWN_KEYS: dict[str, str] = {
    "output_dir": "output_dir",
    "learning_rate": "learning_rate",
    "beta": "beta",
    "num_generations": "num_generations",
    "max_completion_length": "max_completion_length",
    "per_device_train_batch_size": "per_device_train_batch_size",
    "gradient_accumulation_steps": "gradient_accumulation_steps",
    "max_steps": "max_steps",
    "num_train_epochs": "num_train_epochs",
    "temperature": "temperature",
    "seed": "seed",
    "logging_steps": "logging_steps",
    "save_steps": "save_steps",
    "save_total_limit": "save_total_limit",
    "report_to": "report_to",
    "bf16": "bf16",
    "gradient_checkpointing": "gradient_checkpointing",
    "activation_checkpointing": "gradient_checkpointing",
    "use_vllm": "use_vllm",
    "vllm_mode": "vllm_mode",
    "log_completions": "log_completions",
    "reward_weights": "reward.weights",
    "multi_objective_aggregation": "aggregation",
    "use_cpu": "model.device",
}
"""``GRPOConfig`` fields that ``pbrlsvr train`` sets from its own keys (value: the key to set instead).
Setting one of them under ``grpo:`` too would leave two values for one field, so that is an error."""


def grpo_fields() -> dict[str, Any]:
    """TRL's ``GRPOConfig`` dataclass fields by name (imports TRL: only called when ``grpo:`` is set)."""
    import dataclasses

    from trl import GRPOConfig

    return {f.name: f for f in dataclasses.fields(GRPOConfig) if f.init}


def check_grpo_keys(extra: dict[str, Any], fields: dict[str, Any] | None = None) -> None:
    """Refuse ``grpo:`` keys that ``GRPOConfig`` does not have (naming the closest field) or that
    a top-level key already sets. ``ValueError`` lists every bad key at once."""
    if not extra:
        return
    known = grpo_fields() if fields is None else fields
    problems = []
    for key in extra:
        if key in GRPO_OWN_KEYS:
            problems.append(f"grpo.{key}: set by pbrlsvr from `{GRPO_OWN_KEYS[key]}`; set that key instead")
        elif key not in known:
            close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.7)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"grpo.{key}: TRL's GRPOConfig has no field {key!r}{hint}")
    if problems:
        raise ValueError("; ".join(problems))


class TrainConfig(StrictModel):
    """GRPO on TRL's ``GRPOTrainer`` with the PB-RLSVR reward.

    ``data`` is a pivot export (JSONL, Parquet or a ``save_to_disk`` folder) with one row per
    (problem, language): ``id``, ``lang``, ``question``, ``reference``, ``reference_answer`` and
    optionally ``gold`` and ``agreement``. Never a test set: the loader refuses MGSM/MSVAMP ids.
    """

    data: Path | None = Field(None, description="pivot export: the training set")
    langs: list[str] | None = Field(None, description="languages to train on (default: all in data)")
    limit: int | None = Field(None, ge=1, description="first N rows per language")
    min_agreement: float = Field(0.0, ge=0, le=1, description="drop references with lower pivot agreement")
    model: ModelConfig = Field(default_factory=ModelConfig)
    lora: LoraAdapterConfig = Field(default_factory=LoraAdapterConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    reward_url: str | None = Field(
        None,
        description="score on a `pbrlsvr serve` service (http://host:port) instead of loading the reward "
        "in every rank; token from $PBRLSVR_TOKEN; aggregation sum only",
    )
    aggregation: Literal["sum", "normalize_then_sum"] = Field(
        "sum",
        description="sum: one combined reward (gates apply); normalize_then_sum: TRL's per-component mode",
    )
    output_dir: Path = Field(
        Path("runs/train"), description="checkpoints, final model, metrics.jsonl, config"
    )
    learning_rate: float = Field(1e-5, gt=0, allow_inf_nan=False)
    beta: float = Field(0.0, ge=0, description="KL coefficient (TRL's default 0: no reference model)")
    num_generations: int = Field(4, ge=2, description="completions per prompt (the GRPO group)")
    max_completion_length: int = Field(256, ge=8)
    per_device_train_batch_size: int = Field(4, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_steps: int = Field(100, description="-1: use num_train_epochs")
    num_train_epochs: float = Field(1.0, gt=0)
    temperature: float = Field(1.0, gt=0)
    seed: int = 42
    logging_steps: int = Field(1, ge=1)
    save_steps: int = Field(25, ge=1)
    save_total_limit: int | None = Field(2, ge=1)
    report_to: list[str] = Field(default_factory=lambda: ["none"], description="none, tensorboard, wandb")
    bf16: bool | None = Field(
        None,
        description="bfloat16 autocast for training; None = on where the hardware has bf16 "
        "(CPUs with AVX512-BF16/AMX: measured 2.7x faster forward+backward for Qwen 0.5B on 2 cores)",
    )
    gradient_checkpointing: bool = False
    lean_step: bool = Field(
        True,
        description="micro-batches of similar length, each trimmed to its own width, and the LM head on "
        "completion tokens only (pbrlsvr.train.lean_step); false: TRL's own layout, for comparison",
    )
    use_vllm: bool = Field(False, description="vLLM generation (GPU; TRL colocate or server mode)")
    vllm_mode: Literal["colocate", "server"] = "colocate"
    log_completions: bool = False
    grpo: dict[str, Any] = Field(
        default_factory=dict,
        description="any other TRL GRPOConfig field, by TRL's name, passed through as is (checked against "
        "GRPOConfig's own fields: a misspelt key is an error), e.g. vllm_gpu_memory_utilization, "
        "vllm_server_base_url, chat_template_kwargs, steps_per_generation, scale_rewards, loss_type, "
        "mask_truncated_completions, deepspeed",
    )
    resume: bool = Field(False, description="continue from the last checkpoint in output_dir")
    rollout: RolloutConfig = Field(
        default_factory=RolloutConfig, description="generation engine for GRPO rollouts"
    )
    filter_no_signal: SignalFilterConfig = Field(
        default_factory=SignalFilterConfig,
        description="drop prompts whose sampled group all got the same reward (no GRPO signal)",
    )

    _check_langs = field_validator("langs", mode="before")(validate_langs)

    @field_validator("model")
    @classmethod
    def _trainable(cls, model: ModelConfig) -> ModelConfig:
        """The policy must be a model transformers loads: a spec selecting another generation
        backend (``ct2:``, ``vllm:``, a URL) names something that cannot be trained; its options
        are checked as the transformers backend checks them."""
        options = {"dtype": model.dtype, "device": model.device, "revision": model.revision}
        spec = parse_model_spec(model.name, options, trust_remote_code=model.trust_remote_code)
        if not spec.entry.default:
            raise ValueError(
                f"name: {model.name!r} selects the {spec.backend} generation backend; a model to train is "
                "an offline alias, HF id, folder or .gguf file"
            )
        return model

    @field_validator("grpo")
    @classmethod
    def _check_grpo(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_grpo_keys(value)
        return value

    @model_validator(mode="after")
    def _batch_fits_groups(self) -> TrainConfig:
        total = self.per_device_train_batch_size * self.gradient_accumulation_steps
        if total % self.num_generations:
            raise ValueError(
                f"per_device_train_batch_size × gradient_accumulation_steps ({total}) must be a multiple of "
                f"num_generations ({self.num_generations}): GRPO scores whole groups"
            )
        if self.use_vllm and self.rollout.engine == "ct2":
            raise ValueError("rollout.engine: ct2 and use_vllm: true exclude each other; choose one")
        if self.rollout.importance_mask and self.temperature != 1.0:
            raise ValueError(
                "rollout.importance_mask needs temperature 1 (CTranslate2 reports log-probs before temperature)"
            )
        if self.reward_url is not None and self.aggregation != "sum":
            raise ValueError("reward_url scores the combined reward on the service: use aggregation: sum")
        if self.reward_url is not None and self.filter_no_signal.enabled:
            raise ValueError("filter_no_signal scores in process: it cannot be combined with reward_url")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"max_steps must be positive or -1, got {self.max_steps}")
        return self
