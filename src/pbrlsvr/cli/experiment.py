"""`pbrlsvr experiment`: matched-budget arms and their results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pbrlsvr.cli.common import ConfigOpt, SetOpt, console, user_errors, with_flags
from pbrlsvr.cli.main import app
from pbrlsvr.config import parse_set_options


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
    from pbrlsvr.experiment import State, load_experiment_config, run_experiment, write_results

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
