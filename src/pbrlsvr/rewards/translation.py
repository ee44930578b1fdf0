"""Translation-based verification: translate the response to English, compare with the reference.

Embeddings judge meaning in one shot; translating first lets a plain string metric (chrF) check
the same thing with a different failure mode, and MAPO-style alignment (the MT model's
likelihood of the English reference given the response) adds a third, graded view. Two
translators: a seq2seq MT model (NLLB-200, M2M100, Marian) through transformers, and any causal
LM prompted to translate (:class:`LLMTranslator`, fed by a generation function).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pbrlsvr.languages import get_language

if TYPE_CHECKING:
    from pbrlsvr.rewards.config import TranslatorConfig

Family = Literal["nllb", "m2m100", "plain"]


class Translator(Protocol):
    """Anything that turns texts in known languages into English."""

    name: str

    def translate(self, texts: Sequence[str], src_langs: Sequence[str]) -> list[str]:
        """English translations of ``texts``; ``src_langs`` holds one ISO 639-1 code per text."""
        ...


def detect_family(tokenizer: Any) -> Family:
    """Which language-code convention a seq2seq tokenizer uses.

    NLLB tokenizers take FLORES codes (``swh_Latn``), M2M100 tokenizers ISO codes (``sw``); a
    Marian model translates one fixed pair and takes none (``plain``).
    """
    cls = type(tokenizer).__name__.lower()
    if "nllb" in cls:
        return "nllb"
    if "m2m100" in cls or "m2m_100" in cls:
        return "m2m100"
    return "plain"


def lang_code_for(family: Family, lang: str) -> str | None:
    """The code ``family`` expects for ISO 639-1 ``lang`` (``None`` for plain models)."""
    language = get_language(lang)
    if family == "nllb":
        return language.nllb
    if family == "m2m100":
        return language.m2m100
    return None


class Seq2SeqTranslator:
    """A seq2seq MT model from transformers, used greedily so translations are deterministic.

    Args:
        model: HF id or local folder (``facebook/nllb-200-distilled-600M``,
            ``facebook/m2m100_418M``, ``Helsinki-NLP/opus-mt-mul-en``), or an already loaded
            ``(model, tokenizer)`` pair (tests build tiny ones).
        device: torch device.
        batch_size: texts per ``generate`` call; texts are sorted by length first.
        max_source_tokens: longer responses are truncated (a 1 MB response must not stall).
        max_new_tokens: translation length cap.

    Example:
        >>> t = Seq2SeqTranslator("facebook/nllb-200-distilled-600M")  # doctest: +SKIP
        >>> t.translate(["Jibu ni 18."], ["sw"])  # doctest: +SKIP
        ['The answer is 18.']
    """

    def __init__(
        self,
        model: str | tuple[Any, Any],
        *,
        device: str = "cpu",
        batch_size: int = 8,
        max_source_tokens: int = 512,
        max_new_tokens: int = 256,
    ) -> None:
        if batch_size < 1 or max_source_tokens < 1 or max_new_tokens < 1:
            raise ValueError("batch_size, max_source_tokens and max_new_tokens must be >= 1")
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        if isinstance(model, tuple):
            self.model, self.tokenizer = model
            self.name = type(self.model).__name__
        else:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(model)
            self.name = model
        self.model.to(device).eval()
        self.device = device
        self.family: Family = detect_family(self.tokenizer)
        self.batch_size = batch_size
        self.max_source_tokens = max_source_tokens
        self.max_new_tokens = max_new_tokens
        # The tokenizer's src_lang is mutable state; one lock keeps threads from mixing languages.
        self._lock = threading.Lock()

    def _set_langs(self, src_lang: str) -> dict[str, Any]:
        src = lang_code_for(self.family, src_lang)
        tgt = lang_code_for(self.family, "en")
        if src is None or tgt is None:
            return {}
        self.tokenizer.src_lang = src
        self.tokenizer.tgt_lang = tgt
        return {"forced_bos_token_id": self.tokenizer.convert_tokens_to_ids(tgt)}

    def _groups(self, texts: Sequence[str], src_langs: Sequence[str]) -> list[tuple[str, list[int]]]:
        """Indices grouped by language, each group sorted by length (less padding), batched."""
        if len(texts) != len(src_langs):
            raise ValueError(f"got {len(texts)} texts but {len(src_langs)} languages")
        by_lang: dict[str, list[int]] = {}
        for i, lang in enumerate(src_langs):
            by_lang.setdefault(get_language(lang).code, []).append(i)
        batches = []
        for lang, idx in by_lang.items():
            idx.sort(key=lambda i: len(texts[i]))
            batches += [(lang, idx[k : k + self.batch_size]) for k in range(0, len(idx), self.batch_size)]
        return batches

    def translate(self, texts: Sequence[str], src_langs: Sequence[str]) -> list[str]:
        """English translations (English inputs are returned unchanged)."""
        import torch

        out: list[str] = [""] * len(texts)
        for lang, idx in self._groups(texts, src_langs):
            if lang == "en":
                for i in idx:
                    out[i] = texts[i]
                continue
            with self._lock, torch.inference_mode():
                extra = self._set_langs(lang)
                enc = self.tokenizer(
                    [texts[i] for i in idx],
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=self.max_source_tokens,
                ).to(self.device)
                gen = self.model.generate(
                    **enc, do_sample=False, num_beams=1, max_new_tokens=self.max_new_tokens, **extra
                )
                decoded = self.tokenizer.batch_decode(gen, skip_special_tokens=True)
            for i, text in zip(idx, decoded, strict=True):
                out[i] = text.strip()
        return out

    def alignment(
        self, texts: Sequence[str], src_langs: Sequence[str], references: Sequence[str]
    ) -> list[float]:
        r"""MAPO-style alignment: the MT model's likelihood of the English reference given the response.

        Formula: :math:`\exp\big(\frac{1}{|y|}\sum_t \log p(y_t \mid y_{<t}, x)\big)` with ``x`` the
        response and ``y`` the reference: the geometric-mean token probability, in [0, 1]. A
        faithful translation of the reference makes it high; an unrelated answer makes it low.
        """
        import torch

        if len(references) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(references)} references")
        out = [0.0] * len(texts)
        for lang, group in self._groups(texts, src_langs):
            idx = [i for i in group if references[i].strip()]  # an empty reference scores 0.0
            if not idx:
                continue
            with self._lock, torch.inference_mode():
                self._set_langs(lang)
                enc = self.tokenizer(
                    [texts[i] for i in idx],
                    text_target=[references[i] for i in idx],
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=self.max_source_tokens,
                ).to(self.device)
                labels = enc["labels"]
                pad = self.tokenizer.pad_token_id
                mask = labels != pad if pad is not None else torch.ones_like(labels, dtype=torch.bool)
                labels = labels.masked_fill(~mask, -100)
                logits = self.model(**{**enc, "labels": labels}).logits
                logp = torch.log_softmax(logits.float(), dim=-1)
                tok = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
                mean = (tok * mask).sum(-1) / mask.sum(-1).clamp(min=1)
            for i, value in zip(idx, mean.tolist(), strict=True):
                out[i] = float(math.exp(value)) if math.isfinite(value) else 0.0
        return out


_DEFAULT_PROMPT = (
    "Translate the following {language} text into English. Keep every number and equation exactly as "
    "written. Reply with the translation only.\n\n{text}"
)


class LLMTranslator:
    """Any causal LM prompted to translate, through a generation function.

    Args:
        generate: takes a batch of chat conversations (lists of ``{"role", "content"}`` dicts)
            and returns one completion per conversation; use greedy decoding for determinism.
            ``pbrlsvr.generation`` backends provide such a function.
        name: shown in logs and reports.
        prompt: template with ``{language}`` (English name) and ``{text}``.
    """

    def __init__(
        self,
        generate: Callable[[list[list[dict[str, str]]]], list[str]],
        *,
        name: str = "llm",
        prompt: str = _DEFAULT_PROMPT,
    ) -> None:
        if "{text}" not in prompt:
            raise ValueError("the translation prompt must contain {text}")
        self.generate = generate
        self.name = name
        self.prompt = prompt

    def translate(self, texts: Sequence[str], src_langs: Sequence[str]) -> list[str]:
        if len(texts) != len(src_langs):
            raise ValueError(f"got {len(texts)} texts but {len(src_langs)} languages")
        out = list(texts)
        todo = [i for i, lang in enumerate(src_langs) if get_language(lang).code != "en"]
        if todo:
            convs = [
                [
                    {
                        "role": "user",
                        "content": self.prompt.format(
                            language=get_language(src_langs[i]).name, text=texts[i]
                        ),
                    }
                ]
                for i in todo
            ]
            results = self.generate(convs)
            if len(results) != len(todo):
                raise ValueError(f"generate returned {len(results)} texts for {len(todo)} prompts")
            for i, text in zip(todo, results, strict=True):
                out[i] = text.strip()
        return out


def build_translator(config: TranslatorConfig) -> Translator:
    """The translator ``reward.translator`` describes.

    ``kind: seq2seq`` loads an MT model (:class:`Seq2SeqTranslator`); ``kind: llm`` prompts any
    model :func:`pbrlsvr.generation.build_generator` runs (a local model, ``ct2:<model>``,
    ``vllm:<model>``, ``http(s)://host/v1#<model>``), decoding greedily (512 new tokens at most) so
    that translations are deterministic. ``device`` applies to local models; an LLM translator
    batches as its generation backend does.
    """
    if config.kind == "seq2seq":
        return Seq2SeqTranslator(config.model, device=config.device, batch_size=config.batch_size)
    from pbrlsvr.generation import SamplingConfig, build_generator

    generator = build_generator(config.model, device=None if config.device == "cpu" else config.device)
    settings = SamplingConfig(max_new_tokens=512, temperature=0.0)

    def generate(conversations: list[list[dict[str, str]]]) -> list[str]:
        return [samples[0].text for samples in generator.generate(conversations, settings)]

    return LLMTranslator(generate, name=generator.name)


@lru_cache(maxsize=1)
def _chrf_metric() -> Any:
    # sacrebleu is imported on first use: loading a reward config imports this module, and only a
    # reward with the translation component on ever computes chrF
    from sacrebleu.metrics import CHRF

    return CHRF()


def chrf(hypothesis: str, reference: str) -> float:
    """Sentence chrF (sacrebleu defaults: character 6-grams, beta 2) rescaled to [0, 1]."""
    if not hypothesis.strip() or not reference.strip():
        return 0.0
    return _chrf_metric().sentence_score(hypothesis, [reference]).score / 100.0
