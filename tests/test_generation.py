"""Generation backends: transformers (tiny random Llama), OpenAI-compatible HTTP (a fake server on
loopback), the vLLM import guard, build_generator, and one slow run of the packaged SmolLM2."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from pbrlsvr.errors import ConfigError, MissingDependencyError, PbrlsvrError
from pbrlsvr.generation import (
    Generation,
    ModelSpec,
    OpenAIGenerator,
    SamplingConfig,
    ServerUnavailableError,
    TransformersGenerator,
    VLLMGenerator,
    backend_names,
    build_generator,
    parse_model_spec,
    with_backend,
)
from pbrlsvr.generation.transformers_backend import truncate_at_stop
from tests.openai_fixture import MODEL, FakeOpenAIServer, free_port
from tests.tiny_models import WORDS

TEMPLATE = (
    "{% for m in messages %}{{ bos_token }} {{ m['role'] }} {{ m['content'] }} {{ eos_token }} {% endfor %}"
    "{% if add_generation_prompt %}{{ bos_token }} assistant{% endif %}"
)


def tiny_chat_lm(seed: int = 0, eos_bias: float | None = None) -> tuple[Any, Any]:
    """A 2-layer random Llama over a word vocabulary (with role words), with a chat template.

    ``eos_bias`` adds a bias to the EOS logit: +1e4 ends every answer at once, -1e4 never.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    words = [*specials, *dict.fromkeys([*WORDS, "system", "user", "assistant"])]
    backend = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    tok.chat_template = TEMPLATE
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    model = LlamaForCausalLM(cfg).eval()
    if eos_bias is not None:
        head = torch.nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=True)
        with torch.no_grad():
            head.weight.copy_(model.lm_head.weight)
            head.bias.zero_()
            head.bias[tok.eos_token_id] = eos_bias
        model.lm_head = head
    return model, tok


def conversations(count: int, seed: int = 1) -> list[list[dict[str, str]]]:
    """``count`` user turns of 1-25 vocabulary words (varied lengths, so batches need padding)."""
    rng = random.Random(seed)
    out = []
    for k in range(count):
        conv = [{"role": "user", "content": " ".join(rng.choices(WORDS[:35], k=rng.randint(1, 25)))}]
        if k % 3 == 0:
            conv.insert(0, {"role": "system", "content": "the answer is 5"})
        out.append(conv)
    return out


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Any:
    """Tiny models run fastest on one thread; on a busy 2-core machine, 2 threads are ~10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny() -> tuple[Any, Any]:
    return tiny_chat_lm()


@pytest.fixture
def gen(tiny: tuple[Any, Any]) -> TransformersGenerator:
    return TransformersGenerator(tiny, batch_size=4, name="tiny")


GREEDY = SamplingConfig(max_new_tokens=10)
SAMPLED = SamplingConfig(max_new_tokens=10, temperature=1.0, n=3, seed=7)


# --------------------------------------------------------------------------- transformers backend


def test_batched_greedy_equals_one_at_a_time_in_input_order(gen: TransformersGenerator) -> None:
    convs = conversations(11)
    seen: list[list[int]] = []
    run_batch = gen._run_batch

    def spy(prompts: list[list[int]], *args: Any) -> list[Generation]:
        seen.append([len(p) for p in prompts])
        return run_batch(prompts, *args)

    gen._run_batch = spy  # type: ignore[method-assign]
    batched = gen.generate(convs, GREEDY)
    assert [len(b) for b in seen] == [4, 4, 3]
    flat = [n for b in seen for n in b]
    assert flat == sorted(flat, reverse=True)  # longest first, so each batch pads little

    gen.batch_size = 1
    single = [gen.generate([c], GREEDY)[0] for c in convs]
    assert batched == single
    assert len({g[0].text for g in batched}) > 3  # different prompts, different answers


def test_token_counts_exclude_padding(gen: TransformersGenerator) -> None:
    convs = conversations(6)
    out = gen.generate(convs, GREEDY)
    for conv, (g,) in zip(convs, out, strict=True):
        text = gen.tokenizer.apply_chat_template(conv, add_generation_prompt=True, tokenize=False)
        assert g.prompt_tokens == len(gen.tokenizer(text, add_special_tokens=False)["input_ids"])
        assert g.prompt_tokens == len(gen.encode(conv))
        assert 1 <= g.completion_tokens <= GREEDY.max_new_tokens
    assert len({g[0].prompt_tokens for g in out}) > 1


def test_greedy_n_copies_and_sampled_n_distinct(gen: TransformersGenerator) -> None:
    convs = conversations(3)
    greedy = gen.generate(convs, GREEDY.model_copy(update={"n": 3}))
    assert all(len(g) == 3 and g[0] == g[1] == g[2] for g in greedy)
    sampled = gen.generate(convs, SAMPLED)
    assert all(len(g) == 3 for g in sampled)
    assert all(len({s.text for s in g}) > 1 for g in sampled)


def test_seeded_sampling_is_reproducible_across_batching(gen: TransformersGenerator) -> None:
    convs = conversations(7)
    first = gen.generate(convs, SAMPLED)
    assert gen.generate(convs, SAMPLED) == first
    gen.batch_size = 1
    assert gen.generate(convs, SAMPLED) == first  # batch composition does not change the draws
    assert gen.generate(convs[3:4], SAMPLED) == first[3:4]  # nor running one alone
    gen.batch_size = 5
    other = gen.generate(convs, SAMPLED.model_copy(update={"seed": 8}))
    assert other != first
    unseeded = SAMPLED.model_copy(update={"seed": None})
    assert gen.generate(convs, unseeded) != gen.generate(convs, unseeded)


def test_top_k_one_and_tiny_top_p_equal_greedy(gen: TransformersGenerator) -> None:
    convs = conversations(5)
    greedy = gen.generate(convs, GREEDY)
    top_k = SamplingConfig(max_new_tokens=10, temperature=1.3, top_k=1, seed=3)
    top_p = SamplingConfig(max_new_tokens=10, temperature=0.7, top_p=1e-6, seed=3)
    assert gen.generate(convs, top_k) == greedy
    assert gen.generate(convs, top_p) == greedy


def test_stop_strings_cut_text_and_end_generation(gen: TransformersGenerator) -> None:
    convs = conversations(6)
    free = gen.generate(convs, SamplingConfig(max_new_tokens=12))
    words = free[2][0].text.split()
    assert len(words) >= 4, free[2][0]
    stop_word = words[3]
    expected = free[2][0].text[: free[2][0].text.find(stop_word)]
    out = gen.generate(convs, SamplingConfig(max_new_tokens=12, stop=[stop_word, "never-there"]))
    g = out[2][0]
    assert g.text == expected and g.finish_reason == "stop"
    assert g.completion_tokens == words.index(stop_word) + 1 < 12  # stopped at that token
    for before, (after,) in zip(free, out, strict=True):
        if stop_word not in before[0].text:
            assert after == before[0]
        else:
            assert stop_word not in after.text and after.finish_reason == "stop"


def test_finish_reasons_length_and_eos() -> None:
    never = TransformersGenerator(tiny_chat_lm(eos_bias=-1e4), batch_size=3)
    out = never.generate(conversations(4), SamplingConfig(max_new_tokens=6))
    assert all(g.finish_reason == "length" and g.completion_tokens == 6 for (g,) in out)
    assert all(len(g.text.split()) == 6 for (g,) in out)

    always = TransformersGenerator(tiny_chat_lm(eos_bias=1e4), batch_size=3)
    out = always.generate(conversations(4), SamplingConfig(max_new_tokens=6, temperature=0.8, n=2))
    assert all(g == Generation("", g.prompt_tokens, 1, "stop") for row in out for g in row)


def test_prompt_over_max_input_tokens_is_an_error_generation(tiny: tuple[Any, Any]) -> None:
    gen = TransformersGenerator(tiny, batch_size=2, max_input_tokens=20)
    convs = [
        [{"role": "user", "content": "the answer is 5"}],
        [{"role": "user", "content": " ".join(["balls"] * 30)}],
        [{"role": "user", "content": "roger had 3 balls"}],
    ]
    done: list[int] = []
    out = gen.generate(convs, SamplingConfig(max_new_tokens=4, n=2), progress=done.append)
    assert sum(done) == 3
    assert [g.finish_reason for g in out[1]] == ["error", "error"]
    assert "max_input_tokens=20" in (out[1][0].error or "") and out[1][0].prompt_tokens > 20
    assert out[0][0].finish_reason != "error" and out[2][0].finish_reason != "error"

    # No explicit limit: the prompt plus max_new_tokens must fit max_position_embeddings (128).
    default = TransformersGenerator(tiny)
    long = [[{"role": "user", "content": " ".join(["balls"] * 90)}]]
    assert default.generate(long, SamplingConfig(max_new_tokens=10))[0][0].finish_reason != "error"
    (g,) = default.generate(long, SamplingConfig(max_new_tokens=40))[0]
    assert g.finish_reason == "error" and "128-token context with max_new_tokens=40" in (g.error or "")


def test_progress_counts_every_conversation_once(gen: TransformersGenerator) -> None:
    calls: list[int] = []
    gen.generate(conversations(9), SAMPLED.model_copy(update={"n": 2}), progress=calls.append)
    assert sum(calls) == 9 and len(calls) >= 3


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([], "is empty"),
        ("hello", "must be a list of messages"),
        ([{"role": "user"}], "expected"),
        ([{"role": "bot", "content": "hi"}], "unknown role"),
        ([{"role": "user", "content": 5}], "expected"),
    ],
)
def test_malformed_conversations_rejected_before_generation(
    gen: TransformersGenerator, bad: Any, match: str
) -> None:
    calls: list[Any] = []
    gen._run_batch = lambda *a: calls.append(a)  # type: ignore[method-assign,assignment,return-value]
    with pytest.raises(ValueError, match=match):
        gen.generate([[{"role": "user", "content": "ok"}], bad], GREEDY)
    assert calls == []
    assert gen.generate([], GREEDY) == []


def test_no_chat_template_falls_back_to_plain_layout(caplog: pytest.LogCaptureFixture) -> None:
    model, tok = tiny_chat_lm()
    tok.chat_template = None
    gen = TransformersGenerator((model, tok), name="plain")
    out = gen.generate(conversations(2), SamplingConfig(max_new_tokens=3))
    assert len(out) == 2 and "no chat template" in caplog.text


def test_build_generator_loads_a_saved_folder(tmp_path: Path, tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    gen = build_generator(str(tmp_path / "m"), batch_size=3, max_input_tokens=None)
    assert isinstance(gen, TransformersGenerator) and gen.name == str(tmp_path / "m")
    assert gen.batch_size == 3
    ref = TransformersGenerator(tiny).generate(conversations(3), GREEDY)
    assert gen.generate(conversations(3), GREEDY) == ref


def test_truncate_at_stop() -> None:
    assert truncate_at_stop("a b STOP c END", ["END", "STOP"]) == ("a b ", True)
    assert truncate_at_stop("a b", ["x", ""]) == ("a b", False)


# --------------------------------------------------------------------------- factory and vLLM


def test_parse_and_build_generator_specs() -> None:
    assert parse_model_spec("http://h:8000/v1#org/m") == ModelSpec("openai", "http://h:8000/v1", "org/m")
    assert parse_model_spec("https://api.x.com/v1", model="o") == ModelSpec(
        "openai", "https://api.x.com/v1", "o"
    )
    assert parse_model_spec("vllm:meta-llama/Llama-3.1-8B-Instruct") == ModelSpec(
        "vllm", "meta-llama/Llama-3.1-8B-Instruct"
    )
    assert parse_model_spec("smollm2-135m-instruct") == ModelSpec("transformers", "smollm2-135m-instruct")
    assert parse_model_spec("ct2:m", {"threads": 2}, compute_type=None).text == "ct2:m"
    assert parse_model_spec("http://h/v1#org/m").text == "http://h/v1#org/m"
    assert with_backend("smollm2-135m-instruct", "ct2") == "ct2:smollm2-135m-instruct"
    assert with_backend("vllm:m", "ct2") == "vllm:m"
    with pytest.raises(ConfigError, match="no generation backend serves ftp://"):
        parse_model_spec("ftp://h/m")
    with pytest.raises(ConfigError, match="need a 'model' string"):
        parse_model_spec({"concurrency": 3})

    g = build_generator("http://127.0.0.1:9/v1#org/m", concurrency=2, dtype=None)
    assert isinstance(g, OpenAIGenerator) and g.model == "org/m" and g.concurrency == 2
    assert g.name == "http://127.0.0.1:9/v1#org/m"
    g.close()
    g = build_generator({"model": "http://127.0.0.1:9/v1#org/m", "concurrency": 3}, timeout=5.0)
    assert isinstance(g, OpenAIGenerator) and (g.concurrency, g.timeout) == (3, 5.0)
    g.close()
    with pytest.raises(ConfigError, match="need a 'model' string"):
        build_generator({"concurrency": 3})
    g = build_generator("http://127.0.0.1:9", model="org/m")
    assert g.base_url == "http://127.0.0.1:9/v1" and g.model == "org/m"
    with pytest.raises(ConfigError, match="name the served model"):
        build_generator("http://127.0.0.1:9/v1")
    with pytest.raises(ConfigError, match="but model="):
        build_generator("http://127.0.0.1:9/v1#a", model="b")
    with pytest.raises(ConfigError, match="does not take batch_size"):
        build_generator("http://127.0.0.1:9/v1#a", batch_size=4)
    with pytest.raises(ConfigError, match="empty generator spec"):
        build_generator("  ")
    with pytest.raises(ConfigError, match="after 'vllm:'"):
        build_generator("vllm:")


def test_vllm_without_vllm_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'pbrlsvr\[vllm\]'"):
        VLLMGenerator("smollm2-135m-instruct")
    with pytest.raises(MissingDependencyError, match="pbrlsvr"):
        build_generator("vllm:smollm2-135m-instruct")


# --------------------------------------------------------------------------- OpenAI-compatible HTTP


@pytest.fixture(scope="module")
def server() -> Any:
    srv = FakeOpenAIServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def fake(server: FakeOpenAIServer) -> FakeOpenAIServer:
    server.reset()
    return server


def _client(url: str, **kw: Any) -> OpenAIGenerator:
    kw.setdefault("backoff", 0.01)
    return OpenAIGenerator(url, MODEL, **kw)


USER = [[{"role": "user", "content": f"question {i}"}] for i in range(6)]


def test_http_generates_in_order_with_usage(fake: FakeOpenAIServer) -> None:
    gen = _client(fake.url)
    calls: list[int] = []
    out = gen.generate(USER, SamplingConfig(max_new_tokens=50), progress=calls.append)
    assert [g[0].text for g in out] == [f"echo: question {i}" for i in range(6)]
    assert all(g[0] == Generation(g[0].text, 2, 3, "stop") for g in out)
    assert sum(calls) == 6 and fake.state.requests == 6
    body = fake.state.bodies[0]
    assert body["model"] == MODEL and body["max_tokens"] == 50 and body["temperature"] == 0.0
    assert "top_k" not in body and "stop" not in body and body["seed"] == 0
    assert gen.check() == [MODEL]
    gen.close()


def test_http_length_stop_and_top_k(fake: FakeOpenAIServer) -> None:
    gen = _client(fake.url)
    conv = [[{"role": "user", "content": "one two three four five"}]]
    (g,) = gen.generate(conv, SamplingConfig(max_new_tokens=3))[0]
    assert g == Generation("echo: one two", 5, 3, "length")
    settings = SamplingConfig(max_new_tokens=30, stop=["four"], top_k=5, temperature=0.5)
    (g,) = gen.generate(conv, settings)[0]
    assert g.text == "echo: one two three " and g.finish_reason == "stop"
    assert fake.state.bodies[-1]["stop"] == ["four"] and fake.state.bodies[-1]["top_k"] == 5
    gen.close()


def test_http_n_field_and_fallback_to_repeated_requests(fake: FakeOpenAIServer) -> None:
    gen = _client(fake.url)
    settings = SamplingConfig(max_new_tokens=20, n=3, temperature=1.0, seed=0)
    out = gen.generate(USER[:2], settings)
    assert fake.state.requests == 2 and [g.text for g in out[0]] == [
        f"echo: question 0 #{i}" for i in range(3)
    ]
    assert sum(g.completion_tokens for g in out[0]) == 12  # usage split over the choices

    fake.reset().max_choices = 1  # a server that ignores n
    out = gen.generate(USER[:2], settings)
    assert fake.state.requests == 6
    assert sorted(b["seed"] for b in fake.state.bodies) == [0, 0, 1, 1, 2, 2]  # distinct samples
    assert len({g.text for g in out[1]}) == 3 and all(g.finish_reason == "stop" for g in out[1])
    gen.close()


@pytest.mark.parametrize("status", [429, 500, 503])
def test_http_retries_then_succeeds(fake: FakeOpenAIServer, status: int) -> None:
    fake.state.fail_first, fake.state.fail_status = 3, status
    gen = _client(fake.url, max_retries=5)
    out = gen.generate(USER[:2], SamplingConfig(max_new_tokens=20))
    assert [g[0].text for g in out] == ["echo: question 0", "echo: question 1"]
    assert fake.state.requests == 5
    gen.close()


def test_http_honours_retry_after(fake: FakeOpenAIServer) -> None:
    fake.state.fail_first, fake.state.fail_status, fake.state.retry_after = 1, 429, "0.4"
    gen = _client(fake.url, concurrency=1, max_retries=3)
    start = time.monotonic()
    out = gen.generate(USER[:1], SamplingConfig(max_new_tokens=20))
    assert out[0][0].text == "echo: question 0"
    assert fake.state.arrival[1] - fake.state.arrival[0] >= 0.35
    assert time.monotonic() - start < 5
    gen.close()


def test_http_failed_conversation_keeps_the_others(fake: FakeOpenAIServer) -> None:
    fake.state.fail_when, fake.state.fail_status = "question 2", 500
    gen = _client(fake.url, max_retries=2)
    out = gen.generate(USER, SamplingConfig(max_new_tokens=20, n=2))
    assert [g.finish_reason for g in out[2]] == ["error", "error"]
    assert out[2][0].text == "" and "HTTP 500" in (out[2][0].error or "")
    assert "3 attempts" in (out[2][0].error or "")
    assert all(g.finish_reason == "stop" for i, row in enumerate(out) if i != 2 for g in row)
    assert fake.state.requests == 5 + 3
    gen.close()


def test_http_client_errors_are_not_retried(fake: FakeOpenAIServer) -> None:
    fake.state.fail_first, fake.state.fail_status = 1, 400
    gen = _client(fake.url, max_retries=5)
    out = gen.generate(USER[:1], SamplingConfig(max_new_tokens=20))
    assert out[0][0].finish_reason == "error" and "HTTP 400" in (out[0][0].error or "")
    assert fake.state.requests == 1
    gen.close()


def test_http_concurrency_limit(fake: FakeOpenAIServer) -> None:
    fake.state.delay = 0.15
    gen = _client(fake.url, concurrency=3)
    convs = [[{"role": "user", "content": f"q {i}"}] for i in range(12)]
    out = gen.generate(convs, SamplingConfig(max_new_tokens=10))
    assert len(out) == 12 and fake.state.max_in_flight == 3
    gen.close()


def test_http_timeout_becomes_error(fake: FakeOpenAIServer) -> None:
    fake.state.delay = 1.0
    gen = _client(fake.url, timeout=0.2, max_retries=1)
    out = gen.generate(USER[:1], SamplingConfig(max_new_tokens=10))
    assert out[0][0].finish_reason == "error" and "timed out" in (out[0][0].error or "")
    gen.close()


def test_http_dead_server_fails_fast_and_check_names_url() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    gen = OpenAIGenerator(url, MODEL, max_retries=5, backoff=0.05)
    convs = [[{"role": "user", "content": f"q {i}"}] for i in range(40)]
    start = time.monotonic()
    out = gen.generate(convs, SamplingConfig(max_new_tokens=10))
    elapsed = time.monotonic() - start
    assert all(g.finish_reason == "error" and "cannot reach" in (g.error or "") for row in out for g in row)
    assert elapsed < 6, elapsed  # one retry budget (~1.6 s of backoff), not one per conversation
    start = time.monotonic()
    again = gen.generate(convs[:8], SamplingConfig(max_new_tokens=10))
    assert time.monotonic() - start < 1.0  # known down: one try each, no backoff
    assert "gave up after 1 attempt)" in (again[0][0].error or "")
    with pytest.raises(ServerUnavailableError, match=f"127.0.0.1:{port}/v1/models"):
        gen.check()
    assert isinstance(ServerUnavailableError("x"), PbrlsvrError)
    gen.close()


def test_http_api_key_from_env_is_sent_not_shown(
    fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PBRLSVR_TEST_KEY", "sk-secret-123")
    gen = _client(fake.url, api_key_env="PBRLSVR_TEST_KEY")
    gen.generate(USER[:1], SamplingConfig(max_new_tokens=5))
    assert fake.state.auth == ["Bearer sk-secret-123"]
    assert "sk-secret" not in repr(gen) and "sk-secret" not in str(vars(gen).get("name"))
    gen.close()
    monkeypatch.delenv("PBRLSVR_TEST_KEY")
    gen = _client(fake.url, api_key_env="PBRLSVR_TEST_KEY")
    gen.generate(USER[:1], SamplingConfig(max_new_tokens=5))
    assert fake.state.auth[-1] is None
    gen.close()


def test_http_works_inside_a_running_event_loop(fake: FakeOpenAIServer) -> None:
    gen = _client(fake.url)

    async def main() -> list[list[Generation]]:
        return gen.generate(USER[:3], SamplingConfig(max_new_tokens=10))

    out = asyncio.run(main())
    assert [g[0].text for g in out] == [f"echo: question {i}" for i in range(3)]
    gen.close()


# --------------------------------------------------------------------------- real packaged model


@pytest.mark.slow
@pytest.mark.integration
def test_packaged_smollm2_generates_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    from pbrlsvr.models import locate_offline_files

    try:
        locate_offline_files("smollm2-135m-instruct")
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    gen = build_generator("smollm2-135m-instruct", batch_size=3)
    prompts = [
        "What is 2 + 3? Answer with the number only.",
        "Name the capital of France in one word.",
        "Roger has 5 tennis balls. He buys 2 cans of 3 tennis balls each. How many tennis balls does he have now?",
    ]
    convs = [[{"role": "user", "content": p}] for p in prompts]
    out = gen.generate(convs, SamplingConfig(max_new_tokens=48))
    assert gen.name == "smollm2-135m-instruct"
    for (g,) in out:
        assert g.finish_reason in ("stop", "length") and g.text.strip()
        assert g.prompt_tokens > 10 and 0 < g.completion_tokens <= 48
    assert "5" in out[0][0].text  # content beyond simple arithmetic is the 135M model's luck, not ours
    gen.batch_size = 1
    assert [gen.generate([c], SamplingConfig(max_new_tokens=48))[0][0].text for c in convs[:2]] == [
        out[0][0].text,
        out[1][0].text,
    ]


def test_importing_generation_loads_neither_torch_nor_httpx() -> None:
    import subprocess

    code = (
        "import sys, pbrlsvr.generation, pbrlsvr.retry;"
        "pbrlsvr.generation.parse_model_spec('ct2:m');"
        "print(sorted(m for m in ('torch', 'httpx', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_backend_options_are_read_from_the_factory() -> None:
    from pbrlsvr.generation import BACKENDS, Generator, register_backend

    assert BACKENDS.get("openai").options == (
        "model",
        "api_key_env",
        "concurrency",
        "timeout",
        "max_retries",
        "backoff",
    )
    assert BACKENDS.get("openai").required == ("model",)
    assert "compute_type" in BACKENDS.get("ct2").options and "dtype" not in BACKENDS.get("ct2").options

    class Toy(Generator):
        def __init__(self, target: str, *, loud: bool = False) -> None:
            self.name, self.loud = target, loud

        def _generate(self, conversations, settings, progress):  # type: ignore[no-untyped-def]
            return [[Generation("x", 1, 1, "stop")] * settings.n for _ in conversations]

    register_backend("toy", Toy, prefix="toy")
    try:
        with pytest.raises(ValueError, match="would take a spec form of 'toy'"):
            register_backend("toy2", Toy, prefix="TOY")
        gen = build_generator("toy:abc", loud=True)
        assert isinstance(gen, Toy) and (gen.name, gen.loud) == ("abc", True)
        with pytest.raises(ConfigError, match=r"does not take lod \(did you mean loud\?\); it takes loud"):
            build_generator("toy:abc", lod=True)
        assert "toy (toy:<model>)" in backend_names()
    finally:
        BACKENDS.unregister("toy")
    assert parse_model_spec("toy:abc").backend == "transformers"  # an unregistered prefix is a model name
