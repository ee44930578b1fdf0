"""Majority vote over a problem's pivot samples, the gold check, and which references to keep.

Answers are the rewards' own final answers (:func:`pbrlsvr.rewards.answer.extract_final_answer`,
read as English), grouped with :func:`~pbrlsvr.rewards.answer.answers_match`: each answer joins the
first earlier group whose first answer it matches (``18``, ``18.0`` and ``$18`` are one group).
The group with the most votes wins; a tie goes to the group whose first sample came earliest, so
the vote is deterministic. The reference is the first sample of the winning group. ``agreement``
is the winner's votes over *all* samples (answerless ones included): a confidence a trainer can
use to weight or drop a problem.

A sample cut at ``max_new_tokens`` (finish reason ``length``) does not vote and never becomes the
reference unless ``keep_truncated`` is set (``keep_truncated: true`` in the pivot config): its
"final answer" may be a step of reasoning it never finished, and a reference that stops
mid-sentence teaches the policy to stop there too. It still counts in ``n_samples``, so it lowers
the agreement as an answerless sample does.

>>> s = [Sample("p", i, f"... The answer is {a}.", a, "stop", "h") for i, a in enumerate(["7", "8", "8.0"])]
>>> v = vote(s)
>>> v.answer, v.votes, v.reference_index, round(v.agreement, 2)
('8', 2, 1, 0.67)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pbrlsvr.pivot.config import Keep
from pbrlsvr.pivot.store import Sample
from pbrlsvr.rewards.answer import answers_match


@dataclass(frozen=True)
class AnswerGroup:
    """Samples whose answers match: the first answer as written, its votes, its first sample."""

    answer: str
    votes: int
    first_index: int


@dataclass(frozen=True)
class Vote:
    """The majority vote of one problem's samples.

    Attributes:
        answer: the winning answer, or ``None`` when no sample had an extractable answer.
        votes: samples in the winning group.
        n_samples: samples voted over (all stored samples of the problem).
        agreement: ``votes / n_samples`` (0.0 when there is no answer).
        reference: the text of the first sample with the winning answer.
        reference_index: that sample's index.
        groups: every answer group, most votes first (ties: earliest first sample first).
        truncated: samples cut at ``max_new_tokens`` that were left out of the vote.
    """

    answer: str | None
    votes: int
    n_samples: int
    agreement: float
    reference: str | None
    reference_index: int | None
    groups: tuple[AnswerGroup, ...] = ()
    truncated: int = 0


def group_answers(answers: Sequence[str | None]) -> list[tuple[str, list[int]]]:
    """Group positions of matching answers (``None`` is skipped), in order of first appearance."""
    groups: list[tuple[str, list[int]]] = []
    for pos, answer in enumerate(answers):
        if answer is None or not answer.strip():
            continue
        for head, members in groups:
            if answer == head or answers_match(answer, head):
                members.append(pos)
                break
        else:
            groups.append((answer, [pos]))
    return groups


def vote(samples: Sequence[Sample], *, keep_truncated: bool = False) -> Vote:
    """Majority vote over one problem's samples (see the module docstring)."""
    ordered = sorted(samples, key=lambda s: s.index)
    n = len(ordered)
    cut = 0 if keep_truncated else sum(s.finish_reason == "length" for s in ordered)
    answers = [None if cut and s.finish_reason == "length" else s.answer for s in ordered]
    groups = group_answers(answers)
    if not groups:
        return Vote(None, 0, n, 0.0, None, None, (), truncated=cut)
    ranked = sorted(groups, key=lambda g: (-len(g[1]), g[1][0]))
    head, members = ranked[0]
    chosen = ordered[members[0]]
    return Vote(
        answer=head,
        votes=len(members),
        n_samples=n,
        agreement=len(members) / n,
        reference=chosen.text,
        reference_index=chosen.index,
        groups=tuple(AnswerGroup(h, len(m), ordered[m[0]].index) for h, m in ranked),
        truncated=cut,
    )


def agrees_with_gold(answer: str | None, gold: str | None) -> bool | None:
    """``True``/``False`` when there is a gold answer to compare with, ``None`` when there is none."""
    if gold is None or not str(gold).strip():
        return None
    if answer is None:
        return False
    return answers_match(answer, gold)


def keep_decision(vote_: Vote, correct: bool | None, keep: Keep, min_agreement: float) -> str | None:
    """Why a problem's reference is dropped (``None``: it is kept).

    ``keep``: ``all`` keeps every problem with a voted answer; ``agree_with_gold`` drops answers
    that disagree with the gold answer (problems without gold cannot be checked and are kept);
    ``min_agreement`` drops agreement below ``min_agreement``; ``both`` applies the two.
    """
    if vote_.n_samples == 0:
        return "no samples"
    if vote_.answer is None and vote_.truncated:
        return "no answer in a finished sample (the others were cut at max_new_tokens)"
    if vote_.answer is None:
        return "no answer in any sample"
    if keep in ("agree_with_gold", "both") and correct is False:
        return "disagrees with gold"
    if keep in ("min_agreement", "both") and vote_.agreement + 1e-9 < min_agreement:
        return f"agreement below {min_agreement:g}"
    return None


__all__ = ["AnswerGroup", "Vote", "agrees_with_gold", "group_answers", "keep_decision", "vote"]
