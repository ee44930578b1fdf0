"""Multilingual evaluation: per-language accuracy, language consistency and LC&Acc, with intervals.

What is evaluated (problems, task kind, languages) comes from the data sources' registry
(:func:`pbrlsvr.data.load_benchmark`); this package holds what is evaluation's own.

>>> from pbrlsvr.evaluation import EvalConfig, evaluate
>>> cfg = EvalConfig(model="smollm2-135m-instruct", data={"source": "mgsm", "langs": ["en", "sw"],
...                  "limit": 20}, output="runs/eval/smollm2")       # doctest: +SKIP
>>> result = evaluate(cfg)                                            # doctest: +SKIP
>>> result.report["languages"]["sw"]["accuracy"], result.report["averages"]["en_gap"]  # doctest: +SKIP

Modules, one job each: :mod:`~pbrlsvr.evaluation.config` (``EvalConfig``, ``CompareConfig``),
:mod:`~pbrlsvr.evaluation.prompts` (per-language templates, few-shot),
:mod:`~pbrlsvr.evaluation.scoring` (the reward's extractor and language identifier),
:mod:`~pbrlsvr.evaluation.store` (append-only predictions, resume),
:mod:`~pbrlsvr.evaluation.metrics` (bootstrap intervals, averages, English gap),
:mod:`~pbrlsvr.evaluation.runner` (:func:`evaluate`), :mod:`~pbrlsvr.evaluation.report`,
:mod:`~pbrlsvr.evaluation.plots`, :mod:`~pbrlsvr.evaluation.compare`.
"""

from pbrlsvr.evaluation.compare import compare_runs, render_compare_markdown
from pbrlsvr.evaluation.config import (
    BootstrapConfig,
    CompareConfig,
    ConsistencyConfig,
    EvalConfig,
    EvalPromptConfig,
)
from pbrlsvr.evaluation.metrics import METRICS, bootstrap_binary, bootstrap_p_value, paired_delta, summarize
from pbrlsvr.evaluation.prompts import build_conversation, native_prompt, template_hash
from pbrlsvr.evaluation.report import load_report, render_markdown
from pbrlsvr.evaluation.runner import EvalResult, build_report, evaluate
from pbrlsvr.evaluation.scoring import Scorer, extract_choice, extractor_version
from pbrlsvr.evaluation.store import PredictionStore, read_predictions

__all__ = [
    "METRICS",
    "BootstrapConfig",
    "CompareConfig",
    "ConsistencyConfig",
    "EvalConfig",
    "EvalPromptConfig",
    "EvalResult",
    "PredictionStore",
    "Scorer",
    "bootstrap_binary",
    "bootstrap_p_value",
    "build_conversation",
    "build_report",
    "compare_runs",
    "evaluate",
    "extract_choice",
    "extractor_version",
    "load_report",
    "native_prompt",
    "paired_delta",
    "read_predictions",
    "render_compare_markdown",
    "render_markdown",
    "summarize",
    "template_hash",
]
