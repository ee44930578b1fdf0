"""TRL adapter: the PB-RLSVR reward as ``GRPOTrainer`` reward functions.

TRL calls each reward function as ``fn(prompts=..., completions=..., completion_ids=...,
**columns)`` where ``columns`` are the training set's columns repeated per completion, plus
``log_metric``. The training set built by ``pbrlsvr train`` carries ``reference``,
``reference_answer``, ``lang`` and ``gold``.

Two ways to plug it in (``make_reward_funcs``):

* ``"sum"`` (default): one function, ``pbrlsvr``, returns the combined reward (gates included);
  TRL logs it as ``rewards/pbrlsvr/mean``.
* ``"normalize_then_sum"``: one function per component with the component weights as TRL
  ``reward_weights``, for TRL's ``multi_objective_aggregation="normalize_then_sum"``.
  The "no answer → 0" rule cannot apply across separately normalised functions, so it is off here.

Logged names are the same in both modes and in :mod:`pbrlsvr.integrations.remote_trl`:
``rewards/<component>/mean`` is each component *as it enters the reward* (the gated ones,
semantic and translation, multiplied by the language gate), ``pbrlsvr/gate`` the gate and
``pbrlsvr/no_answer`` the share of completions with no final answer (:func:`component_metrics`).

Reasoning: with a tokenizer that has a response template (Qwen3 and other thinking models,
transformers ≥ 5.13), TRL 1.16 parses each completion with ``parse_response`` and puts the
``<think>`` text into the message's ``reasoning_content``, leaving only the answer in ``content``.
:func:`completion_text` puts it back as ``<think>\n…\n</think>\n\n`` + content, the text the model
generated, so the trace and language components see the reasoning and TRL scores the same string
verl and OpenRLHF (which decode the raw tokens) do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from typing import Any, Literal

from pbrlsvr.rewards.components import entering_value, gated_components
from pbrlsvr.rewards.reward import Reward, RewardItem, RewardResult

logger = logging.getLogger(__name__)


REASONING_KEYS = ("reasoning_content", "thinking", "reasoning")
"""Message keys a response parser puts the thinking text under: ``reasoning_content`` (TRL's
Qwen3 / DeepSeek-R1 schemas and transformers' templates), ``thinking`` (gpt-oss style), ``reasoning``."""


def _text(content: Any) -> str:
    """A message content as text: a string, or the text parts of a multimodal content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "" if content is None else str(content)


def message_text(message: dict[str, Any]) -> str:
    """One assistant message as the model wrote it: the parsed-out reasoning (if any) inside
    ``<think>`` tags, then the content."""
    content = _text(message.get("content"))
    reasoning = next((_text(message[k]) for k in REASONING_KEYS if message.get(k)), "")
    if not reasoning.strip():
        return content
    return f"<think>\n{reasoning.strip()}\n</think>\n\n{content.lstrip()}"


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or a conversational list of messages (every
    assistant message, reasoning included, in order; tool results are not the model's text)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, list):
        return "".join(
            message_text(m)
            for m in completion
            if isinstance(m, dict) and m.get("role", "assistant") == "assistant"
        )
    return "" if completion is None else str(completion)


def component_metrics(
    components: Sequence[dict[str, float]],
    gates: Sequence[float],
    notes: Sequence[str | None],
    gated: Collection[str] | None = None,
) -> dict[str, float]:
    """The batch means every adapter logs (one definition, so names and gating never differ by mode
    or adapter): ``rewards/<c>/mean`` for each component as it enters the reward (the ``gated``
    ones, default the registry's: semantic and translation, times the gate), ``pbrlsvr/gate`` and
    ``pbrlsvr/no_answer``."""
    n = len(components)
    if not n:
        return {}
    gated = gated_components() if gated is None else gated
    out = {
        f"rewards/{name}/mean": sum(
            entering_value(name, c[name], g, gated) for c, g in zip(components, gates, strict=True)
        )
        / n
        for name in components[0]
    }
    out["pbrlsvr/gate"] = sum(gates) / n
    out["pbrlsvr/no_answer"] = sum(note == "no final answer" for note in notes) / n
    return out


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
    logging :func:`component_metrics` through TRL's ``log_metric``."""

    __name__ = "pbrlsvr"

    def __init__(self, reward: Reward) -> None:
        self.reward = reward

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        results = score_completions(self.reward, completions, **kwargs)
        _log_results(results, kwargs.get("log_metric"), self.reward.gated)
        return [r.reward if r is not None else None for r in results]


def _log_results(
    results: Sequence[RewardResult | None],
    log_metric: Callable[[str, float], None] | None,
    gated: Collection[str],
) -> None:
    scored = [r for r in results if r is not None]
    if log_metric is None or not scored:
        return
    metrics = component_metrics(
        [r.components for r in scored], [r.gate for r in scored], [r.note for r in scored], gated
    )
    for name, value in metrics.items():
        log_metric(name, value)


class _ComponentReward:
    """One component as its own TRL reward function (for ``normalize_then_sum``). TRL logs its
    values as ``rewards/<component>/mean`` (the gated value, as :func:`component_metrics`); the
    first component's function also logs the gate and no-answer share, once per batch."""

    def __init__(self, shared: _SharedScores, component: str, log_extra: bool = False) -> None:
        self.shared = shared
        self.component = component
        self.log_extra = log_extra
        self.__name__ = component

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        results = self.shared.results(completions, kwargs)
        log_metric = kwargs.get("log_metric")
        if self.log_extra and log_metric is not None:
            scored = [r for r in results if r is not None]
            metrics = component_metrics(
                [r.components for r in scored], [r.gate for r in scored], [r.note for r in scored]
            )
            for name in ("pbrlsvr/gate", "pbrlsvr/no_answer"):
                if name in metrics:
                    log_metric(name, metrics[name])
        name, gated = self.component, self.shared.reward.gated
        return [
            None if r is None else entering_value(name, r.components[name], r.gate, gated) for r in results
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
    funcs = [_ComponentReward(shared, name, log_extra=i == 0) for i, name in enumerate(names)]
    return funcs, [reward.weights[name] for name in names]
