"""verl adapter: a ``compute_score`` that verl loads by name, and verl's Parquet schema.

verl's reward loop (verl >= 0.9; verified with 0.9.1) calls ``compute_score(data_source=,
solution_str=, ground_truth=, extra_info=, **reward_kwargs)`` once per response, in a thread pool
for a plain function, and accepts a dict with a ``score`` key (every other key is logged per
sample and is what GDPO normalises). Point verl at this module (``configs/verl/*.sh`` do)::

    reward.custom_reward_function.path=pkg://pbrlsvr.integrations.verl
    reward.custom_reward_function.name=compute_score
    +reward.custom_reward_function.reward_kwargs.config=/abs/path/reward.yaml

``pkg://`` makes every Ray worker import the installed package, so no file path of the launching
node has to exist elsewhere. verl >= 0.9 reads only ``reward.custom_reward_function``: the old
top-level ``custom_reward_function.*`` is still accepted and silently ignored by ``main_ppo``.

The reward is built once per worker process and config, from the YAML named by the
``config`` reward kwarg (its ``reward:`` section, as for ``pbrlsvr score``): verl ships the Hydra
config to every worker, so the setting reaches every node, unlike the launching shell's
environment. ``$PBRLSVR_REWARD_CONFIG`` is the fallback, then the defaults. Each reward worker
loads its own encoder (``reward.num_workers`` per run); for many workers or nodes run one
``pbrlsvr serve`` and use :mod:`pbrlsvr.integrations.remote_verl` instead.

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

from pbrlsvr.config import load_config, read_yaml
from pbrlsvr.integrations.verl_result import VerlShape, failed, scored
from pbrlsvr.prompts import build_messages
from pbrlsvr.rewards.config import RewardConfig
from pbrlsvr.rewards.reward import Reward

CONFIG_ENV = "PBRLSVR_REWARD_CONFIG"

_reward: Reward | None = None
"""The reward of the default config (``$PBRLSVR_REWARD_CONFIG`` or the defaults)."""
_rewards: dict[str, Reward] = {}
"""One reward per ``config`` path named by verl's reward kwargs (a worker normally sees one)."""
_lock = threading.Lock()


def _load(path: str | None) -> Reward:
    if not path:
        return Reward(RewardConfig())
    raw = read_yaml(path)
    return Reward(load_config(RewardConfig, overrides={k: v for k, v in raw.get("reward", raw).items()}))


def _get_reward(config: str | None = None) -> Reward:
    """The reward for ``config`` (a YAML path), built on first use in this process."""
    global _reward
    with _lock:
        if config:
            if config not in _rewards:
                _rewards[config] = _load(config)
            return _rewards[config]
        if _reward is None:
            _reward = _load(os.environ.get(CONFIG_ENV))
        return _reward


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: Mapping[str, Any] | None = None,
    *,
    config: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """verl entry point: ``{"score": reward, <component>: value, <component>_term: ..., ...}``.

    ``config``: the reward YAML (verl's ``reward_kwargs.config``; see the module docstring);
    verl's other keyword arguments (e.g. a reward router's address) are ignored.
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
    reward = _get_reward(config)  # a broken config raises: it is not a bad sample
    shape = VerlShape.of(reward)  # the components registered when the reward was built
    try:
        result = reward.score_batch([item])[0]
    except ValueError as exc:
        return failed(str(exc), shape=shape)
    return scored(result.reward, result.components, result.gate, zeroed=result.note is not None, shape=shape)


def verl_row(row: Mapping[str, Any], index: int, data_source: str = "pbrlsvr") -> dict[str, Any]:
    """One training row in verl's schema from a pivot export row (id, lang, question, reference, ...).

    A row that already carries its chat ``prompt`` (a training row from
    :func:`pbrlsvr.train.dataset.build_rows`, which ``export-verl`` passes) keeps it: wrapping its
    question in the instruction again would give verl a prompt with the instruction twice.
    """
    missing = [k for k in ("id", "lang", "question", "reference") if not row.get(k)]
    if missing:
        raise ValueError(f"row {index}: missing {missing}")
    prompt = row.get("prompt")
    return {
        "data_source": data_source,
        # as TRL training builds it
        "prompt": list(prompt) if prompt else build_messages(str(row["question"]), str(row["lang"])),
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
