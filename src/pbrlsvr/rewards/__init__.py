"""The PB-RLSVR reward, framework-agnostic: no TRL, verl or HTTP in here (see ``integrations/``).

Components (each in [0, 1], one module each in :mod:`pbrlsvr.rewards.components`, where a plugin
registers more): ``semantic`` (calibrated encoder cosine to the English reference),
``translation`` (translate to English, chrF / encoder / MAPO alignment), ``answer`` (final answer
verified against the reference's), ``trace`` (intermediate results reached, own arithmetic true),
``language`` (share of the response in the target language), ``format`` (states a final answer).
:class:`Reward` combines those with a positive weight, under a language gate.

>>> from pbrlsvr.rewards import Reward, RewardConfig
>>> reward = Reward(RewardConfig(langs=["sw"]))  # doctest: +SKIP
>>> reward.score("... Jibu ni 11.", "sw", "... The answer is 11.").components  # doctest: +SKIP
"""

from pbrlsvr.rewards.answer import answer_score, answers_match, extract_final_answer
from pbrlsvr.rewards.components import (
    Component,
    ScoringContext,
    component_names,
    gated_components,
    register_component,
)
from pbrlsvr.rewards.components.format import format_score
from pbrlsvr.rewards.config import RewardConfig
from pbrlsvr.rewards.language import LanguageConsistency
from pbrlsvr.rewards.reward import Reward, RewardItem, RewardResult
from pbrlsvr.rewards.trace import trace_score

__all__ = [
    "Component",
    "LanguageConsistency",
    "Reward",
    "RewardConfig",
    "RewardItem",
    "RewardResult",
    "ScoringContext",
    "answer_score",
    "answers_match",
    "component_names",
    "extract_final_answer",
    "format_score",
    "gated_components",
    "register_component",
    "trace_score",
]
