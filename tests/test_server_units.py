"""The reward service's parts without HTTP: micro-batcher, OpenRLHF parsing, metrics, config."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Sequence

import pytest

from pbrlsvr.config import load_config
from pbrlsvr.errors import ConfigError
from pbrlsvr.retry import (
    AttemptFailed,
    Backoff,
    RetriesExhausted,
    acall_with_retries,
    call_with_retries,
    retry_after_seconds,
    retryable_status,
)
from pbrlsvr.rewards.reward import RewardItem, RewardResult
from pbrlsvr.server import openrlhf
from pbrlsvr.server.batcher import Busy, ItemFailure, MicroBatcher
from pbrlsvr.server.config import OpenRLHFConfig, ServeConfig
from pbrlsvr.server.metrics import Metrics

# --- micro-batcher --------------------------------------------------------------------------


def item(text: str) -> RewardItem:
    return RewardItem(response=text, lang="sw", reference="ref")


class FakeScorer:
    """Records each batch; the reward is the response's length; "BOOM" breaks a batch."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[str]] = []
        self.delay = delay
        self.threads: set[str] = set()

    def __call__(self, items: Sequence[RewardItem]) -> list[RewardResult]:
        self.threads.add(threading.current_thread().name)
        self.batches.append([it.response for it in items])
        time.sleep(self.delay)
        if any(it.response == "BOOM" for it in items):
            raise RuntimeError("boom")
        return [RewardResult(reward=float(len(it.response)), components={}, gate=1.0) for it in items]


async def submit_all(batcher: MicroBatcher, requests: list[list[str]]) -> list[list[float | str]]:
    outs = await asyncio.gather(*(batcher.submit([item(t) for t in req]) for req in requests))
    return [[r.message if isinstance(r, ItemFailure) else r.reward for r in out] for out in outs]


def run_with(batcher: MicroBatcher, requests: list[list[str]]) -> list[list[float | str]]:
    batcher.start()
    try:
        return asyncio.run(submit_all(batcher, requests))
    finally:
        batcher.stop()


def test_concurrent_requests_are_merged_and_answered_in_order() -> None:
    scorer = FakeScorer()
    batcher = MicroBatcher(scorer, max_batch_size=64, max_wait_ms=200)
    requests = [["a" * (i + 1)] for i in range(10)]
    assert run_with(batcher, requests) == [[float(i + 1)] for i in range(10)]
    assert len(scorer.batches) < 10 and max(map(len, scorer.batches)) > 1
    assert scorer.threads == {"pbrlsvr-scorer"}  # one worker thread calls the reward


def test_batches_never_exceed_max_batch_size_and_big_requests_are_split() -> None:
    scorer = FakeScorer()
    batcher = MicroBatcher(scorer, max_batch_size=4, max_wait_ms=50)
    requests = [["x" * (i + 1) for i in range(10)], ["y"], ["zz", "zzz"]]
    out = run_with(batcher, requests)
    assert out == [[float(i + 1) for i in range(10)], [1.0], [2.0, 3.0]]
    assert all(len(b) <= 4 for b in scorer.batches)
    assert sum(map(len, scorer.batches)) == 13


def test_while_the_worker_is_busy_requests_pile_up_into_one_batch_even_without_waiting() -> None:
    scorer = FakeScorer(delay=0.2)
    batcher = MicroBatcher(scorer, max_batch_size=64, max_wait_ms=0)
    batcher.start()

    async def go() -> None:
        first = asyncio.ensure_future(batcher.submit([item("first")]))
        await asyncio.sleep(0.05)  # the worker is now busy with "first"
        await asyncio.gather(first, *(batcher.submit([item(str(i))]) for i in range(8)))

    try:
        asyncio.run(go())
    finally:
        batcher.stop()
    assert scorer.batches[0] == ["first"]
    assert sum(len(b) for b in scorer.batches[1:]) == 8 and len(scorer.batches) <= 3


def test_a_failing_batch_is_rescored_item_by_item() -> None:
    scorer = FakeScorer()
    batcher = MicroBatcher(scorer, max_batch_size=8, max_wait_ms=100)
    out = run_with(batcher, [["ok"], ["BOOM"], ["fine"]])
    assert out[0] == [2.0] and out[2] == [4.0]
    assert "boom" in str(out[1][0]) and "internal error" in str(out[1][0])


def test_busy_when_the_queue_is_full_and_errors_after_stop() -> None:
    batcher = MicroBatcher(FakeScorer(delay=0.3), max_batch_size=2, max_pending_items=3)
    batcher.start()

    async def go() -> None:
        first = asyncio.ensure_future(batcher.submit([item("a"), item("b"), item("c")]))
        await asyncio.sleep(0.01)
        with pytest.raises(Busy, match="max_pending_items=3"):
            await batcher.submit([item("d")])
        assert await first
        assert batcher.pending_items == 0

    try:
        asyncio.run(go())
    finally:
        batcher.stop()
    with pytest.raises(RuntimeError, match="not running"):
        asyncio.run(batcher.submit([item("late")]))
    assert asyncio.run(batcher.submit([])) == []


# --- OpenRLHF parsing -----------------------------------------------------------------------

TRAILING = openrlhf.trailing_tokens(OpenRLHFConfig().special_tokens)


@pytest.mark.parametrize(
    ("query", "prompt", "response", "found"),
    [
        ("PROMPT: q\nANSWER", "PROMPT: q\n", "ANSWER", True),
        (
            "ompt that was cut on the left, then the answer" + "RESP",
            "a long prompt that was cut on the left, then the answer",
            "RESP",
            True,
        ),
        ("completely different", "PROMPT", "completely different", False),
        ("just the response", None, "just the response", True),
        ("just the response", "", "just the response", True),
    ],
)
def test_split_response(query: str, prompt: str | None, response: str, found: bool) -> None:
    assert openrlhf.split_response(query, prompt) == (response, found)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Jibu ni 11.<|im_end|>", "Jibu ni 11."),
        ("Jibu ni 11.<|im_end|>\n<|endoftext|><|endoftext|>", "Jibu ni 11."),
        ("Antwort: 11<|eot_id|>", "Antwort: 11"),
        ("答えは11です。<｜end▁of▁sentence｜>", "答えは11です。"),
        ("Answer 11</s>", "Answer 11"),
        ("Answer 11<end_of_turn>\n", "Answer 11"),
        ("keeps <|im_start|> inside and trailing space ", "keeps <|im_start|> inside and trailing space "),
        ("a < b and c > d", "a < b and c > d"),
    ],
)
def test_trailing_special_tokens_are_stripped(text: str, want: str) -> None:
    assert openrlhf.strip_special(text, TRAILING) == want


def test_strip_special_is_fast_on_long_texts() -> None:
    text = "<|x|> " * 20_000 + "end" + "<|im_end|>" * 3
    t0 = time.perf_counter()
    assert openrlhf.strip_special(text, TRAILING).endswith("end")
    assert time.perf_counter() - t0 < 0.5


def test_parse_label_and_build_items() -> None:
    assert openrlhf.parse_label('{"reference": "r", "lang": "sw"}') == {"reference": "r", "lang": "sw"}
    assert openrlhf.parse_label({"reference": "r"}) == {"reference": "r"}
    for bad, msg in ((5, "got int"), ("[1]", "got list"), ("nope", "not JSON")):
        with pytest.raises(ValueError, match=msg):
            openrlhf.parse_label(bad)
    items, errors, unmatched = openrlhf.build_items(
        ["P:Jibu ni 11.<|im_end|>", "P:x", "Q:y"],
        ["P:", "P:", "P:"],
        [
            '{"reference": "r", "lang": "swh_Latn", "reference_answer": 11}',
            '{"lang": "sw"}',
            '{"reference": "r", "lang": "sw", "response": "z"}',
        ],
        TRAILING,
    )
    assert items[0] == RewardItem(response="Jibu ni 11.", lang="sw", reference="r", reference_answer="11")
    assert items[1] is None and "labels[1]" in str(errors[1]) and "reference" in str(errors[1])
    assert items[2] is None and "must not carry 'response'" in str(errors[2])
    assert unmatched == 1


def test_parse_request_limits() -> None:
    with pytest.raises(OverflowError, match="limit is 2"):
        openrlhf.parse_request({"query": ["a", "b", "c"], "prompts": ["", "", ""], "labels": ["", "", ""]}, 2)
    q, p, labels = openrlhf.parse_request({"query": ["a"], "labels": ["{}"]}, 2)
    assert (q, p, labels) == (["a"], [None], ["{}"])


# --- metrics --------------------------------------------------------------------------------


def test_metrics_render_prometheus_text() -> None:
    m = Metrics(prefix="t")
    m.counter("requests_total", "Requests.")
    m.histogram("size", "Sizes.", (1, 4))
    m.gauge("depth", "Depth.", lambda: 3)
    m.gauge("broken", "Broken.", lambda: 1 / 0)
    m.inc("requests_total", endpoint="/a", status="200")
    m.inc("requests_total", 2, endpoint='/b"\n', status="500")
    for v in (1, 2, 5):
        m.observe("size", v)
    text = m.render()
    assert "# TYPE t_requests_total counter\n" in text
    assert 't_requests_total{endpoint="/a",status="200"} 1\n' in text
    assert 't_requests_total{endpoint="/b\\"\\n",status="500"} 2\n' in text
    assert 't_size_bucket{le="1"} 1\nt_size_bucket{le="4"} 2\nt_size_bucket{le="+Inf"} 3\n' in text
    assert "t_size_sum 8\nt_size_count 3\n" in text
    assert "t_depth 3\n" in text and "t_broken NaN\n" in text
    assert m.value("requests_total", endpoint="/a", status="200") == 1


# --- config ---------------------------------------------------------------------------------


def test_serve_config_from_yaml_and_flags(tmp_path, monkeypatch) -> None:
    path = tmp_path / "reward.yaml"
    path.write_text("port: 9000\nmax_batch_size: 16\nreward:\n  langs: [sw, bn]\n", encoding="utf-8")
    cfg = load_config(ServeConfig, path, {"max_wait_ms": "0", "host": "0.0.0.0"})
    assert (cfg.host, cfg.port, cfg.max_batch_size, cfg.max_wait_ms) == ("0.0.0.0", 9000, 16, 0)
    assert cfg.reward.langs == ["sw", "bn"] and cfg.resolve_token() is None
    with pytest.raises(ConfigError) as exc:
        load_config(ServeConfig, overrides={"max_batch_size": 0, "token_env": "not a name", "prot": 1})
    msg = str(exc.value)
    assert (
        "max_batch_size" in msg and "not an environment variable name" in msg and "unknown key 'prot'" in msg
    )
    with pytest.raises(ConfigError, match="regular expression"):
        load_config(ServeConfig, overrides={"openrlhf.special_tokens": "(unclosed"})
    cfg = ServeConfig(token_env="PBRLSVR_UNIT_TOKEN")
    monkeypatch.delenv("PBRLSVR_UNIT_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="unset or empty"):
        cfg.resolve_token()
    monkeypatch.setenv("PBRLSVR_UNIT_TOKEN", " tok \n")
    assert cfg.resolve_token() == "tok"


# --- the retry rule shared by the score client and the OpenAI backend -----------------------


def test_retry_rule_retries_transient_failures_and_stops_on_the_rest() -> None:
    calls: list[int] = []
    slept: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise AttemptFailed("busy", wait=0.25)
        return "ok"

    backoff = Backoff(base=0.01, cap=0.02, jitter=False)
    assert call_with_retries(flaky, retries=2, backoff=backoff, sleep=slept.append) == "ok"
    assert slept == [0.25, 0.25]  # Retry-After above the computed wait wins

    calls.clear()
    with pytest.raises(RetriesExhausted, match=r"busy \(gave up after 2 attempts\)") as info:
        call_with_retries(flaky, retries=1, backoff=backoff, sleep=slept.append)
    assert info.value.attempts == 2 and len(calls) == 2

    def refused() -> str:
        calls.append(1)
        raise AttemptFailed("HTTP 401", retryable=False)

    calls.clear()
    with pytest.raises(AttemptFailed, match="HTTP 401"):
        call_with_retries(refused, retries=5, backoff=backoff, sleep=slept.append)
    assert len(calls) == 1  # not retried

    calls.clear()
    with pytest.raises(RetriesExhausted, match="1 attempt\\)"):
        call_with_retries(flaky, retries=5, backoff=backoff, on_failure=lambda exc: False, sleep=slept.append)

    async def aflaky() -> str:
        return flaky()

    calls.clear()
    assert asyncio.run(acall_with_retries(aflaky, retries=2, backoff=Backoff(base=0.001))) == "ok"


def test_retry_statuses_and_waits() -> None:
    assert {s for s in range(400, 600) if retryable_status(s)} == {408, 409, 429, 500, 502, 503, 504}
    assert retry_after_seconds("3") == 3.0 and retry_after_seconds("999", cap=10) == 10.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    waits = [Backoff(base=1.0, cap=3.0).delay(k) for k in (1, 2, 3, 4)]
    assert 0.5 <= waits[0] < 1.5 and 1.0 <= waits[1] < 3.0 and waits[3] <= 3.0


def test_score_client_retries_by_the_shared_rule() -> None:
    import httpx

    from pbrlsvr.server.client import RemoteRewardError, ScoreClient

    answers = [500, 409, 200]
    seen: list[int] = []

    def service(request: httpx.Request) -> httpx.Response:
        status = answers[len(seen)] if len(seen) < len(answers) else 200
        seen.append(status)
        if status != 200:
            return httpx.Response(status, json={"detail": "try later"})
        return httpx.Response(200, json={"results": [{"reward": 1.0}]})

    transport = httpx.MockTransport(service)
    client = ScoreClient("http://reward-host:8000", retries=3, backoff=0.001)
    client._sync = (os.getpid(), httpx.Client(transport=transport))
    assert client.score([{"response": "x"}]) == [{"reward": 1.0}] and seen == [500, 409, 200]

    answers[:] = [422]
    seen.clear()
    with pytest.raises(RemoteRewardError, match="HTTP 422"):
        client.score([{"response": "x"}])
    assert seen == [422]  # the request is wrong: not retried
