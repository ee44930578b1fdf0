r"""The ``trace`` component: did the response reach the reference's intermediate results, with
its own arithmetic true?

Formula (:func:`~pbrlsvr.rewards.trace.trace_score`):
:math:`\mathrm{trace} = \mathrm{coverage} \times \mathrm{consistency}`, where coverage is the share
of the reference's distinct intermediate results (what its equations and calculator annotations
produce) found among the response's numbers, and consistency is
:math:`1 - \#\mathrm{false} / \max(1, \#\mathrm{equations})` over the response's own equations.

Arguments: the items (``response``, ``lang`` for number separators, ``reference``); the context is
not used. Range [0, 1]. Not gated (numbers are language-neutral). Default weight 0.2: it catches a
wrong middle step that embeddings and the final answer miss.

>>> from pbrlsvr.rewards.components import ScoringContext
>>> from pbrlsvr.rewards.reward import RewardItem
>>> ref = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18"
>>> right = RewardItem("16 - 3 - 4 = 9. 9 * 2 = 18. Jibu ni 18.", "sw", ref)
>>> slip = RewardItem("16 - 3 - 4 = 10. 9 * 2 = 18. Jibu ni 18.", "sw", ref)
>>> trace_reward([right, slip], ScoringContext.bare())
[1.0, 0.5]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pbrlsvr.rewards.components import ScoringContext, register_component
from pbrlsvr.rewards.trace import trace_score

if TYPE_CHECKING:
    from pbrlsvr.rewards.reward import RewardItem


@register_component("trace", default_weight=0.2)
def trace_reward(items: Sequence[RewardItem], context: ScoringContext) -> list[float]:
    """Coverage of the reference's intermediate results times the response's own arithmetic
    consistency (see the module docstring)."""
    return [trace_score(it.response, it.reference, lang=it.lang) for it in items]
