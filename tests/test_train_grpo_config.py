"""How `pbrlsvr train` builds TRL's GRPOConfig: the `grpo:` pass-through (checked against
GRPOConfig's own fields), the arguments created before the model (DeepSpeed ZeRO-3 shards it at
load), no deprecated-alias warning, and the one-line-per-step console log."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import pytest

from pbrlsvr.config import load_config
from pbrlsvr.errors import ConfigError
from pbrlsvr.train.config import GRPO_OWN_KEYS, TrainConfig, grpo_fields
from pbrlsvr.train.grpo import grpo_args, step_line
from tests.test_train import _cfg

PASS_THROUGH: dict[str, Any] = {
    "vllm_gpu_memory_utilization": 0.35,
    "vllm_server_base_url": "http://gen-host:8001",
    "chat_template_kwargs": {"enable_thinking": False},
    "steps_per_generation": 2,
    "scale_rewards": "batch",
    "loss_type": "dr_grpo",
    "mask_truncated_completions": True,
}

ZERO3 = {
    "zero_optimization": {"stage": 3},
    "train_micro_batch_size_per_gpu": "auto",
    "gradient_accumulation_steps": "auto",
    "train_batch_size": "auto",
}


@pytest.mark.parametrize(("key", "value"), PASS_THROUGH.items())
def test_each_grpo_field_reaches_grpoconfig(tmp_path: Path, key: str, value: Any) -> None:
    default = getattr(grpo_args(_cfg(tmp_path), [1.0]), key)
    assert default != value, f"{key}: the test value equals TRL's default and proves nothing"
    args = grpo_args(_cfg(tmp_path, grpo={key: value}), [1.0])
    assert getattr(args, key) == value


def test_grpo_keys_also_come_from_dotted_overrides(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, **{"grpo.vllm_gpu_memory_utilization": 0.3, "grpo.loss_type": "bnpo"})
    args = grpo_args(cfg, [1.0])
    assert (args.vllm_gpu_memory_utilization, args.loss_type) == (0.3, "bnpo")


def test_a_misspelt_grpo_key_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"grpo\.vllm_gpu_memory_utilisation.*did you mean 'vllm_gpu_memory_utilization'"
    ):
        _cfg(tmp_path, grpo={"vllm_gpu_memory_utilisation": 0.3})
    with pytest.raises(ConfigError, match=r"grpo\.no_such_field: TRL's GRPOConfig has no field"):
        _cfg(tmp_path, grpo={"no_such_field": 1})


def test_a_grpo_key_that_a_top_level_key_sets_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"grpo\.learning_rate: set by pbrlsvr from `learning_rate`"):
        _cfg(tmp_path, grpo={"learning_rate": 1e-3})
    with pytest.raises(ConfigError, match=r"grpo\.use_cpu: set by pbrlsvr from `model\.device`"):
        _cfg(tmp_path, grpo={"use_cpu": True})


def test_the_keys_pbrlsvr_owns_are_real_grpoconfig_fields() -> None:
    """A renamed TRL field would otherwise slip through as "owned" and never be set."""
    fields = grpo_fields()
    assert set(GRPO_OWN_KEYS) - {"gradient_checkpointing", "activation_checkpointing"} <= set(fields)
    assert "gradient_checkpointing" in fields or "activation_checkpointing" in fields


def test_a_value_trl_refuses_is_a_config_error(tmp_path: Path) -> None:
    # 3 completions per generation cannot be split over a per-device batch of 2: TRL's own check.
    with pytest.raises(ConfigError, match="TRL refused the GRPO settings: generation_batch_size"):
        grpo_args(_cfg(tmp_path, grpo={"generation_batch_size": 3}), [1.0])


def test_grpo_args_raise_no_checkpointing_future_warning(tmp_path: Path) -> None:
    for on in (False, True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            args = grpo_args(_cfg(tmp_path, gradient_checkpointing=on), [1.0])
        assert args.gradient_checkpointing is on
        assert not [w for w in caught if "checkpointing" in str(w.message)], [str(w.message) for w in caught]


class _Loaded(Exception):
    """Stops train() once the model would be loaded: everything this test needs has happened."""


def test_training_arguments_exist_before_the_model_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pbrlsvr.models
    from pbrlsvr.train import grpo

    events: list[str] = []
    real_args = grpo.grpo_args

    def recording_args(*a: Any, **kw: Any) -> Any:
        events.append("GRPOConfig")
        return real_args(*a, **kw)

    def recording_load(*a: Any, **kw: Any) -> Any:
        events.append("from_pretrained")
        raise _Loaded

    monkeypatch.setattr(grpo, "grpo_args", recording_args)
    monkeypatch.setattr(pbrlsvr.models, "load_model", recording_load)
    with pytest.raises(_Loaded):
        grpo.train(_cfg(tmp_path), reward=_hash_reward())
    assert events == ["GRPOConfig", "from_pretrained"]


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None, reason="needs pbrlsvr[deepspeed]")
def test_zero3_is_on_when_the_model_is_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the real DeepSpeed: a ZeRO-3 config in `grpo.deepspeed` makes transformers'
    `is_deepspeed_zero3_enabled()` true at `from_pretrained` time (so it shards at load), and
    the model is loaded without a device_map, which ZeRO-3 refuses."""
    import pbrlsvr.models
    from pbrlsvr.train import grpo

    seen: dict[str, Any] = {}

    def recording_load(spec: Any, *a: Any, **kw: Any) -> Any:
        from transformers.integrations import is_deepspeed_zero3_enabled

        seen["zero3"] = is_deepspeed_zero3_enabled()
        seen["device"] = spec.device
        raise _Loaded

    monkeypatch.setattr(pbrlsvr.models, "load_model", recording_load)
    cfg = _cfg(tmp_path, grpo={"deepspeed": ZERO3}, model={"name": "tiny", "device": "cuda"})
    with pytest.raises(_Loaded):
        grpo.train(cfg, reward=_hash_reward())
    assert seen == {"zero3": True, "device": "cpu"}


def _hash_reward() -> Any:
    from pbrlsvr.rewards.config import RewardConfig
    from pbrlsvr.rewards.reward import Reward
    from tests.hash_encoder import HashEncoder

    return Reward(RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder())


def test_step_line_is_one_short_line_with_reward_components_loss_length_and_pace() -> None:
    logs = {
        "loss": 0.01234,
        "grad_norm": 1.2,
        "learning_rate": 1e-5,
        "num_tokens": 1000.0,
        "completions/mean_length": 87.4,
        "completions/max_length": 128.0,
        "rewards/pbrlsvr/mean": 0.41,
        "rewards/pbrlsvr/std": 0.2,
        "rewards/semantic/mean": 0.52,
        "rewards/answer/mean": 0.25,
        "pbrlsvr/gate": 0.9,
        "reward": 0.41,
        "reward_std": 0.2,
        "kl": 0.0,
        "entropy": 3.2,
        "epoch": 0.5,
    }
    line = step_line(3, 100, logs, 12.34)
    assert line == "step 3/100  reward 0.410 (semantic 0.52, answer 0.25)  loss 0.01234  len 87  12.3 s/step"
    assert "\n" not in line and len(line) < 120
    assert step_line(4, 4, {"train_runtime": 99.6, "train_loss": 0.1}, None) == "done: 4 step(s) in 100 s"


def test_train_config_without_grpo_does_not_import_trl() -> None:
    """Configs are loaded by commands that never train (experiment planning, --help): only a
    non-empty `grpo:` pays for importing TRL to check its keys."""
    import subprocess
    import sys

    code = (
        "import sys; from pbrlsvr.config import load_config; from pbrlsvr.train.config import TrainConfig; "
        "load_config(TrainConfig, overrides={'max_steps': 3}); print('trl' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    assert load_config(TrainConfig, overrides={"max_steps": 3}).grpo == {}


def _extra(name: str) -> list[str]:
    import tomllib

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["optional-dependencies"][name]


def test_the_vllm_and_deepspeed_extras_allow_what_the_installed_trl_supports() -> None:
    """TRL warns outside its tested vLLM range (trl/import_utils.py) and declares it in its own
    `vllm` extra; ours must be the same range, and our deepspeed floor at least TRL's."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    trl_reqs = [Requirement(r) for r in requires("trl") or []]

    def trl_spec(package: str, extra: str) -> str:
        (req,) = [
            r for r in trl_reqs if r.name == package and r.marker and r.marker.evaluate({"extra": extra})
        ]
        return str(req.specifier)

    (ours,) = [Requirement(r) for r in _extra("vllm") if Requirement(r).name == "vllm"]
    assert set(str(ours.specifier).split(",")) == set(trl_spec("vllm", "vllm").split(","))
    (ds,) = [Requirement(r) for r in _extra("deepspeed")]
    floor = trl_spec("deepspeed", "deepspeed").removeprefix(">=")
    assert (
        not ds.specifier.contains("0.0.1")
        and ds.specifier.contains(floor)
        and ds.specifier.contains("0.19.8")
    )


def test_reward_url_trains_on_a_pbrlsvr_service(tmp_path: Path) -> None:
    """`reward_url`: every rank scores on one `pbrlsvr serve`; the run logs the same metric names
    as with the in-process reward."""
    import json

    from pbrlsvr.server.config import ServeConfig
    from tests.test_server import serving
    from tests.test_train import tiny_causal_lm

    reward = _hash_reward()
    model, tok = tiny_causal_lm()
    with serving(ServeConfig(reward=reward.config), reward) as (url, service):
        from pbrlsvr.train.grpo import train

        res = train(_cfg(tmp_path, max_steps=1, reward_url=url), model=model, tokenizer=tok)
        scored = service.batcher.batches
    assert res.steps == 1 and scored >= 1
    keys = set().union(*(json.loads(x) for x in res.metrics_path.read_text().splitlines()))
    assert {"rewards/pbrlsvr/mean", "rewards/semantic/mean", "pbrlsvr/gate"} <= keys
    with pytest.raises(ConfigError, match="use aggregation: sum"):
        _cfg(tmp_path, reward_url=url, aggregation="normalize_then_sum")


PAPER = Path(__file__).resolve().parents[1] / "configs" / "paper"


@pytest.mark.parametrize("path", sorted(PAPER.glob("*.yaml")), ids=lambda p: p.name)
def test_paper_presets_build_grpoconfig_and_their_ports_do_not_collide(path: Path) -> None:
    """Each preset's `grpo:` keys reach TRL, and the processes its comments tell a user to start
    (`trl vllm-serve`, `pbrlsvr serve`) listen where the config connects, on different ports."""
    import re
    from urllib.parse import urlsplit

    cfg = load_config(TrainConfig, path, overrides={"output_dir": "/tmp/unused", "model.device": "cpu"})
    args = grpo_args(cfg, [1.0])
    for key, value in cfg.grpo.items():
        assert getattr(args, key) == value, key
    text = path.read_text(encoding="utf-8")
    ports: dict[str, int] = {}
    if cfg.use_vllm and cfg.vllm_mode == "server":
        base = args.vllm_server_base_url
        ports["vllm"] = urlsplit(base).port if base else args.vllm_server_port
        (started,) = re.findall(r"trl vllm-serve .*?--port (\d+)", text)
        assert int(started) == ports["vllm"]
    if cfg.reward_url is not None:
        ports["reward"] = urlsplit(cfg.reward_url).port or 80
        if "pbrlsvr serve" in text:
            (started,) = re.findall(r"pbrlsvr serve .*?--port (\d+)", text)
            assert int(started) == ports["reward"]
    assert len(set(ports.values())) == len(ports), ports


def test_training_prints_one_line_per_step_and_no_checkpointing_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With activation checkpointing on, TRL 1.16 calls transformers' deprecated
    `gradient_checkpointing_disable/enable` around every generation; none of that reaches the
    user, and the console shows one line per step instead of TRL's metric dict."""
    from pbrlsvr.train.grpo import train
    from tests.test_train import tiny_causal_lm

    model, tok = tiny_causal_lm()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(_cfg(tmp_path, gradient_checkpointing=True), model=model, tokenizer=tok, reward=_hash_reward())
    assert not [w for w in caught if "checkpointing" in str(w.message)], [str(w.message) for w in caught]
    out = capsys.readouterr()
    text = out.out + out.err
    steps = [line for line in text.replace("\r", "\n").splitlines() if line.lstrip().startswith("step ")]
    assert [s.split()[1] for s in steps] == ["1/2", "2/2"], text[-2000:]
    assert all("reward " in s and "s/step" in s for s in steps)
    assert "'loss'" not in text and "'grad_norm'" not in text


DEEPSPEED = ["deepspeed==0.19.8", "hjson", "msgpack", "ninja", "py-cpuinfo", "einops"]


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("deepspeed") is not None, reason="deepspeed installed: the test above runs"
)
def test_zero3_order_with_deepspeed_from_a_side_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Where the dev environment has no DeepSpeed (CI), install it (CPU, no ops built) into a
    folder of its own and run the ZeRO-3 test above with it (27 s here, install included).
    `PBRLSVR_DEEPSPEED_SITE` names a folder that already holds it."""
    import os
    import subprocess
    import sys

    site = os.environ.get("PBRLSVR_DEEPSPEED_SITE")
    if not site:
        site = str(tmp_path_factory.mktemp("deepspeed-site"))
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
        proc = subprocess.run(
            [*pip, "--no-build-isolation", "--target", site, *DEEPSPEED],  # its setup.py imports our torch
            capture_output=True,
            text=True,
            timeout=900,
            env={**os.environ, "DS_BUILD_OPS": "0"},
        )
        if proc.returncode:
            pytest.skip(f"cannot install {DEEPSPEED[0]} (no network?): {proc.stderr.strip()[-300:]}")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{__file__}::test_zero3_is_on_when_the_model_is_loaded",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=root,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([site, str(root)])},
    )
    assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]
