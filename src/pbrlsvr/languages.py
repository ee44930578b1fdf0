"""The one table of supported languages.

Every language code that enters the project (a config's ``langs``, a data row's ``lang``, a
``pbrlsvr score`` line) is validated here, and every tool-specific code is looked up here:
NLLB-200 / FLORES-200 codes for seq2seq translation, the ``lingua`` language for language
identification, the ISO 15924 script. The table covers the MGSM, MSVAMP, MMLU-ProX and PolyMath
languages and a few more that are common in multilingual evaluation.

>>> from pbrlsvr.languages import get_language
>>> get_language("sw").nllb
'swh_Latn'
>>> get_language("jpn_Jpan").code
'ja'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pbrlsvr.errors import UnknownLanguageError


@dataclass(frozen=True)
class Language:
    """One supported language.

    Attributes:
        code: ISO 639-1 code, the project's canonical key (``"sw"``).
        name: English name (``"Swahili"``).
        script: ISO 15924 script of the usual written form (``"Latn"``, ``"Beng"``, ``"Hans"``).
        nllb: NLLB-200 / FLORES-200 code (``"swh_Latn"``), also used by M2M100-style pipelines.
        iso3: ISO 639-3 code (``"swa"``).
        lingua: name of the ``lingua.Language`` member, or ``None`` where lingua has no model
            (then the language-consistency reward cannot be computed for it).
        benchmarks: the benchmarks that include this language.
    """

    code: str
    name: str
    script: str
    nllb: str
    iso3: str
    lingua: str | None
    benchmarks: tuple[str, ...] = field(default=())

    @property
    def m2m100(self) -> str:
        """M2M100 and Marian use the ISO 639-1 code."""
        return self.code


_MGSM = "mgsm"
_MSVAMP = "msvamp"
_PROX = "mmlu-prox"
_POLY = "polymath"

# code, name, script, nllb, iso3, lingua, benchmarks
_ROWS: tuple[tuple[str, str, str, str, str, str | None, tuple[str, ...]], ...] = (
    ("af", "Afrikaans", "Latn", "afr_Latn", "afr", "AFRIKAANS", (_PROX,)),
    ("ar", "Arabic", "Arab", "arb_Arab", "ara", "ARABIC", (_PROX, _POLY)),
    ("bn", "Bengali", "Beng", "ben_Beng", "ben", "BENGALI", (_MGSM, _MSVAMP, _PROX, _POLY)),
    ("cs", "Czech", "Latn", "ces_Latn", "ces", "CZECH", (_PROX,)),
    ("de", "German", "Latn", "deu_Latn", "deu", "GERMAN", (_MGSM, _MSVAMP, _PROX, _POLY)),
    ("en", "English", "Latn", "eng_Latn", "eng", "ENGLISH", (_MGSM, _MSVAMP, _PROX, _POLY)),
    ("es", "Spanish", "Latn", "spa_Latn", "spa", "SPANISH", (_MGSM, _MSVAMP, _PROX, _POLY)),
    ("fa", "Persian", "Arab", "pes_Arab", "fas", "PERSIAN", ()),
    ("fr", "French", "Latn", "fra_Latn", "fra", "FRENCH", (_MGSM, _MSVAMP, _PROX, _POLY)),
    ("he", "Hebrew", "Hebr", "heb_Hebr", "heb", "HEBREW", ()),
    ("hi", "Hindi", "Deva", "hin_Deva", "hin", "HINDI", (_PROX,)),
    ("hu", "Hungarian", "Latn", "hun_Latn", "hun", "HUNGARIAN", (_PROX,)),
    ("id", "Indonesian", "Latn", "ind_Latn", "ind", "INDONESIAN", (_PROX, _POLY)),
    ("it", "Italian", "Latn", "ita_Latn", "ita", "ITALIAN", (_PROX, _POLY)),
    ("ja", "Japanese", "Jpan", "jpn_Jpan", "jpn", "JAPANESE", (_MGSM, _MSVAMP, _PROX, _POLY)),
    ("ko", "Korean", "Kore", "kor_Hang", "kor", "KOREAN", (_PROX, _POLY)),
    ("mr", "Marathi", "Deva", "mar_Deva", "mar", "MARATHI", (_PROX,)),
    ("ms", "Malay", "Latn", "zsm_Latn", "msa", "MALAY", (_POLY,)),
    ("ne", "Nepali", "Deva", "npi_Deva", "nep", None, (_PROX,)),
    ("nl", "Dutch", "Latn", "nld_Latn", "nld", "DUTCH", ()),
    ("pl", "Polish", "Latn", "pol_Latn", "pol", "POLISH", ()),
    ("pt", "Portuguese", "Latn", "por_Latn", "por", "PORTUGUESE", (_PROX, _POLY)),
    ("ru", "Russian", "Cyrl", "rus_Cyrl", "rus", "RUSSIAN", (_MGSM, _MSVAMP, _PROX, _POLY)),
    ("sr", "Serbian", "Cyrl", "srp_Cyrl", "srp", "SERBIAN", (_PROX,)),
    ("sw", "Swahili", "Latn", "swh_Latn", "swa", "SWAHILI", (_MGSM, _MSVAMP, _PROX, _POLY)),
    ("ta", "Tamil", "Taml", "tam_Taml", "tam", "TAMIL", ()),
    ("te", "Telugu", "Telu", "tel_Telu", "tel", "TELUGU", (_MGSM, _PROX, _POLY)),
    ("th", "Thai", "Thai", "tha_Thai", "tha", "THAI", (_MGSM, _MSVAMP, _PROX, _POLY)),
    ("tr", "Turkish", "Latn", "tur_Latn", "tur", "TURKISH", ()),
    ("uk", "Ukrainian", "Cyrl", "ukr_Cyrl", "ukr", "UKRAINIAN", ()),
    ("ur", "Urdu", "Arab", "urd_Arab", "urd", "URDU", (_PROX,)),
    ("vi", "Vietnamese", "Latn", "vie_Latn", "vie", "VIETNAMESE", (_PROX, _POLY)),
    ("wo", "Wolof", "Latn", "wol_Latn", "wol", None, (_PROX,)),
    ("yo", "Yoruba", "Latn", "yor_Latn", "yor", "YORUBA", (_PROX,)),
    ("zh", "Chinese", "Hans", "zho_Hans", "zho", "CHINESE", (_MGSM, _MSVAMP, _PROX, _POLY)),
    ("zu", "Zulu", "Latn", "zul_Latn", "zul", "ZULU", (_PROX,)),
)

LANGUAGES: dict[str, Language] = {row[0]: Language(*row) for row in _ROWS}
"""ISO 639-1 code → :class:`Language`, for every supported language."""

MGSM_LANGS: tuple[str, ...] = tuple(c for c, lang in LANGUAGES.items() if _MGSM in lang.benchmarks)
MSVAMP_LANGS: tuple[str, ...] = tuple(c for c, lang in LANGUAGES.items() if _MSVAMP in lang.benchmarks)

# Other spellings users and datasets use, mapped to the canonical ISO 639-1 code.
_ALIASES: dict[str, str] = {}
for _lang in LANGUAGES.values():
    for _alias in (_lang.code, _lang.nllb, _lang.iso3, _lang.name, f"{_lang.code}_{_lang.script}"):
        _ALIASES[_alias.lower()] = _lang.code
_ALIASES.update(
    {
        "zh-cn": "zh",
        "zh_cn": "zh",
        "zh-hans": "zh",
        "zho_hant": "zh",
        "zh-tw": "zh",
        "cmn": "zh",
        "swh": "sw",
        "arb": "ar",
        "pes": "fa",
        "npi": "ne",
        "zsm": "ms",
        "jpn": "ja",
        "kor_hang": "ko",
        "pt-br": "pt",
        "pt_br": "pt",
        "en-us": "en",
        "en_us": "en",
        "en-gb": "en",
    }
)


def get_language(code: str) -> Language:
    """Return the :class:`Language` for ``code``.

    Accepts the ISO 639-1 code (any case), the NLLB code, the ISO 639-3 code, the English name
    and a few common regional spellings (``zh-CN``, ``pt-BR``).

    Raises:
        UnknownLanguageError: ``code`` is not supported; the message lists the supported codes.
    """
    if not isinstance(code, str) or not code.strip():
        raise UnknownLanguageError(f"language code must be a non-empty string, got {code!r}")
    key = _ALIASES.get(code.strip().lower())
    if key is None:
        raise UnknownLanguageError(
            f"unknown language code {code!r}; supported ISO 639-1 codes: {', '.join(sorted(LANGUAGES))}"
        )
    return LANGUAGES[key]


def normalize_lang(code: str) -> str:
    """Canonical ISO 639-1 code for ``code`` (see :func:`get_language`)."""
    return get_language(code).code


def normalize_langs(codes: Iterable[str] | str) -> list[str]:
    """Canonical codes for a list (or a comma-separated string), order kept, duplicates dropped."""
    if isinstance(codes, str):
        codes = [c for c in codes.split(",") if c.strip()]
    out: list[str] = []
    for c in codes:
        n = normalize_lang(c)
        if n not in out:
            out.append(n)
    return out
