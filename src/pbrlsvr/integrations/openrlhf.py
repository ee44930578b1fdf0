"""OpenRLHF adapter: a ``reward_func`` file OpenRLHF loads by path, and its prompt dataset.

OpenRLHF 0.11.2 takes either an HTTP reward (``--reward.remote_url http://host:8000/get_reward``:
``pbrlsvr serve``, one batched encoder for every vLLM engine) or a Python file
(``--reward.remote_url /path/to/file.py``): when the value ends in ``.py``,
``SingleTurnAgentExecutor`` imports the file with ``importlib.util.spec_from_file_location`` and
calls its ``reward_func(queries, prompts, labels)`` in a thread, one sample per call, reading the
same ``rewards`` / ``scores`` / ``extra_logs`` as from the HTTP answer. Point it at this file::

    --reward.remote_url $(python -c 'import pbrlsvr.integrations.openrlhf as m; print(m.__file__)')

Each vLLM engine process then builds its own reward once, from the YAML named by
``$PBRLSVR_REWARD_CONFIG`` (the ``pbrlsvr serve`` YAML: a ``reward:`` section and optionally
``openrlhf:``; defaults when unset). The answer is exactly ``POST /get_reward``'s: a sample that
cannot be scored gets reward 0 and ``unscored`` 1 and its reason is logged, never an exception
(OpenRLHF would leave its reward ``None``).

Dataset (:func:`export_openrlhf`): JSONL with ``input`` (the chat messages TRL training uses, for
``--data.input_key input --data.apply_chat_template``) and ``label`` (a JSON object string with
the English ``reference``, ``reference_answer``, ``lang``, ``gold``, ``question``, ``id``, for
``--data.label_key label``). Without ``--data.label_key`` OpenRLHF sends ``""`` as every label, and
every sample scores 0 with that reason.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pbrlsvr.config import load_config
from pbrlsvr.prompts import build_messages
from pbrlsvr.rewards.reward import Reward, RewardResult
from pbrlsvr.server import openrlhf as protocol
from pbrlsvr.server.config import ServeConfig

CONFIG_ENV = "PBRLSVR_REWARD_CONFIG"

logger = logging.getLogger(__name__)

_state: tuple[Reward, ServeConfig] | None = None
_lock = threading.Lock()


def _reward() -> tuple[Reward, ServeConfig]:
    """The process's reward, built on first use (OpenRLHF calls ``reward_func`` from threads)."""
    global _state
    with _lock:
        if _state is None:
            path = os.environ.get(CONFIG_ENV)
            cfg = load_config(ServeConfig, path) if path else ServeConfig()
            _state = (Reward(cfg.reward), cfg)
        return _state


def score_openrlhf(
    reward: Reward, cfg: ServeConfig, queries: list[Any], prompts: list[Any], labels: list[Any]
) -> dict[str, Any]:
    """What ``POST /get_reward`` answers for this batch, computed in process."""
    body = {"query": list(queries), "prompts": list(prompts), "labels": list(labels)}
    queries, prompts, labels = protocol.parse_request(body, max(len(body["query"]), 1))
    trailing = (
        protocol.trailing_tokens(cfg.openrlhf.special_tokens) if cfg.openrlhf.strip_special_tokens else None
    )
    items, errors, _ = protocol.build_items(queries, prompts, labels, trailing, reward)
    checked = [item for item in items if item is not None]
    try:
        scored = iter(reward.score_batch(checked))
        results: list[RewardResult | None] = [next(scored) if it is not None else None for it in items]
    except Exception as exc:  # a scorer error: every sample of this call is unscorable, not a crash
        logger.exception("pbrlsvr reward_func: scoring failed")
        results = [None] * len(items)
        errors = [
            e or f"query[{i}]: scoring failed: {type(exc).__name__}: {exc}" for i, e in enumerate(errors)
        ]
    for i, error in enumerate(errors):
        if error is not None:
            logger.warning(
                "pbrlsvr reward_func: sample %d (%s) scored 0, not scorable: %s",
                i,
                protocol.describe(labels[i], prompts[i]),
                error,
            )
    return protocol.build_response(results, errors, protocol.component_names(reward))


def reward_func(queries: list[str], prompts: list[str], labels: list[Any]) -> dict[str, Any]:
    """OpenRLHF's entry point (``--reward.remote_url <this file>``): ``{"rewards", "scores",
    "extra_logs"[, "errors"]}`` with one entry per query, as ``POST /get_reward`` answers."""
    reward, cfg = _reward()
    return score_openrlhf(reward, cfg, queries, prompts, labels)


def openrlhf_row(row: Mapping[str, Any], index: int) -> dict[str, Any]:
    """One prompt-dataset row from a pivot export row (id, lang, question, reference, ...)."""
    missing = [k for k in ("id", "lang", "question", "reference") if not row.get(k)]
    if missing:
        raise ValueError(f"row {index}: missing {missing}")
    label = {
        "reference": row["reference"],
        "reference_answer": None if row.get("reference_answer") is None else str(row["reference_answer"]),
        "lang": row["lang"],
        "gold": None if row.get("gold") is None else str(row["gold"]),
        "question": str(row["question"]),
        "id": str(row["id"]),
    }
    return {
        "input": build_messages(str(row["question"]), str(row["lang"])),  # as TRL training builds it
        "label": json.dumps({k: v for k, v in label.items() if v is not None}, ensure_ascii=False),
    }


def export_openrlhf(rows: Iterable[Mapping[str, Any]], path: str | Path) -> int:
    """Write ``rows`` as OpenRLHF's JSONL prompt dataset; returns the number of rows written."""
    out = [openrlhf_row(r, i) for i, r in enumerate(rows)]
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".partial")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in out:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(p)
    return len(out)
