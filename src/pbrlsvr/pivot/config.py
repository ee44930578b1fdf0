"""Configuration of the pivot commands: ``pbrlsvr pivot``, ``pivot export`` and ``pivot import``.

One YAML serves ``pivot`` and ``pivot export`` (the export finds the same store key set):

.. code-block:: yaml

    data: {source: mgsm, langs: [sw, bn]}
    store: runs/pivot/references.sqlite
    output: runs/pivot/references.parquet
    keep: agree_with_gold          # all | agree_with_gold | min_agreement | both
    min_agreement: 0.5
    keep_truncated: false          # true: samples cut at max_new_tokens may vote and be references
    pivot:
      model: meta-llama/Llama-3.1-8B-Instruct
      samples: 4
      batch_size: 8
      sampling: {temperature: 0.7, top_p: 0.95, max_new_tokens: 512, seed: 0}
      prompt: {template: "...{question}..."}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pbrlsvr.config import StrictModel
from pbrlsvr.data.config import DataConfig
from pbrlsvr.generation.backends import ModelSpec, parse_model_spec
from pbrlsvr.generation.base import SamplingConfig
from pbrlsvr.hashing import digest

DEFAULT_TEMPLATE = (
    "Solve the following math problem. Reason step by step, then finish with a last line of the "
    'form "The answer is N." where N is the final answer as a number.\n\n'
    "Question: {question}"
)
"""The default user prompt: step-by-step reasoning and a final ``The answer is N.`` line."""

QUESTION_SLOT = "{question}"

Keep = Literal["all", "agree_with_gold", "min_agreement", "both"]
ExportFormat = Literal["auto", "jsonl", "parquet", "hf"]


class PromptConfig(StrictModel):
    """How a problem's English question becomes the pivot's chat conversation.

    ``template`` must contain ``{question}`` once or more; only that slot is replaced (other
    braces, e.g. LaTeX, are left alone). ``system`` is an optional system message.
    """

    system: str | None = Field(None, description="optional system message")
    template: str = Field(DEFAULT_TEMPLATE, description="user message; {question} is the English question")

    @field_validator("template")
    @classmethod
    def _has_slot(cls, value: str) -> str:
        if QUESTION_SLOT not in value:
            raise ValueError(f"the prompt template must contain {QUESTION_SLOT}")
        return value

    def render(self, question: str) -> list[dict[str, str]]:
        """The chat conversation for one English question."""
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages.append({"role": "user", "content": self.template.replace(QUESTION_SLOT, question)})
        return messages

    def digest(self) -> str:
        """Hash of the system message and template: part of every store key."""
        return digest({"system": self.system, "template": self.template})


def _default_sampling() -> SamplingConfig:
    return SamplingConfig(temperature=0.7, top_p=0.95, max_new_tokens=512, seed=0)


def sampling_digest(settings: SamplingConfig) -> str:
    """Hash of the decoding settings except ``n`` (samples are counted by sample index)."""
    return digest(settings.model_dump(mode="json", exclude={"n"}))


class PivotConfig(StrictModel):
    """The pivot model and how it samples references (the ``pivot:`` section)."""

    model: str = Field(
        "qwen2.5-coder-0.5b-instruct",
        description="the pivot's model spec: offline alias, HF id, folder, .gguf, ct2:<model>, vllm:<model>, URL#<model>",
    )
    name: str | None = Field(
        None, description="the model's name in the store and exports; default: `model` as written"
    )
    backend: dict[str, Any] = Field(
        default_factory=dict, description="the generation backend's options (checked against what it takes)"
    )
    samples: int = Field(4, ge=1, le=1024, description="samples per problem (k) for the majority vote")
    batch_size: int = Field(
        8, ge=1, description="problems per generate call; every batch is committed to the store"
    )
    sampling: SamplingConfig = Field(default_factory=_default_sampling)
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    busy_timeout: float = Field(
        60.0, ge=0, allow_inf_nan=False, description="seconds to wait for another writer's lock"
    )

    @field_validator("sampling")
    @classmethod
    def _n_is_samples(cls, value: SamplingConfig) -> SamplingConfig:
        if value.n != 1:
            raise ValueError("set pivot.samples (samples per problem) instead of pivot.sampling.n")
        return value

    @model_validator(mode="after")
    def _check_model(self) -> PivotConfig:
        self.model_spec()
        return self

    def model_spec(self) -> ModelSpec:
        """``model`` with ``backend`` as its options (:func:`~pbrlsvr.generation.parse_model_spec`)."""
        return parse_model_spec(self.model, self.backend)

    @property
    def model_name(self) -> str:
        """The name written into the store key."""
        return self.name or self.model


class SolutionsConfig(StrictModel):
    """Reference solutions written elsewhere (``pivot import``): GSM8K's example model solutions."""

    path: Path | None = Field(
        None,
        description="example_model_solutions.jsonl; None = the packaged slice for MGSM's 250 problems",
    )
    key: str = Field(
        "175b_verification",
        description="which model's solutions to import; several keys separated by commas become "
        "samples 0, 1, ... of one pivot (a vote across models)",
    )
    model: str = Field("gpt3-175b-verification", description="the pivot's name in the store and exports")

    @field_validator("key")
    @classmethod
    def _keys(cls, value: str) -> str:
        keys = [k.strip() for k in value.split(",")]
        if not all(keys):
            raise ValueError("expected a solution key or comma-separated keys, e.g. 175b_verification")
        if len(set(keys)) != len(keys):
            raise ValueError("a solution key is repeated")
        return ",".join(keys)

    @property
    def keys(self) -> list[str]:
        return self.key.split(",")


class _Selection(StrictModel):
    """Keys shared by every pivot command: the store, the export and which references to keep."""

    data: DataConfig = Field(default_factory=DataConfig)
    store: Path = Field(Path("pivot_references.sqlite"), description="the SQLite reference store")
    output: Path | None = Field(
        None, description="export the chosen references here (.jsonl, .parquet, or a folder = HF dataset)"
    )
    format: ExportFormat = Field("auto", description="export format; auto = by the output's extension")
    keep: Keep = Field(
        "all",
        description="all | agree_with_gold (problems without gold are kept) | min_agreement | both",
    )
    min_agreement: float = Field(
        0.5, ge=0, le=1, allow_inf_nan=False, description="threshold for keep=min_agreement/both"
    )
    keep_truncated: bool = Field(
        False,
        description="let samples cut at max_new_tokens (finish reason 'length') vote and become "
        "references; off: they count as answerless, so an unfinished text is never a reference",
    )


class PivotCommandConfig(_Selection):
    """``pbrlsvr pivot`` (generate, then export) and ``pbrlsvr pivot export`` (export only)."""

    pivot: PivotConfig = Field(default_factory=PivotConfig)
    force: bool = Field(False, description="delete this key set's samples for these problems and regenerate")


class PivotImportCommandConfig(_Selection):
    """``pbrlsvr pivot import``: store solutions written elsewhere as a pivot's samples."""

    solutions: SolutionsConfig = Field(default_factory=SolutionsConfig)
    force: bool = Field(False, description="delete this import's samples for these problems first")


__all__ = [
    "DEFAULT_TEMPLATE",
    "ExportFormat",
    "Keep",
    "PivotCommandConfig",
    "PivotConfig",
    "PivotImportCommandConfig",
    "PromptConfig",
    "SolutionsConfig",
    "sampling_digest",
]
