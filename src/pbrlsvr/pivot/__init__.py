"""Pivot references: a strong English model answers every problem's English version ``k`` times.

Flow: problems (any loader) → :func:`plan_pivot` (dedupe by parallel id, skip what the store
holds) → :func:`run_plan` (generate in small batches, commit each) → :func:`choose_references`
(majority vote with :func:`~pbrlsvr.rewards.answer.answers_match`, gold check, keep rule) →
:func:`reference_rows` / :func:`write_rows` (JSONL, Parquet, HF dataset folder).
:func:`import_solutions` stores references written elsewhere (GSM8K's example model solutions) as
a pivot of their own. Modules: :mod:`~pbrlsvr.pivot.config`, :mod:`~pbrlsvr.pivot.store`,
:mod:`~pbrlsvr.pivot.runner`, :mod:`~pbrlsvr.pivot.voting`, :mod:`~pbrlsvr.pivot.export`,
:mod:`~pbrlsvr.pivot.importer`, :mod:`~pbrlsvr.pivot.commands` (what the CLI runs).
"""

from pbrlsvr.pivot.config import (
    DEFAULT_TEMPLATE,
    PivotCommandConfig,
    PivotConfig,
    PivotImportCommandConfig,
    PromptConfig,
    SolutionsConfig,
    sampling_digest,
)
from pbrlsvr.pivot.export import (
    EXPORT_COLUMNS,
    ExportError,
    Reference,
    Selection,
    choose_references,
    read_rows,
    reference_rows,
    resolve_key_set,
    write_rows,
)
from pbrlsvr.pivot.importer import ImportReport, import_key_set, import_solutions
from pbrlsvr.pivot.runner import (
    GenerationFailure,
    PivotError,
    PivotPlan,
    PivotProblem,
    RunReport,
    build_pivot_generator,
    pivot_key_set,
    plan_pivot,
    run_pivot,
    run_plan,
    unique_problems,
)
from pbrlsvr.pivot.store import KeySet, ReferenceStore, Sample, StoreError, StoreLockedError, question_hash
from pbrlsvr.pivot.voting import Vote, agrees_with_gold, vote

__all__ = [
    "DEFAULT_TEMPLATE",
    "EXPORT_COLUMNS",
    "ExportError",
    "GenerationFailure",
    "ImportReport",
    "KeySet",
    "PivotCommandConfig",
    "PivotConfig",
    "PivotError",
    "PivotImportCommandConfig",
    "PivotPlan",
    "PivotProblem",
    "PromptConfig",
    "Reference",
    "ReferenceStore",
    "RunReport",
    "Sample",
    "Selection",
    "SolutionsConfig",
    "StoreError",
    "StoreLockedError",
    "Vote",
    "agrees_with_gold",
    "build_pivot_generator",
    "choose_references",
    "import_key_set",
    "import_solutions",
    "pivot_key_set",
    "plan_pivot",
    "question_hash",
    "read_rows",
    "reference_rows",
    "resolve_key_set",
    "run_pivot",
    "run_plan",
    "sampling_digest",
    "unique_problems",
    "vote",
    "write_rows",
]
