"""The one shape both verl adapters return, for a scored sample and for a failed one alike.

verl's reward loop appends every key of every sample's dict to per-key arrays (keyed by the
*first* sample's keys) and expects one value per sample: a key present for some samples only
fails the step or misaligns its metrics. So every sample returns the same keys:

* ``score``: the reward verl trains on;
* each registered component, raw (0.0 for one with weight 0), for logging;
* ``<component>_term`` for each component: the value as it enters the total (the gated ones,
  semantic and translation, times the language gate; 0 for every component of a sample whose total a rule
  forced to 0: empty, too long, no final answer). ``score == Σ w_c · term_c / Σ w_c``, so these
  are what verl's GDPO (``algorithm.adv_estimator=gdpo``) must normalise per component: the raw
  components would pay a copied English reference through ungated semantic similarity;
* ``gate`` and ``failed`` (1.0 for a sample that could not be scored, so it averages to the
  failure rate). The reason for a failure goes to the log (logger ``pbrlsvr.verl``).

The components are the registry's (:class:`VerlShape`), taken once per run: when the in-process
adapter builds its reward, when the remote adapter builds its client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pbrlsvr.rewards.components import entering_value

if TYPE_CHECKING:
    from pbrlsvr.rewards.reward import Reward

logger = logging.getLogger("pbrlsvr.verl")


@dataclass(frozen=True)
class VerlShape:
    """The components every sample reports, fixed for a run: verl gathers the keys of the first
    sample, so a component registered later must not change them.

    Attributes:
        components: the component names, in report order.
        gated: those the language gate multiplies.
    """

    components: tuple[str, ...]
    gated: frozenset[str]

    @classmethod
    def of(cls, reward: Reward) -> VerlShape:
        """The components registered when ``reward`` was built."""
        return cls(reward.registered, reward.gated)

    @classmethod
    def current(cls) -> VerlShape:
        """The components registered now (:mod:`pbrlsvr.rewards.components`)."""
        from pbrlsvr.rewards.components import component_names, gated_components

        return cls(tuple(component_names()), gated_components())

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(f"{c}_term" for c in self.components)

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key of every sample's dict, in order."""
        return ("score", *self.components, *self.terms, "gate", "failed")


def verl_keys(shape: VerlShape | None = None) -> tuple[str, ...]:
    """The keys every sample returns (``shape`` default: the components registered now)."""
    return (shape or VerlShape.current()).keys


def scored(
    reward: float,
    components: Mapping[str, float],
    gate: float,
    zeroed: bool = False,
    *,
    shape: VerlShape | None = None,
) -> dict[str, float]:
    """A scored sample: the reward, every component and its term, the gate, ``failed = 0``.

    ``zeroed``: a rule forced the total to 0 (the reward's ``note``), so every term is 0 too.
    ``shape``: the run's components (default: those registered now).
    """
    shape = shape or VerlShape.current()
    raw = {c: float(components.get(c, 0.0)) for c in shape.components}
    keep = 0.0 if zeroed else 1.0
    terms = {
        f"{c}_term": keep * entering_value(c, raw[c], float(gate), shape.gated) for c in shape.components
    }
    return {"score": float(reward), **raw, **terms, "gate": float(gate), "failed": 0.0}


def failed(reason: str, *, shape: VerlShape | None = None) -> dict[str, float]:
    """A sample that could not be scored: 0 everywhere, ``failed = 1``, the reason logged."""
    logger.warning("pbrlsvr reward: a sample scored 0 because it could not be scored: %s", reason)
    shape = shape or VerlShape.current()
    return {
        "score": 0.0,
        **dict.fromkeys(shape.components, 0.0),
        **dict.fromkeys(shape.terms, 0.0),
        "gate": 0.0,
        "failed": 1.0,
    }


__all__ = ["VerlShape", "failed", "scored", "verl_keys"]
