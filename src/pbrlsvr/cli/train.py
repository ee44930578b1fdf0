"""`pbrlsvr train`: GRPO on TRL with the PB-RLSVR reward."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pbrlsvr.cli.common import ConfigOpt, SetOpt, command_config, console, user_errors
from pbrlsvr.cli.main import app


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

    cfg = command_config(
        TrainConfig,
        config,
        set_,
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
    result = train(cfg)
    console.print(
        f"[green]trained[/] {result.steps} steps; model in {result.final_dir}; metrics in {result.metrics_path}"
        + (f" (resumed from {result.resumed_from})" if result.resumed_from else ""),
        soft_wrap=True,
    )
