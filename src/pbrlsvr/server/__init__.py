"""The reward service (``pbrlsvr serve``): one batched copy of the reward for every trainer rank.

* :mod:`pbrlsvr.server.config`: :class:`ServeConfig` (host, port, batching, limits, ``reward:``).
* :mod:`pbrlsvr.server.app`: the FastAPI app (``POST /score``, ``POST /get_reward`` for OpenRLHF,
  ``GET /health``, ``GET /metrics``) and :func:`~pbrlsvr.server.app.run_server`.
* :mod:`pbrlsvr.server.batcher`: dynamic micro-batching onto one scoring thread.
* :mod:`pbrlsvr.server.client`: the HTTP client the TRL and verl adapters share
  (:mod:`pbrlsvr.integrations.remote_trl`, :mod:`pbrlsvr.integrations.remote_verl`).

Importing this package needs no FastAPI (clients import :mod:`pbrlsvr.server.client` only).
"""

from pbrlsvr.server.config import ServeConfig

__all__ = ["ServeConfig"]
