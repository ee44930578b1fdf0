"""The one shape both verl adapters return, for a scored sample and for a failed one alike.

verl's reward loop appends every key of every sample's dict to per-key arrays (keyed by the
*first* sample's keys) and expects one value per sample: a key present for some samples only
fails the step or misaligns its metrics. So every sample returns the same keys:

* ``score``: the reward verl trains on;
* each of the six components, raw (0.0 for one with weight 0), for logging;
* ``<component>_term`` for each component: the value as it enters the total (semantic and
  translation times the language gate; 0 for every component of a sample whose total a rule
  forced to 0: empty, too long, no final answer). ``score == Σ w_c · term_c / Σ w_c``, so these
  are what verl's GDPO (``algorithm.adv_estimator=gdpo``) must normalise per component: the raw
  components would pay a copied English reference through ungated semantic similarity;
* ``gate`` and ``failed`` (1.0 for a sample that could not be scored, so it averages to the
  failure rate). The reason for a failure goes to the log (logger ``pbrlsvr.verl``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pbrlsvr.config import COMPONENTS, GATED_COMPONENTS

logger = logging.getLogger("pbrlsvr.verl")


TERMS: tuple[str, ...] = tuple(f"{c}_term" for c in COMPONENTS)
VERL_KEYS: tuple[str, ...] = ("score", *COMPONENTS, *TERMS, "gate", "failed")


def scored(
    reward: float, components: Mapping[str, float], gate: float, zeroed: bool = False
) -> dict[str, float]:
    """A scored sample: the reward, every component and its term, the gate, ``failed = 0``.

    ``zeroed``: a rule forced the total to 0 (the reward's ``note``), so every term is 0 too.
    """
    raw = {c: float(components.get(c, 0.0)) for c in COMPONENTS}
    keep = 0.0 if zeroed else 1.0
    terms = {f"{c}_term": keep * raw[c] * (float(gate) if c in GATED_COMPONENTS else 1.0) for c in COMPONENTS}
    return {"score": float(reward), **raw, **terms, "gate": float(gate), "failed": 0.0}


def failed(reason: str) -> dict[str, float]:
    """A sample that could not be scored: 0 everywhere, ``failed = 1``, the reason logged."""
    logger.warning("pbrlsvr reward: a sample scored 0 because it could not be scored: %s", reason)
    return {
        "score": 0.0,
        **dict.fromkeys(COMPONENTS, 0.0),
        **dict.fromkeys(TERMS, 0.0),
        "gate": 0.0,
        "failed": 1.0,
    }
