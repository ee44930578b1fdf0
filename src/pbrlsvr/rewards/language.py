"""Language consistency: how much of a response is written in the target language.

Plain RL on multilingual math drifts to English (M-Thinker reports 0% language consistency for
plain RL); this component is what stops that drift, and the combined reward uses it to gate the
semantic reward so that copying the English reference never pays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from pbrlsvr.errors import UnknownLanguageError
from pbrlsvr.languages import LANGUAGES, MGSM_LANGS, get_language, normalize_langs

if TYPE_CHECKING:
    from lingua import LanguageDetector

# lingua (a 96 MB wheel of language models) is imported where a detector is built, not at module
# import: a reward whose language weight is 0 and whose gate is off never needs it, and
# `import pbrlsvr.rewards` stays cheap.

# What is not language: code blocks, LaTeX, URLs, numbers and formulas. Stripped before language
# identification so that a response full of equations is judged by its words alone.
_STRIP_PATTERNS = [
    re.compile(r"```.*?(```|$)", re.DOTALL),  # fenced code
    re.compile(r"`[^`\n]*`"),  # inline code
    # LaTeX math. Inline $...$ only when it hugs its content ($x+1$), so currency ("$3 each ...
    # costs $23") is not mistaken for math and swallowed with the words between.
    re.compile(r"\$\$.*?\$\$|\\\[.*?\\\]|\\\(.*?\\\)|\$(?=\S)[^$\n]*?(?<=\S)\$(?!\d)", re.DOTALL),
    re.compile(r"\\[a-zA-Z]+(\{[^{}]*\})*"),  # LaTeX commands left outside math (\boxed{18})
    re.compile(r"https?://\S+"),  # URLs
    re.compile(r"<<[^<>]*>>"),  # GSM8K calculator annotations
]
# Numbers with the operators and spaces between them; removed per sentence, after splitting,
# because this pattern would otherwise also eat the full stops that end sentences ("mipira 5.").
_NUMBERS = re.compile(r"[^\w\n]*\d[\d\W_]*", re.UNICODE)
# Sentence ends in the scripts we support (Latin, CJK, Devanagari danda, Arabic, Thai spaces excluded).
_SENTENCE_END = re.compile(r"(?<=[.!?。！？।॥؟\n])\s*")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)

DEFAULT_CANDIDATES: tuple[str, ...] = MGSM_LANGS
"""Languages the identifier chooses between when none are configured: the MGSM languages."""


def strip_non_language(text: str) -> str:
    r"""``text`` without code, LaTeX, URLs, numbers and formulas (what language ID should not see).

    >>> strip_non_language("Jibu ni $5 \\times 3 = 15$. \\boxed{15}")
    'Jibu ni .'
    """
    kept = " ".join(_NUMBERS.sub(" ", s) for s in _SENTENCE_END.split(_strip_markup(text)))
    return re.sub(r"\s+", " ", kept).strip()


def _strip_markup(text: str) -> str:
    for pattern in _STRIP_PATTERNS:
        text = pattern.sub(" ", text)
    return text


def _letters(text: str) -> int:
    return len(_LETTER.findall(text))


def _is_latin_word(word: str) -> bool | None:
    """Whether a word's first letter is Latin (None for a word without letters)."""
    for ch in word:
        if ch.isalpha():
            return ch < "\u0250"  # Basic Latin through Latin Extended-B
    return None


def _script_runs(sentence: str) -> list[str]:
    """Consecutive words grouped by script class, Latin or not; letterless words join the run."""
    runs: list[list[str]] = []
    current: bool | None = None
    for word in sentence.split():
        latin = _is_latin_word(word)
        if runs and (latin is None or latin == current or current is None):
            runs[-1].append(word)
            current = latin if current is None else current
        else:
            runs.append([word])
            current = latin
    return [" ".join(r) for r in runs]


@lru_cache(maxsize=32)
def _detector(candidates: tuple[str, ...]) -> LanguageDetector:
    from lingua import Language as LinguaLanguage
    from lingua import LanguageDetectorBuilder

    members = [getattr(LinguaLanguage, LANGUAGES[c].lingua) for c in candidates]  # type: ignore[arg-type]
    return LanguageDetectorBuilder.from_languages(*members).with_preloaded_language_models().build()


class LanguageConsistency:
    r"""Share of a response's letters that a language identifier assigns to the target language.

    Formula: the response is stripped of code, LaTeX, URLs, numbers and formulas
    (:func:`strip_non_language`), split into sentences, and each sentence is identified with
    ``lingua`` restricted to ``candidates`` (the run's languages; English is always added so an
    English copy is recognised). The score is

    .. math:: \mathrm{language} = \frac{\sum_{s:\,\mathrm{lid}(s) = \mathrm{lang}} |s|_{\mathrm{letters}}}
        {\sum_s |s|_{\mathrm{letters}}}

    so a half-English, half-Swahili answer scores about 0.5. A response with no letters left
    (empty, or only numbers and formulas) scores 0.0: it shows no language at all.

    Args:
        candidates: ISO 639-1 codes the identifier chooses between. Default: the MGSM languages.
            Restricting to the run's languages makes short texts far more accurate.

    Range: [0, 1]. Deterministic.

    Raises:
        UnknownLanguageError: a candidate is unknown, or lingua has no model for it (e.g. ``wo``).

    Example:
        >>> lc = LanguageConsistency(["sw", "en"])
        >>> lc.score("Roger alianza na mipira 5. Alinunua mikebe 2 ya mipira 3. Jibu ni 11.", "sw")
        1.0
        >>> lc.score("Roger started with 5 balls. He bought 2 cans of 3. The answer is 11.", "sw")
        0.0
    """

    def __init__(self, candidates: Iterable[str] | None = None) -> None:
        codes = normalize_langs(list(candidates) if candidates is not None else DEFAULT_CANDIDATES)
        if "en" not in codes:
            codes.append("en")
        missing = [c for c in codes if LANGUAGES[c].lingua is None]
        if missing:
            raise UnknownLanguageError(
                f"no language-identification model for {missing}; the language reward cannot be computed "
                "for them (remove them from the run's languages or give the language component weight 0)"
            )
        self.candidates: tuple[str, ...] = tuple(codes)
        from lingua import Language as LinguaLanguage

        self._by_member = {getattr(LinguaLanguage, LANGUAGES[c].lingua): c for c in codes}  # type: ignore[arg-type]
        self._detector = _detector(self.candidates)

    def _check_target(self, lang: str) -> str:
        code = get_language(lang).code
        if code not in self.candidates:
            raise UnknownLanguageError(
                f"target language {code!r} is not among the language-ID candidates {list(self.candidates)}"
            )
        return code

    @staticmethod
    def _sentences(text: str) -> list[str]:
        """Chunks to identify: sentences, further split where the script changes (Latin vs not).

        The script split catches English inside Thai, Japanese or Russian text even where no
        sentence punctuation separates them (Thai writes none).
        """
        chunks: list[str] = []
        for sentence in _SENTENCE_END.split(_strip_markup(text)):
            chunks.extend(_script_runs(_NUMBERS.sub(" ", sentence)))
        return [c for c in chunks if _letters(c) > 0]

    def shares(self, response: str) -> dict[str, float]:
        """Letter share per identified language (sums to 1; empty when no letters are left)."""
        return self.shares_batch([response])[0]

    def shares_batch(self, responses: Sequence[str]) -> list[dict[str, float]]:
        """:meth:`shares` for many responses, identifying all their sentences in one lingua call."""
        per_response = [self._sentences(r or "") for r in responses]
        flat = [s for sents in per_response for s in sents]
        detected = self._detector.detect_languages_in_parallel_of(flat) if flat else []
        out: list[dict[str, float]] = []
        i = 0
        for sents in per_response:
            counts: dict[str, int] = {}
            for sentence in sents:
                member = detected[i]
                i += 1
                code = self._by_member.get(member) if member is not None else None
                if code is not None:
                    counts[code] = counts.get(code, 0) + _letters(sentence)
            total = sum(_letters(s) for s in sents)
            out.append({c: n / total for c, n in counts.items()} if total else {})
        return out

    def score(self, response: str, lang: str) -> float:
        """Share of ``response`` in ``lang`` (see the class docstring)."""
        return self.score_batch([response], [lang])[0]

    def score_batch(self, responses: Sequence[str], langs: Sequence[str]) -> list[float]:
        """:meth:`score` for many responses; ``langs`` is one target code per response."""
        if len(responses) != len(langs):
            raise ValueError(f"got {len(responses)} responses but {len(langs)} languages")
        targets = [self._check_target(lang) for lang in langs]
        return [s.get(t, 0.0) for s, t in zip(self.shares_batch(responses), targets, strict=True)]
