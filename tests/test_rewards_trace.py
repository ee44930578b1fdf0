"""The trace component: reference results, equation checks, ranking on real exemplars, bounds."""

from __future__ import annotations

import json
import re
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import pytest

from pbrlsvr.errors import UnknownLanguageError
from pbrlsvr.rewards.answer import answer_score
from pbrlsvr.rewards.trace import check_equations, reference_results, trace_details, trace_score

NATIVE_ZERO = {"bn": 0x09E6, "th": 0x0E50, "te": 0x0C66, "ja": 0xFF10, "zh": 0xFF10}
_EQUATION = re.compile(r"(\d+)(\s*[-+*]\s*)(\d+)(\s*=\s*)(\d+)")


def load_exemplars(shared: Path) -> list[dict]:
    with (shared / "mgsm" / "exemplars.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def english(rows: list[dict]) -> dict[int, str]:
    return {r["id"]: r["answer_cot"] for r in rows if r["lang"] == "en"}


def to_native(text: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) if c.isascii() and c.isdigit() else c for c in text)


def with_slip(text: str) -> str | None:
    """``text`` with the result of its first equation off by one (later steps unchanged)."""
    m = _EQUATION.search(text)
    if m is None:
        return None
    return text[: m.start(5)] + str(int(m.group(5)) + 1) + text[m.end(5) :]


def test_reference_results_from_annotations_and_equals() -> None:
    ref = (
        "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
        "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer’s market.\n#### 18"
    )
    assert reference_results(ref) == [9, 18]
    # "= 5 × 3 = 15": 5 × 3 is an expression, only 15 is a result; "= dola 15" skips one word.
    assert reference_results("Cost = 5 × 3 = 15, then 20 - 15 = 5.") == [5, 15]
    assert reference_results("5 * 3 = dola 15.", "sw") == [15]
    assert reference_results("The answer is 5.") == []
    assert reference_results("Profit = 200,000 - 130,000 = $70,000.") == [70000]
    assert reference_results("Anteil: 3 / 4 = 0,75.", "de") == [Fraction(3, 4)]


@pytest.mark.integration
def test_reference_results_of_a_real_gsm8k_solution(shared_data: Path) -> None:
    with (shared_data / "gsm8k" / "test.jsonl").open(encoding="utf-8") as f:
        row = json.loads(f.readline())
    assert [str(r) for r in reference_results(row["answer"])] == ["9", "18"]


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("5 + 6 = 11", None, [True]),
        ("5 + 6 = 12", None, [False]),
        ("4 × 5 = 20, 4 x 5 = 20, 4x5=20, 4 * 5 = 20, 4 · 5 = 20", None, [True] * 5),
        ("20 ÷ 4 = 5, 20 / 4 = 5, 74 − 35 = 39, 74 – 35 = 39", None, [True] * 4),
        (r"\( 4 \times 5 = 20 \), \(\frac{18}{2} = 9\), $2 \cdot 3 = 6$, 8 \div 2 = 4", None, [True] * 4),
        ("৪ × ৫ = ২০ এবং ৯ + ২০ = ৩০", "bn", [True, False]),
        ("๔ × ๕ = ๒๐", "th", [True]),
        ("４＊５＝２０", "ja", [True]),
        ("(2 + 3) × 4 = 20 and 2 + 3 × 4 = 14", None, [True, True]),
        ("16 - 3 - 4 = 9 = 3 * 3", None, [True, True]),
        ("$3 × 5 = $15", None, [True]),
        ("20% × 50 = 10 and 20 / 40 × 100 = 50%", None, [True, True]),
        ("10 / 3 = 3.33 and 10 / 3 = 3.4", None, [True, False]),
        ("10 / 3 ≈ 3.3", None, [True]),
        ("2,5 × 4 = 10", "de", [True]),
        ("1 234,5 + 0,5 = 1 235", "fr", [True]),
        ("5 - 1 - 1/2 = 3 1/2", None, [True]),
        ("Scottish Unicorns: 27(1/3) = 9", None, [True]),
        ("2^3 = 8", None, [True]),
        ("5 - 8 = -3", None, [True]),
        # Not computations, or not readable: skipped, neither true nor false.
        ("x = 5", None, []),
        ("Step 1: 5 + 6 = 11", None, [True]),
        ("60g * 4/5 = 48", None, []),
        ("3x + 4 = 28", None, []),
        ("5 kg × 3 = 15 kg", None, []),
        ("$350 000 x 5/100 = $17500", "en", []),
        ("1/0 + 1 = 2", None, []),
    ],
)
def test_check_equations(text: str, lang: str | None, expected: list[bool]) -> None:
    assert [e.ok for e in check_equations(text, lang)] == expected


@pytest.mark.integration
def test_exemplars_score_high_across_languages(shared_data: Path) -> None:
    rows = load_exemplars(shared_data)
    en = english(rows)
    scores = {(r["lang"], r["id"]): trace_score(r["answer_cot"], en[r["id"]], r["lang"]) for r in rows}
    assert len(scores) == 88
    low = {k: v for k, v in scores.items() if v < 0.8}
    assert not low, low
    # The same with the response's digits in its own script.
    for r in rows:
        if r["lang"] in NATIVE_ZERO:
            native = to_native(r["answer_cot"], NATIVE_ZERO[r["lang"]])
            assert native != r["answer_cot"]
            assert trace_score(native, en[r["id"]], r["lang"]) >= 0.8, (r["lang"], r["id"])


@pytest.mark.integration
def test_a_wrong_middle_step_scores_visibly_lower(shared_data: Path) -> None:
    rows = load_exemplars(shared_data)
    en = english(rows)
    checked = 0
    for r in rows:
        slipped = with_slip(r["answer_cot"])
        if slipped is None:  # ja 8 writes "3+2で5": no equation to break
            continue
        checked += 1
        good = trace_score(r["answer_cot"], en[r["id"]], r["lang"])
        bad = trace_details(slipped, en[r["id"]], r["lang"])
        assert bad.n_false == 1, (r["lang"], r["id"])
        assert good - bad.score >= 0.3, (r["lang"], r["id"], good, bad)
        # The final answer is still right: the answer component cannot see the slip.
        assert answer_score(slipped, reference=en[r["id"]], lang=r["lang"]) == 1.0
    assert checked >= 80


@pytest.mark.integration
def test_unrelated_responses_score_near_zero(shared_data: Path) -> None:
    rows = load_exemplars(shared_data)
    en = english(rows)
    assert trace_score("The weather is nice today; let us go for a walk.", en[2]) == 0.0
    assert trace_score("Il fait beau aujourd'hui, 100 + 200 = 300.", en[2], "fr") == 0.0
    cross = [trace_score(r["answer_cot"], en[i], r["lang"]) for r in rows for i in en if i != r["id"]]
    assert statistics.mean(cross) <= 0.2


@pytest.mark.integration
def test_gsm8k_model_solutions_rank_by_correctness(shared_data: Path) -> None:
    correct, wrong = [], []
    with (shared_data / "gsm8k" / "example_model_solutions.jsonl").open(encoding="utf-8") as f:
        for _, line in zip(range(200), f, strict=False):
            row = json.loads(line)
            assert trace_score(row["ground_truth"], row["ground_truth"]) == 1.0
            for key in ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification"):
                sol = row[key]
                (correct if sol["is_correct"] else wrong).append(
                    trace_score(sol["solution"], row["ground_truth"])
                )
    assert statistics.mean(correct) - statistics.mean(wrong) >= 0.4


def test_reference_without_results_scores_consistency() -> None:
    ref = "The answer is 11."
    assert trace_score("Roger has 11 balls.", ref) == 1.0
    assert trace_score("5 + 6 = 11, so 11.", ref) == 1.0
    assert trace_score("5 + 6 = 12, so 12.", ref) == 0.0
    assert trace_details("5 + 6 = 11 and 2 + 2 = 5", ref).consistency == 0.5


def test_rounded_results_are_covered() -> None:
    ref = "Each gets 10 / 3 = 3.333 pies, twice that is 2 * 10/3 = 6.67."
    details = trace_details("Chacun reçoit 3,33 tartes ; le double, 6,67.", ref, "fr")
    assert details.n_results == 2 and details.n_covered == 2


@pytest.mark.parametrize("response", [None, "", "   \n\t"])
def test_empty_responses_score_zero(response: str | None) -> None:
    assert trace_score(response, "4 * 5 = 20. 9 + 20 = 29.") == 0.0
    assert trace_score(response, "The answer is 5.") == 0.0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        trace_score("5 + 6 = 11", "")
    with pytest.raises(ValueError):
        trace_score("5 + 6 = 11", None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        trace_score(11, "5 + 6 = 11")  # type: ignore[arg-type]
    with pytest.raises(UnknownLanguageError):
        trace_score("5 + 6 = 11", "5 + 6 = 11", lang="xx")
    with pytest.raises(UnknownLanguageError):
        trace_score("5 + 6 = 11", "5 + 6 = 11", reference_lang="xx")
    with pytest.raises(UnknownLanguageError):
        check_equations("5 + 6 = 11", "xx")
    with pytest.raises(ValueError):
        check_equations(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "response",
    [
        ("Roger has 5 + 6 = 11 balls, ১৮ or 1,234.5 \\boxed{ $ ( x " * 20_000)[:1_000_000],
        "1 " * 500_000,
        "1+" * 500_000 + "=3",
        " " * 1_000_000,
        "(" * 1_000_000,
    ],
)
def test_one_megabyte_response_is_fast(response: str) -> None:
    start = time.process_time()
    score = trace_score(response, "4 * 5 = 20. 9 + 20 = 29.", "en")
    assert time.process_time() - start < 1.0
    assert 0.0 <= score <= 1.0


@pytest.mark.integration
def test_typical_item_is_fast_and_thread_safe(shared_data: Path) -> None:
    rows = load_exemplars(shared_data)
    en = english(rows)
    pairs = [(r["answer_cot"], en[r["id"]], r["lang"]) for r in rows]
    expected = [trace_score(*p) for p in pairs]  # also warms the reference cache
    start = time.process_time()
    for _ in range(5):
        for p in pairs:
            trace_score(*p)
    per_item = (time.process_time() - start) / (5 * len(pairs))
    assert per_item < 0.003, f"{per_item * 1e3:.2f} ms per item"
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(lambda p: trace_score(*p), pairs * 3)) == expected * 3


def test_unit_word_after_equals_does_not_hide_a_false_equation() -> None:
    # Swahili writes the currency between '=' and the result: "5 * 3 = dola 15".
    from pbrlsvr.rewards.trace import check_equations

    assert [e.ok for e in check_equations("kugharimu 5 * 3 = dola 15.", "sw")] == [True]
    assert [e.ok for e in check_equations("kugharimu 6 * 3 = dola 15.", "sw")] == [False]
