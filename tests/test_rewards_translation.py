from __future__ import annotations

import time

import pytest

from pbrlsvr.errors import UnknownLanguageError
from pbrlsvr.generation import Generation, Generator, SamplingConfig
from pbrlsvr.rewards.config import RewardConfig, TranslatorConfig
from pbrlsvr.rewards.reward import Reward
from pbrlsvr.rewards.translation import (
    LLMTranslator,
    Seq2SeqTranslator,
    build_translator,
    chrf,
    detect_family,
    lang_code_for,
)
from tests.tiny_models import tiny_seq2seq


@pytest.fixture(scope="module")
def translator() -> Seq2SeqTranslator:
    return Seq2SeqTranslator(tiny_seq2seq(), max_new_tokens=8, max_source_tokens=64, batch_size=2)


def test_family_codes_come_from_the_language_table() -> None:
    class NllbTokenizerFast: ...

    class M2M100Tokenizer: ...

    assert detect_family(NllbTokenizerFast()) == "nllb"
    assert detect_family(M2M100Tokenizer()) == "m2m100"
    assert detect_family(object()) == "plain"
    assert lang_code_for("nllb", "sw") == "swh_Latn"
    assert lang_code_for("nllb", "zh") == "zho_Hans"
    assert lang_code_for("m2m100", "ja") == "ja"
    assert lang_code_for("plain", "ja") is None
    with pytest.raises(UnknownLanguageError):
        lang_code_for("nllb", "xx")


def test_translate_keeps_order_and_passes_english_through(translator: Seq2SeqTranslator) -> None:
    texts = ["jibu ni 5 .", "the answer is 3 .", "alikuwa na mipira 2 3 4 5 6 7", "jibu ni 8"]
    langs = ["sw", "en", "sw", "sw"]
    out = translator.translate(texts, langs)
    assert len(out) == 4
    assert out[1] == "the answer is 3 ."
    # each position gets the translation of its own text, whatever the sorting and batching did
    singles = [translator.translate([t], [lang])[0] for t, lang in zip(texts, langs, strict=True)]
    assert out == singles
    assert translator.translate(texts, langs) == out  # greedy, so deterministic


def test_alignment_is_a_probability_unaffected_by_padding(translator: Seq2SeqTranslator) -> None:
    texts = ["jibu ni 5 .", "alikuwa na mipira 2 3 4 5 6 7 8 9 . jibu ni 9", "jibu"]
    refs = ["the answer is 5 .", "roger had balls he bought cans of balls so 9", ""]
    batched = translator.alignment(texts, ["sw", "sw", "sw"], refs)
    assert all(0.0 < s <= 1.0 for s in batched[:2])
    assert batched[2] == 0.0  # an empty reference has no likelihood to speak of
    # Padding in a batch must not change any item's score (masked labels and attention).
    singles = [translator.alignment([t], ["sw"], [r])[0] for t, r in zip(texts, refs, strict=True)]
    assert batched == pytest.approx(singles, rel=1e-4)


def test_huge_response_is_truncated_not_stalled(translator: Seq2SeqTranslator) -> None:
    huge = "mipira " * 150_000  # ~1 MB
    start = time.perf_counter()
    out = translator.translate([huge], ["sw"])
    score = translator.alignment([huge], ["sw"], ["the answer is 5"])
    assert time.perf_counter() - start < 10
    assert isinstance(out[0], str) and 0.0 <= score[0] <= 1.0


def test_mismatched_lengths_and_bad_args(translator: Seq2SeqTranslator) -> None:
    with pytest.raises(ValueError, match="2 texts but 1 languages"):
        translator.translate(["a", "b"], ["sw"])
    with pytest.raises(UnknownLanguageError):
        translator.translate(["a"], ["xx"])
    with pytest.raises(ValueError, match=">= 1"):
        Seq2SeqTranslator(tiny_seq2seq(), batch_size=0)


def test_llm_translator_prompts_only_non_english() -> None:
    seen: list[str] = []

    def generate(convs: list[list[dict[str, str]]]) -> list[str]:
        seen.extend(c[0]["content"] for c in convs)
        return [f" T{i} " for i in range(len(convs))]

    t = LLMTranslator(generate)
    out = t.translate(["Jibu ni 18.", "The answer is 18.", "答案是18。"], ["sw", "en", "zh"])
    assert out == ["T0", "The answer is 18.", "T1"]
    assert "Swahili" in seen[0] and "Jibu ni 18." in seen[0]
    assert "Chinese" in seen[1]
    with pytest.raises(ValueError, match="must contain"):
        LLMTranslator(generate, prompt="no placeholder")
    with pytest.raises(ValueError, match="returned 0 texts"):
        LLMTranslator(lambda convs: []).translate(["Jibu"], ["sw"])


class FakeGenerator(Generator):
    """Records what the translator asks of the generation backend, answers one fixed text."""

    def __init__(self, spec: str, **kw: object) -> None:
        self.name = spec
        self.kw = kw
        self.calls: list[tuple[list[list[dict[str, str]]], SamplingConfig]] = []

    def _generate(self, conversations, settings, progress):  # type: ignore[no-untyped-def]
        self.calls.append((conversations, settings))
        text = " Roger has 11 balls. The answer is 11. "
        return [[Generation(text, 10, 8, "stop")] for _ in conversations]


def test_llm_translator_generates_through_the_generation_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    import pbrlsvr.generation

    built: list[FakeGenerator] = []

    def fake_build(spec: str, **kw: object) -> FakeGenerator:
        built.append(FakeGenerator(spec, **kw))
        return built[-1]

    monkeypatch.setattr(pbrlsvr.generation, "build_generator", fake_build)
    t = build_translator(TranslatorConfig(kind="llm", model="ct2:qwen2.5-0.5b-instruct"))
    assert t.name == "ct2:qwen2.5-0.5b-instruct" and built[0].kw == {"device": None}
    assert t.translate(["Roger ana mipira 11. Jibu ni 11.", "The answer is 11."], ["sw", "en"]) == [
        "Roger has 11 balls. The answer is 11.",
        "The answer is 11.",
    ]
    ((convs, settings),) = built[0].calls
    assert len(convs) == 1 and "Swahili" in convs[0][0]["content"]  # English passes through
    assert settings.temperature == 0.0 and settings.max_new_tokens == 512 and settings.n == 1

    # the translation component of a reward built from the config uses it
    cfg = RewardConfig(
        langs=["sw"],
        weights={"semantic": 0, "answer": 0, "trace": 0, "language": 0, "format": 0, "translation": 1},
        translator={"kind": "llm", "model": "tiny-llm", "device": "cuda:1"},
    )
    reward = Reward(cfg)
    assert built[-1].name == "tiny-llm" and built[-1].kw == {"device": "cuda:1"}
    res = reward.score("Roger ana mipira 11. Jibu ni 11.", "sw", "Roger has 11 balls. The answer is 11.")
    assert res.components == {"translation": 1.0}


def test_chrf_orders_closeness() -> None:
    ref = "Roger started with 5 balls. 2 cans of 3 tennis balls each is 6 tennis balls. 5 + 6 = 11."
    close = "Roger had 5 balls at first. 2 cans of 3 tennis balls each is 6 balls. 5 + 6 = 11."
    far = "Leah had 32 chocolates and her sister had 42."
    assert chrf(ref, ref) == pytest.approx(1.0)
    assert chrf(close, ref) > chrf(far, ref) > 0.0
    assert chrf("", ref) == 0.0
