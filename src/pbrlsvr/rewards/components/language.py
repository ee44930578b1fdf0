r"""The ``language`` component: how much of the response is in its target language.

Formula (:class:`~pbrlsvr.rewards.language.LanguageConsistency`): the response without code,
LaTeX, URLs and numbers is split into sentences (and script runs), each identified by ``lingua``
among ``reward.langs`` and English, and

.. math:: \mathrm{language} = \frac{\sum_{s:\,\mathrm{lid}(s) = \ell} |s|_{\mathrm{letters}}}{\sum_s |s|_{\mathrm{letters}}}

Arguments: the items (``response``, ``lang``) and a context holding the language identifier
(``needs "language_id"``); the reward measures the shares once per batch, for this component and
for the language gate alike. Range [0, 1]; a response with no letters scores 0.0. Not gated (it
*is* what the gate is made of). Default weight 0.15: it stops the drift to English.

>>> from pbrlsvr.rewards.config import RewardConfig
>>> from pbrlsvr.rewards.components import ScoringContext
>>> from pbrlsvr.rewards.language import LanguageConsistency
>>> from pbrlsvr.rewards.reward import RewardItem
>>> context = ScoringContext(RewardConfig(langs=["sw"]), language=LanguageConsistency(["sw"]))
>>> ref = "Roger started with 5 balls. He bought 2 cans of 3. The answer is 11."
>>> sw = RewardItem("Roger alianza na mipira 5. Alinunua mikebe 2 ya mipira 3. Jibu ni 11.", "sw", ref)
>>> english_copy = RewardItem(ref, "sw", ref)
>>> language_reward([sw, english_copy], context)
[1.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pbrlsvr.rewards.components import ScoringContext, register_component

if TYPE_CHECKING:
    from pbrlsvr.rewards.reward import RewardItem


@register_component("language", default_weight=0.15, needs=("language_id",))
def language_reward(items: Sequence[RewardItem], context: ScoringContext) -> list[float]:
    """Letter share of each response in its target language (see the module docstring)."""
    return context.language_shares(items)
