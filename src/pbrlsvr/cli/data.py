"""`pbrlsvr data`: load problems from any data spec and summarise them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pbrlsvr.cli.common import (
    ConfigOpt,
    DataOpt,
    LangsOpt,
    LimitOpt,
    SetOpt,
    command_config,
    console,
    user_errors,
)
from pbrlsvr.cli.main import app
from pbrlsvr.cli.render import problems_table
from pbrlsvr.data.config import DataCommandConfig


@app.command("data")
@user_errors
def data_command(
    source: DataOpt = None,
    langs: LangsOpt = None,
    limit: LimitOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write problems as JSONL.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Load problems from any data spec and summarise them per language (a dry run of the loaders)."""
    from pbrlsvr.data import load_problems, problems_to_jsonl

    cfg = command_config(
        DataCommandConfig,
        config,
        set_,
        {"data.source": source, "data.langs": langs, "data.limit": limit, "output": output},
    )
    if cfg.output is not None:
        from pbrlsvr.io_checks import check_output

        check_output(cfg.output, [cfg.data.source])  # -o onto --data would replace the data
    problems = load_problems(cfg.data)
    console.print(problems_table(cfg.data.source, problems))
    if cfg.output is not None:
        problems_to_jsonl(problems, cfg.output)
        console.print(f"wrote {len(problems)} problems to {cfg.output}", soft_wrap=True)
