"""The one table of languages: every fact and phrase the project knows about a language.

Every language code that enters the project (a config's ``langs``, a data row's ``lang``, a
``pbrlsvr score`` line) is validated here, and everything that differs between languages is
read from the language's :class:`Language` entry:

- tool codes: NLLB-200 / FLORES-200 for seq2seq translation, the ``lingua`` member for language
  identification, ISO 639-3, the ISO 15924 script;
- the training prompt's final-answer phrase (:func:`pbrlsvr.prompts.build_messages`);
- the native evaluation templates (:mod:`pbrlsvr.evaluation.prompts`);
- the final-answer phrases and step-by-step headers answer extraction looks for
  (:mod:`pbrlsvr.rewards.answer`).

The built-in languages (:mod:`pbrlsvr.languages.builtin`: the MGSM, MSVAMP, MMLU-ProX and
PolyMath languages and a few more) register with :func:`register_language` exactly as a plugin's
do, so adding a language is one entry, in the package or in a plugin.

>>> from pbrlsvr.languages import get_language
>>> get_language("sw").nllb
'swh_Latn'
>>> get_language("jpn_Jpan").code
'ja'
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from pbrlsvr.errors import UnknownLanguageError
from pbrlsvr.registry import Registry

MGSM = "mgsm"
MSVAMP = "msvamp"
MMLU_PROX = "mmlu-prox"
POLYMATH = "polymath"


@dataclass(frozen=True)
class NativePrompt:
    """A language's evaluation instructions, written in that language.

    ``{phrase}`` in ``math`` and ``choice`` is replaced by ``phrase``; ``X`` stands for the answer
    in the text the model reads.

    Attributes:
        phrase: the final-answer phrase the response must end with; one of the language's
            ``answer_phrases`` must match it, or the extractor would not find the answer after it.
        math: instruction for problems with a numeric / expression answer.
        choice: instruction for multiple-choice problems (letters A–J).
        options: the label before the options list.
    """

    phrase: str
    math: str
    choice: str
    options: str

    def __post_init__(self) -> None:
        for name in ("phrase", "math", "choice", "options"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"NativePrompt.{name} must be a non-empty string, got {value!r}")
        for name in ("math", "choice"):
            if "{phrase}" not in getattr(self, name):
                raise ValueError(f"NativePrompt.{name} must contain '{{phrase}}': {getattr(self, name)!r}")


@dataclass(frozen=True)
class Language:
    """One language and everything the project says in it.

    Attributes:
        code: ISO 639-1 code (ISO 639-3 where there is none), the project's canonical key (``"sw"``).
        name: English name (``"Swahili"``).
        script: ISO 15924 script of the usual written form (``"Latn"``, ``"Beng"``, ``"Hans"``).
        nllb: NLLB-200 / FLORES-200 code (``"swh_Latn"``), also used by M2M100-style pipelines.
        iso3: ISO 639-3 code (``"swa"``).
        lingua: name of the ``lingua.Language`` member, or ``None`` where lingua has no model
            (then the language-consistency reward cannot be computed for it).
        benchmarks: the benchmarks that include this language (:data:`MGSM`, :data:`MSVAMP`, ...).
        answer_phrases: final-answer phrases answer extraction looks for (with English's), as
            plain text: a space matches any whitespace, a trailing ``:`` means "followed by a colon
            (ASCII or full-width, optionally after ``**``)", a trailing ``-`` means "followed by a
            colon or a dash" (Russian ``Ответ — 11``), matching ignores case, and a phrase in a
            script written with spaces must start and end at word boundaries.
        native: the native evaluation templates (:class:`NativePrompt`).
        train_phrase: the final-answer phrase the training prompt asks for (the MGSM exemplars'
            phrase where the language has them); ``None`` asks for the English one.
        step_headers: regexes (case-insensitive) of the headers that open a step-by-step answer
            in this language (``Step-by-Step Answer:``): they contain an "answer" word but
            introduce the reasoning, so extraction never reads an answer after them.
        aliases: further spellings that name this language (``"zh-CN"``, ``"pt-BR"``); the code,
            NLLB code, ISO 639-3 code, English name and ``<code>_<script>`` are aliases already.
    """

    code: str
    name: str
    script: str
    nllb: str
    iso3: str
    lingua: str | None
    benchmarks: tuple[str, ...] = ()
    answer_phrases: tuple[str, ...] = field(kw_only=True)
    native: NativePrompt = field(kw_only=True)
    train_phrase: str | None = field(default=None, kw_only=True)
    step_headers: tuple[str, ...] = field(default=(), kw_only=True)
    aliases: tuple[str, ...] = field(default=(), kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not re.fullmatch(r"[a-z]{2,3}", self.code):
            raise ValueError(f"a language code is 2 or 3 lowercase letters (ISO 639-1/3), got {self.code!r}")
        for name in ("name", "script", "nllb", "iso3"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"language {self.code!r}: {name} must be a non-empty string, got {value!r}")
        for name in ("benchmarks", "answer_phrases", "step_headers", "aliases"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) and v.strip() for v in value):
                raise ValueError(f"language {self.code!r}: {name} must be a sequence of non-empty strings")
            object.__setattr__(self, name, tuple(value))
        if not self.answer_phrases:
            raise ValueError(f"language {self.code!r}: answer_phrases must name at least one phrase")
        if not isinstance(self.native, NativePrompt):
            raise ValueError(f"language {self.code!r}: native must be a NativePrompt")
        if self.train_phrase is not None and (
            not isinstance(self.train_phrase, str) or not self.train_phrase.strip()
        ):
            raise ValueError(f"language {self.code!r}: train_phrase must be a non-empty string or None")
        for pattern in self.step_headers:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"language {self.code!r}: step header {pattern!r} is not a regex: {exc}"
                ) from None

    @property
    def m2m100(self) -> str:
        """M2M100 and Marian use the ISO 639-1 code."""
        return self.code

    @property
    def alias_keys(self) -> tuple[str, ...]:
        """Every lower-cased spelling that names this language."""
        spellings = (self.code, self.nllb, self.iso3, self.name, f"{self.code}_{self.script}", *self.aliases)
        return tuple(dict.fromkeys(s.strip().lower() for s in spellings))


# --- the registry --------------------------------------------------------------------------------

_ALIASES: dict[str, str] = {}  # lower-cased spelling -> code
_lock = threading.RLock()
_version = 0


def _canonical(name: str) -> str:
    key = name.strip().lower()
    return _ALIASES.get(key, key)


_REGISTRY: Registry[Language] = Registry("language", normalize=_canonical)


def register_language(language: Language, *, replace: bool = False) -> Language:
    """Add ``language`` to the table (a plugin calls this at import); returns it.

    Its aliases are registered with it. A code already registered is refused unless
    ``replace=True``; a spelling that already names another language is always refused (two
    languages answering to ``"jpn"`` would make a data row's language depend on import order).
    """
    global _version
    if not isinstance(language, Language):
        raise TypeError(f"register_language takes a Language, got {type(language).__name__}")
    with _lock:
        taken = {
            a: _ALIASES[a] for a in language.alias_keys if _ALIASES.get(a, language.code) != language.code
        }
        if taken:
            names = ", ".join(f"{a!r} ({code})" for a, code in taken.items())
            raise ValueError(f"language {language.code!r}: already the name of another language: {names}")
        _REGISTRY.register(language.code, language, replace=replace)
        for alias in [a for a, code in _ALIASES.items() if code == language.code]:
            del _ALIASES[alias]  # a replaced entry's spellings
        for alias in language.alias_keys:
            _ALIASES[alias] = language.code
        _version += 1
    return language


def unregister_language(code: str) -> None:
    """Remove a language and its aliases (tests, and plugins that withdraw a language)."""
    global _version
    with _lock:
        key = _canonical(code)
        _REGISTRY.unregister(key)
        for alias in [a for a, c in _ALIASES.items() if c == key]:
            del _ALIASES[alias]
        _version += 1


def table_version() -> int:
    """A number that changes whenever a language is registered or removed (keys readers' caches)."""
    return _version


class _Table(Mapping[str, Language]):
    """Canonical code → :class:`Language` for every registered language (a live, read-only view)."""

    def __getitem__(self, code: str) -> Language:
        if isinstance(code, str) and code in _REGISTRY and _canonical(code) == code:
            return _REGISTRY.get(code)
        raise KeyError(code)

    def __iter__(self) -> Iterator[str]:
        return iter(_REGISTRY.names())

    def __len__(self) -> int:
        return len(_REGISTRY)

    def __repr__(self) -> str:
        return f"LANGUAGES({', '.join(self)})"


LANGUAGES: Mapping[str, Language] = _Table()
"""ISO 639-1 code → :class:`Language`, for every registered language (plugins' included)."""


def get_language(code: str) -> Language:
    """Return the :class:`Language` for ``code``.

    Accepts the ISO 639-1 code (any case), the NLLB code, the ISO 639-3 code, the English name
    and a few common regional spellings (``zh-CN``, ``pt-BR``).

    Raises:
        UnknownLanguageError: ``code`` is not registered; the message lists the registered codes.
    """
    if not isinstance(code, str) or not code.strip():
        raise UnknownLanguageError(f"language code must be a non-empty string, got {code!r}")
    if code not in _REGISTRY:
        raise UnknownLanguageError(
            f"unknown language code {code!r}; supported ISO 639-1 codes: {', '.join(sorted(_REGISTRY.names()))}"
        )
    return _REGISTRY.get(code)


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


from pbrlsvr.languages import builtin as _builtin  # noqa: E402  (registers the built-in languages)

BUILTIN_CODES: tuple[str, ...] = tuple(lang.code for lang in _builtin.LANGUAGES)
"""The codes of the languages this package ships, in table order."""

MGSM_LANGS: tuple[str, ...] = tuple(lang.code for lang in _builtin.LANGUAGES if MGSM in lang.benchmarks)
MSVAMP_LANGS: tuple[str, ...] = tuple(lang.code for lang in _builtin.LANGUAGES if MSVAMP in lang.benchmarks)


def builtin_languages() -> list[Language]:
    """The shipped languages' current entries, by code.

    What stored fingerprints (the evaluation template hash, the extractor version) cover: a
    plugin's language leaves every existing run's fingerprint as it was, while a plugin that
    replaces a shipped language's phrases changes it.
    """
    return [_REGISTRY.get(code) for code in sorted(BUILTIN_CODES) if code in _REGISTRY]


__all__ = [
    "BUILTIN_CODES",
    "LANGUAGES",
    "MGSM",
    "MGSM_LANGS",
    "MMLU_PROX",
    "MSVAMP",
    "MSVAMP_LANGS",
    "POLYMATH",
    "Language",
    "NativePrompt",
    "builtin_languages",
    "get_language",
    "normalize_lang",
    "normalize_langs",
    "register_language",
    "table_version",
    "unregister_language",
]
