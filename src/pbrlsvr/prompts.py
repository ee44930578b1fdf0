"""The prompt that asks a policy to reason and answer in a target language.

Training and evaluation must ask the same way, or an evaluation measures the prompt change rather
than the training. The instruction is in English (every model in this field follows English
instructions best) and names the target language; the requested final line uses the phrase the
MGSM exemplars use in that language (the language's ``train_phrase`` in
:mod:`pbrlsvr.languages`), which the answer extractor recognises.
"""

from __future__ import annotations

from collections.abc import Iterable

from pbrlsvr.generation.base import Message
from pbrlsvr.languages import Language, get_language

INSTRUCTION = (
    "{question}\n\n"
    "Solve the problem step by step. Write all of your reasoning in {language}, "
    'and finish with a line of the form "{phrase} N." where N is the final number.'
)


def final_phrase(lang: str) -> str:
    """The final-answer phrase the training prompt asks for in ``lang``: the language's
    ``train_phrase`` (the MGSM exemplars' phrase), else the English one.

    >>> final_phrase("sw"), final_phrase("ko")
    ('Jibu ni', 'The answer is')
    """
    phrase = get_language(lang).train_phrase
    return phrase if phrase is not None else str(get_language("en").train_phrase)


def train_phrases(languages: Iterable[Language]) -> dict[str, str]:
    """Code → the training prompt's phrase, for those of ``languages`` that have their own."""
    return {lang.code: lang.train_phrase for lang in languages if lang.train_phrase is not None}


def build_messages(question: str, lang: str, *, instruction: str = INSTRUCTION) -> list[Message]:
    """The chat messages for ``question`` in ``lang`` (a single user turn).

    >>> build_messages("Roger ana mipira 5 ...", "sw")[0]["content"].splitlines()[-1][-40:]
    'Jibu ni N." where N is the final number.'
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError("question must be a non-empty string")
    language = get_language(lang)
    phrase = final_phrase(language.code)
    content = instruction.format(question=question.strip(), language=language.name, phrase=phrase)
    return [{"role": "user", "content": content}]
