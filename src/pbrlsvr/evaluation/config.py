"""Configuration of ``pbrlsvr eval`` and ``pbrlsvr eval compare``.

.. code-block:: yaml

    model: qwen2.5-coder-0.5b-instruct       # a model spec (generation.parse_model_spec)
    model_options: {device: cpu}             # the backend's options
    data: {source: mgsm, langs: [en, sw, bn], limit: 50}
    benchmark: auto                          # auto | math | a registered source (mmlu-prox, polymath, ...)
    task: auto                               # auto | math | choice
    output: runs/eval/qwen-mgsm
    batch_size: 16
    shots: 0                                 # K MGSM exemplars in the prompt's language
    sampling: {max_new_tokens: 512, temperature: 0.0, seed: 0}   # greedy by default
    prompt: {style: native, system: null, templates: {}}
    consistency: {threshold: 0.5, candidates: benchmark}
    bootstrap: {resamples: 1000, seed: 0, confidence: 0.95}

Everything that changes a line of ``predictions.jsonl`` (model, data source, prompt, decoding,
extractor, language-ID settings) is part of the run's *fingerprint*
(:meth:`EvalConfig.fingerprint`); resuming into a folder whose predictions were made with another
fingerprint is an error unless ``force`` is set. ``data.langs`` and ``data.limit`` only choose
*which* items are evaluated, so a run can be extended to more languages or problems in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pbrlsvr.config import StrictModel, validate_langs
from pbrlsvr.data.config import DataConfig
from pbrlsvr.evaluation.prompts import EvalPromptConfig, template_hash
from pbrlsvr.generation.backends import ModelSpec, parse_model_spec
from pbrlsvr.generation.base import SamplingConfig
from pbrlsvr.hashing import digest

DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"

Task = Literal["auto", "math", "choice"]


class ConsistencyConfig(StrictModel):
    """When a response counts as written in the prompt's language.

    A response is *language-consistent* when the share of its letters that the language
    identifier (:class:`pbrlsvr.rewards.language.LanguageConsistency`, the reward's own) assigns to
    the prompt's language is at least ``threshold``. With the default 0.5, the prompt's language
    must hold at least half of the response's words (numbers, LaTeX and code are not counted):
    a response that reasons in English and only states its answer in Swahili is not consistent.
    """

    threshold: float = Field(0.5, gt=0.0, le=1.0, description="minimum share of the prompt's language")
    candidates: Literal["benchmark", "run"] | list[str] = Field(
        "benchmark",
        description="languages the identifier chooses between: 'benchmark' = every language of the "
        "benchmark (results do not depend on --langs), 'run' = the evaluated languages, or a list; "
        "English is always added",
    )

    @field_validator("candidates", mode="before")
    @classmethod
    def _check_candidates(cls, value: Any) -> Any:
        if value in ("benchmark", "run"):
            return value
        return validate_langs(value)


class BootstrapConfig(StrictModel):
    """Percentile bootstrap confidence intervals (seeded, so reports are reproducible)."""

    resamples: int = Field(1000, ge=100, le=1_000_000)
    seed: int = 0
    confidence: float = Field(0.95, gt=0.5, lt=1.0)


class EvalConfig(StrictModel):
    """``pbrlsvr eval``: evaluate a model per language and write a report."""

    model: str = Field(
        DEFAULT_MODEL,
        description="model spec: offline alias, HF id, folder, .gguf, ct2:<model>, vllm:<model>, URL#<model>",
    )
    model_options: dict[str, Any] = Field(
        default_factory=dict,
        description="the backend's options (checked against what it takes); batch_size defaults to the eval's",
    )
    data: DataConfig = Field(default_factory=DataConfig)
    benchmark: str = Field(
        "auto",
        description="the registered data source that reads data.source (mmlu-prox, polymath, mgsm, ...; "
        "pbrlsvr list sources): auto (by name, HF id, files or record keys), math (auto without the "
        "multiple-choice sources)",
    )
    task: Task = Field("auto", description="math (a final number/expression) or choice (a letter A-J)")
    output: Path | None = Field(None, description="folder for predictions.jsonl, report.json/md, plots")
    batch_size: int = Field(
        16,
        ge=1,
        description="conversations per generate() call (one fsync each); 16 measured 4.37x one-at-a-time",
    )
    shots: int = Field(0, ge=0, le=8, description="few-shot MGSM exemplars in the prompt's language")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    prompt: EvalPromptConfig = Field(default_factory=EvalPromptConfig)
    consistency: ConsistencyConfig = Field(default_factory=ConsistencyConfig)
    bootstrap: BootstrapConfig = Field(default_factory=BootstrapConfig)
    sort_by_length: bool = Field(True, description="batch prompts of similar length together (less padding)")
    plots: bool = Field(True, description="write PNG plots beside the report")
    force: bool = Field(False, description="discard predictions made with other settings and start over")

    @field_validator("benchmark")
    @classmethod
    def _check_benchmark(cls, value: str) -> str:
        from pbrlsvr.data.sources import check_source_name

        return check_source_name(value, extra=("math",))

    @model_validator(mode="after")
    def _check_model(self) -> EvalConfig:
        self.model_spec()
        return self

    def model_spec(self) -> ModelSpec:
        """``model`` with ``model_options`` (:func:`~pbrlsvr.generation.parse_model_spec`).

        ``batch_size`` (``model_options.batch_size``, else the eval's) goes to backends that take
        one (they batch locally); a server backend batches on its own and is not given it.
        """
        options = dict(self.model_options)
        batch = options.pop("batch_size", self.batch_size)
        return parse_model_spec(self.model, options).with_defaults(batch_size=batch)

    @model_validator(mode="after")
    def _one_sample(self) -> EvalConfig:
        if self.sampling.n != 1:
            raise ValueError(
                f"sampling.n = {self.sampling.n}: evaluation scores one completion per problem; use n: 1"
            )
        return self

    def fingerprint_payload(self) -> dict[str, Any]:
        """What a prediction line depends on (everything but the item selection and the report)."""
        from pbrlsvr.evaluation.scoring import extractor_version

        data = self.data.model_dump(mode="json", exclude={"langs", "limit"})
        return {
            "model": self.model,
            "model_options": self.model_options,
            "data": data,
            "benchmark": self.benchmark,
            "task": self.task,
            "shots": self.shots,
            "sampling": self.sampling.model_dump(mode="json"),
            "prompt_template_hash": template_hash(self.prompt, self.shots),
            "extractor_version": extractor_version(),
            "consistency": self.consistency.model_dump(mode="json"),
        }

    def fingerprint(self) -> str:
        return digest(self.fingerprint_payload())


class CompareConfig(StrictModel):
    """``pbrlsvr eval compare A B``: per-language deltas with paired bootstrap significance."""

    a: Path = Field(description="baseline: an eval output folder or its report.json")
    b: Path = Field(description="candidate: an eval output folder or its report.json")
    output: Path | None = Field(None, description="folder for compare.json, compare.md and compare.png")
    bootstrap: BootstrapConfig = Field(default_factory=BootstrapConfig)
    alpha: float = Field(0.05, gt=0.0, lt=0.5, description="significance level (two-sided)")
    plots: bool = True
