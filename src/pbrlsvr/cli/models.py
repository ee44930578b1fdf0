"""`pbrlsvr models list|prepare`: the packaged offline models."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pbrlsvr.cli.common import console, user_errors
from pbrlsvr.cli.main import app

models_app = typer.Typer(help="List and prepare the packaged offline models.", no_args_is_help=True)
app.add_typer(models_app, name="models")


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
