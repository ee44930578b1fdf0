"""TRL and verl adapters: same numbers as the reward itself, bad rows never crash a run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from pbrlsvr.integrations import remote_verl
from pbrlsvr.integrations import verl as verl_adapter
from pbrlsvr.integrations.trl import PBRLSVRReward, completion_text, make_reward_funcs
from pbrlsvr.integrations.verl_result import failed, scored, verl_keys
from pbrlsvr.prompts import build_messages
from pbrlsvr.rewards.config import RewardConfig
from pbrlsvr.rewards.reward import Reward
from pbrlsvr.server.client import RemoteRewardError, ScoreClient
from tests.hash_encoder import HashEncoder
from tests.test_rewards_reward import REF, SW, SW_SLIP, SW_WRONG

VERL_KEYS = verl_keys()


@pytest.fixture(scope="module")
def reward() -> Reward:
    return Reward(RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder())


def _columns(n: int) -> dict[str, list[object]]:
    return {"reference": [REF] * n, "lang": ["sw"] * n, "reference_answer": ["11"] * n, "gold": [None] * n}


def test_trl_sum_returns_the_combined_reward_and_logs_components(reward: Reward) -> None:
    completions = [[{"role": "assistant", "content": t}] for t in (SW, SW_WRONG, SW_SLIP, REF)]
    logged: dict[str, float] = {}
    fn = PBRLSVRReward(reward)
    out = fn(
        prompts=[[{"role": "user", "content": "q"}]] * 4,
        completions=completions,
        log_metric=logged.__setitem__,
        **_columns(4),
    )
    expected = [
        reward.score(completion_text(c), "sw", REF, reference_answer="11").reward for c in completions
    ]
    assert out == expected
    assert out[0] > max(out[1:])
    assert {"rewards/semantic/mean", "rewards/answer/mean", "rewards/trace/mean", "pbrlsvr/gate"} <= set(
        logged
    )
    assert logged["rewards/answer/mean"] == pytest.approx(0.75)
    assert fn.__name__ == "pbrlsvr"


def test_trl_unscorable_rows_become_none_not_a_crash(reward: Reward) -> None:
    cols = _columns(3)
    cols["lang"] = ["sw", "xx", "sw"]
    cols["reference"] = [REF, REF, None]
    out = PBRLSVRReward(reward)(prompts=["q"] * 3, completions=[SW, SW, SW], **cols)
    assert out[0] is not None and out[1] is None and out[2] is None


def test_trl_normalize_then_sum_components(reward: Reward) -> None:
    funcs, weights = make_reward_funcs(reward, "normalize_then_sum")
    assert [f.__name__ for f in funcs] == list(reward.weights)
    assert weights == list(reward.weights.values())
    texts = [SW, REF]
    per = {f.__name__: f(prompts=["q"] * 2, completions=texts, **_columns(2)) for f in funcs}
    full = [reward.score(t, "sw", REF, reference_answer="11") for t in texts]
    assert per["answer"] == [r.components["answer"] for r in full]
    assert per["semantic"][1] == 0.0  # the English copy's semantic reward is gated off here too
    # a new batch of the same size must not reuse the previous batch's scores
    again = funcs[list(reward.weights).index("answer")](
        prompts=["q"] * 2, completions=[SW_WRONG, SW_WRONG], **_columns(2)
    )
    assert again == [0.0, 0.0]
    with pytest.raises(ValueError, match="aggregation"):
        make_reward_funcs(reward, "mean")  # type: ignore[arg-type]


def test_verl_compute_score_and_export(
    tmp_path: Path, reward: Reward, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(verl_adapter, "_reward", reward)
    rows = [
        {
            "id": "mgsm-0001",
            "lang": "sw",
            "question": "Swali?",
            "reference": REF,
            "reference_answer": "11",
            "gold": "11",
        },
        {"id": "mgsm-0002", "lang": "sw", "question": "Swali 2?", "reference": REF, "reference_answer": "11"},
    ]
    path = tmp_path / "train.parquet"
    assert verl_adapter.export_verl(rows, path) == 2
    df = pd.read_parquet(path)
    assert list(df.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    first = df.iloc[0]
    assert first["reward_model"]["ground_truth"] == "11"
    assert first["extra_info"]["reference"] == REF and first["extra_info"]["lang"] == "sw"
    # the prompt is the one TRL training builds (instruction naming the language + the question)
    assert list(first["prompt"]) == build_messages("Swali?", "sw")
    assert first["extra_info"]["question"] == "Swali?"
    info = dict(first["extra_info"])
    good = verl_adapter.compute_score("pbrlsvr", SW, "11", info)
    bad = verl_adapter.compute_score("pbrlsvr", SW_WRONG, "11", info)
    assert good["score"] == reward.score(SW, "sw", REF, reference_answer="11").reward
    assert good["score"] > bad["score"] and good["semantic"] > 0 and good["failed"] == 0.0
    # every sample, scored or not, has the same keys: verl appends each key's values per sample
    assert tuple(good) == tuple(bad) == VERL_KEYS
    with caplog.at_level("WARNING", logger="pbrlsvr.verl"):
        broken = verl_adapter.compute_score("pbrlsvr", SW, "11", {"lang": "sw"})
    assert broken["score"] == 0.0 and broken["failed"] == 1.0 and tuple(broken) == VERL_KEYS
    assert "reference" in caplog.text
    with pytest.raises(ValueError, match="missing"):
        verl_adapter.verl_row({"id": "x", "lang": "sw"}, 0)


def test_verl_reward_config_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "r.yaml"
    cfg.write_text("reward:\n  preset: accuracy\n  answer_against: reference\n", encoding="utf-8")
    monkeypatch.setenv(verl_adapter.CONFIG_ENV, str(cfg))
    monkeypatch.setattr(verl_adapter, "_reward", None)
    out = verl_adapter.compute_score("pbrlsvr", SW, "11", {"lang": "sw", "reference": REF})
    assert out["score"] == 1.0 and out["answer"] == 1.0 and out["semantic"] == 0.0  # weight 0 → 0


# --- remote verl: the same error contract as the in-process compute_score ----------------------


class FakeService:
    """A ``/score`` endpoint behind httpx.MockTransport: the real ScoreClient (retries, status
    handling) talks to it, with no network. ``mode`` picks the answer."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        items = json.loads(request.content)["items"]
        if self.mode == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if self.mode == "busy":
            return httpx.Response(503, json={"detail": "server busy"})
        if self.mode == "token":
            return httpx.Response(401, json={"detail": "missing or wrong bearer token"})
        results: list[dict[str, Any]] = []
        for item in items:
            if item.get("lang") == "xx":
                results.append({"error": "unknown language 'xx'"})
            else:
                results.append({"reward": 0.75, "components": {"answer": 1.0, "semantic": 0.5}, "gate": 1.0})
        if all("error" in r for r in results):  # what the service does when no item can be scored
            listed = "; ".join(f"item {i}: {r['error']}" for i, r in enumerate(results))
            return httpx.Response(422, json={"detail": f"no item could be scored: {listed}"})
        return httpx.Response(200, json={"results": results})


class MockedClient(ScoreClient):
    def __init__(self, service: FakeService) -> None:
        super().__init__("http://reward-host:8000", retries=2, backoff=0.001, timeout=5)
        self.transport = httpx.MockTransport(service)

    def _client(self) -> httpx.Client:
        return httpx.Client(transport=self.transport)

    def _aclient(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport)


def _remote(monkeypatch: pytest.MonkeyPatch, mode: str) -> FakeService:
    service = FakeService(mode)
    client = MockedClient(service)
    monkeypatch.setattr(remote_verl, "_client", lambda *a, **k: client)
    return service


GOOD = {"lang": "sw", "reference": REF}
BAD = {"lang": "xx", "reference": REF}


def _both(*args: Any) -> list[dict[str, Any]]:
    """compute_score and compute_score_async on the same sample: they must agree."""
    sync = remote_verl.compute_score(*args, url="http://reward-host:8000")
    asyn = asyncio.run(remote_verl.compute_score_async(*args, url="http://reward-host:8000"))
    assert sync == asyn
    return [sync, asyn]


def test_remote_verl_scores_like_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    _remote(monkeypatch, "ok")
    got, _ = _both("pbrlsvr", SW, "11", GOOD)
    assert got == scored(0.75, {"answer": 1.0, "semantic": 0.5}, 1.0)
    assert tuple(got) == VERL_KEYS and got["translation"] == 0.0 and got["failed"] == 0.0


def test_remote_verl_unscorable_sample_scores_zero_with_the_reason(
    reward: Reward, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # One item alone: the service answers 422 ("no item could be scored"); not an exception.
    _remote(monkeypatch, "ok")
    with caplog.at_level("WARNING", logger="pbrlsvr.verl"):
        got, _ = _both("pbrlsvr", SW, "11", BAD)
    assert got == failed("x") and got["failed"] == 1.0
    assert "no item could be scored: item 0: unknown language 'xx'" in caplog.text
    # Same keys as the in-process adapter on an unscorable sample.
    monkeypatch.setattr(verl_adapter, "_reward", reward)
    assert tuple(got) == tuple(verl_adapter.compute_score("pbrlsvr", SW, "11", {"lang": "sw"})) == VERL_KEYS

    # In flight together (verl's reward loop awaits one coroutine per response): the bad sample
    # scores 0, the others are scored.
    async def in_flight() -> list[dict[str, Any]]:
        calls = [
            remote_verl.compute_score_async("pbrlsvr", SW, "11", e, url="http://reward-host:8000")
            for e in (GOOD, BAD, GOOD)
        ]
        return await asyncio.gather(*calls)

    batch = asyncio.run(in_flight())
    assert [b["score"] for b in batch] == [0.75, 0.0, 0.75]
    assert [b["failed"] for b in batch] == [0.0, 1.0, 0.0]


@pytest.mark.parametrize(
    ("mode", "message"), [("down", "after 3 attempts"), ("busy", "after 3 attempts"), ("token", "HTTP 401")]
)
def test_remote_verl_transport_failures_still_raise(
    monkeypatch: pytest.MonkeyPatch, mode: str, message: str
) -> None:
    # A dead, overloaded or misconfigured service is not a bad sample: it raises after the retries.
    service = _remote(monkeypatch, mode)
    with pytest.raises(RemoteRewardError, match=message):
        remote_verl.compute_score("pbrlsvr", SW, "11", GOOD, url="http://reward-host:8000")
    with pytest.raises(RemoteRewardError, match=message):
        asyncio.run(remote_verl.compute_score_async("pbrlsvr", SW, "11", GOOD, url="http://reward-host:8000"))
    assert service.calls == (3 + 3 if mode != "token" else 2)
