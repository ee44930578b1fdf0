"""TRL: a GRPOTrainer reward function that scores completions on a ``pbrlsvr serve`` service.

Every rank sends its completions to one service instead of loading its own encoder::

    from pbrlsvr.integrations.remote_trl import RemoteReward

    trainer = GRPOTrainer(
        model=..., train_dataset=ds,  # columns: prompt, reference, lang[, reference_answer, gold]
        reward_funcs=[RemoteReward("http://reward-host:8000")],
    )

TRL 1.16 (``GRPOTrainer._calculate_rewards``) calls each reward function with keyword arguments
``prompts``, ``completions``, ``completion_ids``, every dataset column except ``prompt`` (one value
per completion), ``trainer_state``, ``log_extra`` and ``log_metric``, and expects one float (or
``None``: excluded from the sum) per completion. It awaits *async* reward functions, including
callable objects with an async ``__call__`` (``trl.trainer.utils.is_async_callable``), on its own
event loop; this one is async, so a rank's whole batch goes out as one ``POST /score`` and the
service merges the ranks' requests into batches.

Columns used: ``reference`` (the English pivot reference) and ``lang`` (required), and
``reference_answer``, ``gold``, ``question`` when present. Completions are read exactly as the
in-process adapter reads them (:func:`pbrlsvr.integrations.trl.completion_text`: every assistant
message, with TRL's parsed-out ``reasoning_content`` put back inside ``<think>`` tags), and the
same metrics are logged under the same names (:func:`pbrlsvr.integrations.trl.component_metrics`:
``rewards/<component>/mean`` gated as in the reward, ``pbrlsvr/gate``, ``pbrlsvr/no_answer``), so a
run's curves do not change when the reward moves to a service.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pbrlsvr.integrations.trl import completion_text, component_metrics
from pbrlsvr.server.client import RemoteRewardError, ScoreClient

__all__ = ["RemoteReward", "completion_text"]

logger = logging.getLogger(__name__)

_OPTIONAL = ("reference_answer", "gold", "question")


class RemoteReward:
    """An async TRL reward function backed by ``POST /score``.

    Args:
        url: the service (default ``$PBRLSVR_URL`` or ``http://127.0.0.1:8000``).
        token: bearer token (default ``$PBRLSVR_TOKEN``).
        on_error: an item the service cannot score: ``"raise"`` (stop training, with the reason) or
            ``"none"`` (return ``None``: TRL leaves it out of the reward).
        log_components: log each component's mean through TRL's ``log_metric``.
        name: the name TRL shows for this reward.
        **client: ``timeout``, ``retries``, ``backoff`` (see :class:`~pbrlsvr.server.client.ScoreClient`).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        on_error: Literal["raise", "none"] = "raise",
        log_components: bool = True,
        name: str = "pbrlsvr",
        **client: Any,
    ) -> None:
        if on_error not in ("raise", "none"):
            raise ValueError(f"on_error must be 'raise' or 'none', got {on_error!r}")
        self.client = ScoreClient(url, token=token, **client)
        self.on_error = on_error
        self.log_components = log_components
        self.__name__ = name

    async def __call__(
        self,
        prompts: list[Any],
        completions: list[Any],
        reference: list[str] | None = None,
        lang: list[str] | None = None,
        log_metric: Any = None,
        **kwargs: Any,
    ) -> list[float | None]:
        if reference is None or lang is None:
            raise ValueError(
                "RemoteReward needs the dataset columns 'reference' and 'lang' "
                f"(got columns {sorted(k for k in kwargs if k not in ('trainer_state', 'log_extra', 'completion_ids'))})"
            )
        items = []
        for i, completion in enumerate(completions):
            item = {"response": completion_text(completion), "lang": lang[i], "reference": reference[i]}
            for key in _OPTIONAL:
                if kwargs.get(key) is not None and kwargs[key][i] is not None:
                    item[key] = kwargs[key][i]
            items.append(item)
        results = await self.client.ascore(items)
        errors = [(i, r["error"]) for i, r in enumerate(results) if "error" in r]
        if errors:
            listed = "; ".join(f"completion {i}: {e}" for i, e in errors[:5])
            message = f"{len(errors)} of {len(items)} completions could not be scored: {listed}"
            if self.on_error == "raise":
                raise RemoteRewardError(message)
            logger.warning("pbrlsvr remote reward: %s (left out of the reward)", message)
        ok = [r for r in results if "error" not in r]
        if self.log_components and log_metric is not None and ok:
            metrics = component_metrics(
                [r["components"] for r in ok], [r["gate"] for r in ok], [r.get("note") for r in ok]
            )
            for name, value in metrics.items():
                log_metric(name, value)
        return [None if "error" in r else float(r["reward"]) for r in results]
