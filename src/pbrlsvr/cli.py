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
from rich.console import Console
from rich.table import Table

from pbrlsvr import __version__
from pbrlsvr.config import DataCommandConfig, ScoreCommandConfig, dump_config, load_config, parse_set_options
from pbrlsvr.errors import PbrlsvrError

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

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file for this command.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override any config key: --set data.limit=10 (repeatable)."),
]


def _fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
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
) -> None:
    """Pivot-Based RL with Semantically Verifiable Rewards."""


# --- commands of the flow that later versions build -------------------------------------------

_PENDING: dict[str, tuple[str, str]] = {
    "pivot": ("Generate English pivot references for a dataset into a resumable store.", "issue 4"),
    "eval": ("Evaluate per language: accuracy, language consistency, LC&Acc, report.", "issue 6"),
    "serve": ("Serve the reward over HTTP with micro-batching (TRL, verl, OpenRLHF).", "issue 7"),
    "demo": ("Run the whole flow end to end on the packaged offline models.", "issue 5"),
}


def _pending_command(name: str, summary: str, tracked: str) -> Callable[..., None]:
    def command(ctx: typer.Context) -> None:
        err_console.print(
            f"[bold yellow]pbrlsvr {name}[/] is not built in this version ({__version__}); it is "
            f"tracked in {tracked}. Nothing was run.",
            highlight=False,
        )
        raise typer.Exit(2)

    command.__doc__ = f"(not built yet: {tracked}) {summary}"
    return command


for _name, (_summary, _tracked) in _PENDING.items():
    app.command(
        _name,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(_pending_command(_name, _summary, _tracked))


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
        console.print(f"wrote {len(problems)} problems to {cfg.output}")


# --- score -----------------------------------------------------------------------------------


@app.command("score")
@user_errors
def score_command(
    input: Annotated[
        Path | None, typer.Option("--input", "-i", help="JSONL: response, lang, reference, ...")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="JSONL with reward and components.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Items scored together.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Score responses against pivot references (JSONL in, JSONL out), every component reported.

    The YAML may hold the reward under `reward:` (weights, gates, encoder, translator). A bad line
    is reported with its number and written as {"line", "error"}; the rest is still scored. Exit
    code 1 when any line failed.
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    from pbrlsvr.rewards.reward import Reward
    from pbrlsvr.rewards.score_file import score_jsonl

    overrides = with_flags(
        parse_set_options(set_ or []), {"input": input, "output": output, "batch_size": batch_size}
    )
    cfg = load_config(ScoreCommandConfig, config, overrides)
    if cfg.input is None or cfg.output is None:
        _fail("score needs --input and --output (or input/output in the config)")
    if not cfg.input.is_file():
        _fail(f"input file not found: {cfg.input}")
    with console.status("loading the reward (encoder, language ID)..."):
        reward = Reward(cfg.reward)
    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress("[progress.description]{task.description}", *columns, console=err_console) as progress:
        task = progress.add_task("scoring", total=cfg.input.stat().st_size)
        report = score_jsonl(
            reward,
            cfg.input,
            cfg.output,
            batch_size=cfg.batch_size,
            on_progress=lambda done, total: progress.update(task, completed=done),
        )
    cfg.output.with_name(cfg.output.name + ".config.yaml").write_text(dump_config(cfg), encoding="utf-8")
    for number, reason in report.errors[:50]:
        err_console.print(f"[red]line {number}:[/] {reason}", highlight=False)
    if len(report.errors) > 50:
        err_console.print(f"... and {len(report.errors) - 50} more failed lines", highlight=False)
    console.print(f"scored {report.scored} of {report.lines} lines into {cfg.output}")
    if not report.ok:
        raise typer.Exit(1)


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
        + (f" (resumed from {result.resumed_from})" if result.resumed_from else "")
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
    from pbrlsvr.train.dataset import build_rows, read_rows

    rows = build_rows(read_rows(data))
    for row in rows:
        row["question"] = row["prompt"][0]["content"]
    n = export_verl(rows, output, data_source)
    console.print(f"wrote {n} rows to {output}")


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
    aliases: Annotated[list[str] | None, typer.Argument(help="Aliases to prepare (default: all).")] = None,
) -> None:
    """Assemble, verify and dequantize the offline models once, caching them as HF folders."""
    from pbrlsvr.models import list_offline_models, prepare_offline_model

    names = aliases or [info.alias for info in list_offline_models()]
    for name in names:
        path = prepare_offline_model(name, progress=True)
        console.print(f"[green]ready[/] {name}: {path}")


if __name__ == "__main__":  # pragma: no cover
    app()
