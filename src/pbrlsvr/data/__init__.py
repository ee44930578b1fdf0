"""Problem loaders: every dataset becomes a list of :class:`Problem` records.

>>> from pbrlsvr.data import load_problems
>>> problems = load_problems("mgsm", langs=["sw"], limit=2)
>>> [(p.id, p.lang, p.gold) for p in problems]
[('mgsm-0000', 'sw', '18'), ('mgsm-0001', 'sw', '3')]

Modules, one job each: :mod:`~pbrlsvr.data.mgsm`, :mod:`~pbrlsvr.data.gsm8k`,
:mod:`~pbrlsvr.data.msvamp`, :mod:`~pbrlsvr.data.generic` (JSONL/CSV/Parquet/HF with a column
mapping), :mod:`~pbrlsvr.data.loader` (``DataConfig`` → problems), :mod:`~pbrlsvr.data.report`
(malformed rows), :mod:`~pbrlsvr.data.readers` (lines, numbers, ids), :mod:`~pbrlsvr.data.hf`,
:mod:`~pbrlsvr.data.resources` (the packaged data).
"""

from pbrlsvr.data.generic import load_hf_table, load_table
from pbrlsvr.data.gsm8k import (
    EnglishIndex,
    gsm8k_final_answer,
    load_gsm8k,
    load_gsm8k_hf,
    load_gsm8k_translated,
    read_example_model_solutions,
)
from pbrlsvr.data.loader import BUILTIN_SOURCES, load_problems, load_problems_with_report, problems_to_jsonl
from pbrlsvr.data.mgsm import load_mgsm, load_mgsm_exemplars, load_mgsm_hf
from pbrlsvr.data.msvamp import load_msvamp
from pbrlsvr.data.problem import Problem
from pbrlsvr.data.readers import canonical_number
from pbrlsvr.data.report import DataWarning, Issues, LoadReport, RowIssue

__all__ = [
    "BUILTIN_SOURCES",
    "DataWarning",
    "EnglishIndex",
    "Issues",
    "LoadReport",
    "Problem",
    "RowIssue",
    "canonical_number",
    "gsm8k_final_answer",
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
    "problems_to_jsonl",
    "read_example_model_solutions",
]
