"""The ``pbrlsvr`` application object and its global options (``--version``, ``--plugin``)."""

from __future__ import annotations

from typing import Annotated

import typer

from pbrlsvr import __version__
from pbrlsvr.cli.common import console, fail, hide_flag_metavars

hide_flag_metavars()

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
            help="Import a plugin that registers reward components, data sources, generation "
            "backends or languages (repeatable; also PBRLSVR_PLUGINS and the pbrlsvr.plugins entry points).",
        ),
    ] = None,
) -> None:
    """Pivot-Based RL with Semantically Verifiable Rewards."""
    from pbrlsvr.registry import PluginError, load_plugins

    try:
        load_plugins(plugin or [])
    except PluginError as exc:
        fail(str(exc))
