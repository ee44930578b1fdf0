"""verl adapter: a ``compute_score`` that verl loads by path, and verl's Parquet schema.

verl's reward managers call ``compute_score(data_source, solution_str, ground_truth, extra_info)``
per sample and accept a dict with a ``score`` key (the other keys are logged as extra info).
Point verl at this file::

    custom_reward_function.path=$(python -c "import pbrlsvr.integrations.verl as m; print(m.__file__)")
    custom_reward_function.name=compute_score

The reward is built once per worker process from the YAML named by ``$PBRLSVR_REWARD_CONFIG``
(its ``reward:`` section, as for ``pbrlsvr score``; defaults when unset). For many workers, run
one ``pbrlsvr serve`` and use ``pbrlsvr.integrations.remote_verl`` instead.

Rows (:func:`verl_row`): ``data_source``, ``prompt`` (chat messages), ``ability``,
``reward_model = {"style": "rule", "ground_truth": <reference answer>}``, ``extra_info`` with the
English ``reference``, ``lang``, ``gold``, ``question`` (the target-language one), ``id`` and
``index``. The prompt is the one TRL training builds (:func:`pbrlsvr.prompts.build_messages`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pbrlsvr.config import RewardConfig, load_config, read_yaml
from pbrlsvr.integrations.verl_result import failed, scored
from pbrlsvr.prompts import build_messages
from pbrlsvr.rewards.reward import Reward

CONFIG_ENV = "PBRLSVR_REWARD_CONFIG"

_reward: Reward | None = None
_lock = threading.Lock()


def _get_reward() -> Reward:
    global _reward
    with _lock:
        if _reward is None:
            path = os.environ.get(CONFIG_ENV)
            if path:
                raw = read_yaml(path)
                cfg = load_config(RewardConfig, overrides={k: v for k, v in raw.get("reward", raw).items()})
            else:
                cfg = RewardConfig()
            _reward = Reward(cfg)
        return _reward


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """verl entry point: ``{"score": reward, <component>: value, "gate": g, "failed": 0.0}``.

    Every sample returns the same keys (:mod:`pbrlsvr.integrations.verl_result`). ``extra_info``
    must carry ``reference`` and ``lang`` (written by :func:`verl_row`); a sample without them
    scores 0.0 with ``failed = 1.0`` and the reason logged, rather than crashing a long run.
    """
    info = dict(extra_info or {})
    item = {
        "response": solution_str,
        "lang": info.get("lang"),
        "reference": info.get("reference"),
        "reference_answer": ground_truth,
        "gold": info.get("gold"),
        "question": info.get("question"),
    }
    try:
        result = _get_reward().score_batch([item])[0]
    except ValueError as exc:
        return failed(str(exc))
    return scored(result.reward, result.components, result.gate)


def verl_row(row: Mapping[str, Any], index: int, data_source: str = "pbrlsvr") -> dict[str, Any]:
    """One training row in verl's schema from a pivot export row (id, lang, question, reference, ...)."""
    missing = [k for k in ("id", "lang", "question", "reference") if not row.get(k)]
    if missing:
        raise ValueError(f"row {index}: missing {missing}")
    return {
        "data_source": data_source,
        "prompt": build_messages(str(row["question"]), str(row["lang"])),  # as TRL training builds it
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": str(row.get("reference_answer") or "")},
        "extra_info": {
            "index": index,
            "id": str(row["id"]),
            "lang": row["lang"],
            "reference": row["reference"],
            "gold": None if row.get("gold") is None else str(row["gold"]),
            "question": str(row["question"]),
        },
    }


def export_verl(rows: Iterable[Mapping[str, Any]], path: str | Path, data_source: str = "pbrlsvr") -> int:
    """Write ``rows`` as verl Parquet; returns the number of rows written."""
    import pandas as pd

    out = [verl_row(r, i, data_source) for i, r in enumerate(rows)]
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".partial")
    pd.DataFrame(out).to_parquet(tmp, index=False)
    tmp.replace(p)
    return len(out)
