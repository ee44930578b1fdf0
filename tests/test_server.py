"""The reward service over real HTTP: uvicorn on 127.0.0.1 (a free port), the HashEncoder reward.

Covers concurrency (64 clients × 50 requests, results equal to in-process scoring), every kind of
malformed request (the right 4xx, the server keeps serving), OpenRLHF's exact request bytes,
/metrics, micro-batching, the TRL and verl clients, and ``pbrlsvr serve`` itself.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from pbrlsvr.integrations import remote_trl, remote_verl
from pbrlsvr.integrations.verl_result import scored
from pbrlsvr.rewards.config import RewardConfig
from pbrlsvr.rewards.reward import Reward
from pbrlsvr.server.app import ScoringService, create_app
from pbrlsvr.server.client import RemoteRewardError, ScoreClient
from pbrlsvr.server.config import ServeConfig
from tests.hash_encoder import HashEncoder

LANGS = ["sw", "de", "ja", "bn"]
REF = "Roger started with 5 balls. 2 cans of 3 tennis balls each is 6 tennis balls. 5 + 6 = 11. The answer is 11."
REF2 = "Janet's ducks lay 16 eggs per day. She eats 3 and bakes with 4, so 16 - 3 - 4 = 9 eggs. 9 * 2 = 18. The answer is 18."
SW = "Roger alianza na mipira 5. Makopo 2 ya mipira 3 ya tenisi kila moja ni mipira 6 ya tenisi. 5 + 6 = 11. Jibu ni 11."
DE = "Roger hatte 5 Bälle. 2 Dosen mit je 3 Tennisbällen sind 6 Tennisbälle. 5 + 6 = 11. Die Antwort lautet 11."
JA = "ロジャーは最初に5個のボールを持っていました。3個入りの缶が2つで6個です。5 + 6 = 11。答えは11です。"
BN = "জ্যানেটের হাঁসগুলি প্রতিদিন 16টি ডিম পাড়ে। 16 - 3 - 4 = 9টি ডিম। 9 * 2 = 18। উত্তর হল 18।"

POOL: list[dict[str, Any]] = [
    {"response": SW, "lang": "sw", "reference": REF},
    {"response": DE, "lang": "de", "reference": REF, "reference_answer": "11"},
    {"response": JA, "lang": "ja", "reference": REF, "question": "..."},
    {"response": BN, "lang": "bn", "reference": REF2, "gold": 18},
    {"response": SW.replace("11", "12"), "lang": "sw", "reference": REF},
    {"response": REF, "lang": "de", "reference": REF},  # an English copy: gated
    {"response": "", "lang": "sw", "reference": REF},  # empty: 0 with a note
    {"response": "Jibu ni 18.", "lang": "sw", "reference": REF2},
]


def make_reward() -> Reward:
    return Reward(RewardConfig(langs=LANGS, encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder())


@contextmanager
def serving(
    cfg: ServeConfig | None = None, reward: Reward | None = None
) -> Iterator[tuple[str, ScoringService]]:
    """A real uvicorn server in a thread on 127.0.0.1 (the OS picks the port; no race)."""
    reward = reward or make_reward()
    cfg = cfg or ServeConfig(reward=reward.config)
    app = create_app(cfg, reward=reward)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", app.state.service
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def reference_reward() -> Reward:
    """A second, independent reward: what in-process scoring gives."""
    return make_reward()


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[str, ScoringService]]:
    with serving(ServeConfig(max_wait_ms=5, max_batch_size=32, reward=make_reward().config)) as s:
        yield s


@pytest.fixture(scope="module")
def url(live: tuple[str, ScoringService]) -> str:
    return live[0]


def parse_metrics(text: str) -> dict[str, float]:
    """``{'name{labels}': value}`` from Prometheus text."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def metrics(url: str) -> dict[str, float]:
    resp = httpx.get(f"{url}/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse_metrics(resp.text)


def expected(reward: Reward, item: dict[str, Any]) -> dict[str, Any]:
    return reward.score_batch([item])[0].to_dict()


# --- concurrency ------------------------------------------------------------------------------


class KeepAliveClient:
    """A lean HTTP/1.1 client on one keep-alive connection (asyncio streams).

    httpx's AsyncClient spends ~10 ms of CPU per request with 64 connections open on this 2-core
    machine, which would measure the client rather than the server; this one spends ~0.2 ms.
    """

    def __init__(self, url: str) -> None:
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)

    async def __aenter__(self) -> KeepAliveClient:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.writer.close()

    async def post(self, path: str, payload: Any) -> tuple[int, Any]:
        body = json.dumps(payload).encode()
        head = f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        status = int(lines[0].split()[1])
        length = next(
            int(v) for k, _, v in (h.partition(":") for h in lines[1:]) if k.lower() == "content-length"
        )
        return status, json.loads(await self.reader.readexactly(length))


def test_64_concurrent_clients_x_50_requests_match_in_process(url: str, reference_reward: Reward) -> None:
    want = [expected(reference_reward, it) for it in POOL]
    before = metrics(url)
    clients, per_client = 64, 50
    mismatches: list[str] = []
    errors: list[str] = []

    async def client(c: int) -> None:
        async with KeepAliveClient(url) as http:
            for r in range(per_client):
                k = (c * 7 + r) % len(POOL)
                try:
                    status, body = await http.post("/score", {"items": [{**POOL[k], "id": f"{c}-{r}"}]})
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    return
                if status != 200:
                    errors.append(f"{status}: {body}")
                    continue
                (got,) = body["results"]
                if got.pop("id") != f"{c}-{r}" or got != want[k]:
                    mismatches.append(f"item {k}: {got} != {want[k]}")

    async def main() -> float:
        t0 = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(client(c) for c in range(clients))), timeout=300)
        return time.perf_counter() - t0

    seconds = asyncio.run(main())
    assert not errors, errors[:5]
    assert not mismatches, mismatches[:5]
    after = metrics(url)
    n = clients * per_client
    key = 'pbrlsvr_requests_total{endpoint="/score",status="200"}'
    assert after[key] - before.get(key, 0) == n
    batches = after["pbrlsvr_batch_size_count"] - before.get("pbrlsvr_batch_size_count", 0)
    items = after["pbrlsvr_batch_size_sum"] - before.get("pbrlsvr_batch_size_sum", 0)
    assert items == n
    assert batches < n / 4, "concurrent single-item requests were rarely merged"
    print(
        f"\n{n} requests from {clients} clients in {seconds:.1f} s; {batches:.0f} batches, mean {items / batches:.1f}"
    )


def test_micro_batching_merges_concurrent_requests() -> None:
    reward = make_reward()
    cfg = ServeConfig(max_wait_ms=300, max_batch_size=64, reward=reward.config)
    with serving(cfg, reward) as (url, _):

        async def burst() -> list[int]:
            async with httpx.AsyncClient(timeout=30) as http:
                resps = await asyncio.gather(
                    *(http.post(f"{url}/score", json={"items": [POOL[i % len(POOL)]]}) for i in range(12))
                )
            return [r.status_code for r in resps]

        assert asyncio.run(burst()) == [200] * 12
        m = metrics(url)
    assert m["pbrlsvr_batch_size_sum"] == 12
    assert m["pbrlsvr_batch_size_count"] < 12
    assert m['pbrlsvr_batch_size_bucket{le="1"}'] < m["pbrlsvr_batch_size_count"]  # some batch > 1


def test_max_batch_size_1_disables_batching_and_big_requests_are_split(reference_reward: Reward) -> None:
    reward = make_reward()
    with serving(ServeConfig(max_wait_ms=50, max_batch_size=1, reward=reward.config), reward) as (url, _):
        resp = httpx.post(f"{url}/score", json={"items": POOL}, timeout=30)
        m = metrics(url)
    assert resp.status_code == 200
    assert resp.json()["results"] == [expected(reference_reward, it) for it in POOL]  # order kept
    assert m['pbrlsvr_batch_size_bucket{le="1"}'] == m["pbrlsvr_batch_size_count"] == len(POOL)


# --- malformed requests -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict(request: pytest.FixtureRequest) -> Iterator[str]:
    """A server with a token, a 2 KiB body limit and at most 8 items per request."""
    os.environ["PBRLSVR_TEST_TOKEN"] = "s3cret"
    request.addfinalizer(lambda: os.environ.pop("PBRLSVR_TEST_TOKEN", None))
    reward = make_reward()
    cfg = ServeConfig(token_env="PBRLSVR_TEST_TOKEN", max_body_bytes=2048, max_items=8, reward=reward.config)
    with serving(cfg, reward) as (url, _):
        yield url


AUTH = {"Authorization": "Bearer s3cret"}
ITEM = {"response": SW, "lang": "sw", "reference": REF}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b'{"items": [', 400, "invalid JSON"),
        (b"", 400, "empty request body"),
        (b'{"items": ["\xff\xfe"]}', 400, "not valid UTF-8"),
        (b"[" * 100_000, 413, "limit"),  # over 2 KiB
        (b"[" * 1500, 400, "invalid JSON"),  # deep nesting does not crash the server
        (b'[{"response": "x"}]', 422, "expected a JSON object"),
        (b'{"item": []}', 422, "missing field 'items'"),
        (b'{"items": "abc"}', 422, "must be a list"),
        (b'{"items": [42]}', 422, "must be a JSON object"),
        (b'{"items": [{"response": "x", "lang": "sw"}]}', 422, "missing field(s) ['reference']"),
        (b'{"items": [{"response": 5, "lang": "sw", "reference": "r"}]}', 422, "'response' must be a string"),
        (b'{"items": [{"response": "x", "lang": ["sw"], "reference": "r"}]}', 422, "'lang' must be a string"),
        (
            b'{"items": [{"response": "x", "lang": "xx", "reference": "r"}]}',
            422,
            "unknown language code 'xx'",
        ),
        (
            b'{"items": [{"response": "x", "lang": "fr", "reference": "r"}]}',
            422,
            "not among the reward's languages",
        ),
        (
            json.dumps({"items": [{"response": "x", "lang": "sw", "reference": "r"}] * 9}).encode(),
            413,
            "the limit is 8",
        ),
    ],
)
def test_malformed_score_requests_get_the_right_4xx(
    strict: str, body: bytes, status: int, message: str
) -> None:
    resp = httpx.post(f"{strict}/score", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status_code == status, resp.text
    assert message in resp.json()["detail"]


def test_token_body_limit_and_the_server_keeps_serving(strict: str) -> None:
    ok = {"items": [ITEM]}
    assert httpx.post(f"{strict}/score", json=ok).status_code == 401
    wrong = httpx.post(f"{strict}/score", json=ok, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "invalid bearer token"
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert (
        httpx.post(f"{strict}/score", json=ok, headers={"Authorization": "Basic s3cret"}).status_code == 401
    )
    assert httpx.post(f"{strict}/get_reward", json={}, headers={"Authorization": "x"}).status_code == 401

    def chunked() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
        yield b'{"items": ['
        for _ in range(200):
            yield json.dumps(ITEM).encode() + b","
        yield b"{}]}"

    resp = httpx.post(f"{strict}/score", content=chunked(), headers=AUTH)
    assert resp.status_code == 413 and "max_body_bytes" in resp.json()["detail"]
    assert httpx.post(f"{strict}/score", content=b"x" * 3000, headers=AUTH).status_code == 413
    host, port = strict.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:  # broken HTTP (uvicorn answers)
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")
    assert httpx.get(f"{strict}/score").status_code == 405

    # after all that: still serving, health and metrics need no token
    resp = httpx.post(f"{strict}/score", json=ok, headers=AUTH)
    assert resp.status_code == 200 and resp.json()["results"][0]["reward"] > 0.8
    health = httpx.get(f"{strict}/health")
    assert health.status_code == 200 and health.json()["status"] == "ok" and health.json()["auth"] is True
    m = metrics(strict)
    assert m['pbrlsvr_errors_total{endpoint="/score",reason="unauthorized"}'] >= 3
    assert m['pbrlsvr_errors_total{endpoint="/score",reason="too_large"}'] >= 2


def test_one_bad_item_gets_its_own_error_and_the_others_are_scored(
    url: str, reference_reward: Reward
) -> None:
    items = [POOL[0], {"response": "x", "lang": "xx", "reference": REF}, {"lang": "sw"}, POOL[1]]
    resp = httpx.post(f"{url}/score", json={"items": items})
    assert resp.status_code == 200
    results = resp.json()["results"]
    assert results[0] == expected(reference_reward, POOL[0])
    assert "unknown language code 'xx'" in results[1]["error"]
    assert "missing field(s)" in results[2]["error"]
    assert results[3] == expected(reference_reward, POOL[1])
    assert httpx.post(f"{url}/score", json={"items": []}).json() == {"results": []}


def test_an_item_that_breaks_the_reward_fails_alone(reference_reward: Reward) -> None:
    reward = make_reward()
    real = reward.score_batch

    def flaky(items: Any) -> Any:
        if any("BOOM" in it.response for it in items):
            raise RuntimeError("encoder exploded")
        return real(items)

    reward.score_batch = flaky  # type: ignore[method-assign]
    with serving(ServeConfig(reward=reward.config), reward) as (url, _):
        boom = {"response": "BOOM 11", "lang": "sw", "reference": REF}
        resp = httpx.post(f"{url}/score", json={"items": [POOL[0], boom, POOL[1]]})
        assert resp.status_code == 200
        results = resp.json()["results"]
        assert results[0] == expected(reference_reward, POOL[0])
        assert "encoder exploded" in results[1]["error"]
        assert results[2] == expected(reference_reward, POOL[1])
        label = json.dumps({"reference": REF, "lang": "sw"})
        resp = httpx.post(
            f"{url}/get_reward", json={"query": ["BOOM", SW], "prompts": ["", ""], "labels": [label, label]}
        )
        assert resp.status_code == 200, resp.text  # OpenRLHF would retry a 500, then train on None
        body = resp.json()
        assert body["rewards"][0] == 0.0 and body["rewards"][1] > 0.5
        assert body["extra_logs"]["unscored"] == [1.0, 0.0]
        assert "encoder exploded" in body["errors"][0] and body["errors"][1] is None
        assert httpx.get(f"{url}/health").json()["worker_alive"] is True


# --- OpenRLHF -----------------------------------------------------------------------------------

CHAT_PROMPT = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\nロジャーはテニスボールを5個持っています。答えは?<|im_end|>\n<|im_start|>assistant\n"
)


def openrlhf_request_bytes(host: str, port: int, payload: dict[str, Any]) -> bytes:
    """The request exactly as OpenRLHF's SingleTurnAgentExecutor sends it: aiohttp's
    ``session.post(url, json=payload)`` (body ``json.dumps(payload)``, UTF-8) with aiohttp's default headers."""
    body = json.dumps(payload).encode("utf-8")
    head = (
        "POST /get_reward HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Accept: */*\r\n"
        "Accept-Encoding: gzip, deflate\r\n"
        "User-Agent: Python/3.11 aiohttp/3.12.15\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Content-Type: application/json\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


def send_raw(url: str, raw: bytes) -> tuple[int, dict[str, Any]]:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(raw)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        return resp.status, json.loads(resp.read())


def test_openrlhf_request_byte_for_byte(url: str, reference_reward: Reward) -> None:
    label = json.dumps({"reference": REF, "reference_answer": "11", "lang": "ja"})
    # query = tokenizer.decode(prompt_ids + response_ids, skip_special_tokens=False)
    payload = {"query": [CHAT_PROMPT + JA + "<|im_end|>"], "prompts": [CHAT_PROMPT], "labels": [label]}
    raw = openrlhf_request_bytes("127.0.0.1", int(url.rsplit(":", 1)[1]), payload)
    assert b"\\u30ed\\u30b8" in raw  # json.dumps escapes non-ASCII, as aiohttp sends it
    status, body = send_raw(url, raw)
    assert status == 200, body
    want = reference_reward.score_batch(
        [{"response": JA, "lang": "ja", "reference": REF, "reference_answer": "11"}]
    )[0]
    assert body["rewards"] == [want.reward]
    assert body["scores"] == [want.reward]
    assert body["extra_logs"] == {
        **{k: [v] for k, v in want.components.items()},
        "gate": [want.gate],
        "unscored": [0.0],
    }
    assert set(body) == {"rewards", "scores", "extra_logs"}


def test_openrlhf_batches_truncated_prompts_and_label_objects(url: str, reference_reward: Reward) -> None:
    label = {"reference": REF, "lang": "sw"}
    want = expected(reference_reward, {"response": SW, **label})["reward"]
    payload = {
        "query": [
            CHAT_PROMPT + SW + "<|im_end|><|endoftext|><|endoftext|>",  # padded
            CHAT_PROMPT[40:] + SW + "<|im_end|>",  # prompt cut from the left (max_len)
            SW + "</s>",  # prompt not in the query: scored whole
            "<s>[INST] swali [/INST]" + SW + "<|eot_id|>",
        ],
        "prompts": [CHAT_PROMPT, CHAT_PROMPT, "something else", "<s>[INST] swali [/INST]"],
        "labels": [json.dumps(label), label, json.dumps(label), json.dumps(label)],
    }
    before = metrics(url)["pbrlsvr_openrlhf_prompt_unmatched_total"]
    resp = httpx.post(f"{url}/get_reward", json=payload)
    assert resp.status_code == 200, resp.text
    assert resp.json()["rewards"] == [want] * 4
    assert metrics(url)["pbrlsvr_openrlhf_prompt_unmatched_total"] == before + 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"prompts": [], "labels": []}, "missing field 'query'"),
        ({"query": "x", "prompts": [""], "labels": ["{}"]}, "'query' must be a list"),
        ({"query": ["x"], "prompts": ["x"]}, "missing field 'labels'"),
        ({"query": ["x", "y"], "prompts": ["x"], "labels": ["{}"]}, "same length"),
        ({"query": [1], "prompts": [""], "labels": ["{}"]}, "query[0] must be a string"),
    ],
)
def test_bodies_that_are_not_the_openrlhf_protocol_get_422(
    url: str, payload: dict[str, Any], message: str
) -> None:
    resp = httpx.post(f"{url}/get_reward", json=payload)
    assert resp.status_code == 422, resp.text
    assert message in resp.json()["detail"]


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("", 'the label is empty: OpenRLHF sends "" when --data.label_key is not given'),
        ("11", "must hold a JSON object"),
        ("the answer is 11", "the label is not JSON"),
        ('{"reference": "r"}', "missing field(s) ['lang']"),
        ('{"reference": "r", "lang": "xx"}', "unknown language"),
        ('{"reference": "r", "lang": "fr"}', "reward's languages"),
    ],
)
def test_an_unscorable_openrlhf_sample_scores_0_with_its_reason(
    label: str, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    """One bad sample in a batch: 200, reward 0, `unscored` 1, the same extra_logs keys as a good
    sample, the reason in `errors` and in the service's log, and the good sample scored."""
    good = json.dumps({"reference": REF, "lang": "sw", "id": "good-1"})
    payload = {"query": [SW, SW], "prompts": ["", "swali la mwisho"], "labels": [good, label]}
    reward = make_reward()
    with (
        caplog.at_level("WARNING", logger="pbrlsvr.server"),
        serving(ServeConfig(reward=reward.config), reward) as (
            url,
            _,
        ),
    ):
        resp = httpx.post(f"{url}/get_reward", json=payload)
        m = metrics(url)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["rewards"][0] == expected(reward, {"response": SW, "lang": "sw", "reference": REF})["reward"]
    assert body["rewards"][1] == 0.0 and body["scores"] == body["rewards"]
    logs = body["extra_logs"]
    assert set(logs) == {*reward.weights, "gate", "unscored"}
    assert all(len(v) == 2 and v[1] == 0.0 for k, v in logs.items() if k != "unscored")
    assert logs["unscored"] == [0.0, 1.0]
    assert (
        body["errors"][0] is None
        and body["errors"][1].startswith("labels[1]: ")
        and message in body["errors"][1]
    )
    logged = [r.getMessage() for r in caplog.records if "/get_reward" in r.getMessage()]
    assert (
        len(logged) == 1
        and "sample 1 of 2" in logged[0]
        and "swali la mwisho" in logged[0]
        and message in logged[0]
    )
    assert m['pbrlsvr_item_errors_total{endpoint="/get_reward"}'] == 1


# --- metrics and health -----------------------------------------------------------------------


def test_metrics_count_requests_items_errors_and_latency() -> None:
    reward = make_reward()
    with serving(ServeConfig(reward=reward.config), reward) as (url, _):
        httpx.post(f"{url}/score", json={"items": POOL[:3]})
        httpx.post(f"{url}/score", json={"items": [POOL[0], {"lang": "sw"}]})
        httpx.post(f"{url}/score", content=b"nope")
        label = json.dumps({"reference": REF, "lang": "sw"})
        httpx.post(f"{url}/get_reward", json={"query": [SW], "prompts": [""], "labels": [label]})
        text = httpx.get(f"{url}/metrics").text
        health = httpx.get(f"{url}/health").json()
    m = parse_metrics(text)
    assert m['pbrlsvr_requests_total{endpoint="/score",status="200"}'] == 2
    assert m['pbrlsvr_requests_total{endpoint="/score",status="400"}'] == 1
    assert m['pbrlsvr_requests_total{endpoint="/get_reward",status="200"}'] == 1
    assert m['pbrlsvr_items_total{endpoint="/score"}'] == 5
    assert m['pbrlsvr_items_total{endpoint="/get_reward"}'] == 1
    assert m['pbrlsvr_item_errors_total{endpoint="/score"}'] == 1
    assert m['pbrlsvr_errors_total{endpoint="/score",reason="bad_json"}'] == 1
    assert m['pbrlsvr_request_duration_seconds_count{endpoint="/score"}'] == 3
    assert m['pbrlsvr_request_duration_seconds_bucket{endpoint="/score",le="+Inf"}'] == 3
    assert m["pbrlsvr_batch_size_sum"] == 3 + 1 + 1
    assert m["pbrlsvr_queue_items"] == 0
    for name in ("requests_total", "batch_size", "request_duration_seconds", "queue_items"):
        assert f"# TYPE pbrlsvr_{name} " in text
    assert health["encoder"] == "hash-test" and health["langs"] == [*LANGS, "en"]


# --- the TRL and verl clients -----------------------------------------------------------------


def test_trl_reward_function_scores_a_grpo_batch(url: str, reference_reward: Reward) -> None:
    fn = remote_trl.RemoteReward(url)
    logged: dict[str, float] = {}
    group = [SW, SW.replace("11", "12"), REF, ""]
    rewards = asyncio.run(
        fn(
            prompts=["swali"] * 4,
            completions=[[{"role": "assistant", "content": c}] for c in group],  # conversational
            completion_ids=[[1]] * 4,
            reference=[REF] * 4,
            lang=["sw"] * 4,
            reference_answer=["11"] * 4,
            trainer_state=None,
            log_extra=lambda *a: None,
            log_metric=lambda name, value: logged.__setitem__(name, value),
        )
    )
    want = [
        expected(reference_reward, {"response": c, "lang": "sw", "reference": REF, "reference_answer": "11"})[
            "reward"
        ]
        for c in group
    ]
    assert rewards == want
    assert set(logged) == {f"rewards/{c}/mean" for c in reference_reward.weights} | {
        "pbrlsvr/gate",
        "pbrlsvr/no_answer",
    }
    with pytest.raises(ValueError, match="'reference' and 'lang'"):
        asyncio.run(fn(prompts=["p"], completions=["c"], reference=[REF]))
    bad = {"prompts": ["p", "p"], "completions": [SW, SW], "reference": [REF, REF], "lang": ["sw", "xx"]}
    with pytest.raises(RemoteRewardError, match="1 of 2 completions"):
        asyncio.run(fn(**bad))
    assert asyncio.run(remote_trl.RemoteReward(url, on_error="none")(**bad)) == [want[0], None]


def test_trl_sees_an_async_reward_function(url: str) -> None:
    import inspect
    import pickle

    fn = remote_trl.RemoteReward(url, name="pbrlsvr")
    # trl.trainer.utils.is_async_callable / get_callable_name (TRL 1.16), inlined here:
    assert inspect.iscoroutinefunction(fn.__call__)
    assert getattr(fn, "__name__", None) == "pbrlsvr"
    assert pickle.loads(pickle.dumps(fn)).client.url == url
    # TRL runs async reward functions on a daemon event loop (start_event_loop_in_daemon):
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        kwargs = {"prompts": ["p"], "completions": [SW], "reference": [REF], "lang": ["sw"]}
        for _ in range(2):  # one AsyncClient per loop, reused across steps
            rewards = asyncio.run_coroutine_threadsafe(fn(**kwargs), loop).result(30)
            assert rewards[0] > 0.8
        assert len(fn.client._async) == 1
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@pytest.mark.slow
def test_trl_helpers_accept_the_reward_function(url: str) -> None:
    from trl.trainer.utils import get_callable_name, is_async_callable

    fn = remote_trl.RemoteReward(url)
    assert is_async_callable(fn) and get_callable_name(fn) == "pbrlsvr"


def test_verl_compute_score_sync_and_async(
    url: str, reference_reward: Reward, caplog: pytest.LogCaptureFixture
) -> None:
    # the row shape pbrlsvr.integrations.verl.verl_row writes
    extra = {"index": 0, "id": "mgsm-0001", "lang": "sw", "reference": REF, "gold": "11"}
    want = reference_reward.score_batch(
        [{"response": SW, "lang": "sw", "reference": REF, "reference_answer": "11", "gold": "11"}]
    )[0]
    want_dict = scored(want.reward, want.components, want.gate)
    assert remote_verl.compute_score("pbrlsvr", SW, "11", extra, url=url) == want_dict
    got = asyncio.run(
        remote_verl.compute_score_async(
            data_source="pbrlsvr",
            solution_str=SW,
            ground_truth="11",
            extra_info=extra,
            url=url,
            reward_router_address=None,
        )
    )
    assert got == want_dict
    # an OpenRLHF-style JSON label as ground_truth works too
    label = json.dumps({"reference": REF, "reference_answer": "11", "lang": "sw", "gold": "11"})
    assert remote_verl.compute_score("x", SW, label, None, url=url) == want_dict
    # an unscorable sample scores 0, failed=1, same keys (as in-process); the reason is logged
    with caplog.at_level("WARNING", logger="pbrlsvr.verl"):
        for bad in (
            remote_verl.compute_score("x", SW, "11", {**extra, "lang": "xx"}, url=url),
            asyncio.run(remote_verl.compute_score_async("x", SW, "11", {**extra, "lang": "xx"}, url=url)),
        ):
            assert bad["score"] == 0.0 and bad["failed"] == 1.0 and set(bad) == set(want_dict)
    assert "unknown language" in caplog.text


def test_client_retries_then_reports_an_unreachable_service() -> None:
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ScoreClient(f"http://127.0.0.1:{port}/score", retries=2, backoff=0.01, timeout=5)
    t0 = time.perf_counter()
    with pytest.raises(RemoteRewardError, match="after 3 attempts"):
        client.score([ITEM])
    assert time.perf_counter() - t0 < 5
    with pytest.raises(RemoteRewardError, match="after 3 attempts"):
        asyncio.run(client.ascore([ITEM]))


def test_client_sends_the_token(strict: str) -> None:
    assert ScoreClient(strict, token="s3cret").score([ITEM])[0]["reward"] > 0.8
    with pytest.raises(RemoteRewardError, match="HTTP 401"):
        ScoreClient(strict, token="wrong", retries=0).score([ITEM])


# --- pbrlsvr serve ----------------------------------------------------------------------------


def _serve(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pbrlsvr", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=Path(__file__).resolve().parents[1],
    )


def test_pbrlsvr_serve_starts_scores_and_stops(tmp_path: Path) -> None:
    cfg = tmp_path / "reward.yaml"
    cfg.write_text("max_wait_ms: 1\nreward:\n  langs: [sw]\n  weights: {semantic: 0}\n", encoding="utf-8")
    proc = _serve(["--config", str(cfg), "--host", "127.0.0.1", "--port", "0"])
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 120
        port = None
        assert proc.stdout is not None
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"running on http://127\.0\.0\.1:(\d+)", line)
            port = int(m.group(1)) if m else None
        assert port is not None, "".join(lines)
        assert any("reward loaded" in line for line in lines), "".join(lines)
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/health").json()["max_wait_ms"] == 1
        resp = httpx.post(f"{url}/score", json={"items": [ITEM]})
        assert resp.status_code == 200 and "semantic" not in resp.json()["results"][0]["components"]
    finally:
        proc.terminate()
        proc.wait(30)


def test_pbrlsvr_serve_refuses_an_unset_token_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PBRLSVR_NO_SUCH_TOKEN"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pbrlsvr",
            "serve",
            "--set",
            "token_env=PBRLSVR_NO_SUCH_TOKEN",
            "--set",
            "prot=1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "unknown key 'prot'" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "pbrlsvr", "serve", "--set", "token_env=PBRLSVR_NO_SUCH_TOKEN"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "PBRLSVR_NO_SUCH_TOKEN" in proc.stderr and "unset or empty" in proc.stderr


# --- hostile text (issue 15) --------------------------------------------------------------------


def _post(url: str, path: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{url}{path}", content=body, headers={"Content-Type": "application/json"})


def test_unencodable_text_is_an_item_error_and_the_rest_is_scored(url: str, reference_reward: Reward) -> None:
    # JSON can carry a lone surrogate ("\ud800") or NUL; before, the tokenizer's TypeError failed
    # the batch and /get_reward answered 500 for the whole request.
    surrogate = {"response": "Jibu ni 11 \ud800", "lang": "sw", "reference": REF, "id": "s"}
    nul = {"response": "Jibu\u0000 ni 11", "lang": "sw", "reference": REF, "id": "n"}
    body = json.dumps({"items": [POOL[0], surrogate, nul, POOL[1]]}).encode()  # ASCII, escaped
    resp = _post(url, "/score", body)
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert results[0] == expected(reference_reward, POOL[0])
    assert results[3] == expected(reference_reward, POOL[1])
    assert (
        results[1] == {"error": results[1]["error"], "id": "s"}
        and "lone surrogate U+D800" in results[1]["error"]
    )
    assert "NUL character" in results[2]["error"] and results[2]["id"] == "n"
    label = json.dumps({"reference": REF, "lang": "sw"})
    query = json.dumps({"query": ["Jibu ni 11 \ud800"], "prompts": [""], "labels": [label]}).encode()
    resp = _post(url, "/get_reward", query)
    assert resp.status_code == 200, resp.text
    assert resp.json()["rewards"] == [0.0]
    assert resp.json()["errors"][0].startswith("query[0]: field 'response' contains a lone surrogate")
    assert httpx.get(f"{url}/health").json()["worker_alive"] is True


def test_an_echoed_id_with_a_lone_surrogate_does_not_break_the_response(url: str) -> None:
    item = {**POOL[0], "id": "a\ud800"}
    resp = _post(url, "/score", json.dumps({"items": [item]}).encode())
    assert resp.status_code == 200, resp.text
    assert json.loads(resp.content)["results"][0]["id"] == "a\ud800"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"items": [{"response": "x", "lang": "sw", "reference": "r", "id": NaN}]}',
            "NaN is not standard JSON",
        ),
        (b'{"items": [], "x": Infinity}', "Infinity"),
        (b'{"items": [], "x": 1e999}', "out of range"),
        (b'{"items": [], "items": []}', "duplicate key 'items'"),
    ],
)
def test_non_standard_json_bodies_get_400(url: str, body: bytes, message: str) -> None:
    # Python's json takes these; echoing an `id: NaN` back used to fail the response with a 500.
    resp = _post(url, "/score", body)
    assert resp.status_code == 400, resp.text
    assert message in resp.json()["detail"]
    label = '{"reference": "r", "lang": "sw", "gold": NaN}'
    resp = _post(
        url, "/get_reward", json.dumps({"query": ["x"], "prompts": [""], "labels": [label]}).encode()
    )
    assert resp.status_code == 200 and "NaN is not standard JSON" in resp.json()["errors"][0]
