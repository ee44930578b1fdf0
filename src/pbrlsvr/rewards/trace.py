r"""The trace component: checks the reasoning step by step, without a model.

Embeddings barely move when one middle step of a solution is wrong; this component does. It reads
the arithmetic that both texts write out, in any language and script:

* from the **reference** (the pivot's English solution) it collects the *intermediate results*:
  the right-hand sides of GSM8K calculator annotations (``<<9*2=18>>``) and every number that
  stands alone right after an ``=`` (``16 - 3 - 4 = 9`` gives 9; ``= 5 × 3 = 15`` gives 15 only,
  because ``5 × 3`` is not a result; one short word may sit between: Swahili ``= dola 15``);
* from the **response** it collects every number, and every equation ``a op b … = c`` whose left
  side contains an operator (``+ - − – × x * · ÷ / ^``, ``\times``, ``\cdot``, ``\div``,
  ``\frac{a}{b}``, brackets, percentages), and evaluates both sides exactly with fractions.

Score:

.. math::

    \mathrm{coverage} = \frac{|\{r \in R : r \text{ appears among the response's numbers}\}|}{|R|}
    \qquad
    \mathrm{consistency} = 1 - \frac{\#\text{false equations}}{\max(1, \#\text{equations})}

    \mathrm{trace} = \mathrm{coverage} \times \mathrm{consistency}

where :math:`R` is the set of the reference's distinct intermediate results. A number "appears"
when it equals a result in absolute value, or is the result rounded or truncated at the precision
it was written with (``3.33`` for 10/3, not ``3.4``). An equation is true when both sides are
equal, or when a side that is one written number is the other side rounded or truncated at its own
precision (``10 / 3 = 3.33``); ``≈`` allows 1% besides. A percentage is
read both as written and divided by 100 (``20 / 40 × 100 = 50%`` and ``50% × 20 = 10`` are
both true). When the reference has no intermediate results, coverage is 1 and the score is the
response's consistency (1.0 when it writes no false equation). An empty response scores 0.

So a response that reaches every reference result with true arithmetic scores 1; one slip in a
middle step that still lands on the right final number keeps its coverage but loses consistency
(one false equation out of two halves the score); an unrelated response covers nothing and scores
about 0.

Equations the parser cannot read (units between operands, algebra with letters, ``Step 1: 5 + 6``)
are skipped: they count neither as true nor as false. ``:`` is never read as division (it starts too
many labels, ``Étape 1 : 5 + 6``).

>>> from pbrlsvr.rewards.trace import trace_score
>>> ref = "4 * 5 = 20 computers were added. Now there are 9 + 20 = 29. The answer is 29."
>>> trace_score("Jumla kompyuta 4 * 5 = 20. Sasa kuna 9 + 20 = 29. Jibu ni 29.", ref, lang="sw")
1.0
>>> trace_score("Jumla kompyuta 4 * 5 = 21. Sasa kuna 9 + 20 = 29. Jibu ni 29.", ref, lang="sw")
0.5
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from pbrlsvr.languages import get_language
from pbrlsvr.rewards.numbers import _chunk_numbers, _conv_for, normalize_numerals

MAX_TRACE_CHARS = 50_000
"""Responses and references are read up to this many characters (a bound on the work per item)."""

MAX_SIDE_TOKENS = 40
"""Longest side of an equation, in tokens, that is evaluated."""

MAX_EQUATIONS = 500
"""At most this many equations of a response are checked (a bound on the work per item)."""

_ANNOTATION_RE = re.compile(r"<<([^<>]{0,200})>>")

_CUR = "$€£¥₹৳₽₩₺₦₱฿₫₴₪¢"

# One token per match, commonest first. Numbers use the chunk grammar of pbrlsvr.rewards.numbers.
_TOKEN_RE = re.compile(
    r"""
    \s*(?:
    (?P<letters>[^\s\x00-\x40\x5b-\x60\x7b-\x7f×·⋅∙÷–—−≈CUR]+)
  | (?P<mixed>(?<![0-9.,/])[0-9]{1,6}\ [0-9]{1,6}/[0-9]{1,6}(?![0-9/]|[.,][0-9]))
  | (?P<q>(?<![0-9.,/])[0-9]{1,12}/[0-9]{1,12}(?![0-9/]|[.,][0-9]))
  | (?P<num>[0-9]+(?:(?:\{,\}|\\,|[.,'\u00a0\u202f\u2009\ ])[0-9]+)*|(?<![\w.,])\.[0-9]+)
    (?P<pct>[\ \u00a0]?(?:%|\\%))?
  | (?P<op>[+\-–×*·⋅∙÷/^]|\\(?:times|cdot|div|ast)(?![A-Za-z]))
  | (?P<lp>[(\[{]|\\left\s*[(\[])
  | (?P<rp>[)\]}]|\\right\s*[)\]])
  | (?P<eq>=|≈|\\approx(?![A-Za-z]))
  | (?P<skip>[CUR]|\\[$,;!\ ()\[\]]|\\(?:quad|qquad|boxed)(?![A-Za-z])
        |\\(?:text|mathrm|textbf)\s*\{[^{}]{0,20}\})
  | (?P<frac>\\[dt]?frac(?![A-Za-z]))
  | (?P<other>.)
    )
    """.replace("CUR", _CUR),
    re.VERBOSE | re.DOTALL,
)
_NEXT_IS_NUMBER = re.compile(rf"[\s{_CUR}]*[0-9]")

_OP_MAP = {"+": "+", "-": "-", "–": "-", "×": "*", "*": "*", "·": "*", "⋅": "*", "∙": "*"}
_OP_MAP.update({"÷": "/", "/": "/", "^": "^", "\\times": "*", "\\cdot": "*", "\\div": "/", "\\ast": "*"})


class _Num(NamedTuple):
    value: Fraction
    alt: Fraction | None = None
    decimals: int = 0
    percent: bool = False
    split: bool = False  # a piece of a chunk that could not be read as one number ("350 000" in en)


# Token kinds: "n" number (_Num), "q" written fraction a/b ((value, _Num a, _Num b)), "o" operator,
# "f" \frac, "(" ")" brackets, "=" equals, "~" approximately, "w" a short word right before a
# number (bridges '=' and a result in references: "= dola 15"), "|" anything else (breaks a run).
_Token = tuple[str, object]
_BREAK: _Token = ("|", None)


def _tokenize(text: str, lang: str | None) -> list[_Token]:
    conv = _conv_for(lang)
    tokens: list[_Token] = []
    append = tokens.append
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup
        if kind == "skip" or kind is None:  # None: trailing whitespace
            continue
        if kind == "letters":
            word = m.group(kind)
            if word in ("x", "X"):
                append(("x", "*"))
            elif len(word) <= 10 and _NEXT_IS_NUMBER.match(text, m.end()):
                append(("w", word))
            else:
                append(_BREAK)
        elif kind == "num" or kind == "pct":
            pct = m.group("pct") is not None
            parts = _chunk_numbers(m.group("num"), 0, conv)
            if not parts:
                append(_BREAK)
                continue
            split = len(parts) > 1
            for k, (_s, _e, (value, alt, decimals)) in enumerate(parts):
                if k:
                    append(_BREAK)  # pieces of a split chunk are separate numbers
                append(("n", _Num(value, alt, decimals, pct and k == len(parts) - 1, split)))
        elif kind == "q":
            a, _, b = m.group(kind).partition("/")
            num, den = Fraction(int(a)), Fraction(int(b))
            if den == 0:  # "1/0": two numbers that no equation may use
                append(("n", _Num(num, split=True)))
                append(_BREAK)
                append(("n", _Num(den, split=True)))
            else:
                append(("q", (num / den, _Num(num), _Num(den))))
        elif kind == "mixed":
            whole, _, frac = m.group(kind).partition(" ")
            a, _, b = frac.partition("/")
            if 0 < int(a) < int(b):
                value = int(whole) + Fraction(int(a), int(b))
                append(("n", _Num(value)))
            else:  # "3 4/2": not a mixed number; the number, then the fraction
                tokens.extend([*_tokenize(whole, lang), _BREAK, *_tokenize(frac, lang)])
        elif kind == "op":
            append(("o", _OP_MAP[m.group(kind)]))
        elif kind == "lp":
            append(("(", None))
        elif kind == "rp":
            append((")", None))
        elif kind == "eq":
            append(("=", None) if m.group(kind) == "=" else ("~", None))
        elif kind == "frac":
            append(("f", None))
        else:
            append(_BREAK)
    # 'x' is multiplication only between two numbers (or brackets); elsewhere it breaks the run.
    if any(k == "x" for k, _ in tokens):
        out: list[_Token] = []
        for i, (kind, val) in enumerate(tokens):
            if kind == "x":
                prev = tokens[i - 1][0] if i else "|"
                nxt = tokens[i + 1][0] if i + 1 < len(tokens) else "|"
                out.append(("o", "*") if prev in "nq)" and nxt in "nq(" else _BREAK)
            else:
                out.append((kind, val))
        tokens = out
    return tokens


class _ParseError(Exception):
    pass


class _Parser:
    """Recursive descent over number/operator tokens; evaluates exactly with Fractions."""

    def __init__(self, tokens: list[_Token], pct_scale: Fraction) -> None:
        self.t = tokens
        self.i = 0
        self.pct_scale = pct_scale
        self.has_op = False

    def parse(self) -> Fraction:
        v = self.expr()
        if self.i != len(self.t):
            raise _ParseError
        return v

    def _peek(self) -> _Token | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def expr(self) -> Fraction:
        v = self.term()
        while (tok := self._peek()) is not None and tok[0] == "o" and tok[1] in "+-":
            self.i += 1
            self.has_op = True
            r = self.term()
            v = v + r if tok[1] == "+" else v - r
        return v

    def term(self) -> Fraction:
        v = self.unary()
        while (tok := self._peek()) is not None and (tok[0] == "(" or (tok[0] == "o" and tok[1] in "*/")):
            if tok[0] == "(":  # implicit product: 27(1/3), (2)(3)
                tok = ("o", "*")
            else:
                self.i += 1
            self.has_op = True
            r = self.unary()
            if tok[1] == "*":
                v = v * r
            else:
                if r == 0:
                    raise _ParseError
                v = v / r
        return v

    def unary(self) -> Fraction:
        tok = self._peek()
        if tok is not None and tok[0] == "o" and tok[1] in "+-":
            self.i += 1
            v = self.unary()
            return -v if tok[1] == "-" else v
        return self.power()

    def power(self) -> Fraction:
        base = self.atom()
        tok = self._peek()
        if tok is not None and tok[0] == "o" and tok[1] == "^":
            self.i += 1
            self.has_op = True
            exp = self.unary()
            if exp.denominator != 1 or abs(exp) > 64 or (base == 0 and exp < 0):
                raise _ParseError
            return base ** int(exp)
        return base

    def atom(self) -> Fraction:
        tok = self._peek()
        if tok is None:
            raise _ParseError
        kind, val = tok
        if kind == "n":
            self.i += 1
            assert isinstance(val, _Num)
            return val.value * self.pct_scale if val.percent else val.value
        if kind == "q":
            self.i += 1
            self.has_op = True
            return val[0]  # type: ignore[index]
        if kind == "(":
            self.i += 1
            v = self.expr()
            if self._peek() is None or self.t[self.i][0] != ")":
                raise _ParseError
            self.i += 1
            return v
        if kind == "f":
            self.i += 1
            num = self.atom_braced()
            den = self.atom_braced()
            if den == 0:
                raise _ParseError
            self.has_op = True
            return num / den
        raise _ParseError

    def atom_braced(self) -> Fraction:
        tok = self._peek()
        if tok is None or tok[0] != "(":
            raise _ParseError
        return self.atom()


def _evaluate(tokens: list[_Token], pct_scale: Fraction) -> tuple[Fraction, bool] | None:
    """(value, has an operator) of a token list, or ``None`` if it is not an expression."""
    if not tokens or len(tokens) > MAX_SIDE_TOKENS:
        return None
    p = _Parser(tokens, pct_scale)
    try:
        return p.parse(), p.has_op
    except (_ParseError, ZeroDivisionError, OverflowError):
        return None


_ONE = Fraction(1)
_HUNDREDTH = Fraction(1, 100)


def _other_reading(tokens: list[_Token]) -> Fraction | None:
    """The side's value with percentages read as written (``None`` if it has no percentage)."""
    if any(k == "n" and v.percent for k, v in tokens):  # type: ignore[union-attr]
        got = _evaluate(tokens, _ONE)
        return None if got is None else got[0]
    return None


def _written_precision(tokens: list[_Token]) -> int | None:
    """Decimals of a side that is one written number, else ``None``."""
    if len(tokens) == 1 and tokens[0][0] == "n":
        return tokens[0][1].decimals  # type: ignore[union-attr]
    if len(tokens) == 2 and tokens[0] == ("o", "-") and tokens[1][0] == "n":
        return tokens[1][1].decimals  # type: ignore[union-attr]
    return None


def _close_at(exact: Fraction, written: Fraction, decimals: int) -> bool:
    """``written`` (with ``decimals`` digits after the mark) is ``exact`` rounded or truncated."""
    if exact == written:
        return True
    if decimals <= 0:
        return False
    scale = 10**decimals
    if abs(exact - written) * scale * 2 <= 1:  # rounded (either way at a tie)
        return True
    return written == Fraction(int(exact * scale), scale)  # truncated toward zero


def _sides_equal(lhs: list[_Token], lval: Fraction, rhs: list[_Token], rval: Fraction, approx: bool) -> bool:
    """Whether an equation holds (see the module docstring for rounding, ≈ and percentages)."""
    if lval == rval:
        return True
    lv, rv = [lval], [rval]
    for side, values in ((lhs, lv), (rhs, rv)):
        other = _other_reading(side)
        if other is not None:
            values.append(other)
    lp, rp = _written_precision(lhs), _written_precision(rhs)
    for a in lv:
        for b in rv:
            if a == b:
                return True
            if rp is not None and _close_at(a, b, rp):
                return True
            if lp is not None and _close_at(b, a, lp):
                return True
            if approx and abs(a - b) <= abs(a) / 100:
                return True
    return False


def _segments(tokens: list[_Token]) -> list[list[_Token]]:
    """Maximal runs of expression tokens (numbers, operators, brackets, =), split at anything else.

    A short word right after ``=`` (a unit or currency before the result: Swahili
    ``5 * 3 = dola 15``) is skipped rather than ending the run, so that equation is still checked.
    """
    runs: list[list[_Token]] = []
    cur: list[_Token] = []
    for tok in tokens:
        if tok[0] == "w" and cur and cur[-1][0] in "=~":
            continue
        if tok[0] in ("|", "w"):
            if cur:
                runs.append(cur)
            cur = []
        else:
            cur.append(tok)
    if cur:
        runs.append(cur)
    return [r for r in runs if any(k in "=~" for k, _ in r)]


_Side = tuple[list[_Token], Fraction, bool]  # tokens, value, has an operator


def _longest_suffix(side: list[_Token]) -> _Side | None:
    side = side[-MAX_SIDE_TOKENS:]
    for k in range(len(side)):
        got = _evaluate(side[k:], _HUNDREDTH)
        if got is not None:
            return side[k:], got[0], got[1]
    return None


def _longest_prefix(side: list[_Token]) -> _Side | None:
    side = side[:MAX_SIDE_TOKENS]
    for k in range(len(side), 0, -1):
        got = _evaluate(side[:k], _HUNDREDTH)
        if got is not None:
            return side[:k], got[0], got[1]
    return None


@dataclass(frozen=True)
class Equation:
    """One equation read from a text: its two sides' values and whether it holds."""

    lhs: Fraction
    rhs: Fraction
    ok: bool


def _equations(tokens: list[_Token]) -> list[Equation]:
    out: list[Equation] = []
    for run in _segments(tokens):
        # Split the run at '=' / '≈' into sides.
        sides: list[list[_Token]] = [[]]
        rels: list[str] = []
        for tok in run:
            if tok[0] in "=~":
                sides.append([])
                rels.append(tok[0])
            else:
                sides[-1].append(tok)
        for k, rel in enumerate(rels):
            left = _longest_suffix(sides[k])
            right = _longest_prefix(sides[k + 1]) if left is not None else None
            if left is None or right is None:
                continue
            lhs, lval, lop = left
            rhs, rval, rop = right
            if not (lop or rop):
                continue  # "x = 5": not a computation
            if lhs[0][0] == "o" or (len(lhs) < len(sides[k]) and sides[k][-len(lhs) - 1][0] == "o"):
                continue  # the left side starts mid-expression ("60g * 4/5 = …", "3x + 4 = 28")
            if any(kd == "n" and v.split for kd, v in lhs + rhs):  # type: ignore[union-attr]
                continue  # a number that could not be read whole ("$350 000" in English)
            out.append(Equation(lval, rval, _sides_equal(lhs, lval, rhs, rval, approx=rel == "~")))
            if len(out) >= MAX_EQUATIONS:
                return out
    return out


def _prepare(text: str) -> str:
    return normalize_numerals(text[:MAX_TRACE_CHARS])


def _numbers(tokens: list[_Token]) -> list[_Num]:
    """Every number written in the tokens (both terms of a written fraction a/b)."""
    out: list[_Num] = []
    for kind, val in tokens:
        if kind == "n":
            out.append(val)  # type: ignore[arg-type]
        elif kind == "q":
            out.extend(val[1:])  # type: ignore[index]
    return out


def _check(text: object, name: str) -> str | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValueError(f"{name} must be a string or None, got {type(text).__name__}")
    return text


@lru_cache(maxsize=4096)
def _reference_results(reference: str, lang: str | None) -> tuple[Fraction, ...]:
    text = _prepare(reference)
    results: set[Fraction] = set()
    for m in _ANNOTATION_RE.finditer(text):
        body = m.group(1)
        if "=" in body:
            tail = _tokenize(body.rsplit("=", 1)[1], lang)
            nums = _numbers(tail)
            if len(nums) == 1 and len(tail) == 1:
                results.add(abs(nums[0].value))
    tokens = _tokenize(_ANNOTATION_RE.sub("", text), lang)
    n = len(tokens)
    for i, (kind, _) in enumerate(tokens):
        if kind != "=":
            continue
        j = i + 1
        if j < n and tokens[j][0] == "w":  # "= dola 15"
            j += 1
        if j < n and tokens[j] == ("o", "-"):
            j += 1
        if j >= n or tokens[j][0] != "n":
            continue
        after = tokens[j + 1][0] if j + 1 < n else "|"
        nxt2 = tokens[j + 2][0] if j + 2 < n else "|"
        if after == "o" or (after == "(" and nxt2 == "n"):
            continue  # "= 5 × 3 = 15": an expression, not a result
        num = tokens[j][1]
        assert isinstance(num, _Num)
        results.add(abs(num.value))
    return tuple(sorted(results))


def reference_results(reference: str, lang: str | None = "en") -> list[Fraction]:
    r"""The distinct intermediate results of a worked solution, ascending (absolute values).

    Args:
        reference: a worked solution (the pivot's English reference, a GSM8K answer, ...).
        lang: its language code (number separators); English by default.

    Raises:
        ValueError: ``reference`` is not a string.
        UnknownLanguageError: ``lang`` is not a supported language code.

    >>> [str(r) for r in reference_results("She makes 9 * 2 = $<<9*2=18>>18 a day, 16 - 3 - 4 = 9 eggs.")]
    ['9', '18']
    """
    if not isinstance(reference, str):
        raise ValueError(f"reference must be a string, got {type(reference).__name__}")
    code = None if lang is None else get_language(lang).code
    return list(_reference_results(reference, code))


def check_equations(text: str, lang: str | None = None) -> list[Equation]:
    r"""Every readable equation ``a op b … = c`` in ``text`` with whether it is arithmetically true.

    Args:
        text: any text; digits of any script; ``×``, ``x``, ``*``, ``·``, ``÷``, ``/``, ``−``, ``–``,
            ``+``, ``^``, brackets, ``\times``, ``\cdot``, ``\div``, ``\frac{a}{b}``, ``%``.
        lang: language code for number separators, or ``None``.

    Raises:
        ValueError: ``text`` is not a string.
        UnknownLanguageError: ``lang`` is not a supported language code.

    >>> [(str(e.lhs), str(e.rhs), e.ok) for e in check_equations("৪ × ৫ = ২০, 9 + 20 = 30")]
    [('20', '20', True), ('29', '30', False)]
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}")
    code = None if lang is None else get_language(lang).code
    return _equations(_tokenize(_ANNOTATION_RE.sub("", _prepare(text)), code))


@dataclass(frozen=True)
class TraceResult:
    """The trace score with its parts, for logging.

    Attributes:
        score: ``coverage * consistency`` in [0, 1].
        coverage: share of the reference's results found among the response's numbers.
        consistency: ``1 - false / max(1, equations)``.
        n_results: distinct intermediate results in the reference.
        n_covered: how many of them the response contains.
        n_equations: readable equations in the response.
        n_false: how many of them are false.
    """

    score: float
    coverage: float
    consistency: float
    n_results: int
    n_covered: int
    n_equations: int
    n_false: int


def _covered(results: tuple[Fraction, ...], numbers: list[_Num]) -> int:
    """How many ``results`` occur among ``numbers`` (absolute values; rounded at written precision)."""
    exact: set[Fraction] = set()
    rounded: list[tuple[Fraction, int]] = []
    for num in numbers:
        for v in (num.value, num.alt):
            if v is None:
                continue
            v = abs(v)
            exact.add(v)
            if num.percent:
                exact.add(v / 100)
            if num.decimals:
                rounded.append((v, num.decimals))
    return sum(1 for r in results if r in exact or any(_close_at(r, v, d) for v, d in rounded))


def trace_details(
    response: str | None, reference: str, lang: str | None = None, *, reference_lang: str | None = "en"
) -> TraceResult:
    r"""The trace component with its parts (see the module docstring for the formula).

    Args:
        response: the policy's response; ``None`` or blank scores 0.
        reference: the pivot's reference solution (non-empty).
        lang: the response's language code (number separators), or ``None``.
        reference_lang: the reference's language code (default English).

    Returns:
        A :class:`TraceResult`.

    Raises:
        ValueError: ``reference`` is empty or not a string, or ``response`` is not a string.
        UnknownLanguageError: a language code is not supported.
    """
    code = None if lang is None else get_language(lang).code
    ref_code = None if reference_lang is None else get_language(reference_lang).code
    if not isinstance(reference, str) or not reference.strip():
        raise ValueError("reference must be a non-empty string: the trace is checked against it")
    response = _check(response, "response")
    results = _reference_results(reference, ref_code)
    if response is None or not response.strip():
        return TraceResult(0.0, 0.0, 0.0, len(results), 0, 0, 0)
    tokens = _tokenize(_ANNOTATION_RE.sub("", _prepare(response)), code)
    equations = _equations(tokens)
    n_false = sum(not e.ok for e in equations)
    consistency = 1.0 - n_false / max(1, len(equations))
    if results:
        n_covered = _covered(results, _numbers(tokens))
        coverage = n_covered / len(results)
    else:
        n_covered, coverage = 0, 1.0
    return TraceResult(
        coverage * consistency, coverage, consistency, len(results), n_covered, len(equations), n_false
    )


def trace_score(
    response: str | None, reference: str, lang: str | None = None, *, reference_lang: str | None = "en"
) -> float:
    r"""The trace component: :math:`\mathrm{coverage} \times \mathrm{consistency}` in [0, 1].

    ``coverage`` is the share of the reference's distinct intermediate results (the numbers its
    equations and calculator annotations produce) that occur among the response's numbers;
    ``consistency`` is :math:`1 - \#\mathrm{false} / \max(1, \#\mathrm{equations})` over the
    response's own equations. Without intermediate results in the reference, the score is the
    consistency alone. See the module docstring for the reading rules.

    Args:
        response: the policy's response in any language; ``None`` or blank gives 0.0.
        reference: the pivot's reference solution (non-empty string).
        lang: the response's language code (number separators), or ``None``.
        reference_lang: the reference's language (default ``"en"``).

    Raises:
        ValueError: ``reference`` is empty or not a string, or ``response`` is not a string.
        UnknownLanguageError: a language code is not supported.

    >>> ref = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18"
    >>> trace_score("Anauza mayai 16 - 3 - 4 = 9. Anapata 9 * 2 = $18. Jibu ni 18.", ref, "sw")
    1.0
    >>> trace_score("Anauza mayai 16 - 3 - 4 = 10. Anapata 9 * 2 = $18. Jibu ni 18.", ref, "sw")
    0.5
    """
    return trace_details(response, reference, lang, reference_lang=reference_lang).score


__all__ = [
    "MAX_TRACE_CHARS",
    "Equation",
    "TraceResult",
    "check_equations",
    "reference_results",
    "trace_details",
    "trace_score",
]
