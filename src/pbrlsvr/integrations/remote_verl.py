"""verl: ``compute_score`` functions that score on a ``pbrlsvr serve`` service.

This is the documented default for runs with many reward workers or nodes: the encoder is
loaded once, by the service, not once per reward worker (verl's Reward Loop recommends an async
``compute_score`` that calls a service for model-based rewards). verl loads it by name::

    reward.custom_reward_function.path=pkg://pbrlsvr.integrations.remote_verl
    reward.custom_reward_function.name=compute_score_async     # or compute_score (sync)
    +reward.custom_reward_function.reward_kwargs.url=http://reward-host:8000

(``configs/verl/*.sh`` pass these when ``PBRLSVR_REWARD_URL`` is set). verl >= 0.9 reads only
``reward.custom_reward_function``; the old top-level ``custom_reward_function.*`` is silently
ignored by ``main_ppo``. verl's reward loop managers (``naive``, ``dapo``, ``gdpo``; verified with
verl 0.9.1) call ``compute_score(data_source=, solution_str=, ground_truth=, extra_info=,
**reward_kwargs)`` once per response, awaited when it is a coroutine function, else in a thread
pool: :func:`compute_score_async` (many responses in flight, the service batches them) and
:func:`compute_score`. verl's legacy ``batch`` manager (one call per batch) is gone since verl
0.7.1, and so is the batch entry point that served it.

Each returns the same keys as the in-process :mod:`pbrlsvr.integrations.verl`, for every sample
(:mod:`pbrlsvr.integrations.verl_result`): ``score``, the components and their terms,
``gate``, ``failed``;
verl uses ``score`` and logs the rest. Fields: the English
reference and the language come from ``extra_info`` (``reference``, ``lang``; also
``reference_answer``, ``gold``, ``question``); ``ground_truth`` is the reference's final answer,
unless it is itself a JSON object (string or dict) with those keys, as in OpenRLHF's labels.
``reward_kwargs`` may set ``url``, ``token``, ``timeout``, ``retries``; the token is better left
to ``$PBRLSVR_TOKEN`` in every node's environment (verl prints its config, kwargs included).

Errors, as in the in-process adapter (verl calls ``compute_score`` per sample, and one bad sample
must not kill a long run, nor hide):

* a sample the service cannot score (it answers ``{"error"}`` for the item, or 422 "no item could
  be scored" when every item of the request is bad: a missing reference, an unknown language)
  scores 0 with ``failed = 1.0``, and the service's reason is logged (logger ``pbrlsvr.verl``);
* a service that cannot be reached or keeps failing after the client's retries (connection errors,
  timeouts, 429/502/503/504), or that refuses the request itself (401 wrong token, 413 too many
  items, 500 a bug), raises :class:`~pbrlsvr.server.client.RemoteRewardError`: a dead or
  misconfigured service is not a bad sample, and scoring every sample 0 would silently train on
  noise.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Mapping
from typing import Any

from pbrlsvr.integrations.verl_result import VerlShape, failed, scored
from pbrlsvr.server.client import RemoteRewardError, ScoreClient

_FIELDS = ("reference", "lang", "reference_answer", "gold", "question")
_clients: dict[tuple[Any, ...], ScoreClient] = {}
_lock = threading.Lock()
_shape: VerlShape | None = None
"""The components every sample of this process reports: those registered at the first request
(a plugin the service runs must be loaded here too, e.g. through ``PBRLSVR_PLUGINS``)."""


def _components() -> VerlShape:
    global _shape
    with _lock:
        if _shape is None:
            _shape = VerlShape.current()
        return _shape


def _client(url: str | None = None, token: str | None = None, **options: Any) -> ScoreClient:
    key = (url, token, *sorted(options.items()))
    with _lock:
        if key not in _clients:
            _clients[key] = ScoreClient(url, token=token, **options)
        return _clients[key]


def to_item(solution_str: str, ground_truth: Any, extra_info: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``/score`` item of one verl sample (see the module docstring)."""
    item: dict[str, Any] = {"response": solution_str}
    truth = ground_truth
    if isinstance(truth, str) and truth.lstrip().startswith("{"):
        with contextlib.suppress(json.JSONDecodeError):
            truth = json.loads(truth)
    if isinstance(truth, Mapping):
        item.update({k: truth[k] for k in _FIELDS if truth.get(k) is not None})
    elif truth is not None:
        item["reference_answer"] = truth if isinstance(truth, str) else str(truth)
    for key in _FIELDS:
        if extra_info and extra_info.get(key) is not None:
            item[key] = extra_info[key]
    return item


_UNSCORABLE = "refused the request: HTTP 422:"
"""How :class:`ScoreClient` words the service's 422, its answer when no item of a request can be
scored (these adapters always send a well-formed ``{"items": [...]}``, so a 422 is about the
items); the service's reason follows."""


def _to_score(result: Mapping[str, Any]) -> dict[str, Any]:
    shape = _components()
    if "error" in result:
        return failed(str(result["error"]), shape=shape)
    return scored(
        result["reward"], result["components"], result["gate"], zeroed="note" in result, shape=shape
    )


def _unscorable(exc: RemoteRewardError, n: int) -> list[dict[str, Any]]:
    """The results of ``n`` items the service refused as unscorable; any other failure re-raised."""
    _, found, reason = str(exc).partition(_UNSCORABLE)
    if not found:
        raise exc
    return [{"error": reason.strip()}] * n


def _request(
    solution_strs: list[str],
    ground_truths: list[Any],
    extra_infos: list[Mapping[str, Any] | None],
    url: str | None,
    token: str | None,
    kwargs: Mapping[str, Any],
) -> tuple[ScoreClient, list[dict[str, Any]]]:
    """The client and the ``/score`` items: what the sync and async entry points share."""
    items = [to_item(s, t, e) for s, t, e in zip(solution_strs, ground_truths, extra_infos, strict=True)]
    return _client(url, token, **_options(kwargs)), items


def _score(client: ScoreClient, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        results = client.score(items)
    except RemoteRewardError as exc:
        results = _unscorable(exc, len(items))
    return [_to_score(r) for r in results]


async def _ascore(client: ScoreClient, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        results = await client.ascore(items)
    except RemoteRewardError as exc:
        results = _unscorable(exc, len(items))
    return [_to_score(r) for r in results]


def compute_score(
    data_source: Any = None,
    solution_str: str = "",
    ground_truth: Any = None,
    extra_info: Mapping[str, Any] | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """One response, synchronously (retried; see :class:`~pbrlsvr.server.client.ScoreClient`).

    An unscorable sample scores 0 with ``failed = 1.0``; an unreachable or refusing
    service raises :class:`~pbrlsvr.server.client.RemoteRewardError` (module docstring).
    """
    return _score(*_request([solution_str], [ground_truth], [extra_info], url, token, kwargs))[0]


async def compute_score_async(
    data_source: Any = None,
    solution_str: str = "",
    ground_truth: Any = None,
    extra_info: Mapping[str, Any] | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """One response, as a coroutine (verl's reward loop awaits it); errors as :func:`compute_score`."""
    return (await _ascore(*_request([solution_str], [ground_truth], [extra_info], url, token, kwargs)))[0]


def _options(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The client options among verl's keyword arguments (it also passes its own, e.g. routers)."""
    return {k: kwargs[k] for k in ("timeout", "retries", "backoff") if k in kwargs}
