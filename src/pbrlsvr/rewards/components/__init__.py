"""Reward components: one registry, one module per component, each registered the way a plugin does.

A component scores a batch of items in [0, 1]. :class:`~pbrlsvr.rewards.Reward` combines every
registered component whose weight (``reward.weights``) is positive, in registration order (the
order reports list them), and multiplies the ``gated`` ones by the language gate. The built-ins,
one module each in this package, register in this order: ``semantic``, ``translation``,
``answer``, ``trace``, ``language``, ``format``.

Adding one is writing one module that registers it: a file in this package (a built-in), or a
plugin anywhere (``pbrlsvr --plugin my_brevity.py score ...``, ``PBRLSVR_PLUGINS``, or a
``pbrlsvr.plugins`` entry point). ``reward.weights.brevity`` then configures it like any other:

>>> from pbrlsvr.rewards.components import ScoringContext, register_component
>>> @register_component("brevity-doc", default_weight=0.0)
... def brevity_reward(items, context):
...     '''1.0 for a response under 400 characters, else 0.0.'''
...     return [1.0 if len(item.response) < 400 else 0.0 for item in items]
>>> from pbrlsvr.rewards.reward import RewardItem
>>> brevity_reward([RewardItem("Jibu ni 11.", "sw", "The answer is 11.")], ScoringContext.bare())
[1.0]
>>> REGISTRY.unregister("brevity-doc")

What a scorer receives (:class:`ScoringContext`) holds only what its component declared in
``needs`` (``"encoder"``, ``"translator"``, ``"language_id"``, ``"verifier"``): a reward whose
active components need no encoder never loads one.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

from pbrlsvr.registry import Registry

if TYPE_CHECKING:
    from pbrlsvr.rewards.answer import AnswerVerifier
    from pbrlsvr.rewards.config import RewardConfig
    from pbrlsvr.rewards.language import LanguageConsistency
    from pbrlsvr.rewards.reward import RewardItem
    from pbrlsvr.rewards.semantic import SemanticSimilarity
    from pbrlsvr.rewards.translation import Translator

Need = Literal["encoder", "translator", "language_id", "verifier"]
"""What a component can ask the reward to build for it (see :class:`ScoringContext`)."""

NEEDS: tuple[str, ...] = get_args(Need)

Scorer = Callable[[Sequence["RewardItem"], "ScoringContext"], Sequence[float]]
"""``(items, context) -> one value in [0, 1] per item``, in item order."""


@dataclass(frozen=True)
class ScoringContext:
    """What a component's scorer may use besides the items: the reward's settings and models.

    Attributes:
        config: the reward's :class:`~pbrlsvr.rewards.config.RewardConfig`.
        semantic: the calibrated encoder (``needs "encoder"``); its ``encoder`` attribute is the
            raw :class:`~pbrlsvr.rewards.encoders.base.Encoder`.
        translator: the translator (``needs "translator"``).
        language: the language identifier (``needs "language_id"``, or the language gate on).
        verifier: the answer comparison settings (``needs "verifier"``).
        shares: each item's share in its target language, when the reward has already measured it
            for the gate (read it through :meth:`language_shares`).
    """

    config: RewardConfig
    semantic: SemanticSimilarity | None = None
    translator: Translator | None = None
    language: LanguageConsistency | None = None
    verifier: AnswerVerifier | None = None
    shares: Sequence[float] | None = field(default=None, repr=False)

    @classmethod
    def bare(cls, config: RewardConfig | None = None) -> ScoringContext:
        """A context without models (the default config unless given): enough for components that
        need nothing, and for examples."""
        from pbrlsvr.rewards.config import RewardConfig

        return cls(config=config if config is not None else RewardConfig())

    def with_shares(self, shares: Sequence[float] | None) -> ScoringContext:
        """This context for one batch whose language shares are already measured."""
        return dataclasses.replace(self, shares=shares)

    def language_shares(self, items: Sequence[RewardItem]) -> list[float]:
        """Each item's share in its target language: measured once per batch by the reward, or
        measured now with :attr:`language` when this context was built without them."""
        if self.shares is not None:
            if len(self.shares) != len(items):
                raise ValueError(f"{len(self.shares)} language shares for {len(items)} items")
            return [float(s) for s in self.shares]
        if self.language is None:
            raise RuntimeError("this scoring context has no language identifier (needs 'language_id')")
        return self.language.score_batch([it.response for it in items], [it.lang for it in items])


@dataclass(frozen=True)
class Component:
    """One registered reward component.

    Attributes:
        name: its key in ``reward.weights`` and in every report.
        score: the batched scorer (:data:`Scorer`).
        default_weight: its weight when the config names no weight for it.
        gated: the language gate multiplies it in the total (components that reward similarity to
            the English reference, which an English copy would otherwise win).
        needs: what the reward must build for it (:data:`Need`), or a function of the reward's
            config giving that (translation needs the encoder only for ``metric: chrf+encoder``).
        check: optional ``(item, context) -> None`` raising ``ValueError`` for an item this
            component cannot score (checked before any scoring, per item).
    """

    name: str
    score: Scorer
    default_weight: float = 0.0
    gated: bool = False
    needs: Collection[Need] | Callable[[RewardConfig], Iterable[Need]] = ()
    check: Callable[[RewardItem, ScoringContext], None] | None = None

    def __post_init__(self) -> None:
        w = self.default_weight
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            raise ValueError(
                f"component {self.name!r}: default_weight must be a finite number >= 0, got {w!r}"
            )
        if not callable(self.score):
            raise TypeError(f"component {self.name!r}: score must be callable")
        if not callable(self.needs):
            self._check_needs(self.needs)

    def requirements(self, config: RewardConfig) -> frozenset[Need]:
        """What this component needs under ``config``."""
        needs = self.needs(config) if callable(self.needs) else self.needs
        return frozenset(self._check_needs(needs))

    def _check_needs(self, needs: Iterable[str]) -> list[Need]:
        items = list(needs)
        bad = [n for n in items if n not in NEEDS]
        if bad:
            raise ValueError(f"component {self.name!r}: unknown needs {bad}; choose from {list(NEEDS)}")
        return items  # type: ignore[return-value]


REGISTRY: Registry[Component] = Registry("reward component")
"""Every reward component, built-ins first, in the order reports list them."""


def register_component(
    name: str,
    *,
    default_weight: float = 0.0,
    gated: bool = False,
    needs: Collection[Need] | Callable[[RewardConfig], Iterable[Need]] = (),
    check: Callable[[RewardItem, ScoringContext], None] | None = None,
    replace: bool = False,
) -> Callable[[Scorer], Scorer]:
    """Decorator: register the decorated scorer as component ``name`` (see :class:`Component`).

    Returns the scorer unchanged, so it stays callable on its own. A name already taken is a
    ``ValueError`` unless ``replace=True``.
    """

    def add(scorer: Scorer) -> Scorer:
        entry = Component(name, scorer, default_weight, gated, needs, check)
        REGISTRY.register(name, entry, replace=replace)
        return scorer

    return add


def component_names() -> list[str]:
    """Registered component names in report order."""
    return REGISTRY.names()


def gated_components() -> frozenset[str]:
    """Names of the components the language gate multiplies."""
    return frozenset(name for name, c in REGISTRY.items() if c.gated)


def entering_value(name: str, value: float, gate: float, gated: Collection[str]) -> float:
    """Component ``name``'s ``value`` as it enters the total: times the language ``gate`` when the
    component is one of ``gated``. The reward's total, verl's ``<c>_term`` and the TRL metrics all
    apply the gate through this, so what is logged is what was optimised."""
    return value * gate if name in gated else value


def default_weights() -> dict[str, float]:
    """Every registered component's default weight, in report order."""
    return {name: float(c.default_weight) for name, c in REGISTRY.items()}


BUILT_INS: tuple[str, ...] = ("semantic", "translation", "answer", "trace", "language", "format")
"""The built-in components registered first, in the order reports have always listed them."""

# Every module of this package is a built-in component that registers itself exactly as a plugin
# does: the ones above first, in that order, then any other, by name (adding one is adding a file).
for _module in (
    *BUILT_INS,
    *sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in BUILT_INS),
):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = [
    "BUILT_INS",
    "NEEDS",
    "REGISTRY",
    "Component",
    "Need",
    "Scorer",
    "ScoringContext",
    "component_names",
    "default_weights",
    "entering_value",
    "gated_components",
    "register_component",
]
