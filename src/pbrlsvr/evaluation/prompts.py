"""Evaluation prompts: one template per language, written in that language.

Every template asks the model to reason step by step *in the problem's language* and to end with
that language's final-answer phrase — one of the language's ``answer_phrases``, so the reward's
extractor (which evaluation uses too) finds the answer after it. The templates are the
language's :class:`~pbrlsvr.languages.NativePrompt` in :mod:`pbrlsvr.languages`. Two task kinds:

* ``math``: ``{question}`` then the instruction ("… end with *The answer is X.*");
* ``choice`` (MMLU-ProX, A–J): ``{question}``, the options as ``A. …`` lines, then the
  instruction ("… end with *The answer is (X).*").

``shots=K`` prepends K MGSM exemplars of the same language as earlier user/assistant turns (the
exemplar question in the same template, the exemplar's worked solution as the answer, both
without their ``Question:`` / ``Step-by-Step Answer:`` labels).
``style="train"`` uses :func:`pbrlsvr.prompts.build_messages` instead, the prompt the training
code asks with, so a trained policy can be measured under its own prompt.

:func:`template_hash` fingerprints all of this; it is written into every report.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator

from pbrlsvr.config import StrictModel, validate_langs
from pbrlsvr.data.problem import Problem
from pbrlsvr.errors import ConfigError, DataError
from pbrlsvr.generation.base import Message
from pbrlsvr.hashing import digest
from pbrlsvr.languages import MGSM_LANGS, NativePrompt, builtin_languages, get_language
from pbrlsvr.prompts import INSTRUCTION, build_messages, train_phrases


class EvalPromptConfig(StrictModel):
    """How a problem becomes a chat conversation (see :mod:`pbrlsvr.evaluation.prompts`)."""

    style: Literal["native", "train"] = Field(
        "native",
        description="native: an instruction written in the problem's language (the default); "
        "train: the exact prompt of pbrlsvr.prompts.build_messages used in training",
    )
    system: str | None = Field(None, description="an optional system message before every conversation")
    templates: dict[str, str] = Field(
        default_factory=dict,
        description="per-language overrides of the whole user message: {question} (and {options} for "
        "multiple choice) are filled in; the key '*' applies to every language without its own",
    )

    @field_validator("templates")
    @classmethod
    def _check_templates(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, template in value.items():
            if "{question}" not in template:
                raise ValueError(f"template for {key!r} has no {{question}} slot")
            out[key if key == "*" else validate_langs([key])[0]] = template  # type: ignore[index]
        return out


PROMPT_VERSION = "eval-prompts-1"
"""Bumped whenever a built-in template changes (it is part of :func:`template_hash`)."""

LETTERS = "ABCDEFGHIJ"


def native_prompt(lang: str) -> NativePrompt:
    """The native templates of ``lang`` (its :class:`~pbrlsvr.languages.Language` entry's)."""
    return get_language(lang).native


def _fill(template: str, **slots: str) -> str:
    """Fill ``{name}`` slots by plain replacement (questions hold LaTeX braces; no str.format)."""
    for name, value in slots.items():
        template = template.replace("{" + name + "}", value)
    return template


def format_options(options: Sequence[str]) -> str:
    """``A. first\\nB. second ...`` (at most 10 options, A–J)."""
    if len(options) > len(LETTERS):
        raise ValueError(f"at most {len(LETTERS)} options (A-J), got {len(options)}")
    return "\n".join(f"{LETTERS[i]}. {str(opt).strip()}" for i, opt in enumerate(options))


def instruction(lang: str, kind: str) -> str:
    """The native instruction of ``lang`` for ``kind`` (``math`` or ``choice``), phrase filled in."""
    p = native_prompt(lang)
    return _fill(p.choice if kind == "choice" else p.math, phrase=p.phrase)


def user_message(problem: Problem, kind: str, cfg: EvalPromptConfig) -> str:
    """The user turn that asks ``problem`` (``problem.meta['options']`` for multiple choice)."""
    lang = get_language(problem.lang).code
    options = problem.meta.get("options") if kind == "choice" else None
    options_text = format_options(options) if options else ""
    override = cfg.templates.get(lang, cfg.templates.get("*"))
    p = native_prompt(lang)
    if override is not None:
        return _fill(
            override,
            question=problem.question.strip(),
            options=options_text,
            phrase=p.phrase,
            language=get_language(lang).name,
        )
    if cfg.style == "train":
        if kind == "choice":
            raise ConfigError("prompt.style 'train' asks for a number; use style 'native' for choice tasks")
        return build_messages(problem.question, lang)[-1]["content"]
    parts = [problem.question.strip()]
    if options_text:
        parts.append(f"{p.options}\n{options_text}")
    parts.append(instruction(lang, kind))
    return "\n\n".join(parts)


@lru_cache(maxsize=64)
def _exemplars(lang: str) -> tuple[Problem, ...]:
    from pbrlsvr.data.mgsm import load_mgsm_exemplars

    try:
        rows = load_mgsm_exemplars(langs=[lang])
    except DataError:
        raise DataError(
            f"--shots needs MGSM exemplars in {lang!r}, and they exist only for {', '.join(MGSM_LANGS)}; "
            "evaluate zero-shot (--shots 0) or choose those languages"
        ) from None
    return tuple(rows)


def few_shot_turns(lang: str, shots: int, cfg: EvalPromptConfig) -> list[Message]:
    """``shots`` MGSM exemplars of ``lang`` as alternating user/assistant messages."""
    if shots <= 0:
        return []
    rows = _exemplars(get_language(lang).code)
    if shots > len(rows):
        raise ConfigError(f"shots = {shots}, but there are only {len(rows)} MGSM exemplars per language")
    turns: list[Message] = []
    for ex in rows[:shots]:
        solution = str(ex.meta.get("solution") or "")
        question = Problem(ex.id, ex.lang, ex.question, None, ex.gold, ex.source)
        turns.append({"role": "user", "content": user_message(question, "math", cfg)})
        turns.append({"role": "assistant", "content": solution.strip()})
    return turns


def build_conversation(problem: Problem, kind: str, cfg: EvalPromptConfig, shots: int = 0) -> list[Message]:
    """System message (if any), few-shot turns, then the problem's user turn."""
    if shots and kind == "choice":
        raise ConfigError(
            "--shots uses the MGSM math exemplars; multiple-choice tasks are evaluated zero-shot (--shots 0)"
        )
    messages: list[Message] = []
    if cfg.system:
        messages.append({"role": "system", "content": cfg.system})
    messages.extend(few_shot_turns(problem.lang, shots, cfg))
    messages.append({"role": "user", "content": user_message(problem, kind, cfg)})
    return messages


def template_hash(cfg: EvalPromptConfig, shots: int = 0) -> str:
    """Fingerprint of every template a run can use.

    It covers every shipped language, whichever a run evaluates, so a run extended to another
    language keeps its fingerprint; a plugin's language is left out, so loading one changes no
    existing run's fingerprint (:func:`pbrlsvr.languages.builtin_languages`).
    """
    languages = builtin_languages()
    payload: dict[str, object] = {
        "version": PROMPT_VERSION,
        "style": cfg.style,
        "system": cfg.system,
        "overrides": cfg.templates,
        "native": {
            lang.code: [lang.native.phrase, lang.native.math, lang.native.choice, lang.native.options]
            for lang in languages
        },
        "shots": shots,
    }
    if cfg.style == "train":
        payload["train"] = [INSTRUCTION, train_phrases(languages)]
    if shots:
        from pbrlsvr.data.mgsm import mgsm_exemplar_records

        payload["exemplars"] = digest(mgsm_exemplar_records())
    return digest(payload)
