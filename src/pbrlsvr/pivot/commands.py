"""The pivot commands behind the CLI: generate, import and export, with progress and a summary.

:func:`pivot_generate`, :func:`pivot_import` and :func:`pivot_export` do the work of
``pbrlsvr pivot``, ``pbrlsvr pivot import`` and ``pbrlsvr pivot export`` and return a
:class:`PivotOutcome`; ``pbrlsvr.cli.render.pivot_outcome`` prints its summary.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from pbrlsvr.config import dump_config
from pbrlsvr.data import DataWarning, RowIssue, load_problems_with_report
from pbrlsvr.data.problem import Problem
from pbrlsvr.generation.base import Generator
from pbrlsvr.generation.progress import GenerationProgress
from pbrlsvr.pivot.config import PivotCommandConfig, PivotImportCommandConfig
from pbrlsvr.pivot.export import (
    Selection,
    choose_references,
    reference_rows,
    resolve_key_set,
    sample_accuracy,
    write_rows,
)
from pbrlsvr.pivot.importer import ImportReport, import_solutions
from pbrlsvr.pivot.runner import RunReport, pivot_key_set, plan_pivot, run_plan
from pbrlsvr.pivot.store import ReferenceStore


@dataclass
class PivotOutcome:
    """What a pivot command did: generation or import, the vote, the export."""

    selection: Selection
    issues: list[RowIssue] = field(default_factory=list)
    run: RunReport | None = None
    imported: ImportReport | None = None
    sample_accuracy: float | None = None
    output: Path | None = None
    format: str | None = None
    exported_rows: int = 0

    @property
    def failed(self) -> int:
        return len(self.run.failures) if self.run is not None else 0

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain data (written beside an export as ``<output>.summary.json``).

        Counts are named for what they count: ``problems`` (unique ids, what the pivot answers
        once), ``problem_rows`` ((id, lang) rows read), ``kept`` (ids with a kept reference) and
        ``exported_rows`` (rows written: every language of every kept id). ``generation`` is what
        this call generated; ``stored`` is the generation time and tokens of every voted sample,
        whichever run made it, so a re-run that reuses the store reports the same totals.
        """
        sel = self.selection
        out: dict[str, Any] = {
            "key_set": {
                "model": sel.key.model,
                "prompt_hash": sel.key.prompt_hash,
                "settings_hash": sel.key.settings_hash,
            },
            "problems": len(sel.references),
            "problem_rows": sel.rows,
            "samples": sel.samples,
            "truncated_samples": sel.truncated,
            "stored": {
                "samples": sel.samples,
                "generation_seconds": round(sel.generation_seconds, 3),
                "completion_tokens": sel.completion_tokens,
                "tokens_per_second": (
                    round(sel.completion_tokens / sel.generation_seconds, 2)
                    if sel.generation_seconds > 0
                    else None
                ),
            },
            "with_samples": sum(r.vote.n_samples > 0 for r in sel.references),
            "with_gold": len(sel.with_gold),
            "pivot_accuracy": sel.accuracy,
            "sample_accuracy": self.sample_accuracy,
            "agreement_histogram": sel.agreement_histogram(),
            "kept": len(sel.kept()),
            "dropped": sel.dropped(),
            "exported_rows": self.exported_rows,
            "output": None if self.output is None else str(self.output),
            "format": self.format,
            "malformed_rows": [str(i) for i in self.issues],
            "no_english": sel.no_english,
        }
        if self.run is not None:
            r = self.run
            out["generation"] = {
                "expected": r.expected,
                "present_before": r.present_before,
                "deleted": r.deleted,
                "planned": r.planned,
                "generated": r.generated,
                "duplicates": r.duplicates,
                "skipped": r.skipped,
                "failed": [asdict(f) for f in r.failures],
                "generate_calls": r.generate_calls,
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "generation_seconds": r.generation_seconds,
                "store_seconds": r.store_seconds,
                "wall_seconds": r.wall_seconds,
                "tokens_per_second": r.tokens_per_second,
            }
        if self.imported is not None:
            i = self.imported
            out["import"] = {
                "file": str(i.file),
                "matched": i.matched,
                "inserted": i.inserted,
                "already": i.already,
                "deleted": i.deleted,
                "unmatched": i.unmatched,
                "no_solution": i.no_solution,
            }
        return out


# --- shared steps ----------------------------------------------------------------------------


def load_with_issues(
    cfg: PivotCommandConfig | PivotImportCommandConfig,
) -> tuple[list[Problem], list[RowIssue]]:
    """Load the problems; malformed rows skipped under ``data.on_error=skip`` are returned (under
    ``raise`` the first one is a :class:`~pbrlsvr.errors.DataError` naming ``file:line``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # the command prints every issue itself
        report = load_problems_with_report(cfg.data)
    return report.problems, list(report.issues)


def _export(
    outcome: PivotOutcome,
    problems: list[Problem],
    cfg: PivotCommandConfig | PivotImportCommandConfig,
) -> None:
    if cfg.output is None:
        return
    rows = reference_rows(problems, outcome.selection)
    outcome.format = write_rows(rows, cfg.output, cfg.format)
    outcome.output = cfg.output
    outcome.exported_rows = len(rows)
    cfg.output.with_name(cfg.output.name + ".config.yaml").write_text(dump_config(cfg), encoding="utf-8")
    cfg.output.with_name(cfg.output.name + ".summary.json").write_text(
        json.dumps(outcome.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8"
    )


# --- commands --------------------------------------------------------------------------------


def pivot_generate(
    cfg: PivotCommandConfig,
    *,
    generator: Generator | None = None,
    progress_console: Console | None = None,
) -> PivotOutcome:
    """``pbrlsvr pivot``: generate the missing samples, vote, export when ``cfg.output`` is set.

    ``progress_console`` shows live progress there (samples done / planned, tokens/s, time left: a
    bar in a terminal, timestamped lines in a log, :mod:`pbrlsvr.generation.progress`); ``None``
    shows none.
    """
    from pbrlsvr.outputs import writable_file

    if cfg.output is not None:  # before hours of generation, not after
        writable_file(cfg.output, "the pivot export")
    writable_file(cfg.store, "the reference store")
    problems, issues = load_with_issues(cfg)
    with ReferenceStore(cfg.store, busy_timeout=cfg.pivot.busy_timeout) as store:
        plan = plan_pivot(problems, cfg.pivot, store, force=cfg.force)
        if progress_console is not None and plan.missing:
            label = f"pivot {cfg.pivot.model_name}"
            with GenerationProgress(label, progress_console, unit="samples") as live:
                run = run_plan(plan, store, generator, live=live)
        else:
            run = run_plan(plan, store, generator)
        selection = choose_references(
            problems,
            store,
            plan.key,
            keep=cfg.keep,
            min_agreement=cfg.min_agreement,
            samples=cfg.pivot.samples,
            keep_truncated=cfg.keep_truncated,
        )
        outcome = PivotOutcome(
            selection, issues, run=run, sample_accuracy=sample_accuracy(store, selection, cfg.pivot.samples)
        )
    _export(outcome, problems, cfg)
    return outcome


def pivot_export(cfg: PivotCommandConfig) -> PivotOutcome:
    """``pbrlsvr pivot export``: vote over what the store holds and export; generates nothing.

    The key set is this configuration's; when the store has none of it, the only key set of the
    same model name is used (an import, or a run with other settings).
    """
    problems, issues = load_with_issues(cfg)
    with ReferenceStore(cfg.store, busy_timeout=cfg.pivot.busy_timeout, create=False) as store:
        key = resolve_key_set(store, pivot_key_set(cfg.pivot))
        cap = cfg.pivot.samples if key == pivot_key_set(cfg.pivot) else None
        selection = choose_references(
            problems,
            store,
            key,
            keep=cfg.keep,
            min_agreement=cfg.min_agreement,
            samples=cap,
            keep_truncated=cfg.keep_truncated,
        )
        outcome = PivotOutcome(selection, issues, sample_accuracy=sample_accuracy(store, selection, cap))
    _export(outcome, problems, cfg)
    return outcome


def pivot_import(cfg: PivotImportCommandConfig) -> PivotOutcome:
    """``pbrlsvr pivot import``: store solutions written elsewhere as a pivot, vote, export."""
    problems, issues = load_with_issues(cfg)
    with ReferenceStore(cfg.store) as store:
        imported = import_solutions(problems, store, cfg.solutions, force=cfg.force)
        selection = choose_references(
            problems,
            store,
            imported.key,
            keep=cfg.keep,
            min_agreement=cfg.min_agreement,
            keep_truncated=cfg.keep_truncated,
        )
        outcome = PivotOutcome(
            selection, issues, imported=imported, sample_accuracy=sample_accuracy(store, selection)
        )
    _export(outcome, problems, cfg)
    return outcome


# --- the summary -----------------------------------------------------------------------------


__all__ = [
    "PivotOutcome",
    "load_with_issues",
    "pivot_export",
    "pivot_generate",
    "pivot_import",
]
