"""`python -m pbrlsvr` runs the CLI."""

from pbrlsvr.cli import app

app(prog_name="pbrlsvr")
