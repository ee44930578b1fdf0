"""Numbers, final-answer extraction, answer matching, and the answer and format components."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import pytest

from pbrlsvr.errors import UnknownLanguageError
from pbrlsvr.languages import BUILTIN_CODES, LANGUAGES, MGSM_LANGS
from pbrlsvr.rewards.answer import (
    RUNAWAY_DIGITS,
    AnswerVerifier,
    answer_score,
    answers_match,
    extract_answer,
    extract_final_answer,
)
from pbrlsvr.rewards.components.format import format_score
from pbrlsvr.rewards.numbers import (
    find_numbers,
    format_number,
    normalize_digits,
    normalize_numerals,
    parse_number,
    parse_number_span,
    to_fraction,
)

# Zero digit of scripts whose ten digits are consecutive code points (Unicode Nd blocks).
ZEROS = {
    "Bengali": 0x09E6,
    "Devanagari": 0x0966,
    "Thai": 0x0E50,
    "Arabic-Indic": 0x0660,
    "Extended Arabic-Indic": 0x06F0,
    "Telugu": 0x0C66,
    "Tamil": 0x0BE6,
    "Full-width": 0xFF10,
    "Myanmar": 0x1040,
    "Gujarati": 0x0AE6,
}


def to_script(text: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) if c.isascii() and c.isdigit() else c for c in text)


def load_exemplars(shared: Path) -> list[dict]:
    with (shared / "mgsm" / "exemplars.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("script", sorted(ZEROS))
def test_every_script_digit_normalises(script: str) -> None:
    native = to_script("1234567890", ZEROS[script])
    assert native != "1234567890"
    assert normalize_digits(native) == "1234567890"
    assert parse_number(native) == 1234567890
    assert len(normalize_digits(native + " x")) == len(native) + 2


def test_normalisation_keeps_length_and_leaves_non_digits() -> None:
    text = "x² = ১৮ − ٣٫٥ ％ １８，５"
    assert len(normalize_numerals(text)) == len(text)
    assert normalize_digits("x²") == "x²"  # a superscript is not a decimal digit
    assert normalize_numerals("٣٫٥") == "3.5"
    assert normalize_numerals("−１８％") == "-18%"
    assert normalize_numerals("１８，５") == "18，5"  # the Chinese comma stays
    with pytest.raises(ValueError):
        normalize_digits(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("1.234,5", "de", Fraction(2469, 2)),
        ("1,234.5", "de", Fraction(2469, 2)),  # two separators: the last is decimal, any language
        ("1,234.5", None, Fraction(2469, 2)),
        ("1.234,5", None, Fraction(2469, 2)),
        ("70,000", "en", 70000),
        ("70,000", None, 70000),
        ("70,000", "de", 70),  # German reads a comma as decimal
        ("3.500", "de", 3500),
        ("3.500", "en", Fraction(7, 2)),
        ("3,5", "de", Fraction(7, 2)),
        ("3,5", "fr", Fraction(7, 2)),
        ("3,5", "ru", Fraction(7, 2)),
        ("3,5", None, Fraction(7, 2)),  # one or two digits after a comma: decimal everywhere
        ("3,50", "en", Fraction(7, 2)),
        ("0,500", "en", Fraction(1, 2)),  # a leading zero never groups
        ("1,234,567", None, 1234567),
        ("1.234.567", "de", 1234567),
        ("1,00,000", "hi", 100000),
        ("1 234,5", "fr", Fraction(2469, 2)),
        ("1 234 567", "ru", 1234567),
        ("1\u00a0234,5", "de", Fraction(2469, 2)),
        ("1\u202f234.5", "en", Fraction(2469, 2)),
        ("1\u2009234", None, 1234),
        ("1'234.5", None, Fraction(2469, 2)),
        (r"70{,}000", None, 70000),
        (r"70\,000", None, 70000),
        ("-3", None, -3),
        ("−3", None, -3),
        ("x = -3", None, -3),
        ("+7", None, 7),
        ("-$5", None, -5),
        ("$18", None, 18),
        ("18€", None, 18),
        ("₹1,200", None, 1200),
        ("৳১৮", None, 18),
        ("¥18", None, 18),
        ("18個", None, 18),
        ("答案是18。", None, 18),
        ("5টি", None, 5),
        (".5", None, Fraction(1, 2)),
        ("50%", None, 50),
        ("3/4", None, Fraction(3, 4)),
        ("-3/4", None, Fraction(-3, 4)),
        (r"\frac{1}{2}", None, Fraction(1, 2)),
        (r"-\dfrac{3}{4}", None, Fraction(-3, 4)),
        (r"\frac12", None, Fraction(1, 2)),
        (r"\boxed{\frac{1}{2}}", None, Fraction(1, 2)),
        (r"$\boxed{18}$", None, 18),
        (r"\text{18 dollars}", None, 18),
        ("٣٫٥", "ar", Fraction(7, 2)),
        ("１８．５", "ja", Fraction(37, 2)),
    ],
)
def test_parse_number_formats(text: str, lang: str | None, expected: Fraction | int) -> None:
    assert parse_number(text, lang) == expected


@pytest.mark.parametrize(
    "text", ["5 + 3", r"\sqrt{4}", r"2\pi", "5x", "x^2", "1,2,3", "(1,2)", "", "  ", "abc"]
)
def test_parse_number_refuses_expressions_and_lists(text: str) -> None:
    assert parse_number(text) is None


def test_english_does_not_group_with_plain_spaces() -> None:
    assert [n.value for n in find_numbers("12 100 ml bottles", "en")] == [12, 100]
    assert [n.value for n in find_numbers("12 100 bouteilles", "fr")] == [12100]


def test_ambiguous_separator_keeps_other_reading() -> None:
    n = parse_number_span("3,500", "de")
    assert n is not None and n.value == Fraction(7, 2) and n.alt_value == 3500
    n = parse_number_span("3,500", "en")
    assert n is not None and n.value == 3500 and n.alt_value == Fraction(7, 2)
    n = parse_number_span("3,5", "en")
    assert n is not None and n.alt_value is None


def test_find_numbers_spans_index_the_original_text() -> None:
    text = "রজারের ৫টি বল, ২ ক্যান × ৩ = ৬; মোট ১,২৩৪.৫০ টাকা, 50% ও ¾"
    nums = find_numbers(text, "bn")
    assert [format_number(n.value) for n in nums] == ["5", "2", "3", "6", "1234.5", "50"]
    for n in nums:
        assert text[n.start : n.end] == n.text
    assert nums[-2].decimals == 2
    assert nums[-1].percent


def test_find_numbers_signs_and_fractions_options() -> None:
    assert [n.value for n in find_numbers("74-35=39")] == [74, 35, 39]
    assert [n.value for n in find_numbers("so = -3")] == [-3]
    assert [n.value for n in find_numbers("so = -3", signs=False)] == [3]
    assert [n.value for n in find_numbers("12/4 = 3")] == [3, 3]
    assert [n.value for n in find_numbers("12/4 = 3", fractions=False)] == [12, 4, 3]
    assert find_numbers("1" * 200) == []  # longer than MAX_DIGITS: an identifier, not a number


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (18, "18"),
        (Fraction(1, 2), "0.5"),
        (-3.0, "-3"),
        (0.1, "0.1"),
        ("1.234,50", "1234.5"),
        ("70,000", "70000"),
        (Fraction(1, 3), "1/3"),
        (Fraction(-1, 8), "-0.125"),
        (-0.0, "0"),
        (Fraction(10**20 + 1, 4), "25000000000000000000.25"),
    ],
)
def test_format_number(value: object, expected: str) -> None:
    assert format_number(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, "abc", "1 + 2", None, [1]])
def test_format_number_rejects_non_numbers(bad: object) -> None:
    with pytest.raises(ValueError):
        format_number(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        to_fraction(bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- extraction


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("答案是18。", "zh", "18"),
        ("答案是18。", None, "18"),
        ("答：18", "zh", "18"),
        ("উত্তর হল ১৮।", "bn", "18"),
        ("คำตอบคือ ๑๘", "th", "18"),
        ("คำตอบคือ ๑๘", None, "18"),
        ("答えは１８個です。", "ja", "18"),
        ("全部で１８", "ja", "18"),
        ("సమాధానం ౧౮.", "te", "18"),
        ("உங்கள் பதில்: ௧௮", "ta", "18"),
        ("उत्तर है १८", "hi", "18"),
        ("الإجابة هي ١٨", "ar", "18"),
        ("پاسخ: ۱۸", "fa", "18"),
        ("Die Antwort lautet 1.234,5 Euro.", "de", "1234.5"),
        ("The total is 70,000 dollars.", "en", "70000"),
        ("She makes $18 every day.", "en", "18"),
        ("18個", "ja", "18"),
        (r"\boxed{\frac{1}{2}}", None, "0.5"),
        (r"So $x = \boxed{\frac{1}{2}}$.", "en", "0.5"),
        (r"\boxed{\boxed{7}}", None, "7"),
        (r"First \boxed{3}, then corrected: \boxed{4}.", "en", "4"),
        (r"The answer is \boxed{x^{2}+1}", "en", "x^{2}+1"),
        (r"Answer: \(\frac{\pi}{2}\)", "en", r"\frac{\pi}{2}"),
        ("The answer is $\\frac{3}{4}$.", "en", "0.75"),
        ("The answer is: **$18**", "en", "18"),
        ("**Answer:** 42", "en", "42"),
        ("Final Answer: The final answer is 7. I hope it is correct.", "en", "7"),
        ("So the answer is 5 + 6 = 11.", "en", "11"),
        ("The answer is -3.", "en", "-3"),
        ("The answer is 50%.", "en", "50%"),
        ("The answer is (B) 42", "en", "B"),
        ("The answer is B.", "en", "B"),
        ("La réponse est (C).", "fr", "C"),
        (r"\boxed{\text{(D)}}", None, "D"),
        ("The answer is A lot of 5 things", "en", "5"),
        ("The answer is 5. Wait, no: the answer is 7.", "en", "7"),
        ("Ответ — 11.", "ru", "11"),
        ("Ответ: 11", "ru", "11"),
        ("Jibu ni 11.", "sw", "11"),
        ("La respuesta es de 18 dólares.", "es", "18"),
        ("La réponse est 1 234,5.", "fr", "1234.5"),
        ("Die Antwort ist 3,5.", "de", "3.5"),
        ("Đáp số: 12", "vi", "12"),
        ("정답은 12입니다", "ko", "12"),
        ("#### 1,234", None, "1234"),
        ("She makes 9 * 2 = $18.\nA: 18", None, "18"),
        ("Step-by-Step Answer: Roger had 5 balls. In the end he had 6.", "en", "6"),
        ("ধাপে ধাপে উত্তর: রজারের প্রথমে 5টি বল ছিল। মোট 11টি।", "bn", "11"),
        ("逐步解答：罗杰有 5 个球。共 11 个", "zh", "11"),
        ("no numbers here", "en", None),
        ("", None, None),
        ("   \n ", None, None),
        (None, None, None),
    ],
)
def test_extract_final_answer(text: str | None, lang: str | None, expected: str | None) -> None:
    assert extract_final_answer(text, lang) == expected


def test_extraction_source_priority() -> None:
    boxed = extract_answer(r"The answer is 5. \boxed{6} and then 7", "en")
    assert boxed is not None and (boxed.text, boxed.source) == ("6", "boxed")
    phrase = extract_answer("The answer is 5. Then 7 more.", "en")
    assert phrase is not None and (phrase.text, phrase.source) == ("5", "phrase")
    last = extract_answer("We get 5 and then 7 more.", "en")
    assert last is not None and (last.text, last.source) == ("7", "last_number")


RUNAWAY = "1" * 28


@pytest.mark.parametrize(
    "text",
    [
        f"5 + 7 = 12. The answer is 12 {RUNAWAY}",  # phrase number followed by the runaway
        f"So we get 5 + 7 = 12. 12 {RUNAWAY}",  # last-number path
        f"The answer is 12. {'1' * 80}",  # longer than numbers.MAX_DIGITS: no longer skipped
        f"The answer is {'9' * 40}",
        f"The answer is 12. {RUNAWAY}, and that is all.",  # words after the runaway
        rf"So $\boxed{{12}}$ {RUNAWAY}",  # even after a box
        f"The answer is 12 {'0' * 30}",  # a run of zeros counts all its zeros
        f"The answer is 12. {','.join(['111'] * 7)}",  # 21 digits; the separators are not counted
        "উত্তর হল ১২ " + "১" * 28,  # native digits
    ],
)
def test_runaway_final_number_means_no_answer(text: str) -> None:
    lang = "bn" if "উ" in text else "en"
    assert extract_final_answer(text, lang) is None
    assert extract_answer(text, lang) is None
    assert answer_score(text, reference_answer=12, lang=lang) == 0.0


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("The answer is 1,000,000.", "en", "1000000"),
        ("The answer is 123456789", "en", "123456789"),
        ("So 5 + 7 = 12. We get 1 000 000 000 and 12", "en", "12"),
        ("0.1 + 0.2 = 0.30000000000000004", "en", "0.30000000000000004"),  # 17 digits
        ("The answer is " + "1" * RUNAWAY_DIGITS, "en", "1" * RUNAWAY_DIGITS),  # at the limit
        ("x = 0." + "0" * 20 + "5", "en", "0." + "0" * 20 + "5"),  # leading zeros are not counted
        (f"Step 1: {'1' * 40}. The answer is 18.", "en", "18"),  # a long number before the end
        ("উত্তর হল ১২৩৪৫৬৭৮৯।", "bn", "123456789"),
        ("คำตอบคือ ๑,๐๐๐,๐๐๐", "th", "1000000"),
        ("答えは１２３４５６７８９個です。", "ja", "123456789"),
    ],
)
def test_long_but_normal_final_numbers_still_extract(text: str, lang: str, expected: str) -> None:
    assert extract_final_answer(text, lang) == expected


def test_every_language_has_phrases_and_they_extract() -> None:
    phrases_of = {code: language.answer_phrases for code, language in LANGUAGES.items()}
    assert set(phrases_of) >= set(BUILTIN_CODES) and all(phrases_of.values())
    for lang, phrases in phrases_of.items():
        for phrase in phrases:
            if phrase.startswith("("):
                continue
            words = phrase.rstrip(":-")
            sep = ": " if phrase.endswith((":", "-")) else " "
            text = f"We compute 3 + 4 = 7 first. {words}{sep}18. 3 more words 9"
            assert extract_final_answer(text, lang) == "18", (lang, phrase)


@pytest.mark.integration
def test_every_exemplar_extracts_its_gold_number(shared_data: Path) -> None:
    rows = load_exemplars(shared_data)
    assert len(rows) == 88 and {r["lang"] for r in rows} == set(MGSM_LANGS)
    for row in rows:
        gold = format_number(row["answer_number"])
        for lang in (row["lang"], None):
            got = extract_answer(row["answer_cot"], lang)
            assert got is not None and got.text == gold, (row["lang"], row["id"], lang)
            assert got.source == "phrase", (row["lang"], row["id"])  # found by the phrase, not luck


@pytest.mark.integration
def test_exemplars_with_native_digits_extract(shared_data: Path) -> None:
    native = {"bn": ZEROS["Bengali"], "th": ZEROS["Thai"], "te": ZEROS["Telugu"], "ja": ZEROS["Full-width"]}
    for row in load_exemplars(shared_data):
        if row["lang"] in native:
            text = to_script(row["answer_cot"], native[row["lang"]])
            assert extract_final_answer(text, row["lang"]) == str(row["answer_number"])


@pytest.mark.integration
def test_mgsm_linked_gsm8k_solutions_extract_their_answer(shared_data: Path) -> None:
    with (shared_data / "mgsm" / "mgsm_en.tsv").open(encoding="utf-8") as f:
        mgsm = dict(line.rstrip("\n").split("\t") for line in f)
    linked = 0
    with (shared_data / "gsm8k" / "test.jsonl").open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row["question"] not in mgsm:
                continue
            linked += 1
            gold = row["answer"].rsplit("####", 1)[1].strip().replace(",", "")
            assert gold == mgsm[row["question"]].replace(",", "")
            assert extract_final_answer(row["answer"], "en") == gold
            assert answer_score(row["answer"], reference_answer=mgsm[row["question"]], lang="en") == 1.0
    assert linked == 250


@pytest.mark.integration
def test_gsm8k_model_solutions_a_colon_answers(shared_data: Path) -> None:
    n = 0
    with (shared_data / "gsm8k" / "example_model_solutions.jsonl").open(encoding="utf-8") as f:
        for line in f:
            truth = json.loads(line)["ground_truth"]
            gold = truth.rsplit("A:", 1)[1].strip().replace(",", "")
            assert extract_final_answer(truth) == format_number(gold)
            n += 1
    assert n == 1319


# --------------------------------------------------------------------------- matching


MATCH_CASES = [
    ("0.5", r"\frac{1}{2}", True),
    (r"\boxed{\frac{1}{2}}", "0.5", True),
    ("18", "18.0", True),
    ("１８", "18", True),
    ("$18", "18", True),
    ("17", "18", False),
    ("50%", "0.5", True),
    ("50%", "50", True),
    ("B", "b", True),
    ("B", "C", False),
    ("B", "2", False),
    (r"\frac{\pi}{2}", r"\frac{2\pi}{4}", True),
    ("x^2+1", "1+x^2", True),
    ("x+1", "x+2", False),
    (r"\{1,2\}", r"\{2,1\}", True),
    (r"\sqrt{4}", "2", True),
    (r"\frac{", "}", False),
    ("2^{10^{10^{10}}}", "1", False),
    ("", "1", False),
    (None, "1", False),
    ("1", None, False),
]


def _match(case: tuple) -> bool:
    return answers_match(case[0], case[1])


@pytest.mark.parametrize(("pred", "ref", "expected"), MATCH_CASES)
def test_answers_match(pred: object, ref: object, expected: bool) -> None:
    assert answers_match(pred, ref) is expected


def test_answers_match_in_threads_equals_main_thread() -> None:
    main = [_match(c) for c in MATCH_CASES]
    assert main == [c[2] for c in MATCH_CASES]
    errors: list[BaseException] = []

    def guarded(case: tuple) -> bool:
        assert threading.current_thread() is not threading.main_thread()
        try:
            return _match(case)
        except BaseException as exc:  # pragma: no cover - the test fails below
            errors.append(exc)
            raise

    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(guarded, MATCH_CASES * 3))
    assert not errors
    assert threaded == main * 3


def test_answers_match_in_a_subprocess() -> None:
    ctx = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    if ctx is None:
        pytest.skip("no fork start method")
    cases = [c for c in MATCH_CASES if c[0] is not None and c[1] is not None][:8]
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        got = list(pool.map(_match, cases))
    assert got == [c[2] for c in cases]


def test_math_verify_failures_never_escape() -> None:
    nasty = [r"\frac{", "}{", "\\" * 50, "$$", r"\left(", "1/0", r"\sqrt{-1}", "x" * 5000, "10^{99999}"]
    for a in nasty:
        for b in ("1", r"\frac{1}{2}", a):
            assert isinstance(answers_match(a, b), bool)
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(isinstance(r, bool) for r in pool.map(lambda s: answers_match(s, "x+1"), nasty))


def test_verifier_settings_and_validation() -> None:
    assert AnswerVerifier(rel_tol=0.01)("0.333", "1/3")
    assert not AnswerVerifier()("0.333", "1/3")
    assert not AnswerVerifier(use_math_verify=False)(r"\sqrt{4}", "2")
    assert AnswerVerifier(timeout_seconds=None)(r"\sqrt{4}", "2")
    for bad in (
        {"rel_tol": -1},
        {"rel_tol": 1.5},
        {"rel_tol": "x"},
        {"timeout_seconds": 0},
        {"timeout_seconds": 2.5},
    ):
        with pytest.raises(ValueError):
            AnswerVerifier(**bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- answer_score


@pytest.mark.integration
def test_answer_score_ranks_correct_above_wrong_on_exemplars(shared_data: Path) -> None:
    rows = load_exemplars(shared_data)
    en = {r["id"]: r["answer_cot"] for r in rows if r["lang"] == "en"}
    for row in rows:
        gold = str(row["answer_number"])
        wrong_number = str(row["answer_number"] + 1)
        head, _, tail = row["answer_cot"].rpartition(gold)
        wrong = head + wrong_number + tail
        correct = answer_score(row["answer_cot"], reference=en[row["id"]], lang=row["lang"])
        assert correct == 1.0, (row["lang"], row["id"])
        assert answer_score(wrong, reference=en[row["id"]], lang=row["lang"]) == 0.0, (row["lang"], row["id"])
        assert answer_score(row["answer_cot"], reference_answer=row["answer_number"], lang=row["lang"]) == 1.0


def test_answer_score_reference_forms() -> None:
    assert answer_score("Jibu ni 18.", reference="9 * 2 = $18.\n#### 18", lang="sw") == 1.0
    assert answer_score("Jibu ni 18.", reference_answer="18.0") == 1.0
    assert answer_score("Jibu ni 18.", reference_answer=18.0) == 1.0
    assert answer_score("Jibu ni 18.", reference_answer=Fraction(18)) == 1.0
    # An ambiguous separator matches by either reading; an unambiguous one by its own only.
    assert answer_score("Die Antwort ist 3,500.", reference_answer=3500, lang="de") == 1.0
    assert answer_score("Die Antwort ist 3,500.", reference_answer=3.5, lang="de") == 1.0
    assert answer_score("Die Antwort ist 1.234.567.", reference_answer=1234567, lang="de") == 1.0
    assert answer_score("Die Antwort ist 1.234.567.", reference_answer="1.234567", lang="de") == 0.0
    assert answer_score("Die Antwort ist 3,5.", reference_answer=35, lang="de") == 0.0
    # reference_answer wins over the reference text
    assert answer_score("The answer is 5.", reference="The answer is 6.", reference_answer=5) == 1.0


@pytest.mark.parametrize("response", [None, "", "   \n\t", "no answer at all"])
def test_answer_score_empty_responses(response: str | None) -> None:
    assert answer_score(response, reference_answer="18") == 0.0


def test_answer_score_needs_a_reference_answer() -> None:
    with pytest.raises(ValueError):
        answer_score("The answer is 5.")
    with pytest.raises(ValueError):
        answer_score("The answer is 5.", reference="no numbers in this reference")
    with pytest.raises(ValueError):
        answer_score("The answer is 5.", reference_answer="   ")
    with pytest.raises(ValueError):
        answer_score(123, reference_answer="5")  # type: ignore[arg-type]


def test_unknown_language_is_an_error() -> None:
    with pytest.raises(UnknownLanguageError):
        extract_final_answer("The answer is 5.", lang="xx")
    with pytest.raises(UnknownLanguageError):
        answer_score("The answer is 5.", reference_answer=5, lang="klingon")
    with pytest.raises(UnknownLanguageError):
        format_score("The answer is 5.", lang="xx")
    with pytest.raises(UnknownLanguageError):
        answers_match("5", "5", lang="xx")
    with pytest.raises(UnknownLanguageError):
        parse_number("5", lang="xx")
    with pytest.raises(UnknownLanguageError):
        find_numbers("5", lang="xx")
    # Empty inputs still validate the language.
    with pytest.raises(UnknownLanguageError):
        answer_score("", reference_answer=5, lang="xx")


def _one_megabyte() -> dict[str, str]:
    unit = "Roger has 5 + 6 = 11 balls, ১৮ or 1,234.5 \\boxed{ $ ( The answer is "
    return {
        "text": (unit * (1_000_000 // len(unit) + 1))[:1_000_000],
        "digits": "1 " * 500_000,
        "spaces": " " * 1_000_000,
        "open_boxes": "\\boxed{" * 140_000,
    }


@pytest.mark.parametrize("kind", ["text", "digits", "spaces", "open_boxes"])
def test_one_megabyte_response_is_scored_fast(kind: str) -> None:
    response = _one_megabyte()[kind]
    assert len(response) >= 980_000
    for fn in (
        lambda: answer_score(response, reference_answer="18", lang="en"),
        lambda: format_score(response, "en"),
        lambda: extract_final_answer(response),
    ):
        start = time.process_time()
        got = fn()
        assert time.process_time() - start < 1.0
        assert got is None or isinstance(got, (str, float))


# --------------------------------------------------------------------------- format_score


def test_format_score_levels() -> None:
    assert format_score("5 + 6 = 11. The answer is 11.") == 1.0
    assert format_score(r"So we get $\boxed{11}$") == 1.0
    assert format_score("Jibu ni 11.", "sw") == 1.0
    assert format_score("計算すると5+6=11。答えは11です。", "ja") == 1.0
    assert format_score("5 + 6 = 11") == 0.5
    assert format_score("Roger has 11 balls.") == 0.5
    assert format_score("Roger has 11 balls and is now very happy about it.") == 0.0
    assert format_score("I don't know.") == 0.0
    assert format_score(None) == 0.0
    assert format_score("   ") == 0.0
    # A stated answer followed by more than two further lines is not at the end.
    assert format_score("The answer is 11.\nBut then\nwe talk\nabout the weather.") == 0.0


@pytest.mark.integration
def test_format_score_on_exemplars(shared_data: Path) -> None:
    for row in load_exemplars(shared_data):
        assert format_score(row["answer_cot"], row["lang"]) == 1.0, (row["lang"], row["id"])
        # Without its final answer sentence, an exemplar ends with an equation: a bare number.
        cut = row["answer_cot"].rsplit(str(row["answer_number"]), 1)[0]
        assert format_score(cut, row["lang"]) < 1.0, (row["lang"], row["id"])
