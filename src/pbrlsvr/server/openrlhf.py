"""OpenRLHF's remote reward protocol (``--reward.remote_url http://host:8000/get_reward``).

What OpenRLHF 0.11.2 sends (read from its wheel: ``openrlhf/utils/agent.py``,
``SingleTurnAgentExecutor._fetch_rewards_via_http``): one ``POST`` per generated sample, through
aiohttp's ``json=`` (so ``json.dumps`` with its defaults) and **no Authorization header**::

    {"query": [prompt + response], "prompts": [prompt], "labels": [label]}

``query`` is ``tokenizer.decode(prompt_ids + response_ids, skip_special_tokens=False)``: the chat
templated prompt, the response, and the response's end-of-turn token. ``prompts`` is the templated
prompt text; ``labels`` is the dataset's ``--data.label_key`` column, or ``""`` when that flag is
not given (``openrlhf/datasets/prompts_dataset.py``). It reads ``rewards`` (the reward),
``scores`` (dynamic filtering; ``rewards`` when absent) and ``extra_logs``, each of whose values it
turns into ``torch.tensor([value])`` (``samples_generator.py``): numbers only, the same keys for
every sample. A non-2xx answer (or a timeout, 180 s) is retried 5 times, 1 s apart, logged at INFO
without the body, then the sample's reward stays ``None`` and training later fails far from the
cause. So this protocol must answer 200 for every sample it can read.

How this service reads it:

* **response** = ``query`` minus its prompt: the matching ``prompts[i]`` prefix is cut off; when
  OpenRLHF truncated the prompt from the left (``max_len``), the longest prompt suffix that starts
  the query is cut instead; when neither matches, the whole query is scored (as OpenRLHF's own
  ``math_reward_func`` does) and ``pbrlsvr_openrlhf_prompt_unmatched_total`` counts it. Then
  trailing special tokens (``<|im_end|>``, ``<|eot_id|>``, ``</s>``, ...) are removed.
* **label** = a JSON object, as a string (or already an object):
  ``{"reference": "<English reference>", "reference_answer": "18", "lang": "sw"}``; ``gold``,
  ``question`` and ``id`` are optional (``pbrlsvr export-openrlhf`` writes this column).
* **answer** (:func:`build_response`): ``{"rewards": [r...], "scores": [r...], "extra_logs":
  {"<component>": [...], "gate": [...], "unscored": [0/1 ...]}}``; ``scores`` equals ``rewards``
  (already in [0, 1]). A sample that cannot be scored (an empty or malformed label, a language the
  reward does not know, a NUL in the text, a scorer error) gets reward 0.0, every component 0.0
  and ``unscored`` 1.0, so OpenRLHF logs the share of unscored samples per step; its reason is in
  ``errors[i]`` (a top-level list OpenRLHF ignores: ``extra_logs`` cannot hold text) and in the
  service's log, which names the sample. Only a body that is not this protocol at all (no
  ``query``, lists of different lengths) is a 422.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from typing import Any

from pbrlsvr.io_checks import loads_strict
from pbrlsvr.rewards.reward import Reward, RewardItem, RewardResult, check_text

EMPTY_LABEL = (
    'the label is empty: OpenRLHF sends "" when --data.label_key is not given; pass '
    "--data.label_key label with a file from `pbrlsvr export-openrlhf`"
)

_PROBE = 8  # characters of the query's start looked up inside a left-truncated prompt


def split_response(query: str, prompt: str | None) -> tuple[str, bool]:
    """The response part of ``query`` and whether the prompt was found in it."""
    if not prompt:  # nothing to cut: the caller sent the response alone
        return query, True
    if query.startswith(prompt):
        return query[len(prompt) :], True
    # Left-truncated prompt: the query starts somewhere inside the prompt.
    probe = query[:_PROBE]
    if len(probe) == _PROBE:
        pos = prompt.find(probe)
        while pos != -1:
            if query.startswith(prompt[pos:]):
                return query[len(prompt) - pos :], True
            pos = prompt.find(probe, pos + 1)
    return query, False


def trailing_tokens(token_pattern: str) -> re.Pattern[str]:
    """A regex matching a run of special tokens (``token_pattern`` is one of them) at the end of a text."""
    return re.compile(rf"(?:\s*(?:{token_pattern}))+\s*\Z")


def strip_special(text: str, trailing: re.Pattern[str]) -> str:
    """``text`` without the run of special tokens (and whitespace) at its end (see :func:`trailing_tokens`)."""
    m = trailing.search(text, max(0, len(text) - 1024))
    return text[: m.start()] if m else text


def parse_label(label: Any) -> dict[str, Any]:
    """A label (JSON object string, or object) as a dict; ``ValueError`` says what is wrong."""
    if isinstance(label, Mapping):
        return dict(label)
    if not isinstance(label, str):
        raise ValueError(
            f"the label must be a JSON object (or a string holding one), got {type(label).__name__}"
        )
    if not label.strip():
        raise ValueError(EMPTY_LABEL)
    try:
        data = loads_strict(label)
    except ValueError as exc:
        raise ValueError(
            "the label is not JSON; expected a string like "
            '{"reference": "...", "reference_answer": "...", "lang": "sw"}'
            f" ({str(exc).removeprefix('invalid JSON: ')})"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"the label must hold a JSON object, got {type(data).__name__}")
    return data


def parse_request(body: Any, max_items: int) -> tuple[list[str], list[str | None], list[Any]]:
    """``(queries, prompts, labels)`` of a ``/get_reward`` body; ``ValueError`` names the problem.

    Raises ``OverflowError`` when there are more than ``max_items`` queries.
    """
    if not isinstance(body, dict):
        raise ValueError(
            f'expected a JSON object {{"query": [...], "prompts": [...], "labels": [...]}}, got {type(body).__name__}'
        )
    if "query" not in body:
        raise ValueError("missing field 'query' (a list of prompt + response strings)")
    queries = body["query"]
    if not isinstance(queries, list):
        raise ValueError(f"field 'query' must be a list of strings, got {type(queries).__name__}")
    if len(queries) > max_items:
        raise OverflowError(f"{len(queries)} queries in one request; the limit is {max_items} (max_items)")
    if "labels" not in body or body["labels"] is None:
        raise ValueError(
            "missing field 'labels': each label is a JSON object string "
            '{"reference": ..., "reference_answer": ..., "lang": ...}'
        )
    labels = body["labels"]
    if not isinstance(labels, list):
        raise ValueError(f"field 'labels' must be a list, got {type(labels).__name__}")
    prompts = body.get("prompts")
    if prompts is None:
        prompts = [None] * len(queries)
    if not isinstance(prompts, list):
        raise ValueError(f"field 'prompts' must be a list of strings, got {type(prompts).__name__}")
    if not (len(queries) == len(prompts) == len(labels)):
        raise ValueError(
            f"'query', 'prompts' and 'labels' must have the same length, got {len(queries)}, "
            f"{len(prompts)} and {len(labels)}"
        )
    for name, values in (("query", queries), ("prompts", prompts)):
        for i, v in enumerate(values):
            if not (isinstance(v, str) or (v is None and name == "prompts")):
                raise ValueError(f"{name}[{i}] must be a string, got {type(v).__name__}")
    return queries, prompts, labels


def build_items(
    queries: list[str],
    prompts: list[str | None],
    labels: list[Any],
    trailing: re.Pattern[str] | None,
    reward: Reward | None = None,
) -> tuple[list[RewardItem | None], list[str | None], int]:
    """One item (or an error message) per query, and how many prompts were not found. With
    ``reward``, an item it cannot score (``Reward.check_item``) is an error too."""
    items: list[RewardItem | None] = []
    errors: list[str | None] = []
    unmatched = 0
    for i, (query, prompt, label) in enumerate(zip(queries, prompts, labels, strict=True)):
        response, found = split_response(query, prompt)
        unmatched += not found
        if trailing is not None:
            response = strip_special(response, trailing)
        try:
            check_text("response", response)
        except ValueError as exc:
            items.append(None)
            errors.append(f"query[{i}]: {exc}")
            continue
        try:
            fields = parse_label(label)
            if "response" in fields:
                raise ValueError("the label must not carry 'response' (it comes from the query)")
            item = RewardItem.from_mapping({**fields, "response": response})
            if reward is not None:
                reward.check_item(item)
            items.append(item)
            errors.append(None)
        except ValueError as exc:
            items.append(None)
            errors.append(f"labels[{i}]: {exc}")
    return items, errors, unmatched


def describe(label: Any, prompt: str | None) -> str:
    """A short handle on a sample for the service's log: the label's ``id`` when it has one,
    else the end of its prompt."""
    if isinstance(label, str):
        with contextlib.suppress(ValueError):
            label = loads_strict(label) if label.strip().startswith("{") else label
    if isinstance(label, Mapping) and label.get("id") is not None:
        return f"id {str(label['id'])[:80]!r}"
    tail = (prompt or "")[-60:]
    return f"prompt ending {tail!r}" if tail else "no prompt"


def component_names(reward: Reward) -> list[str]:
    """The components a result of ``reward`` carries, in the reward's (report) order."""
    return list(reward.weights)


def build_response(
    results: list[RewardResult | None], errors: list[str | None], components: list[str]
) -> dict[str, Any]:
    """``{"rewards", "scores", "extra_logs"[, "errors"]}`` for OpenRLHF: one entry per sample, a
    ``None`` result (unscorable) as reward 0.0 with every log 0.0 and ``unscored`` 1.0, so that every
    sample carries the same ``extra_logs`` keys (OpenRLHF stacks them per step)."""
    rewards: list[float] = []
    logs: dict[str, list[float]] = {name: [] for name in [*components, "gate", "unscored"]}
    for r in results:
        rewards.append(0.0 if r is None else r.reward)
        for name in components:
            logs[name].append(0.0 if r is None else float(r.components.get(name, 0.0)))
        logs["gate"].append(0.0 if r is None else r.gate)
        logs["unscored"].append(1.0 if r is None else 0.0)
    out: dict[str, Any] = {"rewards": rewards, "scores": list(rewards), "extra_logs": logs}
    if any(e is not None for e in errors):
        out["errors"] = errors
    return out
