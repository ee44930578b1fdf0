"""GRPO wiring on TRL with a tiny random model: components logged, checkpoints, resume, data guards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pbrlsvr.config import load_config
from pbrlsvr.errors import ConfigError, DataError
from pbrlsvr.rewards.config import RewardConfig
from pbrlsvr.rewards.reward import Reward
from pbrlsvr.train.config import TrainConfig
from pbrlsvr.train.dataset import build_rows, read_rows
from tests.hash_encoder import HashEncoder
from tests.test_rewards_reward import REF

CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }} {{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant {% endif %}"
)


def tiny_causal_lm() -> tuple[object, object]:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tests.tiny_models import word_tokenizer

    torch.manual_seed(0)
    tok = word_tokenizer()
    tok.chat_template = CHAT_TEMPLATE
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    return LlamaForCausalLM(cfg), tok


def _data(tmp_path: Path, n: int = 4, prefix: str = "msvamp") -> Path:
    path = tmp_path / "refs.jsonl"
    rows = [
        {
            "id": f"{prefix}-{i:04d}",
            "lang": "sw",
            "question": "roger had 5 balls",
            "reference": REF,
            "reference_answer": "11",
            "agreement": 1.0,
        }
        for i in range(n)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _cfg(tmp_path: Path, **kw: object) -> TrainConfig:
    base = {
        "data": str(_data(tmp_path)),
        "output_dir": str(tmp_path / "run"),
        "max_steps": 2,
        "num_generations": 2,
        "per_device_train_batch_size": 2,
        "max_completion_length": 8,
        "save_steps": 1,
        "lora": {"enabled": False},
    }
    return load_config(TrainConfig, overrides={**base, **kw})


@pytest.fixture(scope="module")
def reward() -> Reward:
    return Reward(RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder())


def test_grpo_runs_logs_components_and_resumes(tmp_path: Path, reward: Reward) -> None:
    import torch

    from pbrlsvr.train.grpo import train

    model, tok = tiny_causal_lm()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    cfg = _cfg(tmp_path, learning_rate=0.01)
    res = train(cfg, model=model, tokenizer=tok, reward=reward)
    assert res.steps == 2
    moved = [k for k, v in model.state_dict().items() if not torch.equal(before[k], v.detach().cpu())]
    assert moved, "two GRPO steps left every weight unchanged"
    records = [json.loads(line) for line in res.metrics_path.read_text().splitlines()]
    keys = set().union(*records)
    assert {
        "rewards/semantic/mean",
        "rewards/answer/mean",
        "rewards/language/mean",
        "rewards/pbrlsvr/mean",
    } <= keys
    assert (res.final_dir / "config.json").is_file()
    assert (cfg.output_dir / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (cfg.output_dir / "config.yaml").is_file()
    assert (cfg.output_dir / "checkpoint-2").is_dir()

    # Without --resume an existing run is never silently overwritten.
    with pytest.raises(DataError, match="--resume"):
        train(cfg, model=model, tokenizer=tok, reward=reward)
    # A killed run logged step 3 after its last checkpoint (and half a line): resume trains step 3
    # again, so the stale record must go rather than appear twice.
    with res.metrics_path.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"step": 3, "loss": 123.0, "reward": -1.0}) + '\n{"step": 3, "lo')
    # With resume and more steps, training continues from checkpoint-2 (steps 3-4 only).
    more = _cfg(tmp_path, max_steps=4, resume=True)
    model2, tok2 = tiny_causal_lm()
    res2 = train(more, model=model2, tokenizer=tok2, reward=reward)
    assert res2.resumed_from is not None and res2.resumed_from.endswith("checkpoint-2")
    assert res2.steps == 4
    steps = [r["step"] for r in map(json.loads, res2.metrics_path.read_text().splitlines()) if "loss" in r]
    assert steps == sorted(set(steps)) and steps[-1] == 4  # no step logged twice
    assert all(r.get("loss") != 123.0 for r in map(json.loads, res2.metrics_path.read_text().splitlines()))


def test_lora_and_normalize_then_sum(tmp_path: Path, reward: Reward) -> None:
    from pbrlsvr.train.grpo import train

    model, tok = tiny_causal_lm()
    cfg = _cfg(
        tmp_path, max_steps=1, aggregation="normalize_then_sum", lora={"enabled": True, "r": 2, "alpha": 4}
    )
    res = train(cfg, model=model, tokenizer=tok, reward=reward)
    assert (res.final_dir / "adapter_config.json").is_file()
    keys = set().union(*(json.loads(x) for x in res.metrics_path.read_text().splitlines()))
    assert {"rewards/semantic/mean", "rewards/answer/mean", "rewards/trace/mean"} <= keys


def test_training_on_a_test_set_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="evaluation set"):
        build_rows(read_rows(_data(tmp_path, prefix="mgsm")))


def test_bad_training_rows_and_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "lang": "sw"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="missing"):
        build_rows(read_rows(bad))
    bad.write_text("{nope\n", encoding="utf-8")
    with pytest.raises(DataError, match=":1: invalid JSON"):
        read_rows(bad)
    with pytest.raises(DataError, match="not found"):
        read_rows(tmp_path / "missing.jsonl")
    with pytest.raises(ConfigError, match="multiple of num_generations"):
        load_config(TrainConfig, overrides={"num_generations": 3, "per_device_train_batch_size": 4})
    rows = build_rows(read_rows(_data(tmp_path, n=6)), limit=2)
    assert (
        len(rows) == 2
        and rows[0]["prompt"][0]["role"] == "user"
        and "Swahili" in rows[0]["prompt"][0]["content"]
    )
    with pytest.raises(DataError, match="no training rows"):
        build_rows(read_rows(_data(tmp_path)), min_agreement=1.5)


def test_cli_train_and_export_verl(tmp_path: Path) -> None:
    import pandas as pd
    from typer.testing import CliRunner

    from pbrlsvr.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["train", "--data", str(_data(tmp_path)), "--set", "num_generations=3"])
    assert result.exit_code == 2 and "multiple of num_generations" in result.output
    result = runner.invoke(app, ["train", "--set", "max_steps=1"])
    assert result.exit_code == 2 and "train needs data" in result.output
    out = tmp_path / "verl.parquet"
    result = runner.invoke(app, ["export-verl", "--data", str(_data(tmp_path)), "-o", str(out)])
    assert result.exit_code == 0, result.output
    df = pd.read_parquet(out)
    assert len(df) == 4 and "Swahili" in df.iloc[0]["prompt"][0]["content"]
    source = {(r["id"], r["lang"]): r["question"] for r in read_rows(_data(tmp_path))}
    for _, row in df.iterrows():  # the bare question, not the rendered prompt with the instruction
        info = row["extra_info"]
        assert info["question"] == source[(info["id"], info["lang"])]


def test_trained_lora_adapter_loads_by_folder(tmp_path: Path, reward: Reward) -> None:
    import torch

    from pbrlsvr.models import load_model
    from pbrlsvr.train.grpo import train

    base_model, tok = tiny_causal_lm()
    base_dir = tmp_path / "base"
    base_model.save_pretrained(base_dir)
    tok.save_pretrained(base_dir)
    model, tok = load_model(str(base_dir))
    cfg = _cfg(tmp_path, max_steps=1, learning_rate=0.05, lora={"enabled": True, "r": 2, "alpha": 4})
    res = train(cfg, model=model, tokenizer=tok, reward=reward)
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        merged, tok2 = load_model(str(res.final_dir))  # adapter folder → base + merged LoRA
    assert not [w for w in caught if "gradient_checkpointing" in str(w.message)]  # PEFT's alias read
    fresh, _ = load_model(str(base_dir))
    ids = tok2("roger had 5 balls", return_tensors="pt")
    with torch.no_grad():
        a, b = merged(**ids).logits, fresh(**ids).logits
    assert a.shape == b.shape and not torch.allclose(a, b)  # the adapter changed the model
    (res.final_dir / "adapter_config.json").write_text('{"peft_type": "LORA"}', encoding="utf-8")
    from pbrlsvr.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="base model"):
        load_model(str(res.final_dir))


def test_training_curves_read_what_grpo_logged(tmp_path: Path) -> None:
    from pbrlsvr.train.curves import plot_training_curves, read_metrics, reward_series

    path = tmp_path / "metrics.jsonl"
    lines = [
        {"step": 1, "reward": 0.2, "rewards/pbrlsvr/mean": 0.2, "rewards/semantic/mean": 0.5, "loss": 0.1},
        {
            "step": 2,
            "reward": 0.4,
            "rewards/pbrlsvr/mean": 0.4,
            "rewards/semantic/mean": 0.6,
            "pbrlsvr/gate": 1,
        },
        {"step": 2, "reward": 0.5, "rewards/pbrlsvr/mean": 0.5, "rewards/semantic/mean": 0.7},  # resumed
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + '\n{"step": 3, "rew', encoding="utf-8")
    series = reward_series(read_metrics(path))  # the cut-off last line of a killed run is skipped
    assert series["reward"] == [(1, 0.2), (2, 0.5)]  # a step logged twice keeps its last value
    assert series["semantic"] == [(1, 0.5), (2, 0.7)]
    assert "pbrlsvr" not in series  # the combined reward under the preset's name is not drawn twice
    assert series["pbrlsvr/gate"] == [(2, 1.0)]
    png = plot_training_curves(path, tmp_path / "curves.png")
    assert png is not None and png.read_bytes()[:4] == b"\x89PNG"
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert plot_training_curves(empty, tmp_path / "none.png") is None
    with pytest.raises(DataError, match="no training metrics"):
        read_metrics(tmp_path / "missing.jsonl")


@pytest.mark.slow
@pytest.mark.integration
def test_two_lora_steps_on_the_packaged_qwen_with_engine_rollouts(tmp_path: Path) -> None:
    """The real thing, once: packaged Qwen2.5-Coder-0.5B, LoRA, the default PB-RLSVR reward
    (packaged e5 encoder, lingua), two GRPO steps on MSVAMP prompts in two languages with int8
    CTranslate2 rollouts."""
    from pbrlsvr.data import load_problems
    from pbrlsvr.train.grpo import train

    rows = [
        {
            "id": p.id,
            "lang": p.lang,
            "question": p.question,
            "reference": f"{p.question_en} The answer is {p.gold}.",
            "reference_answer": p.gold,
        }
        for p in load_problems("msvamp", langs=["de", "sw"], limit=1)
    ]
    data = tmp_path / "refs.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    cfg = load_config(
        TrainConfig,
        overrides={
            "data": str(data),
            "output_dir": str(tmp_path / "run"),
            "model.name": "qwen2.5-coder-0.5b-instruct",
            "max_steps": 2,
            "num_generations": 2,
            "per_device_train_batch_size": 2,
            "max_completion_length": 24,
            "learning_rate": 1e-3,
            "lora": {"enabled": True, "r": 4, "alpha": 8},
            "rollout": {"engine": "ct2"},
        },
    )
    res = train(cfg)
    assert res.steps == 2 and (res.final_dir / "adapter_config.json").is_file()
    records = [r for r in map(json.loads, res.metrics_path.read_text().splitlines()) if "reward" in r]
    for c in ("semantic", "answer", "trace", "language", "format"):
        assert 0.0 <= records[0][f"rewards/{c}/mean"] <= 1.0
    # Step 2's completions came from the weights after step 1, pushed into the int8 engine; the
    # importance mask kept most tokens (int8 and fp32 agree on the sampled tokens).
    assert [r["rollout/weight_version"] for r in records] == [0.0, 1.0]
    assert records[1]["rollout/sync_seconds"] > 0
    assert all(r["rollout/masked_share"] < 0.2 for r in records), records


def test_engine_rollouts_sample_from_the_weights_just_trained(
    tmp_path: Path, reward: Reward, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GRPO on CTranslate2 rollouts (TRL's rollout_func): before every rollout after an optimizer
    step the engine holds exactly the trainer's current weights (float32: greedy output equal to
    the trainer's model), the weights moved, and the rollout figures reach metrics.jsonl."""
    pytest.importorskip("ctranslate2")
    import torch

    from pbrlsvr.generation import CT2Generator, SamplingConfig, TransformersGenerator
    from pbrlsvr.train import grpo

    built: list = []
    real_build = grpo._engine_rollout
    model, tok = tiny_causal_lm()
    cfg = _cfg(
        tmp_path,
        max_steps=3,
        learning_rate=0.05,
        lora={"enabled": True, "r": 2, "alpha": 8},
        rollout={"engine": "ct2", "compute_type": "float32", "threads": 1},
    )
    probe = [[{"role": "user", "content": "roger had 5 balls"}]]
    greedy = SamplingConfig(max_new_tokens=12)
    checks: list[tuple[str, str]] = []
    pushed_versions: list[int] = []
    original_call = None

    def spy(prompts: list, trainer: object) -> dict:
        out = original_call(prompts, trainer)
        engine = built[0].engine
        pushed_versions.append(engine.weight_version)
        policy = trainer.accelerator.unwrap_model(trainer.model)  # type: ignore[attr-defined]
        with torch.no_grad():
            merged = {k: v.clone() for k, v in policy.state_dict().items()}
            ours = CT2Generator((engine, 512)).generate(probe, greedy)[0][0].text
            policy.eval()
            hf = TransformersGenerator((policy, tok)).generate(probe, greedy)[0][0].text
            policy.train()
        assert all(torch.equal(merged[k], v) for k, v in policy.state_dict().items())
        checks.append((ours, hf))
        return out

    def keep_and_spy(cfg: TrainConfig, model: object, tokenizer: object) -> object:
        nonlocal original_call
        built.append(real_build(cfg, model, tokenizer))
        original_call = built[-1]
        return _Callable(built[-1], spy)

    monkeypatch.setattr(grpo, "_engine_rollout", keep_and_spy)
    res = grpo.train(cfg, model=model, tokenizer=tok, reward=reward)
    assert res.steps == 3
    assert pushed_versions == [0, 1, 2]  # step 0: the converted initial policy; then one push per step
    assert all(ours == hf for ours, hf in checks), checks
    assert checks[0][0] != checks[-1][0], "the engine's output never changed: weights not pushed"
    records = [json.loads(line) for line in res.metrics_path.read_text().splitlines()]
    keys = set().union(*records)
    assert {"rollout/generate_seconds", "rollout/tokens_per_second", "rollout/sync_seconds"} <= keys
    assert built[0].engine.generator is None  # closed after training


class _Callable:
    """Forwards calls to ``fn`` and attributes to ``target`` (TRL calls the rollout, the metrics
    callback reads its ``last_stats``)."""

    def __init__(self, target: object, fn: object) -> None:
        self._target, self._fn = target, fn

    def __call__(self, *args: object) -> object:
        return self._fn(*args)  # type: ignore[operator]

    def __getattr__(self, name: str) -> object:
        return getattr(self._target, name)


def test_rollout_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="exclude each other"):
        _cfg(tmp_path, use_vllm=True, rollout={"engine": "ct2"})
    with pytest.raises(ConfigError, match="temperature 1"):
        _cfg(tmp_path, temperature=0.7, rollout={"engine": "ct2", "importance_mask": True})
    with pytest.raises(ConfigError, match="sync_every"):
        _cfg(tmp_path, rollout={"sync_every": 0})
