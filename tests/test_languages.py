from __future__ import annotations

import pytest
from lingua import Language as LinguaLanguage

from pbrlsvr.errors import UnknownLanguageError
from pbrlsvr.evaluation.prompts import EvalPromptConfig, instruction, template_hash
from pbrlsvr.evaluation.scoring import extractor_version
from pbrlsvr.hashing import digest
from pbrlsvr.languages import (
    BUILTIN_CODES,
    LANGUAGES,
    MGSM_LANGS,
    MSVAMP_LANGS,
    Language,
    NativePrompt,
    get_language,
    normalize_langs,
    register_language,
    unregister_language,
)
from pbrlsvr.prompts import build_messages

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


# Stored evaluation runs carry these fingerprints, and trained policies were trained on these
# prompts: for the shipped languages they must never move (a change invalidates every stored run).
PINNED_TEMPLATE_HASHES = {
    ("native", 0): "c4c556b0a3238d64",
    ("native", 2): "0e332775dd21f446",
    ("train", 0): "fae4c7ff7f89abe4",
    ("train", 2): "a09eabe7c7f0e349",
}
PINNED_EXTRACTOR_VERSION = "eval-extract-1/pbrlsvr-0.1.0/answer-a93606d0de"
PINNED_TRAIN_PROMPTS = "db962aa918c8bd55"  # digest of {code: training prompt of "Q? 1 + 1"}
PINNED_INSTRUCTIONS = "cc013d3e0c64e619"  # digest of {code: [native math, native choice instruction]}


def shipped_fingerprints() -> dict[str, object]:
    return {
        "template": {
            f"{s}/{n}": template_hash(EvalPromptConfig(style=s), n) for s, n in PINNED_TEMPLATE_HASHES
        },
        "system": template_hash(EvalPromptConfig(system="x", templates={"sw": "{question}"})),
        "extractor": extractor_version(),
        "train": digest({c: build_messages("Q? 1 + 1", c)[0]["content"] for c in BUILTIN_CODES}),
        "instructions": digest(
            {c: [instruction(c, "math"), instruction(c, "choice")] for c in BUILTIN_CODES}
        ),
    }


def test_prompts_and_fingerprints_of_shipped_languages_are_pinned() -> None:
    got = shipped_fingerprints()
    assert got["template"] == {f"{s}/{n}": h for (s, n), h in PINNED_TEMPLATE_HASHES.items()}
    assert got["system"] == "419ff750342ec3d0"
    assert got["extractor"] == PINNED_EXTRACTOR_VERSION
    assert got["train"] == PINNED_TRAIN_PROMPTS
    assert got["instructions"] == PINNED_INSTRUCTIONS


def toy(code: str = "so", **changes: object) -> Language:
    fields: dict[str, object] = {
        "code": code,
        "name": "Somali",
        "script": "Latn",
        "nllb": "som_Latn",
        "iso3": "som",
        "lingua": "SOMALI",
        "answer_phrases": ("jawaabtu waa",),
        "native": NativePrompt(
            "Jawaabtu waa", 'Xalli. "{phrase} X."', 'Dooro. "{phrase} (X)."', "Doorashooyin:"
        ),
        "aliases": ("so-so",),
    }
    fields.update(changes)
    return Language(**fields)  # type: ignore[arg-type]


def test_register_and_unregister_a_language() -> None:
    register_language(toy())
    try:
        assert get_language("som").code == get_language("SO-SO").code == "so"
        assert "so" in LANGUAGES and "som" not in LANGUAGES and "so" not in BUILTIN_CODES
        with pytest.raises(ValueError, match="already registered"):
            register_language(toy(name="Somali again"))
        register_language(toy(aliases=()), replace=True)
        with pytest.raises(UnknownLanguageError):
            get_language("so-so")  # the replaced entry's spelling is gone
    finally:
        unregister_language("so")
    assert "so" not in LANGUAGES
    with pytest.raises(UnknownLanguageError):
        get_language("som")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"aliases": ("jpn",)}, "already the name of another language: 'jpn' \\(ja\\)"),
        ({"code": "msa"}, "'msa' \\(ms\\)"),
        ({"name": "Swahili"}, "'swahili' \\(sw\\)"),
    ],
)
def test_a_spelling_of_another_language_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        register_language(toy(**changes), replace=True)
    assert "so" not in LANGUAGES and get_language("jpn").code == "ja" and get_language("msa").code == "ms"


@pytest.mark.parametrize(
    "changes",
    [
        {"code": "Somali"},
        {"answer_phrases": ()},
        {"answer_phrases": "jawaabtu waa"},
        {"native": ("Jawaabtu waa", "{phrase} X", "{phrase} (X)", "Doorashooyin:")},
        {"train_phrase": " "},
        {"step_headers": ("(unclosed",)},
    ],
)
def test_a_malformed_entry_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        toy(**changes)


def test_a_native_template_without_the_phrase_slot_is_refused() -> None:
    with pytest.raises(ValueError, match="must contain"):
        NativePrompt("Jawaabtu waa", "no slot", "{phrase} (X)", "Doorashooyin:")
