"""Multilingual evaluation: per-language accuracy, language consistency and LC&Acc, with intervals.

>>> from pbrlsvr.evaluation import EvalConfig, evaluate
>>> cfg = EvalConfig(model="smollm2-135m-instruct", data={"source": "mgsm", "langs": ["en", "sw"],
...                  "limit": 20}, output="runs/eval/smollm2")       # doctest: +SKIP
>>> result = evaluate(cfg)                                            # doctest: +SKIP
>>> result.report["languages"]["sw"]["accuracy"], result.report["averages"]["en_gap"]  # doctest: +SKIP

Modules, one job each: :mod:`~pbrlsvr.evaluation.config` (``EvalConfig``, ``CompareConfig``),
:mod:`~pbrlsvr.evaluation.benchmarks` (MGSM, MSVAMP, GSM8K, MMLU-ProX, PolyMath, any table),
:mod:`~pbrlsvr.evaluation.prompts` (per-language templates, few-shot),
:mod:`~pbrlsvr.evaluation.scoring` (the reward's extractor and language identifier),
:mod:`~pbrlsvr.evaluation.store` (append-only predictions, resume),
:mod:`~pbrlsvr.evaluation.metrics` (bootstrap intervals, averages, English gap),
:mod:`~pbrlsvr.evaluation.runner` (:func:`evaluate`), :mod:`~pbrlsvr.evaluation.report`,
:mod:`~pbrlsvr.evaluation.plots`, :mod:`~pbrlsvr.evaluation.compare`.
"""

from pbrlsvr.evaluation.benchmarks import Benchmark, load_benchmark, mmlu_prox_problem, polymath_problem
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
    "Benchmark",
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
    "load_benchmark",
    "load_report",
    "mmlu_prox_problem",
    "native_prompt",
    "paired_delta",
    "polymath_problem",
    "read_predictions",
    "render_compare_markdown",
    "render_markdown",
    "summarize",
    "template_hash",
]
