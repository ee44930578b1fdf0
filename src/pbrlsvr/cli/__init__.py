"""The `pbrlsvr` command line: one Typer app for the whole flow, one module per command.

pivot → train → eval, with `score` and `serve` for the reward, `demo` for the end-to-end run on
the offline defaults, `experiment` for matched-budget arms, `models` for the packaged offline
models and `data` to inspect any data spec. Every command takes ``--config file.yaml`` and
``--set key=value`` (:mod:`pbrlsvr.cli.common`); user errors print one clear message and exit 2,
never a traceback. Tables are drawn in :mod:`pbrlsvr.cli.render`.
"""

from __future__ import annotations

from importlib import import_module

from pbrlsvr.cli.main import app

# Importing a command module registers it on `app`; `--help` lists commands in this order, then groups.
COMMANDS = (
    "data",
    "score",
    "serve",
    "demo",
    "experiment",
    "train",
    "export",
    "listing",
    "models",
    "pivot",
    "evaluate",
)
for _name in COMMANDS:
    import_module(f"pbrlsvr.cli.{_name}")

__all__ = ["app"]
