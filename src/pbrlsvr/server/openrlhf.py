"""OpenRLHF's remote reward protocol (``--reward.remote_url http://host:8000/get_reward``).

What OpenRLHF sends (``openrlhf/utils/agent.py``, ``SingleTurnAgentExecutor._fetch_rewards_via_http``,
checked at OpenRLHF commit 3c3be62, Aug 2026): one ``POST`` per generated sample, through aiohttp's
``json=`` (so ``json.dumps`` with its defaults)::

    {"query": [prompt + response], "prompts": [prompt], "labels": [label]}

``query`` is ``tokenizer.decode(prompt_ids + response_ids, skip_special_tokens=False)``: the chat
templated prompt, the response, and the response's end-of-turn token. ``prompts`` is the templated
prompt text; ``labels`` is the dataset's ``--data.label_key`` column. It reads ``rewards`` (for the
advantage), ``scores`` (for dynamic filtering; ``rewards`` when absent) and ``extra_logs`` (each key
logged), and, like OpenRLHF's own ``serve_rm``, takes lists as well as scalars.

How this service reads it:

* **response** = ``query`` minus its prompt: the matching ``prompts[i]`` prefix is cut off; when
  OpenRLHF truncated the prompt from the left (``max_len``), the longest prompt suffix that starts
  the query is cut instead; when neither matches, the whole query is scored (as OpenRLHF's own
  ``math_reward_func`` does) and ``pbrlsvr_openrlhf_prompt_unmatched_total`` counts it. Then
  trailing special tokens (``<|im_end|>``, ``<|eot_id|>``, ``</s>``, ...) are removed.
* **label** = a JSON object, as a string (or already an object):
  ``{"reference": "<English reference>", "reference_answer": "18", "lang": "sw"}``; ``gold`` and
  ``question`` are optional, like in ``POST /score``.
* **answer**: ``{"rewards": [r...], "scores": [r...], "extra_logs": {"<component>": [...], "gate": [...]}}``;
  ``scores`` equals ``rewards`` (already in [0, 1]). A label or query that cannot be scored fails
  the request with 422 (the protocol has no per-item error; ``errors`` names each bad
  ``query[i]`` / ``labels[i]``, a NUL or lone surrogate included), so the trainer's retries and
  logs show it instead of a silent zero; a scorer bug on an item is a 500.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pbrlsvr.io_checks import loads_strict
from pbrlsvr.rewards.reward import RewardItem, RewardResult, check_text

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
) -> tuple[list[RewardItem | None], list[str | None], int]:
    """One item (or an error message) per query, and how many prompts were not found."""
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
            items.append(RewardItem.from_mapping({**fields, "response": response}))
            errors.append(None)
        except ValueError as exc:
            items.append(None)
            errors.append(f"labels[{i}]: {exc}")
    return items, errors, unmatched


def build_response(results: list[RewardResult]) -> dict[str, Any]:
    """``{"rewards", "scores", "extra_logs"}`` for OpenRLHF."""
    rewards = [r.reward for r in results]
    logs: dict[str, list[float]] = {}
    for r in results:
        for name, value in r.components.items():
            logs.setdefault(name, []).append(value)
    logs["gate"] = [r.gate for r in results]
    return {"rewards": rewards, "scores": list(rewards), "extra_logs": logs}
