"""The verl launch scripts and reward against the real verl (``VERL_SPEC``), in its own venv.

verl pins another transformers than pbrlsvr, so it gets a side venv inside the clone
(``.cache/verl-side/venv-<key>``, keyed by the pinned versions, so a re-run reuses it; nothing is
cached outside the clone). With verl's own code, and no GPU:

* each launch script (``configs/verl/*.sh``) is run with ``PYTHON`` set to a stub that records the
  arguments bash expanded, so the overrides are exactly the script's; verl's Hydra entry point
  ``main_ppo.main`` composes them and runs its validation (micro-batch assertions included) up to
  where it would start Ray (``tests/verl_side/compose.py``);
* ``pbrlsvr export-verl`` writes the Parquet rows; verl's ``RLHFDataset`` reads them and verl's
  ``RewardLoopManager`` scores responses on a local Ray cluster through the reward each composed
  config names: in-process (``pbrlsvr.integrations.verl``) and on a ``pbrlsvr serve`` service
  (``remote_verl``, the multi-node default) (``tests/verl_side/score.py``).

Skips only when PyPI cannot be reached to build the venv; any other failure fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from pbrlsvr.cli import app
from pbrlsvr.config import load_config
from pbrlsvr.integrations.verl_result import verl_keys
from pbrlsvr.prompts import build_messages
from pbrlsvr.rewards.config import RewardConfig

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
VERL_KEYS = verl_keys()  # the built-in components' keys (no plugin is loaded here)
SIDE = ROOT / "tests" / "verl_side"
SCRIPTS = ROOT / "configs" / "verl"
VERL_SPEC = "verl==0.9.1"
TORCH_SPEC = os.environ.get("TORCH_SPEC", "torch==2.13.0")

REF = "Roger started with 5 balls. 2 cans of 3 tennis balls each is 6 tennis balls. 5 + 6 = 11. The answer is 11."
SW_Q = "Roger ana mipira 5 ya tenisi. Ananunua makopo 2 ya mipira 3 kila moja. Ana mipira mingapi sasa?"
DE_Q = "Roger hat 5 Tennisbälle. Er kauft 2 Dosen mit je 3 Bällen. Wie viele Bälle hat er jetzt?"
SW = "Roger alianza na mipira 5. Makopo 2 ya mipira 3 ya tenisi kila moja ni mipira 6 ya tenisi. 5 + 6 = 11. Jibu ni 11."
SW_WRONG = SW.replace("= 11. Jibu ni 11", "= 12. Jibu ni 12")
DE = "Roger hatte 5 Bälle. 2 Dosen mit je 3 Tennisbällen sind 6 Tennisbälle. 5 + 6 = 11. Die Antwort lautet 11."
# (row, response): right, wrong, the English reference copied, empty, right in German
RESPONSES: list[tuple[int, str]] = [(0, SW), (0, SW_WRONG), (0, REF), (0, ""), (1, DE), (1, REF)]
# The test's reward differs from the defaults (format weight 0) so that scores show which config the
# Ray reward workers built; e5-small-torch is the real encoder.
WEIGHTS = {"semantic": 0.2, "translation": 0.0, "answer": 0.3, "trace": 0.2, "language": 0.15, "format": 0.0}
REWARD = {
    "preset": "pbrlsvr",
    "weights": WEIGHTS,
    "langs": ["sw", "de"],
    "encoder": {"name": "e5-small-torch"},
}
# name -> (script, extra environment): the in-process reward and, for GRPO, the service
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "grpo": ("grpo.sh", {}),
    "ppo": ("ppo.sh", {}),
    "gdpo": ("gdpo.sh", {}),
    "grpo-remote": ("grpo.sh", {"PBRLSVR_REWARD_URL": "@service"}),
}


def _run(cmd: list[str], timeout: float, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)


def _check(proc: subprocess.CompletedProcess[str], what: str) -> None:
    assert proc.returncode == 0, (
        f"{what} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    )


def _venv_key() -> str:
    text = (SIDE / "requirements.txt").read_text(encoding="utf-8") + VERL_SPEC + TORCH_SPEC + sys.version[:4]
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@pytest.fixture(scope="module")
def verl_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The side venv's interpreter: built once per key under .cache/verl-side, then reused."""
    venv = ROOT / ".cache" / "verl-side" / f"venv-{_venv_key()}"
    python = venv / "bin" / "python"
    done = venv / ".complete"
    if done.is_file():
        return python
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "install", "--no-cache-dir", "--quiet"]
    # PyPI reachable? The only reason to skip: fetch verl's wheel alone first (1.7 MB).
    probe = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-cache-dir",
            "-d",
            str(tmp_path_factory.mktemp("probe")),
            VERL_SPEC,
        ],
        timeout=300,
    )
    if probe.returncode != 0:
        pytest.skip(f"PyPI unreachable, cannot build the verl venv: {probe.stderr.strip()[-300:]}")
    shutil.rmtree(venv, ignore_errors=True)
    start = time.monotonic()
    _check(_run([sys.executable, "-m", "venv", str(venv)], timeout=300), "python -m venv")
    steps = [
        [*pip, TORCH_SPEC],  # first: otherwise a dependency pulls a multi-GB CUDA build
        [*pip, "-r", str(SIDE / "requirements.txt")],
        [*pip, "--no-deps", VERL_SPEC],
        [*pip, "--no-deps", "-e", str(ROOT)],
    ]
    for cmd in steps:
        _check(_run(cmd, timeout=1800), " ".join(cmd[6:]))
    seconds = time.monotonic() - start
    done.write_text(json.dumps({"install_seconds": round(seconds, 1)}), encoding="utf-8")
    print(f"verl side venv built in {seconds:.0f} s: {venv}")
    return python


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory, verl_python: Path) -> dict[str, Any]:
    """Exported rows, the tiny model folder, the reward config and a side-venv environment."""
    root = tmp_path_factory.mktemp("verl")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH") and not k.startswith("PBRLSVR_")
    }
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_HOME=str(root / "hf"),  # datasets' cache of the Parquet file: per run, not in $HOME
        PBRLSVR_CACHE_DIR=str(ROOT / ".cache" / "verl-side" / "pbrlsvr-cache"),
        RAY_AUTH_MODE="disabled",  # else Ray writes a token under ~/.ray
        RAY_USAGE_STATS_ENABLED="0",
        VERL_USE_EXTERNAL_PLUGINS="none",
    )
    pivot = root / "pivot.jsonl"
    rows = [
        {
            "id": "gsm8k-train-0001",
            "lang": "sw",
            "question": SW_Q,
            "reference": REF,
            "reference_answer": "11",
        },
        {
            "id": "gsm8k-train-0002",
            "lang": "de",
            "question": DE_Q,
            "reference": REF,
            "reference_answer": "11",
        },
    ]
    pivot.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    data = root / "data"
    for split in ("train", "val"):
        result = CliRunner().invoke(
            app, ["export-verl", "--data", str(pivot), "-o", str(data / f"pbrlsvr_{split}.parquet")]
        )
        assert result.exit_code == 0, result.output
    model = root / "tiny-model"
    _check(
        _run([str(verl_python), str(SIDE / "tiny_model.py"), str(model)], timeout=300, env=env),
        "tiny_model.py",
    )
    config = root / "reward.yaml"
    config.write_text(yaml.safe_dump({"reward": REWARD}), encoding="utf-8")
    return {"root": root, "env": env, "data": data, "model": model, "config": config}


@pytest.fixture(scope="module")
def service(work: dict[str, Any]) -> Iterator[str]:
    """``pbrlsvr serve`` (this project's venv) on a free loopback port, with the test's reward."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = work["root"] / "serve.yaml"
    cfg.write_text(yaml.safe_dump({"host": "127.0.0.1", "port": port, "reward": REWARD}), encoding="utf-8")
    env = {**os.environ, "PBRLSVR_CACHE_DIR": work["env"]["PBRLSVR_CACHE_DIR"]}
    log = open(work["root"] / "serve.log", "w", encoding="utf-8")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "pbrlsvr", "serve", "-c", str(cfg)], stdout=log, stderr=log, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (work["root"] / "serve.log").read_text(encoding="utf-8")
            assert time.monotonic() < deadline, "pbrlsvr serve did not come up"
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


def _script_argv(script: str, env: dict[str, str], root: Path) -> list[str]:
    """The interpreter arguments the launch script passes, with bash doing every expansion."""
    stub = root / "python-stub"
    stub.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "json.dump(sys.argv[1:], open(os.environ['VERL_ARGV_OUT'], 'w', encoding='utf-8'))\n",
        encoding="utf-8",
    )
    stub.chmod(0o755)
    out = root / f"{script}.{len(list(root.glob('*.argv.json')))}.argv.json"
    proc = _run(
        ["bash", str(SCRIPTS / script)],
        timeout=60,
        env={**env, "PYTHON": str(stub), "VERL_ARGV_OUT": str(out)},
        cwd=root,
    )
    _check(proc, script)
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def composed(work: dict[str, Any], verl_python: Path, service: str) -> dict[str, dict[str, Any]]:
    """Each variant: its script's arguments, verl's composition/validation run and its config."""
    out: dict[str, dict[str, Any]] = {}
    for name, (script, extra) in VARIANTS.items():
        env = {
            **work["env"],
            "MODEL": str(work["model"]),
            "DATA_DIR": str(work["data"]),
            "PBRLSVR_REWARD_CONFIG": str(work["config"]),
            "REWARD_WORKERS": "2",
            **{k: (service if v == "@service" else v) for k, v in extra.items()},
        }
        argv = _script_argv(script, env, work["root"])
        (work["root"] / f"{name}.json").write_text(json.dumps(argv), encoding="utf-8")
        target = work["root"] / f"{name}.yaml"
        side_env = {k: v for k, v in work["env"].items()}  # no PBRLSVR_*: the config must carry the reward
        proc = _run(
            [str(verl_python), str(SIDE / "compose.py"), str(work["root"] / f"{name}.json"), str(target)],
            timeout=600,
            env=side_env,
            cwd=work["root"],
        )
        out[name] = {"argv": argv, "proc": proc, "config": target}
    return out


@pytest.mark.parametrize("name", list(VARIANTS))
def test_launch_script_composes_and_validates_under_verl(
    name: str, composed: dict[str, dict[str, Any]]
) -> None:
    got = composed[name]
    _check(got["proc"], f"verl's main_ppo on {VARIANTS[name][0]}")
    assert "All configuration checks passed" in got["proc"].stdout
    cfg = yaml.safe_load(got["config"].read_text(encoding="utf-8"))
    fn = cfg["reward"]["custom_reward_function"]
    remote = name.endswith("-remote")
    module = "remote_verl" if remote else "verl"
    assert fn["path"] == f"pkg://pbrlsvr.integrations.{module}"
    assert fn["name"] == ("compute_score_async" if remote else "compute_score")
    assert cfg["custom_reward_function"] == {"path": None, "name": None}  # the key verl 0.9 ignores
    assert cfg["reward"]["num_workers"] == 2
    kwargs = fn["reward_kwargs"]
    if remote:
        assert kwargs["url"].startswith("http://127.0.0.1:")
    else:
        assert Path(kwargs["config"]).is_absolute() and Path(kwargs["config"]).is_file()
    assert Path(cfg["data"]["train_files"]).is_absolute()


def test_gdpo_keys_are_the_reward_terms_with_the_shipped_weights(composed: dict[str, dict[str, Any]]) -> None:
    """gdpo.sh names our terms (gated, zeroed as the total is) with configs/reward.yaml's weights."""
    algo = yaml.safe_load(composed["gdpo"]["config"].read_text(encoding="utf-8"))["algorithm"]
    shipped = yaml.safe_load((ROOT / "configs" / "reward.yaml").read_text(encoding="utf-8"))["reward"]
    active = load_config(RewardConfig, overrides=shipped).weights.active()
    assert algo["gdpo_reward_keys"] == [f"{c}_term" for c in active]
    assert algo["gdpo_reward_weights"] == list(active.values())
    assert set(algo["gdpo_reward_keys"]) <= set(VERL_KEYS)


@pytest.fixture(scope="module")
def scored(work: dict[str, Any], composed: dict[str, dict[str, Any]], verl_python: Path) -> dict[str, Any]:
    for name, got in composed.items():
        _check(got["proc"], f"verl's main_ppo on {name}")
    responses = work["root"] / "responses.json"
    responses.write_text(json.dumps(RESPONSES), encoding="utf-8")
    out = work["root"] / "scored.json"
    proc = _run(
        [
            str(verl_python),
            str(SIDE / "score.py"),
            str(work["data"] / "pbrlsvr_train.parquet"),
            str(responses),
            str(out),
            *(f"{name}={got['config']}" for name, got in composed.items()),
        ],
        timeout=1200,
        env=work["env"],
        cwd=work["root"],
    )
    _check(proc, "verl's reward loop")
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_verl_reward_loop_scores_exported_rows(name: str, scored: dict[str, Any]) -> None:
    got = scored[name]
    n = len(RESPONSES)
    remote = name.endswith("-remote")
    assert got["loaded"] == (
        "pbrlsvr.integrations.remote_verl.compute_score_async"
        if remote
        else "pbrlsvr.integrations.verl.compute_score"
    )
    assert got["manager"] == ("GDPORewardManager" if name == "gdpo" else "NaiveRewardManager")
    assert got["workers"] == 2
    # one score per sample, and one value per sample for every key verl gathered
    assert got["reward_extra_keys"] == list(VERL_KEYS)
    assert len(got["rm_scores"]) == n
    assert all(len(v) == n for v in got["extra"].values())
    extra = got["extra"]
    assert got["rm_scores"] == pytest.approx(extra["score"], abs=1e-6)
    right, wrong, copied, empty, de_right, de_copied = extra["score"]
    assert right > wrong and right > copied and de_right > de_copied
    assert empty == 0.0 and extra["answer_term"][3] == 0.0
    assert extra["failed"] == [0.0] * n
    # the reward config reached the Ray workers through the Hydra config (format weight 0 there)
    assert extra["format"] == [0.0] * n and extra["semantic"][0] > 0
    # the copied English reference: high raw similarity, gated off in its term and in the total
    assert extra["semantic"][2] > 0.5 and extra["semantic_term"][2] == 0.0
    total = sum(WEIGHTS.values())
    for i in range(n):
        terms = sum(w * extra[f"{c}_term"][i] for c, w in WEIGHTS.items())
        assert terms / total == pytest.approx(extra["score"][i], abs=1e-5)


def test_in_process_and_service_rewards_agree(scored: dict[str, Any]) -> None:
    """Same config in the Ray workers and in the service: the same numbers, key by key."""
    local, remote = scored["grpo"]["extra"], scored["grpo-remote"]["extra"]
    for key in VERL_KEYS:
        assert local[key] == pytest.approx(remote[key], abs=1e-5), key


def test_exported_rows_read_by_verl_carry_the_training_prompt(
    work: dict[str, Any], verl_python: Path
) -> None:
    """verl's own dataset reader sees the prompt TRL training builds, and the fields the reward needs."""
    code = (
        "import json, sys\n"
        "from omegaconf import OmegaConf\n"
        "from verl.utils import hf_tokenizer\n"
        "from verl.utils.dataset.rl_dataset import RLHFDataset\n"
        "cfg = OmegaConf.create({'filter_overlong_prompts': False})\n"
        "ds = RLHFDataset(sys.argv[1], hf_tokenizer(sys.argv[2]), cfg)\n"
        "print(json.dumps([{k: ds[i][k] for k in ('raw_prompt', 'data_source', 'reward_model', 'extra_info')} "
        "for i in range(len(ds))], default=str))\n"
    )
    proc = _run(
        [str(verl_python), "-c", code, str(work["data"] / "pbrlsvr_train.parquet"), str(work["model"])],
        timeout=300,
        env=work["env"],
        cwd=work["root"],
    )
    _check(proc, "verl's RLHFDataset")
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    for row, (question, lang) in zip(rows, [(SW_Q, "sw"), (DE_Q, "de")], strict=True):
        assert row["raw_prompt"] == build_messages(question, lang)
        assert row["data_source"] == "pbrlsvr" and row["reward_model"]["ground_truth"] == "11"
        assert row["extra_info"]["lang"] == lang and row["extra_info"]["reference"] == REF
