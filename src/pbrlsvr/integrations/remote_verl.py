"""verl: ``compute_score`` functions that score on a ``pbrlsvr serve`` service.

verl loads a custom reward function by path::

    reward.custom_reward_function.path=$(python -c 'import pbrlsvr.integrations.remote_verl as m; print(m.__file__)')
    reward.custom_reward_function.name=compute_score_async     # or compute_score (sync)
    +reward.custom_reward_function.reward_kwargs.url=http://reward-host:8000

(older verl: ``custom_reward_function.*`` at the top level). What each verl reward manager calls
(checked in verl-project/verl at 1dda039, Aug 2026):

* the reward loop's ``naive``/``dapo`` managers (the default): ``compute_score(data_source=,
  solution_str=, ground_truth=, extra_info=, **reward_kwargs)`` once per response, awaited when
  the function is a coroutine function, else run in a thread pool. :func:`compute_score_async`
  (recommended: many responses in flight, the service batches them) and :func:`compute_score`.
* the legacy ``batch`` manager: ``compute_score(data_sources=, solution_strs=, ground_truths=,
  extra_infos=, **reward_kwargs)`` once per batch: :func:`compute_score_batch`.

Each returns ``{"score": reward, "<component>": value, ..., "gate": g}`` like the in-process
:mod:`pbrlsvr.integrations.verl`; verl uses ``score`` and logs the rest. An item the service cannot
score raises :class:`~pbrlsvr.server.client.RemoteRewardError` with the reason. Fields: the English reference and the language come from ``extra_info`` (``reference``,
``lang``; also ``reference_answer``, ``gold``, ``question``); ``ground_truth`` is the reference's
final answer, unless it is itself a JSON object (string or dict) with those keys, as in
OpenRLHF's labels. ``reward_kwargs`` may set ``url``, ``token``, ``timeout``, ``retries``.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Mapping
from typing import Any

from pbrlsvr.server.client import RemoteRewardError, ScoreClient

_FIELDS = ("reference", "lang", "reference_answer", "gold", "question")
_clients: dict[tuple[Any, ...], ScoreClient] = {}
_lock = threading.Lock()


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


def _to_score(result: Mapping[str, Any]) -> dict[str, float]:
    if "error" in result:
        raise RemoteRewardError(f"the reward service could not score a response: {result['error']}")
    components = {k: float(v) for k, v in result["components"].items()}
    return {"score": float(result["reward"]), **components, "gate": float(result["gate"])}


def compute_score(
    data_source: Any = None,
    solution_str: str = "",
    ground_truth: Any = None,
    extra_info: Mapping[str, Any] | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """One response, synchronously (retried; see :class:`~pbrlsvr.server.client.ScoreClient`)."""
    client = _client(url, token, **_options(kwargs))
    return _to_score(client.score([to_item(solution_str, ground_truth, extra_info)])[0])


async def compute_score_async(
    data_source: Any = None,
    solution_str: str = "",
    ground_truth: Any = None,
    extra_info: Mapping[str, Any] | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """One response, as a coroutine (verl's reward loop awaits it)."""
    client = _client(url, token, **_options(kwargs))
    return _to_score((await client.ascore([to_item(solution_str, ground_truth, extra_info)]))[0])


def compute_score_batch(
    data_sources: Any = None,
    solution_strs: list[str] | None = None,
    ground_truths: list[Any] | None = None,
    extra_infos: list[Mapping[str, Any] | None] | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
    **kwargs: Any,
) -> list[dict[str, float]]:
    """A whole batch in one request (verl's ``batch`` reward manager)."""
    solutions = list(solution_strs or [])
    truths = list(ground_truths) if ground_truths is not None else [None] * len(solutions)
    extras = list(extra_infos) if extra_infos is not None else [None] * len(solutions)
    items = [to_item(s, t, e) for s, t, e in zip(solutions, truths, extras, strict=True)]
    client = _client(url, token, **_options(kwargs))
    return [_to_score(r) for r in client.score(items)]


def _options(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The client options among verl's keyword arguments (it also passes its own, e.g. routers)."""
    return {k: kwargs[k] for k in ("timeout", "retries", "backoff") if k in kwargs}
