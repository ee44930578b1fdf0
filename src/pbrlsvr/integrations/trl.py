"""TRL adapter: the PB-RLSVR reward as ``GRPOTrainer`` reward functions.

TRL calls each reward function as ``fn(prompts=..., completions=..., completion_ids=...,
**columns)`` where ``columns`` are the training set's columns repeated per completion, plus
``log_metric``. The training set built by ``pbrlsvr train`` carries ``reference``,
``reference_answer``, ``lang`` and ``gold``.

Two ways to plug it in (``make_reward_funcs``):

* ``"sum"`` (default): one function, ``pbrlsvr``, returns the combined reward (gates included);
  every component is logged through ``log_metric`` as ``rewards/<component>/mean``.
* ``"normalize_then_sum"``: one function per component (semantic and translation already gated)
  with the component weights as TRL ``reward_weights``, for TRL's
  ``multi_objective_aggregation="normalize_then_sum"``; TRL logs each as ``rewards/<name>/mean``.
  The "no answer → 0" rule cannot apply across separately normalised functions, so it is off here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pbrlsvr.rewards.reward import Reward, RewardItem, RewardResult

logger = logging.getLogger(__name__)


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or a conversational list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(
            m.get("content", "") for m in completion if isinstance(m, dict) and m.get("role") == "assistant"
        )
    return ""


def _column(kwargs: dict[str, Any], name: str, n: int) -> list[Any]:
    values = kwargs.get(name)
    return list(values) if values is not None else [None] * n


def score_completions(reward: Reward, completions: Sequence[Any], **kwargs: Any) -> list[RewardResult | None]:
    """Score TRL completions against the ``reference`` / ``lang`` columns; ``None`` for items that
    cannot be scored (TRL turns ``None`` into NaN and ignores it), with a warning naming why."""
    n = len(completions)
    refs, langs = _column(kwargs, "reference", n), _column(kwargs, "lang", n)
    answers, golds = _column(kwargs, "reference_answer", n), _column(kwargs, "gold", n)
    items: list[RewardItem] = []
    index: list[int] = []
    for i in range(n):
        try:
            item = RewardItem.from_mapping(
                {
                    "response": completion_text(completions[i]),
                    "lang": langs[i],
                    "reference": refs[i],
                    "reference_answer": answers[i],
                    "gold": golds[i],
                }
            )
            reward.check_item(item)
        except (ValueError, TypeError) as exc:
            logger.warning("pbrlsvr reward: completion %d not scored: %s", i, exc)
            continue
        items.append(item)
        index.append(i)
    out: list[RewardResult | None] = [None] * n
    for i, res in zip(index, reward.score_batch(items), strict=True):
        out[i] = res
    return out


class PBRLSVRReward:
    """The combined reward as one TRL reward function (``rewards/pbrlsvr/mean`` in TRL's logs),
    logging each component as ``rewards/<component>/mean`` and the gate as ``pbrlsvr/gate``."""

    __name__ = "pbrlsvr"

    def __init__(self, reward: Reward) -> None:
        self.reward = reward

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        results = score_completions(self.reward, completions, **kwargs)
        log_metric: Callable[[str, float], None] | None = kwargs.get("log_metric")
        scored = [r for r in results if r is not None]
        if log_metric is not None and scored:
            for name in scored[0].components:
                log_metric(f"rewards/{name}/mean", sum(r.components[name] for r in scored) / len(scored))
            log_metric("pbrlsvr/gate", sum(r.gate for r in scored) / len(scored))
            log_metric("pbrlsvr/no_answer", sum(r.note == "no final answer" for r in scored) / len(scored))
        return [r.reward if r is not None else None for r in results]


class _ComponentReward:
    """One component as its own TRL reward function (for ``normalize_then_sum``)."""

    def __init__(self, shared: _SharedScores, component: str) -> None:
        self.shared = shared
        self.component = component
        self.__name__ = component

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        results = self.shared.results(completions, kwargs)
        gated = self.component in ("semantic", "translation")
        return [
            None if r is None else r.components[self.component] * (r.gate if gated else 1.0) for r in results
        ]


class _SharedScores:
    """Scores a batch once for all component functions: TRL calls them one after another on the
    same batch, so the last batch's results are reused when its texts and references are equal
    (compared by content, never by object identity, which Python reuses after garbage collection)."""

    def __init__(self, reward: Reward) -> None:
        self.reward = reward
        self._key: tuple[Any, ...] | None = None
        self._results: list[RewardResult | None] = []

    def results(self, completions: Sequence[Any], kwargs: dict[str, Any]) -> list[RewardResult | None]:
        n = len(completions)
        key = (
            tuple(completion_text(c) for c in completions),
            *(tuple(_column(kwargs, col, n)) for col in ("reference", "lang", "reference_answer", "gold")),
        )
        if key != self._key:
            self._results = score_completions(self.reward, completions, **kwargs)
            self._key = key
        return self._results


def make_reward_funcs(
    reward: Reward, aggregation: Literal["sum", "normalize_then_sum"] = "sum"
) -> tuple[list[Callable[..., list[float | None]]], list[float]]:
    """Reward functions and their ``reward_weights`` for ``GRPOConfig``/``GRPOTrainer``.

    >>> funcs, weights = make_reward_funcs(Reward())  # doctest: +SKIP
    >>> GRPOTrainer(model, reward_funcs=funcs, args=GRPOConfig(reward_weights=weights, ...))  # doctest: +SKIP
    """
    if aggregation == "sum":
        return [PBRLSVRReward(reward)], [1.0]
    if aggregation != "normalize_then_sum":
        raise ValueError(f"aggregation must be 'sum' or 'normalize_then_sum', got {aggregation!r}")
    shared = _SharedScores(reward)
    names = list(reward.weights)
    return [_ComponentReward(shared, name) for name in names], [reward.weights[name] for name in names]
