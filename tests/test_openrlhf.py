"""OpenRLHF: the reward through OpenRLHF 0.11.2's own client code, and the in-process reward_func.

The slow tests install ``openrlhf==0.11.2`` (``--no-deps``: its client needs only aiohttp) and
aiohttp into a folder of their own under pytest's tmp dir (~16 MB, ~10 s from PyPI) and run
``tests/openrlhf_driver.py`` with it: OpenRLHF's ``preprocess_data`` builds prompt and label from
a ``pbrlsvr export-openrlhf`` row, and its ``SingleTurnAgentExecutor`` sends the request, retries
and reads the answer, as in training. ``PBRLSVR_OPENRLHF_SITE`` names a folder already holding
both (no download). Without network and without that folder, they skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pbrlsvr.integrations import openrlhf as orl
from pbrlsvr.rewards.config import RewardConfig
from pbrlsvr.rewards.reward import Reward
from pbrlsvr.server.config import ServeConfig
from tests.hash_encoder import HashEncoder
from tests.test_server import REF, SW, serving

OPENRLHF = "openrlhf==0.11.2"
DRIVER = Path(__file__).with_name("openrlhf_driver.py")
ROW = {"id": "gsm8k-train-7", "lang": "sw", "question": "Roger ana mipira 5 ...", "reference": REF}


def make_reward() -> Reward:
    return Reward(RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder())


@pytest.fixture(scope="module")
def openrlhf_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("PBRLSVR_OPENRLHF_SITE")
    if given:
        return Path(given)
    site = tmp_path_factory.mktemp("openrlhf-site")
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(site),
    ]
    for args in (["--no-deps", OPENRLHF], ["aiohttp>=3.13.3"]):
        proc = subprocess.run([*pip, *args], capture_output=True, text=True, timeout=600)
        if proc.returncode:
            pytest.skip(f"cannot install {args[-1]} (no network?): {proc.stderr.strip()[-300:]}")
    return site


def drive(
    site: Path, url: str, cases: list[dict[str, Any]], tmp_path: Path, **env: str
) -> list[dict[str, Any]]:
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(DRIVER), str(site), url, str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    drive.log = proc.stdout + proc.stderr  # type: ignore[attr-defined]
    return [
        json.loads(line.removeprefix("RESULT "))
        for line in proc.stdout.splitlines()
        if line.startswith("RESULT ")
    ]


def exported_row(tmp_path: Path, row: dict[str, Any]) -> dict[str, Any]:
    path = tmp_path / "openrlhf.jsonl"
    orl.export_openrlhf([row], path)
    (line,) = path.read_text(encoding="utf-8").splitlines()
    return json.loads(line)


BAD_LABELS = [
    "",  # no --data.label_key: OpenRLHF sends ""
    json.dumps({"reference": REF, "lang": "fr"}),  # a language the reward does not know
    "the answer is 11",  # not JSON
]


def _cases(tmp_path: Path) -> list[dict[str, Any]]:
    good = exported_row(tmp_path, {**ROW, "reference_answer": "11"})
    return [
        {"row": good, "response": SW},
        *(
            {"prompt": "<|im_start|>user\nswali<|im_end|>\n", "label": lab, "response": SW}
            for lab in BAD_LABELS
        ),
    ]


def _check(outputs: list[dict[str, Any]], good: float) -> None:
    """Every sample: a float reward (in a one-element list, as OpenRLHF's own serve_rm answers), the
    same extra_logs keys, numbers only; bad samples 0 with `unscored` 1."""
    assert len(outputs) == 1 + len(BAD_LABELS)
    keys = set(outputs[0]["extra_logs"])
    assert "unscored" in keys
    for i, out in enumerate(outputs):
        assert isinstance(out["reward"], list) and len(out["reward"]) == 1, out
        assert isinstance(out["reward"][0], float) and out["scores"] == out["reward"]
        assert set(out["extra_logs"]) == keys
        assert all(
            isinstance(v, list) and len(v) == 1 and isinstance(v[0], float)
            for v in out["extra_logs"].values()
        )
        if i == 0:
            assert out["reward"][0] == pytest.approx(good) and out["extra_logs"]["unscored"] == [0.0]
        else:
            assert out["reward"] == [0.0] and out["extra_logs"]["unscored"] == [1.0], out


@pytest.mark.slow
def test_openrlhf_client_gets_a_float_for_every_sample_over_http(openrlhf_site: Path, tmp_path: Path) -> None:
    reward = make_reward()
    good = reward.score_batch([{"response": SW, "lang": "sw", "reference": REF, "reference_answer": "11"}])[
        0
    ].reward
    with serving(ServeConfig(reward=reward.config), reward) as (url, _):
        outputs = drive(openrlhf_site, f"{url}/get_reward", _cases(tmp_path), tmp_path)
    _check(outputs, good)


@pytest.mark.slow
def test_openrlhf_gets_none_from_a_service_with_a_token(
    openrlhf_site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the README says to serve OpenRLHF without a token: it sends no Authorization header, so
    it gets 401, retries 5 times (1 s apart) and leaves the reward None."""
    monkeypatch.setenv("PBRLSVR_TEST_TOKEN", "s3cret")
    reward = make_reward()
    with serving(ServeConfig(token_env="PBRLSVR_TEST_TOKEN", reward=reward.config), reward) as (url, service):
        (out,) = drive(openrlhf_site, f"{url}/get_reward", _cases(tmp_path)[:1], tmp_path)
        unauthorized = service.metrics.render()
    assert out["reward"] is None
    assert drive.log.count("Request error, please check: 401") == 5  # type: ignore[attr-defined]
    assert 'pbrlsvr_requests_total{endpoint="/get_reward",status="401"} 5' in unauthorized


@pytest.mark.slow
def test_openrlhf_loads_our_reward_func_file(openrlhf_site: Path, tmp_path: Path) -> None:
    """``--reward.remote_url <pbrlsvr/integrations/openrlhf.py>``: OpenRLHF imports the file by path
    and calls ``reward_func(queries, prompts, labels)``; the reward comes from $PBRLSVR_REWARD_CONFIG
    (the default e5-small-torch encoder here)."""
    config = tmp_path / "serve.yaml"
    config.write_text("reward:\n  langs: [sw]\n", encoding="utf-8")
    outputs = drive(
        openrlhf_site, orl.__file__, _cases(tmp_path), tmp_path, PBRLSVR_REWARD_CONFIG=str(config)
    )
    _check(outputs, outputs[0]["reward"][0])
    assert outputs[0]["reward"][0] > 0.5


def test_reward_func_answers_as_get_reward_does() -> None:
    reward = make_reward()
    cfg = ServeConfig(reward=reward.config)
    label = json.dumps({"reference": REF, "lang": "sw", "reference_answer": "11"})
    prompt = "<|im_start|>user\nswali<|im_end|>\n<|im_start|>assistant\n"
    out = orl.score_openrlhf(
        reward, cfg, [prompt + SW + "<|im_end|>", prompt + SW], [prompt, prompt], [label, ""]
    )
    want = reward.score_batch([{"response": SW, "lang": "sw", "reference": REF, "reference_answer": "11"}])[0]
    assert out["rewards"] == [want.reward, 0.0] and out["scores"] == out["rewards"]
    assert out["extra_logs"]["unscored"] == [0.0, 1.0]
    assert out["extra_logs"]["semantic"] == [want.components["semantic"], 0.0]
    assert out["errors"][0] is None and "--data.label_key" in out["errors"][1]

    with serving(cfg, reward) as (url, _):
        import httpx

        body = {
            "query": [prompt + SW + "<|im_end|>", prompt + SW],
            "prompts": [prompt, prompt],
            "labels": [label, ""],
        }
        assert httpx.post(f"{url}/get_reward", json=body).json() == out


def test_reward_func_survives_a_scorer_error(caplog: pytest.LogCaptureFixture) -> None:
    reward = make_reward()

    def broken(items: Any) -> Any:
        raise RuntimeError("encoder exploded")

    reward.score_batch = broken  # type: ignore[method-assign]
    label = json.dumps({"reference": REF, "lang": "sw"})
    with caplog.at_level("WARNING"):
        out = orl.score_openrlhf(reward, ServeConfig(reward=reward.config), [SW], [""], [label])
    assert out["rewards"] == [0.0] and out["extra_logs"]["unscored"] == [1.0]
    assert "encoder exploded" in out["errors"][0]
    assert any("sample 0" in r.getMessage() and "encoder exploded" in r.getMessage() for r in caplog.records)


def test_export_writes_openrlhf_input_and_label_columns(tmp_path: Path) -> None:
    row = exported_row(tmp_path, {**ROW, "reference_answer": 11, "gold": None})
    assert set(row) == {"input", "label"}
    assert row["input"][-1]["role"] == "user" and "Roger ana mipira 5" in row["input"][-1]["content"]
    label = json.loads(row["label"])
    assert label == {
        "reference": REF,
        "reference_answer": "11",
        "lang": "sw",
        "question": ROW["question"],
        "id": ROW["id"],
    }
    with pytest.raises(ValueError, match=r"row 0: missing \['reference'\]"):
        orl.export_openrlhf([{**ROW, "reference": ""}], tmp_path / "x.jsonl")


def test_cli_export_openrlhf(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pbrlsvr.cli import app

    src = tmp_path / "refs.jsonl"
    src.write_text(json.dumps({**ROW, "reference_answer": "11"}) + "\n", encoding="utf-8")
    out = tmp_path / "openrlhf.jsonl"
    result = CliRunner().invoke(app, ["export-openrlhf", "--data", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert json.loads(row["label"])["reference_answer"] == "11"
    src.write_text(json.dumps({**ROW, "id": "mgsm-sw-0001"}) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["export-openrlhf", "--data", str(src), "-o", str(out)])
    assert result.exit_code != 0 and "evaluation set" in result.output
