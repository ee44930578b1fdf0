r"""The ``answer`` component: is the response's final answer the reference's?

Formula: :math:`\mathrm{answer} = [\,\mathrm{extract}(r) \equiv a\,]` (1.0 or 0.0), with
:math:`\mathrm{extract}` the final-answer extraction of
:func:`~pbrlsvr.rewards.answer.extract_answer` (boxed, then a final-answer phrase of the response's
language or English, then the last number) and :math:`\equiv` the numeric-then-symbolic comparison
of :class:`~pbrlsvr.rewards.answer.AnswerVerifier`. The target :math:`a` follows
``reward.answer_against``: ``reference`` (the reference's stated answer, or the one extracted from
the reference; no gold needed), ``gold``, or ``gold_if_present``.

Arguments: the items (``response``, ``lang``, ``reference``, ``reference_answer``, ``gold``) and a
context holding the verifier (``needs "verifier"``). Range {0, 1}; 0.0 when nothing can be
extracted, from the response or from the reference. Not gated. Default weight 0.3.

>>> from pbrlsvr.rewards.config import RewardConfig
>>> from pbrlsvr.rewards.answer import AnswerVerifier
>>> from pbrlsvr.rewards.components import ScoringContext
>>> from pbrlsvr.rewards.reward import RewardItem
>>> ref = "5 + 6 = 11. The answer is 11."
>>> items = [RewardItem("Jibu ni 11.", "sw", ref), RewardItem("Jibu ni 12.", "sw", ref)]
>>> answer_reward(items, ScoringContext(RewardConfig(), verifier=AnswerVerifier()))
[1.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pbrlsvr.rewards.answer import answer_score
from pbrlsvr.rewards.components import ScoringContext, register_component

if TYPE_CHECKING:
    from pbrlsvr.rewards.reward import RewardItem


def target(item: RewardItem, context: ScoringContext) -> str | None:
    """The answer ``item`` is checked against under ``reward.answer_against``."""
    mode = context.config.answer_against
    if mode == "gold" or (mode == "gold_if_present" and item.gold is not None):
        return item.gold
    return item.reference_answer


def _check(item: RewardItem, context: ScoringContext) -> None:
    if context.config.answer_against == "gold" and item.gold is None:
        raise ValueError("answer_against is 'gold' but the item has no gold answer")


@register_component("answer", default_weight=0.3, needs=("verifier",), check=_check)
def answer_reward(items: Sequence[RewardItem], context: ScoringContext) -> list[float]:
    """1.0 where the response's final answer matches the target answer (see the module docstring)."""
    out = []
    for item in items:
        try:
            value = answer_score(
                item.response, item.reference, target(item, context), item.lang, verifier=context.verifier
            )
        except ValueError:  # the reference states no answer either: nothing to verify against
            value = 0.0
        out.append(value)
    return out
