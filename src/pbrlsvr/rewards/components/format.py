r"""The ``format`` component: does the response end by stating its final answer?

Formula (:func:`format_score`), on the tail :math:`t` = the last two non-empty lines of the
response, cut to their last :data:`FORMAT_TAIL_CHARS` characters:

* 1.0 if :math:`t` contains ``\boxed{…}`` with content, or a final-answer phrase
  (the ``answer_phrases`` of the response's language in :mod:`pbrlsvr.languages`, and English's)
  followed by a number, expression or choice letter;
* 0.5 if the response ends with a bare number: its last number ends within the last 16
  characters (a unit and a full stop may follow: ``… = 8 dollars.``);
* 0.0 otherwise (including blank responses).

Arguments: the items (``response``, ``lang``); the context is not used. Range {0, 0.5, 1}. Not
gated. Default weight 0.05: a small push towards answers the extraction reads without guessing.

>>> from pbrlsvr.rewards.components import ScoringContext
>>> from pbrlsvr.rewards.reward import RewardItem
>>> ref = "5 + 6 = 11. The answer is 11."
>>> responses = ("5 + 6 = 11. Jibu ni 11.", "5 + 6 = 11", "Sijui.")
>>> format_reward([RewardItem(r, "sw", ref) for r in responses], ScoringContext.bare())
[1.0, 0.5, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pbrlsvr.rewards.answer import _check_lang, _check_text, _last_boxed, _last_phrase
from pbrlsvr.rewards.components import ScoringContext, register_component
from pbrlsvr.rewards.numbers import find_numbers, normalize_numerals

if TYPE_CHECKING:
    from pbrlsvr.rewards.reward import RewardItem

FORMAT_TAIL_CHARS = 200
"""format_score looks at the last two non-empty lines, at most this many characters."""


def format_score(response: str | None, lang: str | None = None) -> float:
    r"""The format score of one response (see the module docstring for the formula).

    Args:
        response: the response text; ``None`` scores 0.0.
        lang: its language code, or ``None`` for every language's phrases.

    Returns:
        1.0, 0.5 or 0.0.

    Raises:
        ValueError: ``response`` is neither a string nor ``None``.
        UnknownLanguageError: ``lang`` is not a supported language code.

    >>> format_score("5 + 6 = 11. The answer is 11."), format_score("5 + 6 = 11"), format_score("No idea.")
    (1.0, 0.5, 0.0)
    """
    lang = _check_lang(lang)
    response = _check_text(response, "response")
    if response is None:
        return 0.0
    text = response.rstrip()
    if not text:
        return 0.0
    # Phrases must start in the tail; headers ("Step-by-Step Answer:") are recognised in a wider
    # region so that a tail cutting through one does not turn it into a final-answer phrase.
    region = normalize_numerals(text[-4 * FORMAT_TAIL_CHARS :])
    starts, pos = [], 0
    for line in region.split("\n"):
        if line.strip():
            starts.append(pos)
        pos += len(line) + 1
    tail_start = max(len(region) - FORMAT_TAIL_CHARS, starts[-2] if len(starts) > 1 else 0)
    tail = region[tail_start:]
    if _last_boxed(tail, lang) is not None:
        return 1.0
    if _last_phrase(region, 0, lang, min_start=tail_start) is not None:
        return 1.0
    nums = find_numbers(tail, lang)
    if nums and len(tail) - nums[-1].end <= 16:
        return 0.5
    return 0.0


@register_component("format", default_weight=0.05)
def format_reward(items: Sequence[RewardItem], context: ScoringContext) -> list[float]:
    """:func:`format_score` of each response in its language."""
    return [format_score(it.response, lang=it.lang) for it in items]
