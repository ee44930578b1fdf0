r"""The ``translation`` component: translate the response to English, compare with the reference.

Formula, for response :math:`r` in language :math:`\ell`, reference :math:`y` and the translator's
English :math:`t = T(r, \ell)`:

.. math:: \mathrm{translation} = \mathrm{mean}\big(\mathrm{chrF}(t, y),\;
    [\mathrm{semantic}(t, y)],\; [\mathrm{align}(r, y)]\big)

with chrF the sentence chrF in [0, 1] (:func:`~pbrlsvr.rewards.translation.chrf`), the bracketed
parts only with ``translator.metric: chrf+encoder`` (the calibrated encoder similarity of the
translation, as in ``semantic``) and ``translator.alignment: true`` (MAPO-style likelihood of the
reference under the MT model, seq2seq translators only).

Arguments: the items (``response``, ``lang``, ``reference``) and a context holding the translator
(``needs "translator"``, plus ``"encoder"`` for ``chrf+encoder``); ``reward.translator`` configures
it (an NLLB-style seq2seq model, or ``kind: llm`` with any generation spec). Range [0, 1]. Gated:
an English copy translates to itself. Default weight 0 (it needs an MT model).

Example, with a stand-in LLM translator that always answers the same English:

>>> from pbrlsvr.rewards.config import RewardConfig
>>> from pbrlsvr.rewards.components import ScoringContext
>>> from pbrlsvr.rewards.reward import RewardItem
>>> from pbrlsvr.rewards.translation import LLMTranslator
>>> fixed = LLMTranslator(lambda convs: ["Roger has 11 balls. The answer is 11."] * len(convs))
>>> context = ScoringContext(RewardConfig(), translator=fixed)
>>> translation_reward([RewardItem("Roger ana mipira 11. Jibu ni 11.", "sw", "Roger has 11 balls. The answer is 11.")], context)
[1.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from pbrlsvr.rewards.components import Need, ScoringContext, register_component
from pbrlsvr.rewards.translation import chrf

if TYPE_CHECKING:
    from pbrlsvr.rewards.config import RewardConfig
    from pbrlsvr.rewards.reward import RewardItem


def _needs(config: RewardConfig) -> list[Need]:
    return ["translator", "encoder"] if config.translator.metric == "chrf+encoder" else ["translator"]


@register_component("translation", default_weight=0.0, gated=True, needs=_needs)
def translation_reward(items: Sequence[RewardItem], context: ScoringContext) -> list[float]:
    """chrF of each response's English translation to its reference, averaged with the optional
    encoder and alignment views (see the module docstring)."""
    if context.translator is None:
        raise RuntimeError("the translation component needs a translator in its scoring context")
    t = context.config.translator
    responses = [it.response for it in items]
    langs = [it.lang for it in items]
    refs = [it.reference for it in items]
    english = context.translator.translate(responses, langs)
    parts = [[chrf(e, r) for e, r in zip(english, refs, strict=True)]]
    if t.metric == "chrf+encoder" and context.semantic is not None:
        parts.append(context.semantic.score_batch(english, refs))
    if t.alignment and hasattr(context.translator, "alignment"):
        parts.append(context.translator.alignment(responses, langs, refs))
    return [float(np.mean(col)) for col in zip(*parts, strict=True)]
