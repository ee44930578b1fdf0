"""`pbrlsvr serve`: the reward over HTTP."""

from __future__ import annotations

from typing import Annotated

import typer

from pbrlsvr.cli.common import ConfigOpt, SetOpt, command_config, console, user_errors
from pbrlsvr.cli.main import app


@app.command("serve")
@user_errors
def serve_command(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (0.0.0.0: all).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
    max_batch_size: Annotated[int | None, typer.Option(help="Most items per scoring call.")] = None,
    max_wait_ms: Annotated[
        float | None, typer.Option(help="An idle worker waits this long for more items.")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Serve the reward over HTTP, micro-batched: POST /score, POST /get_reward (OpenRLHF),
    GET /health, GET /metrics.

    The YAML holds the reward under `reward:` (as for `score`) and the server keys at the top
    level (host, port, max_batch_size, max_wait_ms, token_env, max_body_bytes, max_items). The
    reward is loaded once, before the port opens; every trainer rank then shares it.
    """
    from pbrlsvr.server.app import build_reward, run_server
    from pbrlsvr.server.config import ServeConfig

    cfg = command_config(
        ServeConfig,
        config,
        set_,
        {"host": host, "port": port, "max_batch_size": max_batch_size, "max_wait_ms": max_wait_ms},
    )
    cfg.resolve_token()  # a named but unset token variable fails here, before the reward loads
    import time

    t0 = time.perf_counter()
    with console.status("loading the reward (encoder, language ID)..."):
        reward = build_reward(cfg)
    run_server(cfg, reward=reward, load_seconds=time.perf_counter() - t0)
