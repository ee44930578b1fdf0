"""The CTranslate2 engine (``ct2:<model>``) on a tiny random Llama built here: conversion from a
folder and from memory, greedy equal to transformers in float32, batched seeds (per call or per conversation), prompts
that are too long, per-token log-probs equal to the model's own, and a weight push that changes
the outputs to exactly the new model's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from pbrlsvr.errors import ConfigError
from pbrlsvr.generation import (
    CT2Generator,
    ModelSpec,
    SamplingConfig,
    TransformersGenerator,
    build_generator,
    parse_model_spec,
)
from pbrlsvr.generation.ct2_engine import CT2Engine, convert_model, converted_model_dir
from tests.test_generation import conversations, tiny_chat_lm

pytest.importorskip("ctranslate2")

GREEDY = SamplingConfig(max_new_tokens=10)
SAMPLED = SamplingConfig(max_new_tokens=10, temperature=1.0, n=3, seed=7)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny() -> tuple[Any, Any]:
    return tiny_chat_lm()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory, tiny: tuple[Any, Any]) -> Path:
    folder = tmp_path_factory.mktemp("tiny-src")
    model, tok = tiny
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PBRLSVR_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def ct2_gen(tiny_dir: Path, cache: Path) -> CT2Generator:
    return CT2Generator(str(tiny_dir), compute_type="float32", threads=1, batch_size=4)


def test_spec_prefix_selects_the_engine(tiny_dir: Path, cache: Path) -> None:
    assert parse_model_spec("ct2:qwen2.5-coder-0.5b-instruct") == ModelSpec(
        "ct2", "qwen2.5-coder-0.5b-instruct"
    )
    with pytest.raises(ConfigError, match="after 'ct2:'"):
        parse_model_spec("ct2: ")
    gen = build_generator(f"ct2:{tiny_dir}", compute_type="float32", threads=1)
    assert isinstance(gen, CT2Generator) and gen.name == f"ct2:{tiny_dir}"
    with pytest.raises(ConfigError, match="does not take dtype"):
        build_generator(f"ct2:{tiny_dir}", dtype="bfloat16")
    with pytest.raises(ConfigError, match="not supported by CTranslate2"):
        build_generator(f"ct2:{tiny_dir}", compute_type="float8")


def test_conversion_is_cached_and_keyed_by_quantization(tiny_dir: Path, cache: Path) -> None:
    first = converted_model_dir(str(tiny_dir), "float32", progress=False)
    assert converted_model_dir(str(tiny_dir), "float32", progress=False) == first
    stamp = (first / "model.bin").stat().st_mtime_ns
    CT2Generator(str(tiny_dir), compute_type="float32", threads=1)
    assert (first / "model.bin").stat().st_mtime_ns == stamp  # reused, not converted again
    assert converted_model_dir(str(tiny_dir), "int8", progress=False) != first
    assert (first / "hf" / "tokenizer_config.json").is_file()


def test_greedy_float32_equals_transformers(
    ct2_gen: CT2Generator, tiny: tuple[Any, Any], tiny_dir: Path
) -> None:
    convs = conversations(9)
    hf = TransformersGenerator(tiny, batch_size=4).generate(convs, GREEDY)
    ours = ct2_gen.generate(convs, GREEDY)
    assert [g[0].text for g in ours] == [g[0].text for g in hf]
    assert [(g[0].prompt_tokens, g[0].completion_tokens, g[0].finish_reason) for g in ours] == [
        (g[0].prompt_tokens, g[0].completion_tokens, g[0].finish_reason) for g in hf
    ]
    assert len({g[0].text for g in ours}) > 3


def test_sampling_batches_conversations_and_reproduces_a_batch(tiny_dir: Path, cache: Path) -> None:
    """Sampled conversations share engine calls (batch_size // n per call), each call seeded by its
    prompts: the same inputs and settings give the same samples, another seed others."""
    gen = CT2Generator(str(tiny_dir), compute_type="float32", threads=1, batch_size=12)
    calls: list[int] = []
    generate = gen.engine.generate

    def counting(prompts: list, **kw: Any) -> Any:
        calls.append(len(prompts))
        return generate(prompts, **kw)

    gen.engine.generate = counting  # type: ignore[method-assign]
    convs = conversations(5)
    first = gen.generate(convs, SAMPLED)
    assert sorted(calls) == [1, 4]  # 12 rows per call = 4 conversations x 3 samples
    again = gen.generate(convs, SAMPLED)
    assert [[g.text for g in row] for row in first] == [[g.text for g in row] for row in again]
    assert all(len({g.text for g in row}) > 1 for row in first)  # n samples, not n copies
    other = gen.generate(convs, SAMPLED.model_copy(update={"seed": 8}))
    assert [[g.text for g in row] for row in other] != [[g.text for g in row] for row in first]
    assert all(g.completion_tokens <= 10 for row in first for g in row)


def test_seed_scope_conversation_samples_a_conversation_alike_in_any_company(
    tiny_dir: Path, cache: Path
) -> None:
    gen = CT2Generator(
        str(tiny_dir), compute_type="float32", threads=1, batch_size=12, seed_scope="conversation"
    )
    convs = conversations(5)
    together = gen.generate(convs, SAMPLED)
    alone = gen.generate(convs[3:4], SAMPLED)[0]
    assert [g.text for g in together[3]] == [g.text for g in alone]
    assert len({g.text for g in together[3]}) == 3  # n distinct samples
    other_seed = gen.generate(convs[3:4], SAMPLED.model_copy(update={"seed": 8}))[0]
    assert [g.text for g in other_seed] != [g.text for g in alone]
    with pytest.raises(ConfigError, match="seed_scope"):
        CT2Generator(str(tiny_dir), compute_type="float32", seed_scope="row")


def test_prompt_too_long_is_an_error_result_and_others_run(tiny_dir: Path, cache: Path) -> None:
    gen = CT2Generator(str(tiny_dir), compute_type="float32", threads=1, max_input_tokens=20)
    convs = [
        [{"role": "user", "content": "the answer is 5"}],
        [{"role": "user", "content": " ".join(["balls"] * 30)}],
    ]
    done: list[int] = []
    out = gen.generate(convs, SamplingConfig(max_new_tokens=4, n=2, temperature=1.0), progress=done.append)
    assert sum(done) == 2
    assert [g.finish_reason for g in out[1]] == ["error", "error"]
    assert "max_input_tokens=20" in (out[1][0].error or "")
    assert all(g.finish_reason != "error" and g.completion_tokens > 0 for g in out[0])

    # Without a limit, the prompt plus max_new_tokens must fit the context (128), as elsewhere.
    default = CT2Generator(str(tiny_dir), compute_type="float32", threads=1)
    (g,) = default.generate(
        [[{"role": "user", "content": " ".join(["balls"] * 90)}]],
        GREEDY.model_copy(update={"max_new_tokens": 40}),
    )[0]
    assert g.finish_reason == "error" and "128-token context" in (g.error or "")


def test_length_finish_and_stop_strings(ct2_gen: CT2Generator) -> None:
    out = ct2_gen.generate(conversations(4), SamplingConfig(max_new_tokens=6))
    for (g,) in out:
        assert g.finish_reason == "length" and g.completion_tokens == 6
    word = out[0][0].text.split()[2]
    (g,) = ct2_gen.generate(conversations(1), SamplingConfig(max_new_tokens=6, stop=[word]))[0]
    assert g.finish_reason == "stop" and word not in g.text


def test_engine_logprobs_are_the_models_own(tiny: tuple[Any, Any], tiny_dir: Path, cache: Path) -> None:
    """The importance weights GRPO needs: log-probs of the sampled tokens, equal (float32) to what
    the transformers model computes for the same tokens. CTranslate2 reports them before
    temperature, so at temperature 1 (GRPO's default) they are the sampling distribution's."""
    model, tok = tiny
    engine = CT2Generator(str(tiny_dir), compute_type="float32", threads=1).engine
    prompt = tok("<s> user roger had 3 balls </s> <s> assistant", add_special_tokens=False)["input_ids"]
    short = tok("<s> user 5 </s> <s> assistant", add_special_tokens=False)["input_ids"]
    out = engine.generate([prompt, short], n=3, max_new_tokens=8, temperature=1.0, seed=3, logprobs=True)
    for ids, row in zip([prompt, short], out, strict=True):
        for sample in row:
            full = torch.tensor([ids + sample.token_ids])
            with torch.no_grad():
                logits = model(full).logits[0, len(ids) - 1 : -1].float()
            expected = logits.log_softmax(-1).gather(-1, torch.tensor(sample.token_ids)[:, None])[:, 0]
            assert sample.logprobs is not None and len(sample.logprobs) == len(sample.token_ids)
            assert torch.allclose(torch.tensor(sample.logprobs), expected, atol=1e-4)


def test_weight_push_changes_outputs_to_the_new_models(
    tiny: tuple[Any, Any], tiny_dir: Path, cache: Path
) -> None:
    model, tok = tiny
    engine = CT2Engine(
        converted_model_dir(str(tiny_dir), "float32", progress=False), tok, compute_type="float32"
    )
    gen = CT2Generator((engine, 128), batch_size=4)
    convs = conversations(6)
    before = gen.generate(convs, GREEDY)

    changed, _ = tiny_chat_lm(seed=5)
    seconds = engine.load_weights(changed)
    assert seconds > 0 and engine.weight_version == 1
    after = gen.generate(convs, GREEDY)
    expected = TransformersGenerator((changed, tok), batch_size=4).generate(convs, GREEDY)
    assert [g[0].text for g in after] == [g[0].text for g in expected]
    assert [g[0].text for g in after] != [g[0].text for g in before]
    first_dir = engine.model_dir
    engine.load_weights(model)  # back: the folder of the previous push is deleted
    assert not first_dir.exists()
    assert [g[0].text for g in gen.generate(convs, GREEDY)] == [g[0].text for g in before]
    engine.close()


@pytest.mark.parametrize("compute_type", ["float32", "int8"])
def test_peft_model_converts_merged_and_stays_untouched(cache: Path, compute_type: str) -> None:
    """A LoRA policy is pushed with its adapter merged; the trainer's model is left as it was
    (the converter takes modules apart, so it must only ever see a shell)."""
    from peft import LoraConfig, get_peft_model

    base, tok = tiny_chat_lm()
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    snapshot = {k: v.clone() for k, v in peft_model.state_dict().items()}
    out = cache / "pushed"
    convert_model(peft_model, tok, out, compute_type)
    now = peft_model.state_dict()
    assert all(torch.equal(snapshot[k], now[k]) for k in snapshot)
    assert all(hasattr(layer, "self_attn") for layer in peft_model.get_base_model().model.layers)

    if compute_type != "float32":
        return  # int8 text differs from fp32; what matters above is that the model is untouched
    engine = CT2Engine(out, tok, compute_type="float32")
    merged = TransformersGenerator((peft_model.merge_and_unload(), tok), batch_size=4)
    convs = conversations(5)
    assert [g[0].text for g in CT2Generator((engine, 128)).generate(convs, GREEDY)] == [
        g[0].text for g in merged.generate(convs, GREEDY)
    ]


def test_missing_engine_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from pbrlsvr.errors import MissingDependencyError
    from pbrlsvr.generation import ct2_engine

    real_import = builtins.__import__

    def no_ct2(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "ctranslate2":
            raise ImportError("No module named 'ctranslate2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ct2)
    with pytest.raises(MissingDependencyError, match=r"pbrlsvr\[engine\]"):
        ct2_engine.import_ctranslate2()


def test_a_short_sample_never_takes_a_longer_samples_log_probs() -> None:
    """The engine matches returned samples to the step callback's streams by their tokens. A short
    sample ("18" + EOS) that ends like a longer one must take its own stream, whatever the order;
    matching by tail first stopped a GRPO run ("never reported")."""
    from pbrlsvr.generation.ct2_engine import _match_stream

    eos = 2
    long_stream = [(7, -0.1), (18, -0.2), (eos, -0.3)]
    short_stream = [(18, -0.5), (eos, -0.6)]
    candidates = [list(long_stream), list(short_stream)]
    assert _match_stream([18, eos], candidates) == [-0.5, -0.6]
    assert _match_stream([7, 18, eos], candidates) == [-0.1, -0.2, -0.3]
    assert candidates == []
    # A stream with extra leading tokens still matches when nothing matches exactly.
    assert _match_stream([18, eos], [[(99, 0.0), (18, -0.5), (eos, -0.6)]]) == [-0.5, -0.6]
    assert _match_stream([], []) == []
    with pytest.raises(RuntimeError, match="never reported"):
        _match_stream([5, eos], [[(6, -0.1), (eos, -0.2)]])
