"""Reward fidelity: does the reward rank a correct target-language answer above worse variants?

Built on the MGSM exemplars, where the same step-by-step reasoning exists as human translations
in 11 languages. For every non-English exemplar (the *correct* response, with the English
exemplar as the pivot reference) it derives six worse variants:

* ``wrong_final``: the same text with a wrong final number;
* ``wrong_step``: one intermediate result changed, still ending on the right number;
* ``final_only``: the final sentence alone (right answer, no reasoning);
* ``english_copy``: the English reference itself (the reward-hacking policy);
* ``other_problem``: another exemplar's answer in the same language;
* ``half_english``: the first half in the target language, the rest in English.

:func:`fidelity_table` reports, per language and variant, the share of pairs where the correct
response beats the variant by at least ``margin`` — the gap GRPO's group normalisation needs.
Use it to check a custom reward configuration before training with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pbrlsvr.rewards.numbers import find_numbers

VARIANTS: tuple[str, ...] = (
    "wrong_final",
    "wrong_step",
    "final_only",
    "english_copy",
    "other_problem",
    "half_english",
)

_SENTENCE = re.compile(r"(?<=[.!?。！？।])\s*")


@dataclass(frozen=True)
class FidelityCase:
    """One correct response and one variant, with the reference both are scored against."""

    lang: str
    exemplar: int
    variant: str
    correct: str
    worse: str
    reference: str
    reference_answer: str


def _replace_span(text: str, start: int, end: int, value: str) -> str:
    return text[:start] + value + text[end:]


def wrong_final(text: str, answer: str, lang: str) -> str | None:
    """The last occurrence of the final answer replaced by answer + 1 (answer + 10 if that is 0)."""
    nums = [n for n in find_numbers(text, lang) if str(n.value) == answer]
    if not nums:
        return None
    last = nums[-1]
    new = last.value + 1 if last.value + 1 != 0 else last.value + 10
    return _replace_span(text, last.start, last.end, str(new))


def wrong_step(text: str, answer: str, lang: str, question: str) -> str | None:
    """One intermediate result made wrong while the text still ends on the right answer.

    Prefer the first number right after an ``=`` that is not the final answer (that equation
    becomes false). Texts whose only equation is the final one get every occurrence of their first
    intermediate result (a number neither given in the question nor the answer) changed instead,
    so the slip propagates into the final equation (``6 balls. 5 + 6 = 11`` becomes
    ``7 balls. 5 + 7 = 11``).
    """
    numbers = find_numbers(text, lang)
    for n in numbers:
        if text[: n.start].rstrip().endswith("=") and str(n.value) != answer:
            return _replace_span(text, n.start, n.end, str(n.value + 1))
    given = {n.value for n in find_numbers(question, lang)}
    for target in (n for n in numbers if n.value not in given and str(n.value) != answer):
        out = text
        for n in sorted((m for m in numbers if m.value == target.value), key=lambda m: -m.start):
            out = _replace_span(out, n.start, n.end, str(n.value + 1))
        return out
    return None


def final_only(text: str) -> str:
    """The last sentence (the last two clauses in scripts without sentence punctuation)."""
    parts = [p for p in _SENTENCE.split(text.strip()) if p.strip()]
    return parts[-1] if len(parts) >= 2 else " ".join(text.split()[-2:])


def half_english(text: str, english: str) -> str:
    """The first half of the text (by characters, cut at a space) followed by the second half of
    the English reference: half translated, half copied."""

    def cut(s: str) -> int:
        mid = len(s) // 2
        space = s.find(" ", mid)
        return space if 0 <= space < len(s) - 1 else mid

    return text[: cut(text)].rstrip() + " " + english[cut(english) :].lstrip()


def build_cases(langs: Sequence[str] | None = None) -> list[FidelityCase]:
    """Every (correct, variant) pair for the non-English exemplars in ``langs`` (default: all)."""
    from pbrlsvr.data.mgsm import load_mgsm_exemplars

    rows = load_mgsm_exemplars()  # answers without their "Step-by-Step Answer:" label: a response has none
    english = {r.id: str(r.meta["solution"]) for r in rows if r.lang == "en"}
    by_lang: dict[str, dict[str, str]] = {}
    for r in rows:
        by_lang.setdefault(r.lang, {})[r.id] = str(r.meta["solution"])
    ids = sorted(english, key=lambda i: int(i.rsplit("-", 1)[1]))
    cases: list[FidelityCase] = []
    for r in rows:
        lang = r.lang
        if lang == "en" or (langs is not None and lang not in langs):
            continue
        text = by_lang[lang][r.id]
        ref = english[r.id]
        answer = str(r.gold)
        other = by_lang[lang][ids[(ids.index(r.id) + 1) % len(ids)]]
        variants: dict[str, str | None] = {
            "wrong_final": wrong_final(text, answer, lang),
            "wrong_step": wrong_step(text, answer, lang, r.question),
            "final_only": final_only(text),
            "english_copy": ref,
            "other_problem": other,
            "half_english": half_english(text, ref),
        }
        for name, worse in variants.items():
            if worse is not None and worse != text:
                cases.append(FidelityCase(lang, int(r.id.rsplit("-", 1)[1]), name, text, worse, ref, answer))
    return cases


ScoreFn = Callable[[list[dict[str, str]]], list[dict[str, float]]]
"""Scores items (response, lang, reference, reference_answer) → per item {"reward": …, component: …}."""


def fidelity_table(
    cases: Sequence[FidelityCase], score: ScoreFn, keys: Sequence[str], margin: float = 0.05
) -> dict[str, dict[tuple[str, str], tuple[int, int]]]:
    """For each key (``"reward"`` or a component), (wins, pairs) per (lang, variant).

    A win is ``correct - worse >= margin``. Correct responses are scored once per exemplar.
    """
    items: list[dict[str, str]] = []
    index: dict[tuple[str, str, str], int] = {}  # (lang, response, reference): each scored once
    for c in cases:
        for text in (c.correct, c.worse):
            key = (c.lang, text, c.reference)
            if key not in index:
                index[key] = len(items)
                items.append(
                    {
                        "response": text,
                        "lang": c.lang,
                        "reference": c.reference,
                        "reference_answer": c.reference_answer,
                    }
                )
    scores = score(items)
    out: dict[str, dict[tuple[str, str], tuple[int, int]]] = {k: {} for k in keys}
    for c in cases:
        good = scores[index[(c.lang, c.correct, c.reference)]]
        bad = scores[index[(c.lang, c.worse, c.reference)]]
        for k in keys:
            wins, pairs = out[k].get((c.lang, c.variant), (0, 0))
            out[k][(c.lang, c.variant)] = (wins + int(good[k] - bad[k] >= margin), pairs + 1)
    return out
