"""`pbrlsvr demo`: the whole flow end to end on the offline models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pbrlsvr.cli.common import ConfigOpt, SetOpt, command_config, console, err_console, user_errors
from pbrlsvr.cli.main import app


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

    cfg = command_config(
        DemoConfig,
        config,
        set_,
        {"output": output, "policy": policy, "pivot": pivot, "langs": langs, "steps": steps},
    )
    summary = run_demo(
        cfg, log=lambda msg: console.print(msg, highlight=False, soft_wrap=True), console=err_console
    )
    import json

    from pbrlsvr.cli.render import demo_tables

    payload = json.loads(Path(summary["report_json"]).read_text(encoding="utf-8"))
    console.print()
    for table in demo_tables(payload):
        console.print(table)
    # Paths are never wrapped (soft_wrap), so they can be copied from the terminal whole.
    console.print(f"evaluation reports: {', '.join(summary['eval_reports'])}", soft_wrap=True)
    console.print(f"plots: {', '.join(summary['plots'])}", soft_wrap=True)
    console.print(
        f"[bold green]report:[/] {summary['report']} (and {summary['report_json']})", soft_wrap=True
    )
