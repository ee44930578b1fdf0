"""`pbrlsvr pivot` (generate), `pivot export` and `pivot import`: English references in a store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pbrlsvr.cli.common import (
    ConfigOpt,
    DataOpt,
    LangsOpt,
    LimitOpt,
    SetOpt,
    command_config,
    console,
    err_console,
    fail,
    shared_options,
    user_errors,
)
from pbrlsvr.cli.main import app

pivot_app = typer.Typer(
    help=(
        "Generate English pivot references into a resumable SQLite store, vote, and export.\n\n"
        "`pbrlsvr pivot [OPTIONS]` generates (k samples per problem, majority vote, gold check); "
        "`pivot export` re-exports from the store without generating; `pivot import` stores "
        "solutions written elsewhere (GSM8K's example model solutions) as a pivot."
    ),
    add_completion=False,
    # `pivot` runs on its own with options; `export`/`import` are its subcommands, listed below.
    subcommand_metavar="| export [OPTIONS] | import [OPTIONS]",
)
app.add_typer(pivot_app, name="pivot")

FLAG_KEYS = {
    "source": "data.source",
    "langs": "data.langs",
    "limit": "data.limit",
    "store": "store",
    "output": "output",
    "fmt": "format",
    "keep": "keep",
    "min_agreement": "min_agreement",
    "model": "pivot.model",
    "samples": "pivot.samples",
    "batch_size": "pivot.batch_size",
    "solutions": "solutions.path",
    "key": "solutions.key",
    "import_model": "solutions.model",
    "force": "force",
}
"""Each pivot flag's config key (one table for the three commands)."""

# The options every pivot command takes, declared once (see shared_options).
PIVOT_OPTIONS: dict[str, Any] = {
    "source": DataOpt,
    "langs": LangsOpt,
    "limit": LimitOpt,
    "store": Annotated[Path | None, typer.Option("--store", help="SQLite reference store.")],
    "output": Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Export references: .jsonl, .parquet or a folder (HF dataset)."),
    ],
    "fmt": Annotated[str | None, typer.Option("--format", help="auto, jsonl, parquet or hf.")],
    "keep": Annotated[
        str | None, typer.Option("--keep", help="all, agree_with_gold, min_agreement or both.")
    ],
    "min_agreement": Annotated[
        float | None,
        typer.Option("--min-agreement", help="Agreement threshold for --keep min_agreement/both."),
    ],
    "config": ConfigOpt,
    "set_": SetOpt,
}


def _config(config_type: type[Any], shared: dict[str, Any], **flags: Any) -> Any:
    """The command's config from the shared options and its own flags; refuses an export path
    that is the data file, the store or the solutions file before any work (a pivot run can take
    hours, and the export would replace what it read)."""
    from pbrlsvr.io_checks import check_output

    given = {k: v for k, v in {**shared, **flags}.items() if k not in ("config", "set_")}
    cfg = command_config(
        config_type, shared["config"], shared["set_"], {FLAG_KEYS[k]: v for k, v in given.items()}
    )
    if cfg.output is not None:
        solutions = getattr(getattr(cfg, "solutions", None), "path", None)
        check_output(cfg.output, [cfg.data.source, cfg.store, solutions], folder_ok=True)
    return cfg


def _finish(outcome: Any) -> None:
    from pbrlsvr.cli.render import pivot_outcome

    pivot_outcome(outcome, console, err_console)
    if outcome.failed:
        raise typer.Exit(1)


@pivot_app.callback(invoke_without_command=True)
@user_errors
@shared_options(**PIVOT_OPTIONS)
def pivot_command(
    ctx: typer.Context,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Pivot model spec: alias, HF id, folder, .gguf, ct2:<model>, URL (`pbrlsvr list backends`).",
        ),
    ] = None,
    samples: Annotated[int | None, typer.Option("--samples", "-k", help="Samples per problem.")] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", help="Problems per generate call (committed).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Delete this key set's samples of these problems; regenerate.")
    ] = False,
    shared: dict[str, Any] | None = None,
) -> None:
    """Generate English pivot references (k samples per problem), vote, check gold, export.

    Resumable: samples are committed batch by batch, and re-running the same command generates only
    what is missing. Exit code 1 when some generations failed (they are retried on the next run).
    """
    assert shared is not None
    own = {"model": model, "samples": samples, "batch_size": batch_size, "force": True if force else None}
    if ctx.invoked_subcommand is not None:
        if any(v not in (None, []) for v in (*own.values(), *shared.values())):
            fail(f"put the options after the subcommand: pbrlsvr pivot {ctx.invoked_subcommand} [OPTIONS]")
        return
    from pbrlsvr.pivot.commands import pivot_generate
    from pbrlsvr.pivot.config import PivotCommandConfig

    cfg = _config(PivotCommandConfig, shared, **own)
    _finish(pivot_generate(cfg, progress_console=err_console))


@pivot_app.command("export")
@user_errors
@shared_options(**PIVOT_OPTIONS)
def pivot_export_command(
    model: Annotated[
        str | None, typer.Option("--model", help="The pivot whose references to export (its name).")
    ] = None,
    samples: Annotated[
        int | None, typer.Option("--samples", "-k", help="Vote over the first k samples.")
    ] = None,
    shared: dict[str, Any] | None = None,
) -> None:
    """Vote over the stored samples and export the chosen references (generates nothing).

    Takes the same config as `pbrlsvr pivot`. One row per (problem id, lang): id, lang, question,
    question_en, gold, reference, reference_answer, agreement, votes, n_samples, pivot_model, correct.
    """
    assert shared is not None
    from pbrlsvr.pivot.commands import pivot_export
    from pbrlsvr.pivot.config import PivotCommandConfig

    _finish(pivot_export(_config(PivotCommandConfig, shared, model=model, samples=samples)))


@pivot_app.command("import")
@user_errors
@shared_options(**PIVOT_OPTIONS)
def pivot_import_command(
    solutions: Annotated[
        Path | None,
        typer.Option("--from", help="example_model_solutions.jsonl (default: the packaged MGSM slice)."),
    ] = None,
    key: Annotated[str | None, typer.Option("--key", help="Solution key, e.g. 175b_verification.")] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="The pivot's name, e.g. gpt3-175b-verification.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace what an earlier import stored.")] = False,
    shared: dict[str, Any] | None = None,
) -> None:
    """Import GSM8K's example model solutions as a pivot, linked to problems by English question."""
    assert shared is not None
    from pbrlsvr.pivot.commands import pivot_import
    from pbrlsvr.pivot.config import PivotImportCommandConfig

    cfg = _config(
        PivotImportCommandConfig,
        shared,
        solutions=solutions,
        key=key,
        import_model=model,
        force=True if force else None,
    )
    _finish(pivot_import(cfg))
