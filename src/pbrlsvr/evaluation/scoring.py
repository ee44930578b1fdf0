"""Scoring one response: its final answer against the gold, and the language it is written in.

Evaluation uses the reward's own code, so a number in a report means what the reward means:

* the final answer is :func:`pbrlsvr.rewards.answer.extract_answer` (``\\boxed{}``, then the last
  final-answer phrase of the language or English, then the last number), compared with the gold
  by :func:`pbrlsvr.rewards.answer.answers_match` — exactly what the ``answer`` reward component
  computes against a gold answer;
* for multiple choice (``choice``) the same extractor runs first and its answer counts when it is
  a letter A–J (``The answer is (J).``, ``答案是 (C)``, ``Jibu ni B``); otherwise the last
  parenthesised letter ``(X)`` in the final 300 characters, or a last line that is a bare letter,
  is taken. A number is never read as a choice;
* the language share is :class:`pbrlsvr.rewards.language.LanguageConsistency` (lingua, per
  sentence and script run, numbers/LaTeX/code stripped): the share of the response's letters in
  the prompt's language. A response is *consistent* when that share is at least the configured
  threshold (0.5 by default).

:func:`extractor_version` names this procedure (and hashes the phrase table it depends on); it is
written into every report and is part of a run's fingerprint.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pbrlsvr import __version__
from pbrlsvr.data.problem import Problem
from pbrlsvr.hashing import digest
from pbrlsvr.languages import LANGUAGES
from pbrlsvr.rewards.answer import ExtractedAnswer, answers_match, extract_answer

EVAL_EXTRACT_VERSION = "eval-extract-1"
"""Bumped when the evaluation-side extraction rules (the choice fallback) change."""

CHOICE_TAIL_CHARS = 300
_PAREN_LETTER = re.compile(r"[(（]\s*([A-J])\s*[)）]")
_BARE_LETTER = re.compile(r"^[\s*_#>]*\(?([A-J])\)?[\s*_.。]*$")


def extractor_version() -> str:
    """``eval-extract-1/pbrlsvr-0.1.0/answer-<hash of the phrase tables>``."""
    from pbrlsvr.rewards import answer as answer_module

    phrases, headers = answer_module.extraction_tables()
    tables = [phrases, headers, answer_module.TAIL_CHARS, answer_module.MAX_BOXED_TRIES]
    return f"{EVAL_EXTRACT_VERSION}/pbrlsvr-{__version__}/answer-{digest(tables, 10)}"


def extract_choice(text: str | None, lang: str | None = None) -> str | None:
    """The chosen letter A–J of a multiple-choice response, or ``None``.

    >>> extract_choice("... 答案是 (C)", "zh"), extract_choice("The answer is (J).", "en")
    ('C', 'J')
    >>> extract_choice("Kwa hiyo, Jibu ni B", "sw"), extract_choice("The answer is 42.", "en") is None
    ('B', True)
    """
    got = extract_answer(text, lang)
    if got is not None and got.is_letter:
        return got.text
    if not text:
        return None
    tail = text[-CHOICE_TAIL_CHARS:]
    hits = _PAREN_LETTER.findall(tail)
    if hits:
        return hits[-1]
    lines = [line for line in tail.splitlines() if line.strip()]
    if lines:
        m = _BARE_LETTER.match(lines[-1])
        if m:
            return m.group(1)
    return None


def extract_for(kind: str, text: str | None, lang: str) -> ExtractedAnswer | None:
    """The final answer of ``text`` for a ``math`` or ``choice`` task."""
    if kind == "choice":
        letter = extract_choice(text, lang)
        return None if letter is None else ExtractedAnswer(letter, source="choice")
    return extract_answer(text, lang)


@dataclass(frozen=True)
class Scored:
    """The scoring fields of one prediction line."""

    extracted: str | None
    correct: bool
    lang_share: float | None
    lang_shares: dict[str, float]
    consistent: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "extracted": self.extracted,
            "correct": self.correct,
            "lang_share": self.lang_share,
            "lang_shares": self.lang_shares,
            "consistent": self.consistent,
        }


def identifiable(langs: Sequence[str]) -> list[str]:
    """The languages among ``langs`` that the language identifier has a model for."""
    return [c for c in langs if LANGUAGES[c].lingua is not None]


class Scorer:
    """Scores batches of responses (answer + language) for one task kind.

    Args:
        kind: ``math`` or ``choice``.
        candidates: languages the identifier chooses between (English is added; languages
            without a lingua model are dropped, and responses in them get no language share).
        threshold: minimum share of the prompt's language for a consistent response.
    """

    def __init__(self, kind: str, candidates: Sequence[str], threshold: float = 0.5) -> None:
        from pbrlsvr.rewards.language import LanguageConsistency

        if kind not in ("math", "choice"):
            raise ValueError(f"kind must be 'math' or 'choice', got {kind!r}")
        self.kind = kind
        self.threshold = float(threshold)
        self.language_id = LanguageConsistency(identifiable(list(candidates)))
        self.candidates: tuple[str, ...] = self.language_id.candidates

    def score(self, problems: Sequence[Problem], responses: Sequence[str]) -> list[Scored]:
        if len(problems) != len(responses):
            raise ValueError(f"got {len(problems)} problems but {len(responses)} responses")
        shares = self.language_id.shares_batch(list(responses))
        out: list[Scored] = []
        for problem, text, share_map in zip(problems, responses, shares, strict=True):
            got = extract_for(self.kind, text, problem.lang)
            correct = got is not None and answers_match(got, problem.gold, lang=problem.lang)
            rounded = {k: round(v, 4) for k, v in sorted(share_map.items(), key=lambda kv: -kv[1])}
            if problem.lang in self.candidates:
                share: float | None = round(share_map.get(problem.lang, 0.0), 4)
                consistent: bool | None = share >= self.threshold
            else:
                share, consistent = None, None
            out.append(Scored(None if got is None else got.text, bool(correct), share, rounded, consistent))
        return out
