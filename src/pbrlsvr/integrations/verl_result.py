"""The one shape both verl adapters return, for a scored sample and for a failed one alike.

verl's reward managers append every key of every sample's dict to per-key lists
(``reward_extra_info``) and expect those lists to have one value per sample: a key present for
some samples only misaligns its metrics or fails the step. So every sample returns the same keys:
``score``, each of the six components (0.0 for one with weight 0), ``gate`` and ``failed``
(1.0 for a sample that could not be scored, so ``failed`` averages to the failure rate). The
reason for a failure goes to the log (logger ``pbrlsvr.verl``), not into the dict.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pbrlsvr.config import COMPONENTS

logger = logging.getLogger("pbrlsvr.verl")

VERL_KEYS: tuple[str, ...] = ("score", *COMPONENTS, "gate", "failed")


def scored(reward: float, components: Mapping[str, float], gate: float) -> dict[str, float]:
    """A scored sample: the reward, every component, the gate, ``failed = 0``."""
    return {
        "score": float(reward),
        **{c: float(components.get(c, 0.0)) for c in COMPONENTS},
        "gate": float(gate),
        "failed": 0.0,
    }


def failed(reason: str) -> dict[str, float]:
    """A sample that could not be scored: 0 everywhere, ``failed = 1``, the reason logged."""
    logger.warning("pbrlsvr reward: a sample scored 0 because it could not be scored: %s", reason)
    return {"score": 0.0, **dict.fromkeys(COMPONENTS, 0.0), "gate": 0.0, "failed": 1.0}
