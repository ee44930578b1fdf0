from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pbrlsvr.errors import UnknownLanguageError
from pbrlsvr.rewards.language import LanguageConsistency, strip_non_language

# MGSM exemplar 1 (CC BY 4.0), the reference's reasoning in four languages.
SW = "Roger alianza na mipira 5. Makopo 2 ya mipira 3 ya tenisi kila moja ni mipira 6 ya tenisi. 5 + 6 = 11. Jibu ni 11."
EN = "Roger started with 5 balls. 2 cans of 3 tennis balls each is 6 tennis balls. 5 + 6 = 11. The answer is 11."
BN = "রজারের প্রথমে 5টি বল ছিল। 2টি ক্যানের প্রতিটিতে 3টে টেনিস বল মানে 6টি টেনিস বল। 5 + 6 = 11। উত্তর হল 11।"
JA = "ロジャーは最初にボールを5個持っていました。テニスボール3個入りの缶2個は、6個のテニスボールです。5 + 6 = 11。答えは11です。"


@pytest.fixture(scope="module")
def lc() -> LanguageConsistency:
    return LanguageConsistency(["sw", "bn", "ja", "de"])


def test_target_language_scores_high_and_english_copy_zero(lc: LanguageConsistency) -> None:
    for text, lang in ((SW, "sw"), (BN, "bn"), (JA, "ja")):
        assert lc.score(text, lang) > 0.95
        assert lc.score(EN, lang) == 0.0


def test_code_switching_lowers_the_score(lc: LanguageConsistency) -> None:
    half = (
        ". ".join(SW.split(". ")[:2]) + ". 2 cans of 3 tennis balls each is 6 tennis balls. The answer is 11."
    )
    score = lc.score(half, "sw")
    assert 0.2 < score < 0.8
    assert score < lc.score(SW, "sw")


def test_numbers_latex_and_code_are_not_language(lc: LanguageConsistency) -> None:
    assert strip_non_language("5 + 6 = 11").strip() == ""
    assert "boxed" not in strip_non_language(r"Jibu ni \boxed{11}")
    mathy = SW + " $$5 \\times 3 = 15$$ ```python\nprint('the answer is eleven')\n```"
    assert lc.score(mathy, "sw") > 0.95


def test_no_letters_is_zero_not_an_error(lc: LanguageConsistency) -> None:
    for text in ("", "   ", "5 + 6 = 11", "\\boxed{11}"):
        assert lc.score(text, "sw") == 0.0
    assert lc.shares("") == {}


def test_batch_equals_singles_and_threads(lc: LanguageConsistency) -> None:
    texts = [SW, EN, BN, JA, SW + " " + EN] * 4
    langs = ["sw", "sw", "bn", "ja", "sw"] * 4
    batch = lc.score_batch(texts, langs)
    assert batch == [lc.score(t, lang) for t, lang in zip(texts, langs, strict=True)]
    with ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(lc.score, texts, langs))
    assert threaded == batch


def test_bad_languages(lc: LanguageConsistency) -> None:
    with pytest.raises(UnknownLanguageError):
        lc.score(SW, "xx")
    with pytest.raises(UnknownLanguageError, match="not among"):
        lc.score(SW, "th")  # valid code, but not a candidate of this run
    with pytest.raises(UnknownLanguageError, match="no language-identification model"):
        LanguageConsistency(["wo"])
    with pytest.raises(ValueError, match="2 responses but 1 languages"):
        lc.score_batch([SW, SW], ["sw"])


def test_huge_response_is_fast(lc: LanguageConsistency) -> None:
    huge = (SW + " ") * 8000  # ~1 MB
    start = time.perf_counter()
    assert lc.score(huge, "sw") > 0.95
    assert time.perf_counter() - start < 20
