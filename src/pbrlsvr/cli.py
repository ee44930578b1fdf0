"""The `pbrlsvr` command line: one Typer app for the whole flow.

pivot → train → eval, with `score` and `serve` for the reward, `demo` for the end-to-end run on
the offline defaults, `models` for the packaged offline models and `data` to inspect any data
spec. Every command takes ``--config file.yaml`` and ``--set key=value``; user errors print one
clear message and exit 2, never a traceback.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.table import Table

from pbrlsvr import __version__
from pbrlsvr.config import DataCommandConfig, ScoreCommandConfig, dump_config, load_config, parse_set_options
from pbrlsvr.errors import PbrlsvrError
from pbrlsvr.models.progress import make_console


def _hide_flag_metavars() -> None:
    """Show no ``<bool>`` type after on/off flags (``--help``, ``--version``, ``--force``) in help.

    Typer 0.29 prints every option's type, which for a flag reads as if it took a value
    (``--force <bool>``). There is no setting for it, so the one method that renders the type
    column returns nothing for flags; options that take a value keep their ``<int>``/``<path>``.
    """
    core = getattr(typer, "core", None)
    option = getattr(core, "TyperOption", None)
    show = getattr(option, "display_type_rich", None)
    if option is None or show is None or getattr(show, "_pbrlsvr", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return None if getattr(self, "is_flag", False) else show(self, ctx)

    display_type_rich._pbrlsvr = True  # type: ignore[attr-defined]
    option.display_type_rich = display_type_rich


_hide_flag_metavars()

app = typer.Typer(
    name="pbrlsvr",
    help=(
        "Pivot-Based RL with Semantically Verifiable Rewards.\n\n"
        "Flow: `pivot` (English references) → `train` (GRPO on the verifiable reward) → "
        "`eval` (per-language accuracy, language consistency, LC&Acc). `score` and `serve` run the "
        "reward; `demo` runs everything end to end on the offline models."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="List and prepare the packaged offline models.", no_args_is_help=True)
app.add_typer(models_app, name="models")

console = make_console()
err_console = make_console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file for this command.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override any config key: --set data.limit=10 (repeatable)."),
]


def _fail(message: str, code: int = 2) -> NoReturn:
    # soft_wrap: rich must not break an error (a path, a config value) at the console width; the
    # terminal wraps it for the eye, and a log or grep sees each message line whole.
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def user_errors(func: F) -> F:
    """Turn :class:`PbrlsvrError` into a one-line message and exit code 2 (bugs still trace)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PbrlsvrError as exc:
            _fail(str(exc))

    return wrapper  # type: ignore[return-value]


def with_flags(overrides: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """``--set`` overrides plus the flags that were given (flags win; unset flags change nothing)."""
    return {**overrides, **{k: v for k, v in flags.items() if v is not None}}


def _version(value: bool) -> None:
    if value:
        console.print(f"pbrlsvr {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    plugin: Annotated[
        list[str] | None,
        typer.Option(
            "--plugin",
            metavar="MODULE|FILE.py",
            help="Import a plugin that registers reward components, data sources or generation "
            "backends (repeatable; also PBRLSVR_PLUGINS and the pbrlsvr.plugins entry points).",
        ),
    ] = None,
) -> None:
    """Pivot-Based RL with Semantically Verifiable Rewards."""
    from pbrlsvr.registry import PluginError, load_plugins

    try:
        load_plugins(plugin or [])
    except PluginError as exc:
        _fail(str(exc))


# --- pivot -----------------------------------------------------------------------------------

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

PivotDataOpt = Annotated[
    str | None, typer.Option("--data", "--source", help="Built-in name, file, folder or HF id.")
]
PivotLangsOpt = Annotated[str | None, typer.Option(help="Comma-separated ISO 639-1 codes.")]
PivotLimitOpt = Annotated[int | None, typer.Option(help="First N problems per language.")]
PivotStoreOpt = Annotated[Path | None, typer.Option("--store", help="SQLite reference store.")]
PivotOutputOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Export references: .jsonl, .parquet or a folder (HF dataset)."),
]
PivotFormatOpt = Annotated[str | None, typer.Option("--format", help="auto, jsonl, parquet or hf.")]
PivotKeepOpt = Annotated[
    str | None, typer.Option("--keep", help="all, agree_with_gold, min_agreement or both.")
]
PivotAgreementOpt = Annotated[
    float | None, typer.Option("--min-agreement", help="Agreement threshold for --keep min_agreement/both.")
]


def _pivot_flags(**flags: Any) -> dict[str, Any]:
    names = {
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
    return {names[k]: v for k, v in flags.items()}


def _pivot_outputs_ok(cfg: Any) -> None:
    """Refuse an export path that is the data file, the store or the solutions file (before any
    work: a pivot run can take hours, and the export would replace what it read)."""
    from pbrlsvr.io_checks import check_output

    if cfg.output is None:
        return
    solutions = getattr(getattr(cfg, "solutions", None), "path", None)
    check_output(cfg.output, [cfg.data.source, cfg.store, solutions], folder_ok=True)


def _pivot_finish(outcome: Any) -> None:
    from pbrlsvr.pivot.commands import render_outcome

    render_outcome(outcome, console, err_console)
    if outcome.failed:
        raise typer.Exit(1)


@pivot_app.callback(invoke_without_command=True)
@user_errors
def pivot_command(
    ctx: typer.Context,
    source: PivotDataOpt = None,
    langs: PivotLangsOpt = None,
    limit: PivotLimitOpt = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Pivot model: alias, HF id, folder, .gguf.")
    ] = None,
    samples: Annotated[int | None, typer.Option("--samples", "-k", help="Samples per problem.")] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", help="Problems per generate call (committed).")
    ] = None,
    store: PivotStoreOpt = None,
    output: PivotOutputOpt = None,
    fmt: PivotFormatOpt = None,
    keep: PivotKeepOpt = None,
    min_agreement: PivotAgreementOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Delete this key set's samples of these problems; regenerate.")
    ] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Generate English pivot references (k samples per problem), vote, check gold, export.

    Resumable: samples are committed batch by batch, and re-running the same command generates only
    what is missing. Exit code 1 when some generations failed (they are retried on the next run).
    """
    given = {
        "source": source,
        "langs": langs,
        "limit": limit,
        "model": model,
        "samples": samples,
        "batch_size": batch_size,
        "store": store,
        "output": output,
        "fmt": fmt,
        "keep": keep,
        "min_agreement": min_agreement,
        "force": True if force else None,
    }
    if ctx.invoked_subcommand is not None:
        if any(v is not None for v in given.values()) or config is not None or set_:
            _fail(f"put the options after the subcommand: pbrlsvr pivot {ctx.invoked_subcommand} [OPTIONS]")
        return
    from pbrlsvr.pivot.commands import pivot_generate
    from pbrlsvr.pivot.config import PivotCommandConfig

    cfg = load_config(
        PivotCommandConfig, config, with_flags(parse_set_options(set_ or []), _pivot_flags(**given))
    )
    _pivot_outputs_ok(cfg)
    _pivot_finish(pivot_generate(cfg, progress_console=err_console))


@pivot_app.command("export")
@user_errors
def pivot_export_command(
    source: PivotDataOpt = None,
    langs: PivotLangsOpt = None,
    limit: PivotLimitOpt = None,
    model: Annotated[
        str | None, typer.Option("--model", help="The pivot whose references to export (its name).")
    ] = None,
    samples: Annotated[
        int | None, typer.Option("--samples", "-k", help="Vote over the first k samples.")
    ] = None,
    store: PivotStoreOpt = None,
    output: PivotOutputOpt = None,
    fmt: PivotFormatOpt = None,
    keep: PivotKeepOpt = None,
    min_agreement: PivotAgreementOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Vote over the stored samples and export the chosen references (generates nothing).

    Takes the same config as `pbrlsvr pivot`. One row per (problem id, lang): id, lang, question,
    question_en, gold, reference, reference_answer, agreement, votes, n_samples, pivot_model, correct.
    """
    from pbrlsvr.pivot.commands import pivot_export
    from pbrlsvr.pivot.config import PivotCommandConfig

    flags = _pivot_flags(
        source=source,
        langs=langs,
        limit=limit,
        model=model,
        samples=samples,
        store=store,
        output=output,
        fmt=fmt,
        keep=keep,
        min_agreement=min_agreement,
    )
    cfg = load_config(PivotCommandConfig, config, with_flags(parse_set_options(set_ or []), flags))
    _pivot_outputs_ok(cfg)
    _pivot_finish(pivot_export(cfg))


@pivot_app.command("import")
@user_errors
def pivot_import_command(
    source: PivotDataOpt = None,
    langs: PivotLangsOpt = None,
    limit: PivotLimitOpt = None,
    solutions: Annotated[
        Path | None,
        typer.Option("--from", help="example_model_solutions.jsonl (default: the packaged MGSM slice)."),
    ] = None,
    key: Annotated[str | None, typer.Option("--key", help="Solution key, e.g. 175b_verification.")] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="The pivot's name, e.g. gpt3-175b-verification.")
    ] = None,
    store: PivotStoreOpt = None,
    output: PivotOutputOpt = None,
    fmt: PivotFormatOpt = None,
    keep: PivotKeepOpt = None,
    min_agreement: PivotAgreementOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Replace what an earlier import stored.")] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Import GSM8K's example model solutions as a pivot, linked to problems by English question."""
    from pbrlsvr.pivot.commands import pivot_import
    from pbrlsvr.pivot.config import PivotImportCommandConfig

    flags = _pivot_flags(
        source=source,
        langs=langs,
        limit=limit,
        solutions=solutions,
        key=key,
        import_model=model,
        store=store,
        output=output,
        fmt=fmt,
        keep=keep,
        min_agreement=min_agreement,
        force=True if force else None,
    )
    cfg = load_config(PivotImportCommandConfig, config, with_flags(parse_set_options(set_ or []), flags))
    _pivot_outputs_ok(cfg)
    _pivot_finish(pivot_import(cfg))


# --- data ------------------------------------------------------------------------------------


@app.command("data")
@user_errors
def data_command(
    source: Annotated[
        str | None, typer.Option("--data", "--source", help="Built-in name, file, folder or HF id.")
    ] = None,
    langs: Annotated[str | None, typer.Option(help="Comma-separated ISO 639-1 codes.")] = None,
    limit: Annotated[int | None, typer.Option(help="First N problems per language.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write problems as JSONL.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Load problems from any data spec and summarise them per language (a dry run of the loaders)."""
    from pbrlsvr.data import load_problems, problems_to_jsonl

    overrides = with_flags(
        parse_set_options(set_ or []),
        {"data.source": source, "data.langs": langs, "data.limit": limit, "output": output},
    )
    cfg = load_config(DataCommandConfig, config, overrides)
    if cfg.output is not None:
        from pbrlsvr.io_checks import check_output

        check_output(cfg.output, [cfg.data.source])  # -o onto --data would replace the data
    problems = load_problems(cfg.data)
    per_lang = Counter(p.lang for p in problems)
    table = Table(title=f"{cfg.data.source}: {len(problems)} problems")
    for col in ("lang", "problems", "with gold", "with English", "with English solution"):
        table.add_column(col, justify="right" if col != "lang" else "left")
    for lang in per_lang:
        rows = [p for p in problems if p.lang == lang]
        table.add_row(
            lang,
            str(len(rows)),
            str(sum(p.gold is not None for p in rows)),
            str(sum(p.question_en is not None for p in rows)),
            str(sum(p.solution_en is not None for p in rows)),
        )
    console.print(table)
    if cfg.output is not None:
        problems_to_jsonl(problems, cfg.output)
        console.print(f"wrote {len(problems)} problems to {cfg.output}", soft_wrap=True)


# --- score -----------------------------------------------------------------------------------


@app.command("score")
@user_errors
def score_command(
    input: Annotated[
        Path | None, typer.Option("--input", "-i", help="JSONL: response, lang, reference, ...")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="JSONL: each input line plus its result.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Items scored together.")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Discard an unfinished run's .partial instead of resuming it.")
    ] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Score responses against pivot references (JSONL in, JSONL out), every component reported.

    Output line N belongs to input line N: the input object plus a "pbrlsvr" field (result_key)
    holding {line, reward, components, gate, answer, note}, or {line, error} for a line that cannot
    be scored, or {line, skipped} for a blank line; the rest is always scored. A killed or
    interrupted run resumes when the same command is run again. Exit code 1 when any line failed.
    The YAML may hold the reward under `reward:` (weights, gates, encoder, translator).
    """
    import signal

    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    from pbrlsvr.rewards.reward import Reward
    from pbrlsvr.rewards.score_file import (
        ScoreInterrupted,
        check_paths,
        check_resume,
        partial_paths,
        score_jsonl,
        score_settings,
    )

    overrides = with_flags(
        parse_set_options(set_ or []),
        {"input": input, "output": output, "batch_size": batch_size, "force": True if force else None},
    )
    cfg = load_config(ScoreCommandConfig, config, overrides)
    if cfg.input is None or cfg.output is None:
        _fail("score needs --input and --output (or input/output in the config)")
    config_copy = cfg.output.with_name(cfg.output.name + ".config.yaml")
    # Everything that can be refused is refused here, before the reward loads (seconds) and
    # before a single line is scored: bad paths, -o onto -i, an unresumable .partial.
    check_paths(cfg.input, cfg.output, also_written=(config_copy,))
    settings = score_settings(cfg.reward, result_key=cfg.result_key, max_line_bytes=cfg.max_line_bytes)
    if check_resume(cfg.input, cfg.output, settings, force=cfg.force):
        err_console.print(
            f"resuming: {partial_paths(cfg.output)[0]} holds an unfinished run of this input "
            "(--force starts over)",
            highlight=False,
            soft_wrap=True,
        )
    with console.status("loading the reward (encoder, language ID)..."):
        reward = Reward(cfg.reward)

    received: list[int] = []

    def on_term(signum: int, frame: Any) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    try:
        # A bar in a terminal only: in a log it would print once, at the end, as a line of noise.
        bar = Progress(
            "[progress.description]{task.description}",
            *columns,
            console=err_console,
            disable=not err_console.is_terminal,
        )
        with bar as progress:
            task = progress.add_task("scoring", total=cfg.input.stat().st_size)
            report = score_jsonl(
                reward,
                cfg.input,
                cfg.output,
                batch_size=cfg.batch_size,
                result_key=cfg.result_key,
                max_line_bytes=cfg.max_line_bytes,
                force=cfg.force,
                settings=settings,
                on_progress=lambda done, total: progress.update(task, completed=done),
            )
    except ScoreInterrupted as exc:
        what = "SIGTERM" if received else "interrupted"
        err_console.print(
            f"{what}: {exc.written} complete lines are in {exc.partial}; run the same command again "
            "to resume after them (--force starts over)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(143 if received else 130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    config_copy.write_text(dump_config(cfg), encoding="utf-8")
    for note in report.notes:
        err_console.print(note, highlight=False, soft_wrap=True)
    for number, reason in report.errors[:50]:
        err_console.print(f"[red]line {number}:[/] {reason}", highlight=False, soft_wrap=True)
    if report.failed > 50:
        err_console.print(
            f"... and {report.failed - 50} more failed lines (each is in the output with its error)",
            highlight=False,
        )
    extra = [
        f"{n} {what}"
        for n, what in (
            (report.failed, "failed"),
            (report.blank, "blank"),
            (report.resumed, "taken from the unfinished run"),
        )
        if n
    ]
    console.print(
        f"scored {report.scored} of {report.lines} lines into {cfg.output}"
        + (f" ({', '.join(extra)})" if extra else ""),
        highlight=False,
        soft_wrap=True,
    )
    if not report.ok:
        raise typer.Exit(1)


# --- serve -----------------------------------------------------------------------------------


@app.command("serve")
@user_errors
def serve_command(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (0.0.0.0: all).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
    max_batch_size: Annotated[int | None, typer.Option(help="Most items per scoring call.")] = None,
    max_wait_ms: Annotated[
        float | None, typer.Option(help="An idle worker waits this long for more items.")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Serve the reward over HTTP, micro-batched: POST /score, POST /get_reward (OpenRLHF),
    GET /health, GET /metrics.

    The YAML holds the reward under `reward:` (as for `score`) and the server keys at the top
    level (host, port, max_batch_size, max_wait_ms, token_env, max_body_bytes, max_items). The
    reward is loaded once, before the port opens; every trainer rank then shares it.
    """
    from pbrlsvr.server.app import build_reward, run_server
    from pbrlsvr.server.config import ServeConfig

    overrides = with_flags(
        parse_set_options(set_ or []),
        {"host": host, "port": port, "max_batch_size": max_batch_size, "max_wait_ms": max_wait_ms},
    )
    cfg = load_config(ServeConfig, config, overrides)
    cfg.resolve_token()  # a named but unset token variable fails here, before the reward loads
    import time

    t0 = time.perf_counter()
    with console.status("loading the reward (encoder, language ID)..."):
        reward = build_reward(cfg)
    run_server(cfg, reward=reward, load_seconds=time.perf_counter() - t0)


# --- demo ------------------------------------------------------------------------------------


@app.command("demo")
@user_errors
def demo_command(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Folder for everything.")] = None,
    policy: Annotated[str | None, typer.Option(help="Policy model to train.")] = None,
    pivot: Annotated[str | None, typer.Option(help="English pivot model.")] = None,
    langs: Annotated[str | None, typer.Option(help="Comma-separated target languages.")] = None,
    steps: Annotated[int | None, typer.Option(help="GRPO steps.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Run the whole flow end to end on the packaged offline models: pivot → eval → train → eval → compare.

    Resumable: run it again after a kill and it continues where it stopped.
    """
    from pbrlsvr.demo import DemoConfig, run_demo

    overrides = with_flags(
        parse_set_options(set_ or []),
        {"output": output, "policy": policy, "pivot": pivot, "langs": langs, "steps": steps},
    )
    cfg = load_config(DemoConfig, config, overrides)
    summary = run_demo(
        cfg, log=lambda msg: console.print(msg, highlight=False, soft_wrap=True), console=err_console
    )
    import json

    from pbrlsvr.demo_report import console_tables

    payload = json.loads(Path(summary["report_json"]).read_text(encoding="utf-8"))
    console.print()
    for table in console_tables(payload):
        console.print(table)
    # Paths are never wrapped (soft_wrap), so they can be copied from the terminal whole.
    console.print(f"evaluation reports: {', '.join(summary['eval_reports'])}", soft_wrap=True)
    console.print(f"plots: {', '.join(summary['plots'])}", soft_wrap=True)
    console.print(
        f"[bold green]report:[/] {summary['report']} (and {summary['report_json']})", soft_wrap=True
    )


# --- experiment ------------------------------------------------------------------------------


@app.command("experiment")
@user_errors
def experiment_command(
    config: ConfigOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Results folder.")] = None,
    report_only: Annotated[
        bool, typer.Option("--report-only", help="Only re-render results.md/json/plots from what exists.")
    ] = False,
    set_: SetOpt = None,
) -> None:
    """Matched-budget arms (base, accuracy, pbrlsvr, ...): pivot → train each arm → eval → results.md.

    Resumable at every stage: run the same command again and it continues where it stopped.
    """
    from pbrlsvr.experiment import State, load_experiment_config, run_experiment
    from pbrlsvr.experiment_report import write_results

    cfg = load_experiment_config(config, with_flags(parse_set_options(set_ or []), {"output": output}))
    if report_only:
        results = write_results(cfg, State(cfg.output / "state.json").data, cfg.resolved_arms())
    else:
        results = run_experiment(
            cfg, log=lambda msg: console.print(msg, highlight=False, soft_wrap=True), console=console
        )
    if results["missing_stages"]:
        console.print(f"unfinished: {', '.join(results['missing_stages'])}", soft_wrap=True)
    console.print(f"[bold green]results:[/] {cfg.output / 'results.md'}", soft_wrap=True)


# --- train -----------------------------------------------------------------------------------


@app.command("train")
@user_errors
def train_command(
    data: Annotated[
        Path | None, typer.Option("--data", help="Pivot export: JSONL, Parquet or dataset folder.")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Offline alias, HF id, folder or .gguf.")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output folder.")] = None,
    langs: Annotated[str | None, typer.Option(help="Comma-separated ISO 639-1 codes.")] = None,
    limit: Annotated[int | None, typer.Option(help="First N rows per language.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="GRPO steps (-1: epochs).")] = None,
    preset: Annotated[
        str | None, typer.Option(help="Reward preset: pbrlsvr, accuracy, semantic-only.")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the last checkpoint.")] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Train a policy with GRPO (TRL) on the PB-RLSVR reward; every component logged per step."""
    from pbrlsvr.train.config import TrainConfig
    from pbrlsvr.train.grpo import train

    overrides = with_flags(
        parse_set_options(set_ or []),
        {
            "data": data,
            "model.name": model,
            "output_dir": output,
            "langs": langs,
            "limit": limit,
            "max_steps": max_steps,
            "reward.preset": preset,
            "resume": True if resume else None,
        },
    )
    cfg = load_config(TrainConfig, config, overrides)
    result = train(cfg)
    console.print(
        f"[green]trained[/] {result.steps} steps; model in {result.final_dir}; metrics in {result.metrics_path}"
        + (f" (resumed from {result.resumed_from})" if result.resumed_from else ""),
        soft_wrap=True,
    )


# --- export ----------------------------------------------------------------------------------


@app.command("export-verl")
@user_errors
def export_verl_command(
    data: Annotated[Path, typer.Option("--data", help="Pivot export: JSONL, Parquet or dataset folder.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="verl Parquet file to write.")],
    data_source: Annotated[str, typer.Option(help="verl data_source field.")] = "pbrlsvr",
) -> None:
    """Write a pivot export in verl's Parquet schema (use with pbrlsvr.integrations.verl.compute_score)."""
    from pbrlsvr.integrations.verl import export_verl
    from pbrlsvr.io_checks import check_output
    from pbrlsvr.train.dataset import build_rows, read_rows

    check_output(output, [data])  # -o onto --data would replace the pivot export it reads
    source = read_rows(data)
    # extra_info.question is the bare question (what a user reads back), not the rendered prompt
    questions = {(str(r.get("id")), str(r.get("lang"))): r.get("question") for r in source}
    rows = build_rows(source)
    for row in rows:
        row["question"] = questions.get((str(row["id"]), str(row["lang"]))) or row["prompt"][-1]["content"]
    n = export_verl(rows, output, data_source)
    console.print(f"wrote {n} rows to {output}", soft_wrap=True)


@app.command("export-openrlhf")
@user_errors
def export_openrlhf_command(
    data: Annotated[Path, typer.Option("--data", help="Pivot export: JSONL, Parquet or dataset folder.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="OpenRLHF JSONL prompt dataset to write.")],
) -> None:
    """Write a pivot export as OpenRLHF's prompt dataset: `input` (chat messages) and `label` (the JSON
    /get_reward reads). Train with --data.input_key input --data.label_key label --data.apply_chat_template."""
    from pbrlsvr.integrations.openrlhf import export_openrlhf
    from pbrlsvr.io_checks import check_output
    from pbrlsvr.train.dataset import build_rows, read_rows

    check_output(output, [data])  # -o onto --data would replace the pivot export it reads
    rows = read_rows(data)
    build_rows(rows)  # the checks training applies: required columns, never a test set
    n = export_openrlhf(rows, output)
    console.print(f"wrote {n} rows to {output}", soft_wrap=True)


# --- eval ----------------------------------------------------------------------------------

eval_app = typer.Typer(
    help=(
        "Evaluate a model per language: accuracy, language consistency, LC&Acc, with bootstrap "
        "intervals, the non-English average and the gap to English.\n\n"
        "`pbrlsvr eval --model M --data mgsm --langs en,sw,bn -o DIR` writes DIR/predictions.jsonl, "
        "report.json, report.md and plots; re-running it resumes. `pbrlsvr eval compare A B` "
        "compares two runs with paired bootstrap significance."
    ),
    add_completion=False,
    # `eval` runs on its own with options (not `eval COMMAND`); `compare` is its one subcommand.
    subcommand_metavar="| compare A B [OPTIONS]",
)
app.add_typer(eval_app, name="eval")


def _eval_table(report: dict[str, Any]) -> Table:
    from pbrlsvr.evaluation.report import cell

    s = report["settings"]
    table = Table(title=f"{s['benchmark']}: {s['model']} ({report['counts']['items']} problems, %)")
    for col in ("lang", "n", "Acc", "LC", "LC&Acc"):
        table.add_column(col, justify="left" if col == "lang" else "right")
    rows = list(report["languages"].items())
    macro = report["averages"].get("macro") or {}
    if macro.get("langs"):
        rows.append(("avg (non-en)", {**macro, "n": ""}))
    if report["averages"].get("en_gap"):
        rows.append(("en − avg", {**report["averages"]["en_gap"], "n": ""}))
    for name, v in rows:
        table.add_row(
            name, str(v["n"]), cell(v, "accuracy"), cell(v, "language_consistency"), cell(v, "lc_acc")
        )
    return table


@eval_app.callback(invoke_without_command=True)
@user_errors
def eval_command(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Offline alias, HF id, folder, .gguf or URL.")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            "--source",
            help="mgsm, msvamp, gsm8k:test, mmlu-prox, mmlu-prox-lite, polymath, a file or folder, an HF id.",
        ),
    ] = None,
    langs: Annotated[str | None, typer.Option(help="Comma-separated ISO 639-1 codes.")] = None,
    limit: Annotated[int | None, typer.Option(help="First N problems per language.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output folder (resumed when it exists).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Conversations per generation call.")] = None,
    shots: Annotated[
        int | None, typer.Option(help="Few-shot MGSM exemplars in the prompt's language (0-8).")
    ] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="Tokens generated per answer.")] = None,
    prompt_style: Annotated[
        str | None,
        typer.Option(
            "--prompt-style",
            help="native (per-language templates, the benchmark protocol) or train (the prompt "
            "`pbrlsvr train` uses: for before/after of a policy trained here).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Discard predictions made with other settings; start over.")
    ] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Evaluate a model per language (greedy by default); resumable. See also `eval compare`."""
    if ctx.invoked_subcommand is not None:
        return
    from pbrlsvr.evaluation.config import EvalConfig
    from pbrlsvr.evaluation.runner import evaluate
    from pbrlsvr.generation.progress import GenerationProgress

    overrides = with_flags(
        parse_set_options(set_ or []),
        {
            "model": model,
            "data.source": data,
            "data.langs": langs,
            "data.limit": limit,
            "output": output,
            "batch_size": batch_size,
            "shots": shots,
            "sampling.max_new_tokens": max_new_tokens,
            "prompt.style": prompt_style,
            "force": True if force else None,
        },
    )
    cfg = load_config(EvalConfig, config, overrides)
    if cfg.output is None:
        _fail("eval needs an output folder: --output DIR (or output: in the config)")
    # Live progress on stderr: a bar in a terminal, timestamped lines in a log (items, tok/s, time left).
    with GenerationProgress(f"eval {cfg.model}", err_console) as live:
        result = evaluate(
            cfg, log=lambda msg: err_console.print(msg, highlight=False, soft_wrap=True), live=live
        )
    console.print(_eval_table(result.report))
    console.print(
        f"{result.generated} generated, {result.resumed} resumed in {result.seconds:.1f} s; "
        f"report in {result.output / 'report.md'}",
        highlight=False,
        soft_wrap=True,
    )
    missing = result.report["counts"]["missing"]
    if missing:
        err_console.print(f"[yellow]{missing} problem(s) have no prediction; run again to retry them[/]")
        raise typer.Exit(1)


@eval_app.command("compare")
@user_errors
def eval_compare_command(
    a: Annotated[Path, typer.Argument(metavar="A", help="Baseline run: output folder or its report.json.")],
    b: Annotated[Path, typer.Argument(metavar="B", help="Candidate run: output folder or its report.json.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write compare.json, compare.md, compare.png here.")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Per-language deltas (B − A) with paired bootstrap intervals and p-values."""
    from pbrlsvr.evaluation.compare import compare_runs, compare_table, render_compare_markdown
    from pbrlsvr.evaluation.config import CompareConfig
    from pbrlsvr.evaluation.report import write_json, write_text

    overrides = with_flags(parse_set_options(set_ or []), {"a": a, "b": b, "output": output})
    cfg = load_config(CompareConfig, config, overrides)
    result = compare_runs(cfg.a, cfg.b, cfg.bootstrap, cfg.alpha)
    table = compare_table(result)
    console.print(table)
    for warning in result["warnings"]:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if cfg.output is not None:
        cfg.output.mkdir(parents=True, exist_ok=True)
        write_json(cfg.output / "compare.json", result)
        write_text(cfg.output / "compare.md", render_compare_markdown(result))
        if cfg.plots:
            from pbrlsvr.evaluation.plots import plot_compare

            plot_compare(result, cfg.output / "compare.png")
        console.print(f"wrote compare.json, compare.md and compare.png to {cfg.output}", soft_wrap=True)


# --- models ----------------------------------------------------------------------------------


@models_app.command("list")
@user_errors
def models_list() -> None:
    """The packaged offline models: whether their packages are installed and their cache is ready."""
    from pbrlsvr.models import list_offline_models

    table = Table(title="offline models")
    table.add_column("alias", no_wrap=True)
    for col in ("installed", "prepared", "description"):
        table.add_column(col)
    infos = list_offline_models()
    for info in infos:
        table.add_row(
            info.alias, "yes" if info.installed else "no", "yes" if info.prepared else "no", info.description
        )
    console.print(table)
    for info in infos:
        if not info.installed:
            console.print(f"install {info.alias}: {info.pip_command}", soft_wrap=True)


@models_app.command("prepare")
@user_errors
def models_prepare(
    aliases: Annotated[
        list[str] | None, typer.Argument(help="Aliases to prepare (default: every installed one).")
    ] = None,
) -> None:
    """Assemble, verify and dequantize the offline models once, caching them as HF folders."""
    from pbrlsvr.models import list_offline_models, prepare_offline_model

    if aliases:
        names = aliases
    else:  # the optional ones (the 1.5B pivot) are not in the `offline` extra: say how to get them
        infos = list_offline_models()
        names = [info.alias for info in infos if info.installed]
        for info in infos:
            if not info.installed:
                console.print(f"skipped {info.alias} (not installed): {info.pip_command}", soft_wrap=True)
    for name in names:
        path = prepare_offline_model(name, progress=True)
        console.print(f"[green]ready[/] {name}: {path}", soft_wrap=True)  # the path stays one line


if __name__ == "__main__":  # pragma: no cover
    app()
