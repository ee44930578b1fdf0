r"""Numbers in multilingual text: normalisation, parsing and canonical formatting.

Every reward component that looks at numbers (answer, trace, format) and the evaluation code read
numbers through this module, so that ``১৮``, ``๑๘``, ``１８``, ``18`` and ``\boxed{18}`` are the same
answer everywhere.

What is understood:

* **Digits** of every script: any Unicode ``Nd`` character (Bengali ``০-৯``, Devanagari ``०-९``,
  Thai ``๐-๙``, Arabic-Indic ``٠-٩``, Extended Arabic-Indic ``۰-۹``, Telugu, Tamil, full-width
  ``０-９``, ...) is mapped to ASCII with :func:`unicodedata.decimal`. Superscripts (``²``) are
  not decimal digits and are left alone.
* **Separators**, with this rule (``d`` = a digit):

  1. Groups of three digits separated by one repeated separator are thousands: ``70,000``,
     ``1.234.567``, ``1 234 567`` and the Indian ``1,00,000``.
  2. Two different separators: the last one is the decimal mark (``1,234.5`` and ``1.234,5``
     are both 1234.5), whatever the language.
  3. One ``,`` or ``.`` followed by **exactly three** digits (``3,500``, ``3.500``) is ambiguous.
     With a language it follows the language's convention (:data:`DECIMAL_COMMA_LANGS` read
     ``3,500`` as 3.5 and ``3.500`` as 3500; the others the other way round). Without a
     language, ``,`` is a thousands separator and ``.`` a decimal point (English convention).
     The other reading is kept in :attr:`NumberSpan.alt_value`. A leading ``0`` (``0,500``) or
     more than three digits before the mark (``1234,567``) is never grouping.
  4. One ``,`` or ``.`` followed by any other number of digits is a decimal mark in every
     language (``3,5`` → 3.5, ``12.75`` → 12.75): no language groups by one, two or four.
  5. Space-like group separators: no-break space, narrow no-break space, thin space, ``'``
     (Swiss) and LaTeX's ``\,`` / ``{,}`` always; a plain space only in the languages of
     :data:`SPACE_GROUP_LANGS` (``1 234,5`` in French), because ``12 100 ml bottles`` is two
     numbers in English.
  6. Anything else (``1,2,3``, ``1.2.3``, ``1,234,56``) is split into separate numbers.

* **Signs**: ``-``/``+``/``−`` directly before a number and not after a digit, letter or closing
  bracket (``= -3``, ``(−3)``, ``-$5``), so ``74-35`` is two positive numbers.
* **Percentages**: ``50%``/``50 %``/``50٪`` give 50 with :attr:`NumberSpan.percent` set.
* **Fractions**: ``3/4`` (no spaces), ``\frac{3}{4}``, ``\dfrac``, ``\tfrac`` and ``\frac34``.
* **Currency symbols and text glued to numbers** are simply not part of the number: ``$18``,
  ``18€``, ``₹1,200``, ``答案是18。``, ``18個``, ``5টি`` all contain the number 18 (or 5, 1200).
* A chunk of more than :data:`MAX_DIGITS` digits is not a number (identifiers, hashes; this also
  keeps Python's int-parsing limit out of reach).

Not understood: number words (``eighteen``, ``十八``), scientific notation (``1e5``), mixed
numbers (``1 1/2`` is 1 and 1/2).

>>> from pbrlsvr.rewards.numbers import parse_number, format_number, find_numbers
>>> format_number(parse_number("答案是১৮。"))
'18'
>>> format_number(parse_number("1.234,5", lang="de"))
'1234.5'
>>> [format_number(n.value) for n in find_numbers("She makes 9 * 2 = $18 and 70,000 more.")]
['9', '2', '18', '70000']
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from pbrlsvr.languages import get_language

MAX_DIGITS = 60
"""Longest digit chunk (digits only, separators excluded) still read as a number."""

DECIMAL_COMMA_LANGS: frozenset[str] = frozenset(
    {"af", "cs", "de", "es", "fr", "hu", "id", "it", "nl", "pl", "pt", "ru", "sr", "tr", "uk", "vi", "wo"}
)
"""Languages whose decimal mark is ``,`` (and whose ``.`` groups thousands): ``3,5`` = 3.5."""

SPACE_GROUP_LANGS: frozenset[str] = frozenset({"af", "cs", "fr", "hu", "pl", "ru", "sr", "uk", "zu"})
"""Languages that group thousands with a plain space (``1 234,5``)."""

CURRENCY_SYMBOLS = "$€£¥₹৳₽₩₺₦₱฿₫₴₪¢﷼"
"""Currency symbols that may sit between a sign and its number (``-$5``)."""

# Characters mapped one-to-one (so spans in the normalised text index the original text) on top of
# the digits: minus signs, Arabic decimal/thousands/percent signs, fraction slashes, and the
# full-width ASCII block (except the full-width comma '，', which in Chinese text is a clause
# comma after a number, never a separator: '有5，3个' must stay two numbers).
_EXTRA_MAP: dict[int, str] = {
    0x2212: "-",  # − minus sign
    0xFE63: "-",  # ﹣ small hyphen-minus
    0x066B: ".",  # ٫ Arabic decimal separator
    0x066C: ",",  # ٬ Arabic thousands separator
    0x066A: "%",  # ٪ Arabic percent sign
    0x2044: "/",  # ⁄ fraction slash
    0x2215: "/",  # ∕ division slash
    0x3000: " ",  # ideographic space
}
for _cp in range(0xFF01, 0xFF5F):
    if _cp != 0xFF0C:
        _EXTRA_MAP[_cp] = chr(_cp - 0xFEE0)


class _DigitTable(dict):
    """A lazy ``str.translate`` table: any ``Nd`` character → its ASCII digit, cached on first use."""

    def __init__(self, extra: dict[int, str] | None = None) -> None:
        super().__init__()
        self._extra = extra or {}

    def __missing__(self, cp: int) -> str | int:
        if cp < 128:
            value: str | int = cp
        else:
            ch = chr(cp)
            try:
                value = str(unicodedata.decimal(ch))
            except ValueError:
                value = self._extra.get(cp, cp)
        self[cp] = value
        return value


_DIGITS_ONLY = _DigitTable()
_NUMERALS = _DigitTable(_EXTRA_MAP)


def normalize_digits(text: str) -> str:
    """Replace every decimal digit of any script by its ASCII digit; nothing else changes.

    The result has the same length as ``text`` (one character for one character), so positions in
    it are positions in ``text``.

    Args:
        text: any string.

    Returns:
        ``text`` with Unicode ``Nd`` characters replaced by ``0``-``9``.

    Raises:
        ValueError: ``text`` is not a string.

    >>> normalize_digits("উত্তর হল ১৮। คำตอบคือ ๑๘ ١٨ １８")
    'উত্তর হল 18। คำตอบคือ 18 18 18'
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}")
    if text.isascii():
        return text
    return text.translate(_DIGITS_ONLY)


def normalize_numerals(text: str) -> str:
    """:func:`normalize_digits` plus the numeric punctuation of other scripts, one-to-one.

    Also maps the minus sign ``−`` to ``-``, Arabic ``٫ ٬ ٪`` to ``. , %``, fraction slashes to
    ``/`` and full-width ASCII (``＋ ＝ ． ％ ＄ Ｂ``) to ASCII; the full-width comma ``，`` is kept
    (a Chinese clause comma, not a separator). Length is preserved.

    >>> normalize_numerals("１８．５％ − ٣٫٥")
    '18.5% - 3.5'
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}")
    if text.isascii():
        return text
    return text.translate(_NUMERALS)


@dataclass(frozen=True)
class NumberSpan:
    """One number found in a text.

    Attributes:
        value: the exact value (``Fraction``); a percentage keeps its written value (``50%`` → 50).
        start: index of the first character (sign included) in the text that was searched.
        end: index after the last character (``%`` included).
        text: ``text[start:end]`` of the original text.
        percent: the number carries a percent sign.
        alt_value: the other reading of an ambiguous separator (``3,500`` → 3500 or 3.5), or
            ``None`` when the number is unambiguous.
        decimals: digits written after the decimal mark (``3.30`` → 2; 0 for integers and
            fractions): the precision a rounded number was written with.
    """

    value: Fraction
    start: int
    end: int
    text: str
    percent: bool = False
    alt_value: Fraction | None = None
    decimals: int = 0


@dataclass(frozen=True)
class _Conv:
    """Number-writing convention of one language (or of ``None``: no language)."""

    decimal: str | None  # ',' or '.', or None for the language-free heuristic
    space_group: bool


_NO_LANG = _Conv(decimal=None, space_group=False)


@lru_cache(maxsize=128)
def _conv_for(lang: str | None) -> _Conv:
    if lang is None:
        return _NO_LANG
    code = get_language(lang).code  # raises UnknownLanguageError
    return _Conv(decimal="," if code in DECIMAL_COMMA_LANGS else ".", space_group=code in SPACE_GROUP_LANGS)


def convention(lang: str | None) -> tuple[str | None, bool]:
    """``(decimal mark, groups with plain spaces)`` used for ``lang`` (``(None, False)`` without one).

    Raises:
        UnknownLanguageError: ``lang`` is not a supported language code.

    >>> convention("de"), convention("fr"), convention("en"), convention(None)
    ((',', False), (',', True), ('.', False), (None, False))
    """
    c = _conv_for(lang)
    return c.decimal, c.space_group


# A chunk: digit runs joined by single separators; or a bare leading-dot decimal (.5).
_SEP = r"(?:\{,\}|\\,|[.,'\u00a0\u202f\u2009 ])"
_CHUNK_RE = re.compile(rf"[0-9]+(?:{_SEP}[0-9]+)*|(?<![\w.,])\.[0-9]+")
_SEP_SPLIT_RE = re.compile(r"(\{,\}|\\,|[.,'\u00a0\u202f\u2009 ])")
_SPACE_SPLIT_RE = re.compile(r"( |'|\u00a0|\u202f|\u2009|\\,)")
_LATEX_FRAC_RE = re.compile(
    r"\\[dt]?frac\s*(?:\{\s*([-+]?)\s*([0-9][0-9.,]*)\s*\}\s*\{\s*([0-9][0-9.,]*)\s*\}|([0-9])([0-9]))"
)
_PLAIN_FRAC_RE = re.compile(r"(?<![0-9/.,])([0-9]{1,12})/([0-9]{1,12})(?![0-9/]|[.,][0-9])")
_PERCENT_RE = re.compile(r"[ \u00a0\u202f\u2009]?(?:%|\\%)")
_SIGN_BEFORE = frozenset(" \t\n\r([{=<>:;,*/^×÷·$\u00a0\u202f\u2009")
_GROUP_ONLY = frozenset(["'", "\u00a0", "\u202f", "\u2009", "\\,"])

# (value, alternative reading, decimals written)
_Reading = tuple[Fraction, "Fraction | None", int]


def _valid_grouping(groups: list[str]) -> bool:
    """``groups`` form a thousands grouping: 1-3 digits (no leading 0), then threes, or Indian twos."""
    first = groups[0]
    if not 1 <= len(first) <= 3 or first.startswith("0"):
        return False
    rest = groups[1:]
    if all(len(g) == 3 for g in rest):
        return True
    # Indian (lakh/crore) grouping: 1,00,000 / 12,34,56,789
    return len(first) <= 2 and len(rest) >= 2 and all(len(g) == 2 for g in rest[:-1]) and len(rest[-1]) == 3


def _int_value(groups: list[str]) -> Fraction:
    return Fraction(int("".join(groups)))


def _dec_value(int_groups: list[str], frac: str) -> Fraction:
    return Fraction(int("".join(int_groups) + frac), 10 ** len(frac))


def _interpret(groups: list[str], seps: list[str], conv: _Conv) -> _Reading | None:
    """Value, alternative reading and decimals of one chunk, or ``None`` if it is not one number."""
    if not seps:
        return _int_value(groups), None, 0
    # LaTeX {,} is a comma; a plain space groups only where the language allows it.
    norm: list[str] = []
    for sep in seps:
        if sep == "{,}":
            norm.append(",")
        elif sep == " ":
            if not conv.space_group:
                return None
            norm.append("\u00a0")
        else:
            norm.append(sep)
    if len(norm) == 1 and norm[0] in ",.":
        a, b = groups
        as_decimal = _dec_value([a], b)
        if not (len(b) == 3 and 1 <= len(a) <= 3 and not a.startswith("0")):
            return as_decimal, None, len(b)  # rule 4: never grouping
        as_group = _int_value(groups)
        mark = norm[0]
        prefer_decimal = (mark == ".") if conv.decimal is None else (mark == conv.decimal)
        return (as_decimal, as_group, 3) if prefer_decimal else (as_group, as_decimal, 0)
    if len(set(norm)) == 1:
        return (_int_value(groups), None, 0) if _valid_grouping(groups) else None
    # Mixed separators: the last is the decimal mark, the others one group separator (rule 2).
    last, head = norm[-1], set(norm[:-1])
    if last in ",." and len(head) == 1 and last not in head and _valid_grouping(groups[:-1]):
        return _dec_value(groups[:-1], groups[-1]), None, len(groups[-1])
    return None


def _chunk_numbers(chunk: str, offset: int, conv: _Conv) -> list[tuple[int, int, _Reading]]:
    """Numbers in one separator-joined chunk as ``(start, end, reading)`` with absolute offsets."""
    if chunk.startswith("."):
        digits = chunk[1:]
        if len(digits) > MAX_DIGITS:
            return []
        return [(offset, offset + len(chunk), (Fraction(int(digits), 10 ** len(digits)), None, len(digits)))]
    parts = _SEP_SPLIT_RE.split(chunk)
    groups, seps = parts[0::2], parts[1::2]
    if not seps:
        if len(chunk) > MAX_DIGITS:
            return []
        return [(offset, offset + len(chunk), (Fraction(int(chunk)), None, 0))]
    if sum(len(g) for g in groups) <= MAX_DIGITS:
        got = _interpret(groups, seps, conv)
        if got is not None:
            return [(offset, offset + len(chunk), got)]
    # Rule 6: split, first at space-like separators, then at every separator.
    spaced = any(sep == " " or sep in _GROUP_ONLY for sep in seps)
    pieces = _SPACE_SPLIT_RE.split(chunk) if spaced else parts
    out: list[tuple[int, int, _Reading]] = []
    pos = 0
    for i, piece in enumerate(pieces):
        if i % 2 == 0 and piece:
            out.extend(_chunk_numbers(piece, offset + pos, conv))
        pos += len(piece)
    return out


def _sign_at(text: str, start: int) -> int | None:
    """Index of a sign that belongs to the number starting at ``start``, if any."""
    j = start - 1
    if j >= 0 and text[j] in CURRENCY_SYMBOLS:
        j -= 1
    if j >= 0 and text[j] in "-+" and (j == 0 or text[j - 1] in _SIGN_BEFORE):
        return j
    return None


def _fraction_spans(norm: str, lang: str | None) -> list[tuple[int, int, Fraction]]:
    """``\\frac{a}{b}`` and plain ``a/b`` fractions as ``(start, end, unsigned value)``."""
    out: list[tuple[int, int, Fraction]] = []
    if "frac" in norm:
        for m in _LATEX_FRAC_RE.finditer(norm):
            if m.group(4) is not None:
                num: Fraction | None = Fraction(int(m.group(4)))
                den: Fraction | None = Fraction(int(m.group(5)))
            else:
                num, den = parse_number(m.group(2), lang), parse_number(m.group(3), lang)
            if num is None or den is None or den == 0:
                continue
            value = num / den
            out.append((m.start(), m.end(), -value if m.group(1) == "-" else value))
    if "/" in norm:
        for m in _PLAIN_FRAC_RE.finditer(norm):
            den_i = int(m.group(2))
            if den_i != 0:
                out.append((m.start(), m.end(), Fraction(int(m.group(1)), den_i)))
    out.sort()
    return out


def find_numbers(
    text: str, lang: str | None = None, *, fractions: bool = True, signs: bool = True
) -> list[NumberSpan]:
    r"""All numbers in ``text``, left to right.

    Args:
        text: any text; digits of any script are understood (see :func:`normalize_numerals`).
        lang: language code of the text, for the separator convention (module docstring rules 3
            and 5); ``None`` uses the language-free heuristic.
        fractions: read ``3/4`` and ``\frac{3}{4}`` as one number (``False``: 3 and 4).
        signs: attach a leading ``-``/``+`` to the number (``False``: all values non-negative).

    Returns:
        :class:`NumberSpan` objects; ``start``/``end`` index ``text`` itself.

    Raises:
        ValueError: ``text`` is not a string.
        UnknownLanguageError: ``lang`` is not a supported language code.

    >>> [(n.text, n.value, n.percent) for n in find_numbers("-3 and 50% of 1.234,5", lang="de")]
    [('-3', Fraction(-3, 1), False), ('50%', Fraction(50, 1), True), ('1.234,5', Fraction(2469, 2), False)]
    """
    conv = _conv_for(lang)
    norm = normalize_numerals(text)
    out: list[NumberSpan] = []
    fracs = _fraction_spans(norm, lang) if fractions else []
    frac_starts = [f[0] for f in fracs]
    for m in _CHUNK_RE.finditer(norm):
        for start, end, (value, alt, decimals) in _chunk_numbers(m.group(), m.start(), conv):
            if fracs:
                k = bisect_right(frac_starts, start) - 1
                if (k >= 0 and start < fracs[k][1]) or (k + 1 < len(fracs) and fracs[k + 1][0] < end):
                    continue  # part of a fraction
            sign_pos = _sign_at(norm, start) if signs else None
            if sign_pos is not None:
                if norm[sign_pos] == "-":
                    value, alt = -value, (-alt if alt is not None else None)
                start = sign_pos
            percent = False
            pm = _PERCENT_RE.match(norm, end)
            if pm:
                percent, end = True, pm.end()
            out.append(NumberSpan(value, start, end, text[start:end], percent, alt, decimals))
    if fracs:
        out.extend(_signed_fraction(text, norm, f, signs) for f in fracs)
        out.sort(key=lambda n: n.start)
    return out


def _signed_fraction(text: str, norm: str, frac: tuple[int, int, Fraction], signs: bool) -> NumberSpan:
    start, end, value = frac
    sign_pos = _sign_at(norm, start) if signs else None
    if sign_pos is not None:
        if norm[sign_pos] == "-":
            value = -value
        start = sign_pos
    elif not signs:
        value = abs(value)
    return NumberSpan(value, start, end, text[start:end])


# LaTeX and markup that may wrap a single number: stripped by parse_number.
_WRAPPERS = [
    (re.compile(r"\\(?:text|mathrm|textbf|mathbf|mbox|operatorname)\s*\{([^{}]*)\}"), r"\1"),
    (re.compile(r"\\(?:left|right|displaystyle|;|!|quad|qquad)"), " "),  # not \, (a group separator)
    (re.compile(r"\\\$"), "$"),
    (re.compile(r"\\%"), "%"),
]
_ALLOWED_COMMANDS = re.compile(r"\\(?:[dt]?frac)(?![A-Za-z])")
_EXPR_CHARS = re.compile(r"[\^_*×÷+=<>√π∞|!]|\\[A-Za-z]+")
_BRACKETS = re.compile(r"[()\[\]{}]")
_GLUED_LETTER = re.compile(r"[A-Za-z]")


def unwrap_latex(text: str) -> str:
    r"""``text`` without a surrounding ``\boxed{}``/``\fbox{}``, ``$…$``, ``\(…\)``, ``\[…\]``.

    >>> unwrap_latex(r"$\boxed{\frac{1}{2}}$")
    '\\frac{1}{2}'
    """
    s = text.strip()
    for _ in range(4):
        before = s
        for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
            if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
                s = s[len(left) : len(s) - len(right)].strip()
        m = re.match(r"\\(?:boxed|fbox)\s*\{", s)
        if m:
            inner, end = _braced(s, m.end() - 1)
            if inner is not None and not s[end:].strip(" .。"):
                s = inner.strip()
        if s == before:
            break
    return s


def _braced(text: str, open_pos: int) -> tuple[str | None, int]:
    """Content of the brace group opening at ``open_pos`` and the index after it (nested braces)."""
    depth = 0
    for i in range(open_pos, len(text)):
        c = text[i]
        if c == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif c == "}" and (i == 0 or text[i - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return text[open_pos + 1 : i], i + 1
    return None, len(text)


def parse_number_span(text: str, lang: str | None = None) -> NumberSpan | None:
    """Like :func:`parse_number` but returns the :class:`NumberSpan` (percent flag, alternative
    reading, decimals); its ``start``/``end`` index ``text`` after LaTeX wrappers were removed."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}")
    _conv_for(lang)  # validate the language even for empty text
    if len(text) > 1000 or not text.strip():
        return None
    s = unwrap_latex(normalize_numerals(text))
    for pattern, repl in _WRAPPERS:
        s = pattern.sub(repl, s)
    s = re.sub(r"^\s*[A-Za-z]\w*\s*=\s*", "", s)  # "x = 5"
    nums = find_numbers(s, lang)
    if len(nums) != 1:
        return None
    n = nums[0]
    rest = s[: n.start] + " " + s[n.end :]
    rest = _ALLOWED_COMMANDS.sub(" ", rest)
    if _EXPR_CHARS.search(rest):
        return None
    if "," in n.text and _BRACKETS.search(rest):
        return None  # "(1,2)", "\{1,2\}": a pair or a set, not a decimal
    before, after = s[max(0, n.start - 2) : n.start], s[n.end : n.end + 2]
    if _GLUED_LETTER.fullmatch(before[-1:]) and not before[:-1].isalpha():
        return None  # "x5": an expression, not a number
    if _GLUED_LETTER.fullmatch(after[:1]) and not after[1:].isalpha():
        return None  # "5x"
    return n


def parse_number(text: str, lang: str | None = None) -> Fraction | None:
    r"""The value of ``text`` if it denotes exactly one number, else ``None``.

    ``text`` may wrap the number in ``\boxed{}``, ``$…$``, ``\text{}``, surround it with currency
    signs, units or words (``$18``, ``18個``, ``答案是18。``, ``x = 5``), and write it with any digits
    and separators (see the module docstring). It must not contain a second number or an
    expression (``5 + 3``, ``\sqrt{4}``, ``2\pi``, ``5x``): those return ``None``. A percent sign
    does not scale the value (``50%`` → 50; :func:`parse_number_span` reports it).

    Args:
        text: the string to read; ``None`` or blank gives ``None``; longer than 1,000 characters
            gives ``None`` (not a single number).
        lang: language code for separators (``"de"``: ``3,5`` = 3.5), or ``None``.

    Returns:
        A :class:`fractions.Fraction`, or ``None``.

    Raises:
        ValueError: ``text`` is neither a string nor ``None``.
        UnknownLanguageError: ``lang`` is not a supported language code.

    >>> parse_number(r"\boxed{\frac{1}{2}}"), parse_number("১৮টি"), parse_number("3,5", "de")
    (Fraction(1, 2), Fraction(18, 1), Fraction(7, 2))
    >>> parse_number("5 + 3") is None
    True
    """
    n = parse_number_span(text, lang)
    return None if n is None else n.value


def to_fraction(value: Fraction | Decimal | int | float | str) -> Fraction:
    """``value`` as an exact Fraction (floats through their shortest repr: 0.1 → 1/10).

    Raises:
        ValueError: a bool, a non-finite float, or a string that is not one number.

    >>> to_fraction(0.1), to_fraction("1,234.5")
    (Fraction(1, 10), Fraction(2469, 2))
    """
    if isinstance(value, bool):
        raise ValueError("a bool is not a number here")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"not a finite number: {value!r}")
        return Fraction(Decimal(repr(value)))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return Fraction(value)
    if isinstance(value, str):
        got = parse_number(value)
        if got is None:
            raise ValueError(f"not a single number: {value!r}")
        return got
    raise ValueError(f"not a number: {type(value).__name__}")


def format_number(value: Fraction | Decimal | int | float | str) -> str:
    """Canonical text of a number: integers without separators, terminating decimals in plain
    decimal notation without trailing zeros, other rationals as ``p/q``.

    Args:
        value: a Fraction, Decimal, int, float or numeric string (see :func:`to_fraction`).

    Returns:
        ``'18'``, ``'0.5'``, ``'-3'``, ``'1234.5'``, ``'1/3'``.

    Raises:
        ValueError: ``value`` is not a finite number.

    >>> [format_number(v) for v in (18, Fraction(1, 2), -3.0, "1.234,50", Fraction(1, 3))]
    ['18', '0.5', '-3', '1234.5', '1/3']
    """
    q = to_fraction(value)
    if q.denominator == 1:
        return str(q.numerator)
    den = q.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return f"{q.numerator}/{q.denominator}"
    k = max(twos, fives)
    scaled = abs(q.numerator) * (10**k // q.denominator)
    digits = str(scaled).rjust(k + 1, "0")
    out = f"{digits[:-k]}.{digits[-k:]}".rstrip("0").rstrip(".")
    return ("-" if q < 0 else "") + out


__all__ = [
    "CURRENCY_SYMBOLS",
    "DECIMAL_COMMA_LANGS",
    "MAX_DIGITS",
    "SPACE_GROUP_LANGS",
    "NumberSpan",
    "convention",
    "find_numbers",
    "format_number",
    "normalize_digits",
    "normalize_numerals",
    "parse_number",
    "parse_number_span",
    "to_fraction",
    "unwrap_latex",
]
