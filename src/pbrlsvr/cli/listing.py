"""`pbrlsvr list`: what is registered — reward components, data sources, generation backends,
languages — built-ins and the plugins loaded (``--plugin``, ``PBRLSVR_PLUGINS``, entry points)."""

from __future__ import annotations

from typing import Annotated

import typer

from pbrlsvr.cli.common import console, fail, user_errors
from pbrlsvr.cli.main import app

KINDS = ("components", "sources", "backends", "languages")


@app.command("list")
@user_errors
def list_command(
    kind: Annotated[
        str | None,
        typer.Argument(metavar="[KIND]", help="components, sources, backends or languages (default: all)."),
    ] = None,
) -> None:
    """List what is registered: reward components, data sources, generation backends, languages.

    Plugins loaded with --plugin (before the command: `pbrlsvr --plugin my.py list`), PBRLSVR_PLUGINS
    or the pbrlsvr.plugins entry points are listed with the module that registered them.
    """
    from pbrlsvr.cli import render

    if kind is not None and kind not in KINDS:
        from pbrlsvr.registry import did_you_mean

        near = did_you_mean(kind, KINDS)
        fail(
            f"unknown kind {kind!r}"
            + (f" (did you mean {near!r}?)" if near else "")
            + f"; choose from {', '.join(KINDS)}"
        )
    tables = {
        "components": render.components_table,
        "sources": render.sources_table,
        "backends": render.backends_table,
        "languages": render.languages_table,
    }
    for name in KINDS if kind is None else (kind,):
        console.print(tables[name]())
