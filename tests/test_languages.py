from __future__ import annotations

import pytest
from lingua import Language as LinguaLanguage

from pbrlsvr.errors import UnknownLanguageError
from pbrlsvr.languages import LANGUAGES, MGSM_LANGS, MSVAMP_LANGS, get_language, normalize_langs

# Languages of the benchmarks the project evaluates on (MGSM, MMLU-ProX, PolyMath).
MGSM = {"bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh"}
MMLU_PROX = {"en", "zh", "ja", "ko", "fr", "de", "es", "pt", "ar", "th", "vi", "hi", "bn", "sw", "af", "cs"}
MMLU_PROX |= {"hu", "id", "it", "mr", "ne", "ru", "sr", "te", "ur", "wo", "yo", "zu"}
POLYMATH = {"en", "zh", "ar", "bn", "de", "es", "fr", "id", "it", "ja", "ko", "ms", "pt", "ru", "sw", "te"}
POLYMATH |= {"th", "vi"}


def test_table_covers_the_benchmarks() -> None:
    assert set(LANGUAGES) >= MGSM | MMLU_PROX | POLYMATH
    assert set(MGSM_LANGS) == MGSM
    assert set(MSVAMP_LANGS) == MGSM - {"te"}


def test_tool_codes() -> None:
    assert get_language("sw").nllb == "swh_Latn"
    assert get_language("ja").nllb == "jpn_Jpan"
    assert get_language("zh").nllb == "zho_Hans"
    assert get_language("bn").script == "Beng"
    assert get_language("de").m2m100 == "de"


@pytest.mark.parametrize(
    ("alias", "code"),
    [("SW", "sw"), ("swh_Latn", "sw"), ("jpn", "ja"), ("Japanese", "ja"), ("zh-CN", "zh"), (" bn ", "bn")],
)
def test_aliases(alias: str, code: str) -> None:
    assert get_language(alias).code == code


def test_lingua_names_exist() -> None:
    # Every lingua name in the table must be a real lingua member, or LID breaks at run time.
    for lang in LANGUAGES.values():
        if lang.lingua is not None:
            assert getattr(LinguaLanguage, lang.lingua) is not None


@pytest.mark.parametrize("bad", ["xx", "", "   ", None, 3])
def test_unknown_codes_fail_clearly(bad: object) -> None:
    with pytest.raises(UnknownLanguageError):
        get_language(bad)  # type: ignore[arg-type]


def test_error_lists_supported_codes() -> None:
    with pytest.raises(UnknownLanguageError, match="supported ISO 639-1 codes: af, ar, bn"):
        get_language("klingon")


def test_normalize_langs_dedupes_and_keeps_order() -> None:
    assert normalize_langs("sw,bn,swh_Latn,,en") == ["sw", "bn", "en"]
