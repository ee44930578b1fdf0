"""``python -m pbrlsvr.cli`` (what ``accelerate launch -m pbrlsvr.cli train ...`` runs)."""

from pbrlsvr.cli import app

app(prog_name="pbrlsvr")
