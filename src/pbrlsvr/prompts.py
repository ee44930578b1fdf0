"""The prompt that asks a policy to reason and answer in a target language.

Training and evaluation must ask the same way, or an evaluation measures the prompt change rather
than the training. The instruction is in English (every model in this field follows English
instructions best) and names the target language; the requested final line uses the phrase the
MGSM exemplars use in that language, which the answer extractor recognises.
"""

from __future__ import annotations

from pbrlsvr.generation.base import Message
from pbrlsvr.languages import get_language

FINAL_PHRASES: dict[str, str] = {
    "en": "The answer is",
    "bn": "উত্তর হল",
    "de": "Die Antwort lautet",
    "es": "La respuesta es",
    "fr": "La réponse est",
    "ja": "答えは",
    "ru": "Ответ:",
    "sw": "Jibu ni",
    "te": "సమాధానం",
    "th": "คำตอบคือ",
    "zh": "答案是",
}
"""The final-answer phrase of the MGSM exemplars per language; other languages get the English one."""

INSTRUCTION = (
    "{question}\n\n"
    "Solve the problem step by step. Write all of your reasoning in {language}, "
    'and finish with a line of the form "{phrase} N." where N is the final number.'
)


def build_messages(question: str, lang: str, *, instruction: str = INSTRUCTION) -> list[Message]:
    """The chat messages for ``question`` in ``lang`` (a single user turn).

    >>> build_messages("Roger ana mipira 5 ...", "sw")[0]["content"].splitlines()[-1][-40:]
    'Jibu ni N." where N is the final number.'
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError("question must be a non-empty string")
    language = get_language(lang)
    phrase = FINAL_PHRASES.get(language.code, FINAL_PHRASES["en"])
    content = instruction.format(question=question.strip(), language=language.name, phrase=phrase)
    return [{"role": "user", "content": content}]
