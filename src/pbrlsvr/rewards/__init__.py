"""The PB-RLSVR reward, framework-agnostic: no TRL, verl or HTTP in here (see ``integrations/``).

Components (each in [0, 1]): ``semantic`` (calibrated encoder cosine to the English reference),
``translation`` (translate to English, chrF / encoder / MAPO alignment), ``answer`` (final answer
verified against the reference's), ``trace`` (intermediate results reached, own arithmetic true),
``language`` (share of the response in the target language), ``format`` (states a final answer).
:class:`Reward` combines them with weights and a language gate.

>>> from pbrlsvr.rewards import Reward, RewardConfig
>>> reward = Reward(RewardConfig(langs=["sw"]))  # doctest: +SKIP
>>> reward.score("... Jibu ni 11.", "sw", "... The answer is 11.").components  # doctest: +SKIP
"""

from pbrlsvr.config import COMPONENTS, RewardConfig
from pbrlsvr.rewards.answer import answer_score, answers_match, extract_final_answer, format_score
from pbrlsvr.rewards.language import LanguageConsistency
from pbrlsvr.rewards.reward import Reward, RewardItem, RewardResult
from pbrlsvr.rewards.trace import trace_score

__all__ = [
    "COMPONENTS",
    "LanguageConsistency",
    "Reward",
    "RewardConfig",
    "RewardItem",
    "RewardResult",
    "answer_score",
    "answers_match",
    "extract_final_answer",
    "format_score",
    "trace_score",
]
