r"""The ``semantic`` component: calibrated encoder similarity to the English reference.

Formula, for response :math:`r` and reference :math:`y`, encoder :math:`e` and the encoder's
calibration :math:`(u, p)` (mean cosine of unrelated and of parallel pairs):

.. math:: \mathrm{semantic} = \mathrm{clip}\Big(\frac{\cos(e(r), e(y)) - u}{p - u}, 0, 1\Big)

Arguments: the items (``response``, ``reference``) and a context holding the calibrated encoder
(``needs "encoder"``; :class:`~pbrlsvr.rewards.semantic.SemanticSimilarity` does the work, with
reference embeddings cached). Range [0, 1]; an empty response scores 0.0. Gated: the language gate
multiplies it, since an English copy of the reference maximises it. Default weight 0.2.

Example (the packaged e5 encoder, a few seconds on a CPU):

>>> from pbrlsvr.rewards.config import RewardConfig
>>> from pbrlsvr.rewards.components import ScoringContext
>>> from pbrlsvr.rewards.encoders import build_encoder, stored_calibration
>>> from pbrlsvr.rewards.reward import RewardItem
>>> from pbrlsvr.rewards.semantic import SemanticSimilarity
>>> enc = build_encoder("e5-small-torch")
>>> context = ScoringContext(RewardConfig(), semantic=SemanticSimilarity(enc, stored_calibration(enc.name)))
>>> ref = "Roger started with 5 balls. 2 cans of 3 balls is 6 balls. 5 + 6 = 11. The answer is 11."
>>> sw = "Roger alianza na mipira 5. Makopo 2 ya mipira 3 ni mipira 6. 5 + 6 = 11. Jibu ni 11."
>>> other = "Leah alikuwa na chokoleti 32 na dada yake 42. Walikula 35. Jibu ni 39."
>>> close, far = semantic_reward([RewardItem(sw, "sw", ref), RewardItem(other, "sw", ref)], context)
>>> close > 0.5, far  # the parallel text scores high, the unrelated one 0 (below "unrelated" mean)
(True, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pbrlsvr.rewards.components import ScoringContext, register_component

if TYPE_CHECKING:
    from pbrlsvr.rewards.reward import RewardItem


@register_component("semantic", default_weight=0.2, gated=True, needs=("encoder",))
def semantic_reward(items: Sequence[RewardItem], context: ScoringContext) -> list[float]:
    """Calibrated cosine of each response to its reference (see the module docstring)."""
    if context.semantic is None:
        raise RuntimeError("the semantic component needs an encoder in its scoring context")
    return context.semantic.score_batch([it.response for it in items], [it.reference for it in items])
