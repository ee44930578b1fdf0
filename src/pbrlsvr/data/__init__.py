"""Problem loaders: every dataset becomes a list of :class:`Problem` records.

>>> from pbrlsvr.data import load_problems
>>> problems = load_problems("mgsm", langs=["sw"], limit=2)
>>> [(p.id, p.lang, p.gold) for p in problems]
[('mgsm-0000', 'sw', '18'), ('mgsm-0001', 'sw', '3')]

Every source is an entry of one registry, :data:`~pbrlsvr.data.sources.SOURCES`
(:func:`register_source`; ``pbrlsvr list sources`` shows them). Modules, one job each:
:mod:`~pbrlsvr.data.sources` (the registry, how ``auto`` picks a source),
:mod:`~pbrlsvr.data.mgsm`, :mod:`~pbrlsvr.data.gsm8k`, :mod:`~pbrlsvr.data.msvamp`,
:mod:`~pbrlsvr.data.mmlu_prox`, :mod:`~pbrlsvr.data.polymath` (one benchmark each),
:mod:`~pbrlsvr.data.generic` (JSONL/CSV/Parquet/HF with a column mapping),
:mod:`~pbrlsvr.data.loader` (``DataConfig`` → problems, or a :class:`Benchmark` for evaluation),
:mod:`~pbrlsvr.data.report` (malformed rows), :mod:`~pbrlsvr.data.readers` (lines, numbers,
ids, languages from file names), :mod:`~pbrlsvr.data.hf`, :mod:`~pbrlsvr.data.resources` (the
packaged data).
"""

# Importing a source module registers its sources; all built-ins are imported here, so any use of
# the registry sees them.
from pbrlsvr.data import generic, gsm8k, mgsm, mmlu_prox, msvamp, polymath  # noqa: F401
from pbrlsvr.data.config import DataCommandConfig, DataConfig
from pbrlsvr.data.generic import load_hf_table, load_table
from pbrlsvr.data.gsm8k import (
    EnglishIndex,
    gsm8k_final_answer,
    load_gsm8k,
    load_gsm8k_hf,
    load_gsm8k_translated,
    read_example_model_solutions,
)
from pbrlsvr.data.loader import (
    Benchmark,
    load_benchmark,
    load_problems,
    load_problems_with_report,
    problems_to_jsonl,
)
from pbrlsvr.data.mgsm import load_mgsm, load_mgsm_exemplars, load_mgsm_hf
from pbrlsvr.data.mmlu_prox import mmlu_prox_problem
from pbrlsvr.data.msvamp import load_msvamp
from pbrlsvr.data.polymath import polymath_problem
from pbrlsvr.data.problem import Problem
from pbrlsvr.data.readers import canonical_number
from pbrlsvr.data.report import DataWarning, Issues, LoadReport, RowIssue
from pbrlsvr.data.sources import (
    SOURCES,
    DataSource,
    describe_sources,
    register_source,
    resolve_source,
    unregister_source,
)

__all__ = [
    "SOURCES",
    "Benchmark",
    "DataCommandConfig",
    "DataConfig",
    "DataSource",
    "DataWarning",
    "EnglishIndex",
    "Issues",
    "LoadReport",
    "Problem",
    "RowIssue",
    "canonical_number",
    "describe_sources",
    "gsm8k_final_answer",
    "load_benchmark",
    "load_gsm8k",
    "load_gsm8k_hf",
    "load_gsm8k_translated",
    "load_hf_table",
    "load_mgsm",
    "load_mgsm_exemplars",
    "load_mgsm_hf",
    "load_msvamp",
    "load_problems",
    "load_problems_with_report",
    "load_table",
    "mmlu_prox_problem",
    "polymath_problem",
    "problems_to_jsonl",
    "read_example_model_solutions",
    "register_source",
    "resolve_source",
    "unregister_source",
]
