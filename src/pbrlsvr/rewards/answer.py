r"""The answer component: extract the final answer and compare it with the reference's.

Extraction (:func:`extract_final_answer`) takes, in this order:

1. the last ``\boxed{…}`` / ``\fbox{…}`` (nested braces allowed);
2. the last final-answer phrase of the response's language or English (the language's
   ``answer_phrases`` in :mod:`pbrlsvr.languages`: ``The answer is``, ``Answer:``, ``#### N``, a line starting ``A: N``, ``Die Antwort lautet``,
   ``La respuesta es``, ``La réponse est``, ``Ответ:``, ``Jibu ni``, ``উত্তর হল``, ``సమాధానం``,
   ``คำตอบคือ``, ``答えは``, ``答案是``, …), followed by a number, a LaTeX expression or a
   multiple-choice letter ``A``–``J``; the step-by-step headers of the MGSM prompts (every
   language's ``step_headers``: ``Step-by-Step Answer:``, ``ধাপে ধাপে উত্তর:``,
   ``ステップごとの答え：``, …) are not final-answer phrases;
3. the last number in the response.

Phrases and last numbers are looked for in the last :data:`TAIL_CHARS` characters only: a final
answer is at the end, and this bounds the work on a runaway generation.

A response whose last number is a runaway digit string (more than :data:`RUNAWAY_DIGITS` digits,
``… the answer is 12 1111111111111111111111111111``) has **no** answer: the generation broke
down, and falling back to an earlier number (the ``12``) would pay a degenerate response the
correct-answer reward. See :func:`_runaway_final_number` for the exact rule.

Comparison (:class:`AnswerVerifier`, :func:`answers_match`) is numeric first (exact fractions with
a relative tolerance, percentages compared both as written and divided by 100, the other reading
of an ambiguous separator such as ``3,500`` accepted), letters compare case-insensitively, and
everything else goes to ``math-verify``. math-verify's own timeout uses ``SIGALRM``, which only
works in the main thread of the main interpreter: there it is used; anywhere else (trainer worker
threads, a thread-pool reward server) it is switched off, and the inputs are bounded everywhere
(:data:`MAX_EXPRESSION_CHARS`, no power towers or five-digit exponents). Every exception or
timeout inside math-verify is a non-match, never an error.

>>> from pbrlsvr.rewards.answer import extract_final_answer, answer_score
>>> extract_final_answer("5 + 6 = 11。答案是11。", lang="zh")
'11'
>>> answer_score("রজারের 5টি বল ছিল ... উত্তর হল ১১।", reference_answer="11", lang="bn")
1.0
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from pbrlsvr.languages import LANGUAGES, builtin_languages, get_language, table_version
from pbrlsvr.rewards.numbers import (
    NumberSpan,
    find_numbers,
    format_number,
    normalize_numerals,
    parse_number_span,
    to_fraction,
    unwrap_latex,
)

logger = logging.getLogger(__name__)

TAIL_CHARS = 20_000
"""Phrases and the last number are searched in this many final characters of a response."""

RUNAWAY_DIGITS = 17
"""A response whose last number has more digits than this has no final answer (a runaway).

Why 17: every IEEE double prints exactly in at most 17 significant digits (Python's
``repr(0.1 + 0.2)`` is ``0.30000000000000004``, 17 digits), so no value that a model or its
calculator computed needs more, while the benchmarks' answers have at most 9 digits (GSM8K, MGSM,
MSVAMP). A longer digit string at the end is a degenerate generation, not an answer."""

MAX_EXPRESSION_CHARS = 300
"""Longer answers are not sent to math-verify (bounds sympy's work where no timeout can run)."""

# The order in which extractor_version hashes the shipped languages' step headers: the hash is in
# every stored evaluation fingerprint, so the order is fixed; a language not listed follows, by code.
_HEADER_ORDER = ("en", "de", "es", "fr", "ru", "sw", "bn", "te", "th", "ja", "zh")


def extraction_tables() -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """The shipped languages' final-answer phrases (code → phrases) and step-by-step headers.

    What :func:`pbrlsvr.evaluation.scoring.extractor_version` fingerprints: a plugin's language
    extends extraction without changing the fingerprint of runs that do not use it.
    """
    languages = {lang.code: lang for lang in builtin_languages()}
    phrases = {code: lang.answer_phrases for code, lang in languages.items()}
    order = sorted(
        languages, key=lambda c: (_HEADER_ORDER.index(c) if c in _HEADER_ORDER else len(_HEADER_ORDER), c)
    )
    headers = tuple(h for code in order for h in languages[code].step_headers)
    return phrases, headers


_LETTERS = "ABCDEFGHIJ"


def _is_spaced_script(ch: str) -> bool:
    """``ch`` belongs to a script that separates words with spaces (not CJK or Thai)."""
    cp = ord(ch)
    return not (
        0x0E00 <= cp <= 0x0E7F  # Thai
        or 0x3040 <= cp <= 0x30FF  # kana
        or 0x3400 <= cp <= 0x9FFF  # CJK
        or 0xAC00 <= cp <= 0xD7AF  # Hangul syllables: "답은" is glued to the preceding noun
        or 0xF900 <= cp <= 0xFAFF
    )


def _phrase_regex(phrase: str) -> str:
    if phrase.startswith("(?"):  # a raw regex fragment (lookbehind) followed by plain text
        head, _, phrase = phrase.partition(")")
        head += ")"
    else:
        head = ""
    tail = ""
    if phrase.endswith(":"):
        phrase, tail = phrase[:-1], r"\s*(?:\*\*)?\s*[:：]"
    elif phrase.endswith("-"):
        phrase, tail = phrase[:-1], r"\s*(?:\*\*)?\s*[:：—–-]"
    body = r"\s+".join(re.escape(w) for w in phrase.split())
    # (A word boundary before the phrase is checked after matching: a leading look-behind would
    # stop the regex engine from skipping ahead to the phrases' first characters.)
    if not tail and phrase[-1].isalpha() and _is_spaced_script(phrase[-1]):
        tail = r"(?!\w)"
    return head + body + tail


_A_COLON = r"(?m:^)[ \t]*(?-i:A)[ \t]*:(?=[ \t]*[-$0-9])"  # "A: 18" opening a line (GSM8K solutions)


def _phrase_key(phrase: str) -> str:
    """The phrase's longest word, lowercased: the phrase cannot match a text that lacks it."""
    plain = phrase.split(")", 1)[1] if phrase.startswith("(?") else phrase
    words = plain.rstrip(":-").split()
    return max(words, key=len).lower()


@lru_cache(maxsize=64)
def _phrase_keys(lang: str | None, version: int) -> tuple[tuple[str, str], ...]:
    """(key word, phrase) of ``lang``'s and English's phrases, or every language's for ``None``
    (``version``: :func:`~pbrlsvr.languages.table_version`, so a newly registered language counts)."""
    if lang is None:
        phrases = {p for language in LANGUAGES.values() for p in language.answer_phrases}
    else:
        phrases = set(get_language(lang).answer_phrases) | set(get_language("en").answer_phrases)
    return tuple(sorted((_phrase_key(p), p) for p in phrases))


@lru_cache(maxsize=512)
def _compile_phrases(phrases: tuple[str, ...], a_colon: bool) -> re.Pattern[str] | None:
    # Longest first, so "the final answer is" wins over "answer is" at the same position.
    alternatives = [_phrase_regex(p) for p in sorted(phrases, key=len, reverse=True)]
    if a_colon:
        alternatives.append(_A_COLON)
    return re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None


def _phrase_pattern(text: str, lang: str | None) -> re.Pattern[str] | None:
    """A regex of the phrases that can occur in ``text`` (Python's regex engine slows down with
    hundreds of alternatives, so phrases whose key word is absent are left out first)."""
    low = text.lower()
    keys = _phrase_keys(lang, table_version())
    if len(low) == len(text):
        present = tuple(p for key, p in keys if key in low)
    else:  # lowercasing changed lengths (rare letters): no pre-filter
        present = tuple(p for _, p in keys)
    return _compile_phrases(present, "A" in text and ":" in text)


_WORD_CHAR = re.compile(r"\w").match


@lru_cache(maxsize=4)
def _header_re(version: int) -> re.Pattern[str]:
    """Every registered language's step-by-step headers (any response may quote any of them)."""
    headers = [h for language in LANGUAGES.values() for h in language.step_headers]
    return re.compile("|".join(headers), re.IGNORECASE)


_SKIP_AFTER_PHRASE = " \t:：*=\"'“”«»「」『』,，、-—–"
_SENTENCE_END_RE = re.compile(r"\n|[。！？!?।]|\.(?!\d)")
_LETTER_RE = re.compile(r"\(([A-J])\)|([A-J])(?:\)|(?=\s*(?:$|[.,;:。*\]]|\n)))")
_MATH_OPEN = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))
_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")


@dataclass(frozen=True)
class ExtractedAnswer:
    """A final answer read from a text.

    Attributes:
        text: canonical text: :func:`~pbrlsvr.rewards.numbers.format_number` of a number (with
            ``%`` for a percentage), an uppercase letter for a multiple-choice answer, or the
            raw expression.
        value: the number, when the answer is one.
        alt_value: the other reading of an ambiguous separator (``3,500``), if any.
        percent: the number was written with a percent sign.
        source: ``"boxed"``, ``"phrase"`` or ``"last_number"``.
        start: index in the text where the answer was found.
    """

    text: str
    value: Fraction | None = None
    alt_value: Fraction | None = None
    percent: bool = False
    source: str = "last_number"
    start: int = -1

    @property
    def is_letter(self) -> bool:
        return self.value is None and len(self.text) == 1 and self.text in _LETTERS


def _check_lang(lang: str | None) -> str | None:
    return None if lang is None else get_language(lang).code


def _check_text(text: object, name: str) -> str | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValueError(f"{name} must be a string or None, got {type(text).__name__}")
    return text


def _from_number(n: NumberSpan, source: str, start: int) -> ExtractedAnswer:
    text = format_number(n.value) + ("%" if n.percent else "")
    return ExtractedAnswer(text, n.value, n.alt_value, n.percent, source, start)


def _from_expression(expr: str, lang: str | None, source: str, start: int) -> ExtractedAnswer | None:
    """An answer written as a (LaTeX) expression: a number if it is one, else a letter or raw text."""
    expr = expr.strip().strip("$").strip()
    expr = unwrap_latex(expr)
    m = re.fullmatch(r"\\text(?:bf)?\s*\{\s*(.*?)\s*\}", expr)
    if m:
        expr = m.group(1)
    if not expr:
        return None
    n = parse_number_span(expr, lang)
    if n is not None:
        return _from_number(n, source, start)
    letter = re.fullmatch(r"\(?\s*([A-Ja-j])\s*\)?\.?", expr)
    if letter:
        return ExtractedAnswer(letter.group(1).upper(), source=source, start=start)
    return ExtractedAnswer(expr, source=source, start=start)


MAX_BOXED_TRIES = 20
"""How many ``\\boxed`` occurrences, from the last, are tried before giving up on boxes."""


def _last_boxed(text: str, lang: str | None) -> ExtractedAnswer | None:
    pos = len(text)
    for _ in range(MAX_BOXED_TRIES):
        i = max(text.rfind("\\boxed", 0, pos), text.rfind("\\fbox", 0, pos))
        if i < 0:
            return None
        m = _BOXED_RE.match(text, i)
        if m:
            depth, j = 0, m.end() - 1
            end = -1
            for k in range(j, min(len(text), j + 2000)):
                c = text[k]
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                    if depth == 0:
                        end = k
                        break
            if end > 0:
                got = _from_expression(normalize_numerals(text[j + 1 : end]), lang, "boxed", i)
                if got is not None:
                    return got
        pos = i
    return None


def _answer_after(text: str, pos: int, lang: str | None) -> ExtractedAnswer | None:
    """The answer introduced by a phrase that ends at ``pos``."""
    limit = min(len(text), pos + 160)
    i = pos
    while i < limit and text[i] in _SKIP_AFTER_PHRASE:
        if text[i] == "-" and i + 1 < limit and text[i + 1].isdigit():
            break  # a minus sign
        i += 1
    window = text[i:limit]
    nl = window.find("\n")
    if nl >= 0:
        window = window[:nl]
    if window.startswith(("\\boxed", "\\fbox")):
        return _last_boxed(window, lang)
    for left, right in _MATH_OPEN:
        if window.startswith(left):
            close = window.find(right, len(left))
            if close > len(left):
                got = _from_expression(window[len(left) : close], lang, "phrase", i)
                if got is not None and (got.value is not None or got.is_letter or "\\" in got.text):
                    return got
            break
    m = _LETTER_RE.match(window)
    if m:
        return ExtractedAnswer(m.group(1) or m.group(2), source="phrase", start=i)
    end = _SENTENCE_END_RE.search(window)
    sentence = window if end is None else window[: end.start()]
    nums = find_numbers(sentence, lang)
    if not nums or nums[0].start > 60:
        return None
    chosen = nums[0]
    # "The answer is 5 + 6 = 11": the number after the last '=' of the sentence.
    eq = sentence.rfind("=")
    if eq > chosen.start:
        after = [n for n in nums if n.start > eq]
        if after:
            chosen = after[0]
    return _from_number(chosen, "phrase", i + chosen.start)


def _last_phrase(text: str, offset: int, lang: str | None, min_start: int = 0) -> ExtractedAnswer | None:
    """The answer after the last final-answer phrase of ``text`` that starts at ``min_start`` or
    later; ``offset`` is added to the reported position."""
    header_re = _header_re(table_version())
    headers = [m.span() for m in header_re.finditer(text)] if header_re.search(text) else []
    pattern = _phrase_pattern(text, lang)
    if pattern is None:
        return None
    matches = list(pattern.finditer(text))
    for m in reversed(matches):
        if m.start() < min_start:
            break
        if any(hs <= m.start() < he for hs, he in headers):
            continue
        first = text[m.start()]
        if m.start() > 0 and first.isalpha() and _is_spaced_script(first) and _WORD_CHAR(text[m.start() - 1]):
            continue  # inside a word ("reanswer:")
        got = _answer_after(text, m.end(), lang)
        if got is not None:
            return ExtractedAnswer(
                got.text, got.value, got.alt_value, got.percent, "phrase", offset + got.start
            )
    return None


# A number's digits joined by single separators (any convention; a plain space is left out, so
# "12 1111…" is 12 and a runaway), anchored at the end of the searched segment.
_FINAL_CHUNK_RE = re.compile(r"[0-9]+(?:(?:\{,\}|\\,|[.,'\u00a0\u202f\u2009])[0-9]+)*$")


def _runaway_final_number(text: str) -> bool:
    """The last number of ``text`` is a runaway digit string.

    The last number is the last run of digits (any script) joined by single separators (``,``
    ``.`` ``'``, the no-break and thin spaces, LaTeX ``{,}`` / ``\\,``), found in the last
    :data:`TAIL_CHARS` characters; whatever non-digit text follows it does not matter. It is a
    runaway when it has more than :data:`RUNAWAY_DIGITS` digits, separators not counted and
    leading zeros not counted unless every digit is a zero (``0.30000000000000004`` has 17,
    ``000…0`` all of its zeros). ``1,000,000`` (7) and ``123456789`` (9) are ordinary numbers.
    """
    stop = max(0, len(text) - TAIL_CHARS)
    j = len(text) - 1
    while j >= stop and not text[j].isdecimal():
        j -= 1
    if j < stop:
        return False
    # A window wide enough that a chunk filling it is a runaway whatever its separators.
    segment = normalize_numerals(text[max(0, j - 4 * RUNAWAY_DIGITS) : j + 1])
    m = _FINAL_CHUNK_RE.search(segment)
    if m is None:  # pragma: no cover - segment ends in a digit, so a chunk always matches
        return False
    digits = re.sub(r"[^0-9]", "", m.group())
    return len(digits.lstrip("0") or digits) > RUNAWAY_DIGITS


def extract_answer(text: str | None, lang: str | None = None) -> ExtractedAnswer | None:
    """Like :func:`extract_final_answer` but returns the :class:`ExtractedAnswer` with its value,
    the alternative reading of an ambiguous number, and where it came from."""
    lang = _check_lang(lang)
    text = _check_text(text, "text")
    if text is None or not text.strip():
        return None
    if _runaway_final_number(text):
        return None  # a degenerate generation: no answer, not an earlier number
    got = _last_boxed(text, lang)
    if got is not None:
        return got
    offset = max(0, len(text) - TAIL_CHARS)
    tail = normalize_numerals(text[offset:])
    got = _last_phrase(tail, offset, lang)
    if got is not None:
        return got
    nums = find_numbers(tail, lang)
    if not nums:
        return None
    return _from_number(nums[-1], "last_number", offset + nums[-1].start)


def extract_final_answer(text: str | None, lang: str | None = None) -> str | None:
    r"""The final answer of a response, as canonical text.

    Priority: the last ``\boxed{}``; else the last final-answer phrase (the ``answer_phrases``
    of ``lang`` and English; every language's when ``lang`` is ``None``) with the number, LaTeX
    expression or choice letter ``A``–``J`` that follows it; else the last number. Digits of any
    script, decimal commas and thousands separators are read as described in
    :mod:`pbrlsvr.rewards.numbers`.

    A response whose last number is a runaway digit string (more than :data:`RUNAWAY_DIGITS`
    digits, such as ``… the answer is 12 1111111111111111111111111111``) gives ``None``, even
    when a box, a phrase or an earlier number precedes it: the generation degenerated, and an
    earlier number must not earn it the correct-answer reward.

    Args:
        text: the response (or reference) text; ``None`` or blank gives ``None``.
        lang: language code of the text (selects phrases and the decimal-separator convention),
            or ``None`` for all phrases and the language-free number heuristic.

    Returns:
        ``'18'``, ``'0.5'``, ``'-3'``, ``'50%'``, ``'1/3'`` for numbers (see
        :func:`~pbrlsvr.rewards.numbers.format_number`), ``'B'`` for a choice letter, the raw
        expression for anything else (``'\frac{\pi}{2}'``), or ``None`` when nothing is found
        or the response ends in a runaway number.

    Raises:
        ValueError: ``text`` is neither a string nor ``None``.
        UnknownLanguageError: ``lang`` is not a supported language code.

    >>> extract_final_answer("Roger has 5 + 6 = 11 balls. The answer is 11.")
    '11'
    >>> extract_final_answer("答えは１８個です。", lang="ja"), extract_final_answer("Die Antwort lautet 1.234,5.", "de")
    ('18', '1234.5')
    >>> extract_final_answer(r"So $x = \boxed{\frac{1}{2}}$."), extract_final_answer("The answer is (C).")
    ('0.5', 'C')
    """
    got = extract_answer(text, lang)
    return None if got is None else got.text


# --------------------------------------------------------------------------- comparison


def _as_answer(value: object, lang: str | None) -> ExtractedAnswer | None:
    """A reference answer given directly (number or string) as an :class:`ExtractedAnswer`."""
    if value is None:
        return None
    if isinstance(value, (int, float, Fraction, Decimal)) and not isinstance(value, bool):
        q = to_fraction(value)
        return ExtractedAnswer(format_number(q), q, source="given")
    if not isinstance(value, str):
        raise ValueError(f"an answer must be a string or a number, got {type(value).__name__}")
    if not value.strip():
        return None
    got = _from_expression(normalize_numerals(value), lang, "given", 0)
    if got is not None and got.value is None and not got.is_letter and _looks_like_prose(value):
        # A sentence rather than an expression ("The answer is 18"): extract from it.
        extracted = extract_answer(value, lang)
        if extracted is not None and extracted.value is not None:
            return extracted
    return got


_PROSE_WORD = re.compile(r"(?<![\\\w])[^\W\d_]{3,}")
_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]{2,}")


def _looks_like_prose(text: str) -> bool:
    """Two or more words (not LaTeX commands), or unspaced-script text: a sentence, not a formula."""
    return len(_PROSE_WORD.findall(text)) >= 2 or bool(_UNSPACED.search(text))


# Power towers and exponents of five or more digits: sympy can spend minutes on them, and they
# are never a final answer that needs symbolic comparison (equal strings match before this).
_BIG_EXPONENT = re.compile(r"\^\s*\{?\s*[-+]?\d{5,}|\^\s*\{[^}]*\^|\^\s*\d+\s*\^|\*\*[^*]*\*\*")


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class AnswerVerifier:
    r"""Decides whether a predicted final answer equals a reference answer.

    Rules, in order: both numbers → equal within ``rel_tol`` (:math:`|p - r| \le
    \mathrm{rel\_tol} \cdot \max(|p|, |r|)`, exact for integers; a percentage also matches its value
    divided by 100; a number with an ambiguous separator also matches by its other reading); both
    letters ``A``–``J`` → same letter; a number and a letter → no match; otherwise math-verify
    (``parse`` + ``verify``, the reference as gold), if ``use_math_verify``.

    math-verify runs with its SIGALRM timeout (``timeout_seconds``) only in the main thread of the
    main interpreter; in any other thread the timeout is off. In every thread, inputs longer than
    :data:`MAX_EXPRESSION_CHARS`, power towers and exponents of five or more digits are refused
    (no match), which bounds sympy's work where no timeout can interrupt it. Nothing raised by
    math-verify escapes: an error is a non-match.

    Args:
        rel_tol: relative tolerance for numbers, ``0 <= rel_tol < 1``.
        use_math_verify: fall back to math-verify for non-numeric answers.
        timeout_seconds: math-verify's per-call timeout in the main thread (whole seconds ≥ 1),
            or ``None`` to never use SIGALRM.

    Raises:
        ValueError: an argument is out of range.

    >>> v = AnswerVerifier()
    >>> v("0.5", r"\frac{1}{2}"), v("18", "18.0"), v("17", "18"), v("b", "B")
    (True, True, False, True)
    """

    def __init__(
        self, rel_tol: float = 1e-6, use_math_verify: bool = True, timeout_seconds: int | None = 5
    ) -> None:
        if isinstance(rel_tol, bool) or not isinstance(rel_tol, (int, float)) or not 0 <= rel_tol < 1:
            raise ValueError(f"rel_tol must be a number in [0, 1), got {rel_tol!r}")
        if timeout_seconds is not None and (
            isinstance(timeout_seconds, bool) or not isinstance(timeout_seconds, int) or timeout_seconds < 1
        ):
            raise ValueError(
                f"timeout_seconds must be a whole number of seconds >= 1 or None, got {timeout_seconds!r}"
            )
        self.rel_tol = Fraction(rel_tol).limit_denominator(10**12)
        self.use_math_verify = bool(use_math_verify)
        self.timeout_seconds = timeout_seconds

    def __repr__(self) -> str:
        return (
            f"AnswerVerifier(rel_tol={float(self.rel_tol)!r}, use_math_verify={self.use_math_verify}, "
            f"timeout_seconds={self.timeout_seconds})"
        )

    def __call__(self, pred: object, ref: object, lang: str | None = None) -> bool:
        """``True`` when ``pred`` (a string, number or :class:`ExtractedAnswer`) equals ``ref``."""
        lang = _check_lang(lang)
        p = pred if isinstance(pred, ExtractedAnswer) else _as_answer(pred, lang)
        r = ref if isinstance(ref, ExtractedAnswer) else _as_answer(ref, None)
        if p is None or r is None:
            return False
        return self.match(p, r)

    def _close(self, a: Fraction, b: Fraction) -> bool:
        if a == b:
            return True
        if self.rel_tol == 0:
            return False
        return abs(a - b) <= self.rel_tol * max(abs(a), abs(b))

    def match(self, pred: ExtractedAnswer, ref: ExtractedAnswer) -> bool:
        """Compare two extracted answers (see the class docstring for the rules)."""
        if pred.value is not None and ref.value is not None:
            preds = [pred.value] + ([pred.alt_value] if pred.alt_value is not None else [])
            if pred.percent:
                preds += [v / 100 for v in preds]
            refs = [ref.value] + ([ref.value / 100] if ref.percent else [])
            return any(self._close(p, r) for p in preds for r in refs)
        if pred.is_letter or ref.is_letter:
            return pred.is_letter and ref.is_letter and pred.text == ref.text
        if pred.text.strip() == ref.text.strip():
            return True
        if not self.use_math_verify:
            return False
        return self._math_verify(pred.text, ref.text)

    def _math_verify(self, pred: str, ref: str) -> bool:
        if len(pred) > MAX_EXPRESSION_CHARS or len(ref) > MAX_EXPRESSION_CHARS:
            return False
        if _BIG_EXPONENT.search(pred) or _BIG_EXPONENT.search(ref):
            return False
        timeout = self.timeout_seconds if _main_thread() else None
        try:
            return _run_math_verify(pred, ref, timeout)
        except Exception:  # math-verify or sympy failing on odd input: a non-match
            logger.debug("math-verify failed on %r vs %r", pred, ref, exc_info=True)
            return False
        except BaseException as exc:  # math_verify.errors.TimeoutException derives from BaseException
            if type(exc).__name__ == "TimeoutException":
                return False
            raise


def _wrap(expr: str) -> str:
    return expr if "$" in expr or "\\(" in expr or "\\[" in expr else f"${expr}$"


def _run_math_verify(pred: str, ref: str, timeout: int | None) -> bool:
    import math_verify  # imported lazily: ~0.5 s, and most answers are plain numbers

    gold = math_verify.parse(_wrap(ref), parsing_timeout=timeout)
    target = math_verify.parse(_wrap(pred), parsing_timeout=timeout)
    if not gold or not target:
        return False
    return bool(math_verify.verify(gold, target, timeout_seconds=timeout))


_DEFAULT_VERIFIER = AnswerVerifier()


def answers_match(pred: object, ref: object, *, lang: str | None = None, rel_tol: float = 1e-6) -> bool:
    r"""Whether the predicted answer ``pred`` equals the reference answer ``ref``.

    Args:
        pred: the predicted answer: a final-answer string (as from :func:`extract_final_answer`),
            a number, or an :class:`ExtractedAnswer`.
        ref: the reference answer, same types.
        lang: language of ``pred`` (its separators); ``ref`` is read without a language.
        rel_tol: relative tolerance for numeric answers.

    Returns:
        ``True``/``False``; never raises for odd inputs (``None`` or blank gives ``False``).
        Safe in any thread (see :class:`AnswerVerifier`).

    >>> answers_match(r"\frac{1}{2}", "0.5"), answers_match("１８", 18), answers_match("50%", "0.5")
    (True, True, True)
    """
    verifier = _DEFAULT_VERIFIER if rel_tol == 1e-6 else AnswerVerifier(rel_tol=rel_tol)
    try:
        return verifier(pred, ref, lang)
    except ValueError:
        if lang is not None:
            get_language(lang)  # an unknown language is the caller's error
        return False


def answer_score(
    response: str | None,
    reference: str | None = None,
    reference_answer: object = None,
    lang: str | None = None,
    *,
    verifier: AnswerVerifier | None = None,
) -> float:
    r"""The answer component: 1.0 when the response's final answer equals the reference's, else 0.0.

    Formula: :math:`\mathrm{answer} = \mathbb{1}[\mathrm{match}(\mathrm{extract}(response,
    lang), a_{ref})]` where :math:`a_{ref}` is ``reference_answer`` when given, else the final
    answer extracted from ``reference`` (read as English). See :func:`extract_final_answer` and
    :class:`AnswerVerifier`.

    Args:
        response: the policy's response; ``None``, blank or answerless gives 0.0.
        reference: the pivot's English reference solution.
        reference_answer: the reference's final answer (string or number); takes precedence.
        lang: the response's language code, or ``None``.
        verifier: comparison settings (default: :class:`AnswerVerifier()`).

    Returns:
        0.0 or 1.0.

    Raises:
        ValueError: neither ``reference_answer`` nor ``reference`` yields an answer, or an
            argument has the wrong type.
        UnknownLanguageError: ``lang`` is not a supported language code.

    >>> answer_score("Jibu ni 18.", reference="She makes 9 * 2 = $18.\n#### 18", lang="sw")
    1.0
    >>> answer_score("La réponse est 17.", reference_answer=18, lang="fr")
    0.0
    """
    lang = _check_lang(lang)
    response = _check_text(response, "response")
    reference = _check_text(reference, "reference")
    ref = _as_answer(reference_answer, None)
    if ref is None and reference is not None:
        ref = extract_answer(reference, "en")
    if ref is None:
        raise ValueError(
            "no reference answer: pass reference_answer, or a reference whose final answer can be extracted"
        )
    if response is None or not response.strip():
        return 0.0
    pred = extract_answer(response, lang)
    if pred is None:
        return 0.0
    return 1.0 if (verifier or _DEFAULT_VERIFIER).match(pred, ref) else 0.0


__all__ = [
    "RUNAWAY_DIGITS",
    "AnswerVerifier",
    "ExtractedAnswer",
    "answer_score",
    "answers_match",
    "extract_answer",
    "extract_final_answer",
    "extraction_tables",
]
