"""GRPO on TRL's stable ``GRPOTrainer`` with the PB-RLSVR reward.

What this adds to a plain TRL script: models by offline alias / GGUF / folder / HF id, LoRA from the
config, the reward's components logged one by one, metrics per step as JSONL, the resolved config
beside the outputs, ``resume`` from the last checkpoint of a killed run, and optionally
(``filter_no_signal``) the prompts that give GRPO no signal dropped before training
(:mod:`pbrlsvr.train.signal_filter`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pbrlsvr.config import dump_config
from pbrlsvr.errors import ConfigError, DataError
from pbrlsvr.outputs import hold_folder, writable_folder
from pbrlsvr.train.checkpoints import checkpoints, newest_complete_checkpoint
from pbrlsvr.train.config import TrainConfig
from pbrlsvr.train.dataset import build_rows, read_rows, to_dataset

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    output_dir: Path
    final_dir: Path
    steps: int
    metrics_path: Path
    resumed_from: str | None


def _metrics_callback(path: Path, extras: list[Any]) -> Any:
    """A callback appending each log record to ``path``. Each of ``extras`` adds its figures to the
    record: ``last_stats`` (the engine rollout's latest ``rollout/*``) or ``take_step_figures()``
    (the trainer's ``time/*`` and ``tokens/*`` since the last record); the list may grow after the
    callback is built (the trainer exists only after its callbacks)."""
    from transformers import TrainerCallback

    class MetricsJSONL(TrainerCallback):
        """Appends every log record (loss, rewards/<component>/mean, kl, ...) as one JSON line."""

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
        ) -> None:
            if not logs or not state.is_world_process_zero:
                return
            record: dict[str, Any] = {
                "step": state.global_step,
                **{k: v for k, v in logs.items() if isinstance(v, int | float)},
            }
            for extra in extras:
                take = getattr(extra, "take_step_figures", None)
                record.update(take() if take is not None else (getattr(extra, "last_stats", None) or {}))
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")

    return MetricsJSONL()


_COMBINED = "pbrlsvr"  # the one reward function's name in ``aggregation: sum`` (rewards/pbrlsvr/mean)


def step_line(step: int, max_steps: int, logs: dict[str, Any], seconds_per_step: float | None) -> str:
    """One readable line per logged step: what a person watches a GRPO run for (the reward, each
    component, the loss, the completion length, the pace). TRL's record has ~40 keys; all of them
    still go to ``metrics.jsonl``."""
    if "train_runtime" in logs:  # the Trainer's closing record
        return f"done: {step} step(s) in {float(logs['train_runtime']):.0f} s"
    parts = [f"step {step}/{max_steps}" if max_steps > 0 else f"step {step}"]
    if isinstance(logs.get("reward"), int | float):
        components = [
            f"{key[len('rewards/') : -len('/mean')]} {float(v):.2f}"
            for key, v in logs.items()
            if key.startswith("rewards/")
            and key.endswith("/mean")
            and key != f"rewards/{_COMBINED}/mean"
            and isinstance(v, int | float)
        ]
        text = f"reward {float(logs['reward']):.3f}"
        parts.append(f"{text} ({', '.join(components)})" if components else text)
    if isinstance(logs.get("loss"), int | float):
        parts.append(f"loss {float(logs['loss']):.4g}")
    if isinstance(logs.get("completions/mean_length"), int | float):
        parts.append(f"len {float(logs['completions/mean_length']):.0f}")
    if seconds_per_step is not None:
        parts.append(f"{seconds_per_step:.1f} s/step")
    return "  ".join(parts)


def _compact_progress() -> Any:
    """The Trainer's progress bar, with :func:`step_line` instead of the raw log dict per step."""
    from transformers.trainer_callback import ProgressCallback

    class CompactProgress(ProgressCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            super().on_train_begin(args, state, control, **kw)
            self._mark = (state.global_step, time.perf_counter())

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
        ) -> None:
            if not logs or not state.is_world_process_zero:
                return
            last_step, last_time = getattr(self, "_mark", (0, time.perf_counter()))
            now = time.perf_counter()
            pace = (
                (now - last_time) / (state.global_step - last_step) if state.global_step > last_step else None
            )
            self._mark = (state.global_step, now)
            line = step_line(state.global_step, state.max_steps, logs, pace)
            if self.training_bar is not None:
                self.training_bar.write(line)
            else:
                print(line, flush=True)

    return CompactProgress()


def _records(metrics: Path) -> list[tuple[str, Any]]:
    """``metrics.jsonl``'s lines with their parsed record (None for the half-written last line of
    a killed run)."""
    out: list[tuple[str, Any]] = []
    for line in metrics.read_text(encoding="utf-8").splitlines():
        try:
            out.append((line, json.loads(line)))
        except json.JSONDecodeError:
            out.append((line, None))
    return out


def _rewrite(metrics: Path, lines: list[str]) -> None:
    """Replace ``metrics.jsonl`` atomically with ``lines``."""
    tmp = metrics.with_suffix(".tmp")
    tmp.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    os.replace(tmp, metrics)


def _drop_steps_after(metrics: Path, step: int) -> None:
    """Keep only the records of steps the checkpoint holds: the steps a killed run logged after
    its last checkpoint are trained again on resume, and must not be logged twice."""
    _rewrite(
        metrics,
        [
            line
            for line, rec in _records(metrics)
            if rec is not None and (not isinstance(rec, dict) or int(rec.get("step", 0)) <= step)
        ],
    )


def _whole_run_train_loss(metrics: Path) -> None:
    """Make the closing record's ``train_loss`` cover every sitting of a resumed run.

    The Trainer averages only the steps of the sitting that ends (a run killed at step 50 of 60
    closed with the mean of steps 51-60); ``metrics.jsonl`` holds every step's ``loss`` (each the
    mean over its logging interval), so their interval-weighted mean is the whole run's. The
    sitting's own figure stays as ``sitting_train_loss``."""
    records = _records(metrics)
    steps = sorted(
        (int(r["step"]), float(r["loss"]))
        for _, r in records
        if isinstance(r, dict) and "loss" in r and "step" in r
    )
    closing = [i for i, (_, r) in enumerate(records) if isinstance(r, dict) and "train_loss" in r]
    if not steps or not closing:
        return
    total, weight, previous = 0.0, 0, 0
    for step, loss in steps:
        total += loss * (step - previous)
        weight += step - previous
        previous = step
    last = dict(records[closing[-1]][1])
    last["sitting_train_loss"] = last["train_loss"]
    last["train_loss"] = total / max(1, weight)
    lines = [line for line, _ in records]
    lines[closing[-1]] = json.dumps(last)
    _rewrite(metrics, lines)


def _plot_curves(metrics: Path, png: Path) -> None:
    """``training_curves.png`` beside the run; a plotting failure never fails a finished run."""
    from pbrlsvr.train.curves import plot_training_curves

    try:
        plot_training_curves(metrics, png)
    except Exception as exc:  # the model is saved; a missing plot is only a warning
        logger.warning("could not plot %s: %s", png, exc)


def use_bf16(cfg: TrainConfig) -> bool:
    """``cfg.bf16``, or where unset: on when the training device computes bf16 natively (a CUDA
    GPU that supports it; a CPU with AVX512-BF16 or AMX). Measured on 2 AMD EPYC cores (Qwen
    0.5B + LoRA, forward+backward of 8×300 tokens): fp32 46-49 s, bf16 autocast 16-19 s."""
    if cfg.bf16 is not None:
        return cfg.bf16
    import torch

    if cfg.model.device.startswith("cuda") or cfg.model.device == "auto":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if cfg.model.device != "cpu":
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "")
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


def grpo_args(cfg: TrainConfig, reward_weights: list[float]) -> Any:
    """TRL ``GRPOConfig`` from our config: the fields our own keys map to, then ``cfg.grpo`` (any
    other ``GRPOConfig`` field, already checked against its dataclass fields) passed through.

    Checkpointing goes in as ``activation_checkpointing`` where the installed transformers has it
    (5.2x): its deprecated alias ``gradient_checkpointing`` costs a ``FutureWarning``, and TRL's
    own default for that alias is ``True``."""
    import dataclasses

    from trl import GRPOConfig

    names = {f.name for f in dataclasses.fields(GRPOConfig)}
    checkpointing = (
        "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    )
    fields: dict[str, Any] = {
        "output_dir": str(cfg.output_dir),
        "learning_rate": cfg.learning_rate,
        "beta": cfg.beta,
        "num_generations": cfg.num_generations,
        "max_completion_length": cfg.max_completion_length,
        "per_device_train_batch_size": cfg.per_device_train_batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "max_steps": cfg.max_steps,
        "num_train_epochs": cfg.num_train_epochs,
        "temperature": cfg.temperature,
        "seed": cfg.seed,
        "logging_steps": cfg.logging_steps,
        "save_steps": cfg.save_steps,
        "save_total_limit": cfg.save_total_limit,
        "report_to": cfg.report_to,
        "bf16": use_bf16(cfg),
        checkpointing: cfg.gradient_checkpointing,
        "use_vllm": cfg.use_vllm,
        "vllm_mode": cfg.vllm_mode,
        "log_completions": cfg.log_completions,
        "reward_weights": reward_weights,
        "multi_objective_aggregation": "normalize_then_sum"
        if cfg.aggregation == "normalize_then_sum"
        else "sum_then_normalize",
        "use_cpu": cfg.model.device == "cpu",
    }
    try:
        return GRPOConfig(**fields, **cfg.grpo)
    except (ValueError, TypeError) as exc:  # TRL's own checks on the values (a bad loss_type, ...)
        raise ConfigError(f"TRL refused the GRPO settings: {exc}") from exc


def training_model_spec(cfg: TrainConfig, args: Any) -> Any:
    """``cfg.model`` as ``load_model`` should see it once the training arguments exist.

    Under ZeRO-3 ``from_pretrained`` must get no ``device_map`` (transformers refuses one; zero.Init
    places each shard on its rank's GPU), so the model is loaded as for ``cpu``. Under a
    multi-process launch, ``cuda``/``auto`` become this rank's own device (``args.device``) rather
    than every rank loading onto ``cuda:0`` or spreading over all GPUs."""
    from transformers.integrations import is_deepspeed_zero3_enabled

    if is_deepspeed_zero3_enabled():
        return cfg.model.model_copy(update={"device": "cpu"})
    if args.world_size > 1 and cfg.model.device in ("cuda", "auto"):
        return cfg.model.model_copy(update={"device": str(args.device)})
    return cfg.model


def use_engine(cfg: TrainConfig) -> bool:
    """Whether GRPO rollouts run on CTranslate2 (``rollout.engine``; ``auto``: on CPU when the
    engine is installed and vLLM is not asked for)."""
    if cfg.rollout.engine != "auto":
        return cfg.rollout.engine == "ct2"
    if cfg.use_vllm or cfg.model.device != "cpu":
        return False
    from pbrlsvr.generation.ct2_engine import engine_available

    return engine_available()


def _engine_rollout(cfg: TrainConfig, model: Any, tokenizer: Any) -> Any:
    """The TRL ``rollout_func`` on CTranslate2, or None for TRL's own generation."""
    if not use_engine(cfg):
        logger.info("GRPO rollouts: TRL's own generation (%s)", "vLLM" if cfg.use_vllm else "HF generate")
        return None
    from pbrlsvr.train.engine_rollout import build_engine_rollout

    r = cfg.rollout
    mask = r.importance_mask if r.importance_mask is not None else r.compute_type != "float32"
    if mask and cfg.temperature != 1.0:
        logger.warning("rollout.importance_mask off: it needs temperature 1, not %s", cfg.temperature)
        mask = False
    logger.info(
        "GRPO rollouts: CTranslate2 %s, weights pushed every %d step(s), importance mask %s",
        r.compute_type,
        r.sync_every,
        "on" if mask else "off",
    )
    return build_engine_rollout(
        model,
        tokenizer,
        compute_type=r.compute_type,
        threads=r.threads,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        seed=cfg.seed,
        sync_every=r.sync_every,
        importance_mask=mask,
        mask_min=r.mask_min,
        mask_max=r.mask_max,
        lean=cfg.lean_step,
    )


def _resume_point(cfg: TrainConfig) -> str | None:
    """The checkpoint to resume from: the newest complete one, the newer torn ones named."""
    out = cfg.output_dir
    if not cfg.resume:
        if checkpoints(out):
            raise DataError(
                f"{out} already holds checkpoints: pass --resume to continue, or choose another output_dir"
            )
        return None
    found, skipped = newest_complete_checkpoint(out)
    for folder, why in skipped:
        logger.warning("resume: skipping %s (%s); it is left in place", folder.name, why)
    if found is None:
        logger.warning("resume requested but %s holds no complete checkpoint: starting from scratch", out)
        return None
    return str(found)


def train(cfg: TrainConfig, *, model: Any = None, tokenizer: Any = None, reward: Any = None) -> TrainResult:
    """Run GRPO. ``model``/``tokenizer``/``reward`` may be passed in (tests, notebooks); otherwise
    they are built from ``cfg``. Returns where everything was written.

    The output folder is checked writable before any work and held by this run for its life
    (:mod:`pbrlsvr.outputs`): a second ``train`` on it is refused. Under a multi-process launch
    only global rank 0 holds it (the ranks of one run share the folder)."""
    if cfg.data is None:
        raise ConfigError(
            "train needs data: a pivot export (JSONL/Parquet/dataset folder) — see `pbrlsvr pivot`"
        )
    if int(os.environ.get("RANK", "0") or 0) != 0:
        writable_folder(cfg.output_dir, "the training output")
        return _train(cfg, model, tokenizer, reward)
    with hold_folder(cfg.output_dir, f"the training output {cfg.output_dir}"):  # checks writable first
        return _train(cfg, model, tokenizer, reward)


def _train(cfg: TrainConfig, model: Any, tokenizer: Any, reward: Any) -> TrainResult:
    """:func:`train` once the output folder is this run's."""
    from peft import LoraConfig

    from pbrlsvr.integrations.trl import make_reward_funcs
    from pbrlsvr.rewards.reward import Reward
    from pbrlsvr.train.lean_step import lean_trainer_class

    rows = build_rows(read_rows(cfg.data), langs=cfg.langs, limit=cfg.limit, min_agreement=cfg.min_agreement)
    reward_langs = sorted({r["lang"] for r in rows})
    if cfg.reward_url is not None:
        # One service scores every rank's completions (one encoder for the job, batched across
        # ranks); an item it cannot score stays out of the step (None) instead of stopping the run.
        from pbrlsvr.integrations.remote_trl import RemoteReward

        funcs, weights = [RemoteReward(cfg.reward_url, on_error="none")], [1.0]
    else:
        if reward is None:
            rcfg = cfg.reward if cfg.reward.langs else cfg.reward.model_copy(update={"langs": reward_langs})
            reward = Reward(rcfg)
        funcs, weights = make_reward_funcs(reward, cfg.aggregation)

    out = cfg.output_dir
    resumed_from = _resume_point(cfg)

    (out / "config.yaml").write_text(dump_config(cfg), encoding="utf-8")
    metrics = out / "metrics.jsonl"
    if resumed_from is None and metrics.exists():
        metrics.unlink()
    elif resumed_from is not None and metrics.exists():
        _drop_steps_after(metrics, int(Path(resumed_from).name.rsplit("-", 1)[-1]))

    # The training arguments come before the model: with DeepSpeed ZeRO-3 (accelerate's config or
    # `grpo.deepspeed`), creating them registers the config that makes `from_pretrained` build the
    # model already sharded (zero.Init); a model loaded first is whole on every rank.
    args = grpo_args(cfg, weights)
    if model is None:
        from pbrlsvr.models import load_model

        model, tokenizer = load_model(training_model_spec(cfg, args))
    if cfg.filter_no_signal.enabled:
        from pbrlsvr.train.signal_filter import filter_no_signal

        # Main process first: it samples and writes signal_filter.jsonl; the other ranks then only
        # read the finished file, so every rank trains on the same rows.
        with args.main_process_first(local=False, desc="signal filter"):
            rows = filter_no_signal(rows, cfg, reward, model=model, tokenizer=tokenizer).rows
    rollout = _engine_rollout(cfg, model, tokenizer)
    peft_config = None
    if cfg.lora.enabled:
        peft_config = LoraConfig(
            r=cfg.lora.r,
            lora_alpha=cfg.lora.alpha,
            lora_dropout=cfg.lora.dropout,
            target_modules=cfg.lora.target_modules,
            task_type="CAUSAL_LM",
        )
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from pbrlsvr.models.loading import quiet_checkpointing_alias

    extras: list[Any] = [rollout] if rollout is not None else []
    with quiet_checkpointing_alias():  # TRL's peft set-up reads the alias too
        trainer = lean_trainer_class()(
            model=model,
            reward_funcs=funcs,
            args=args,
            train_dataset=to_dataset(rows),
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[_metrics_callback(metrics, extras)],
            rollout_func=rollout,
            lean=cfg.lean_step,
        )
    extras.append(trainer)
    # One line per step on the console (the full record stays in metrics.jsonl).
    for default in (ProgressCallback, PrinterCallback):
        trainer.remove_callback(default)
    trainer.add_callback(_compact_progress())
    try:
        with quiet_checkpointing_alias():
            trainer.train(resume_from_checkpoint=resumed_from)
    finally:
        if rollout is not None:
            rollout.close()
    if resumed_from is not None and trainer.is_world_process_zero():
        _whole_run_train_loss(metrics)
    final = out / "final"
    trainer.save_model(str(final))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(final))
    if trainer.is_world_process_zero():
        _plot_curves(metrics, out / "training_curves.png")
    return TrainResult(out, final, trainer.state.global_step, metrics, resumed_from)
