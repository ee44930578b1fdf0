"""Run (or resume) an experiment stage by stage: pivot, then per arm train and evaluate, then the report."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pbrlsvr.config import dump_config
from pbrlsvr.data.config import DataConfig
from pbrlsvr.errors import ConfigError
from pbrlsvr.experiment.config import ArmConfig, EvalSetConfig, ExperimentConfig
from pbrlsvr.train.checkpoints import checkpoints

if TYPE_CHECKING:
    from rich.console import Console

    from pbrlsvr.evaluation.config import EvalConfig
    from pbrlsvr.pivot.config import PivotCommandConfig
    from pbrlsvr.train.config import TrainConfig


# ---- state ----------------------------------------------------------------------------------


class State:
    """``state.json``: per stage ``status`` (done / running) and wall seconds, written atomically
    after every change, so an interrupted experiment says what finished."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.data = {}

    def done(self, key: str) -> bool:
        return self.data.get(key, {}).get("status") == "done"

    def mark(self, key: str, status: str, **info: Any) -> None:
        entry = self.data.setdefault(key, {})
        entry.update(status=status, updated=time.strftime("%Y-%m-%dT%H:%M:%S%z"), **info)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, self.path)

    def run(self, key: str, fn: Callable[[], Any], log: Callable[[str], None], **info: Any) -> Any:
        """Run a stage, recording its status, wall time (added to earlier sittings' time) and
        ``info`` (what the stage was run with, so a changed config can tell it is stale)."""
        before = float(self.data.get(key, {}).get("seconds", 0.0))
        self.mark(key, "running", seconds=before)
        started = time.perf_counter()
        result = fn()
        seconds = before + time.perf_counter() - started
        self.mark(key, "done", seconds=round(seconds, 1), **info)
        log(f"      {key}: done ({seconds / 60:.1f} min in total)")
        return result


def machine_info() -> dict[str, Any]:
    """Where the numbers were measured."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        info["cpu"] = names[0] if names else None
    except OSError:
        pass
    with contextlib.suppress(ValueError, OSError, AttributeError):
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    for pkg in ("torch", "transformers", "trl", "peft", "ctranslate2"):
        try:
            from importlib.metadata import version

            info[pkg] = version(pkg)
        except Exception:
            info[pkg] = None
    return info


def git_commit(exclude: Path | None = None, where: Path | None = None) -> str | None:
    """The commit of the checkout the package runs from (None outside git), ``-dirty`` when tracked
    files differ from it. ``exclude`` (the experiment's own output folder) does not count: results
    written by the run itself are not a change to the code that produced them."""
    here = where or Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        top = Path(git("rev-parse", "--show-toplevel"))
        spec = ["--", ":/"]
        if exclude is not None and exclude.resolve().is_relative_to(top):
            spec.append(f":(top,exclude){exclude.resolve().relative_to(top).as_posix()}")
        dirty = git("status", "--porcelain", "--untracked-files=no", *spec)
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


# ---- the run --------------------------------------------------------------------------------


def run_experiment(
    cfg: ExperimentConfig, log: Callable[[str], None] = print, console: Console | None = None
) -> dict[str, Any]:
    """Run (or resume) every stage; returns ``results.json``'s content.

    ``console`` shows live generation progress for the pivot and every evaluation (a bar in a
    terminal, timestamped lines in a log); ``None`` shows none. The folder is checked writable
    and held by this run (:mod:`pbrlsvr.outputs`): a second ``experiment`` on it is refused."""
    from pbrlsvr.outputs import hold_folder

    with hold_folder(cfg.output, f"the experiment folder {cfg.output}"):
        return _run_experiment(cfg, log, console)


def _run_experiment(
    cfg: ExperimentConfig, log: Callable[[str], None], console: Console | None
) -> dict[str, Any]:
    """:func:`run_experiment` once the experiment folder is this run's."""
    from pbrlsvr.evaluation.runner import evaluate
    from pbrlsvr.experiment.report import write_results
    from pbrlsvr.generation.progress import GenerationProgress
    from pbrlsvr.pivot.commands import pivot_generate
    from pbrlsvr.train.grpo import train

    out = cfg.output
    (out / "config.yaml").write_text(dump_config(cfg), encoding="utf-8")
    state = State(out / "state.json")
    state.data.setdefault("meta", {}).update(machine=machine_info(), commit=git_commit(out))
    arms = cfg.resolved_arms()

    # 1. pivot
    refs = out / "pivot" / "references.jsonl"
    (out / "pivot").mkdir(exist_ok=True)
    pivot_cfg = pivot_config(cfg)
    # The references the arms trained on must never change under them: once the pivot is done
    # it is not re-run (a later pivot rule would re-pick references), and other pivot settings
    # than the recorded ones are an error rather than a silent mix.
    pivot_settings = {
        "pivot": cfg.pivot.model_dump(mode="json"),
        "train_data": cfg.train_data.model_dump(mode="json"),
        "langs": cfg.langs,
    }
    if state.done("pivot") and refs.is_file():
        recorded = state.data["pivot"].get("settings")
        if recorded is not None and recorded != pivot_settings:
            changed = sorted(k for k in pivot_settings if recorded.get(k) != pivot_settings[k])
            raise ConfigError(
                f"{out}: the pivot ran with other settings ({', '.join(changed)} differ) and the arms "
                "trained on its references; use another `output` for a new pivot"
            )
        log("[pivot] finished earlier: its references are kept")
    else:
        log(f"[pivot] {cfg.pivot.model} answers the English questions ({cfg.pivot.samples} samples each)")
        outcome = state.run("pivot", lambda: pivot_generate(pivot_cfg, progress_console=console), log)
        state.mark("pivot", "done", summary=outcome.to_dict(), settings=pivot_settings)

    # 2-3. per arm: train (if it trains), then evaluate on every set. Arm by arm, so that a
    # stopped experiment holds whole arms (a trained arm's evaluation is what a sitting keeps).
    for arm in arms:
        final = out / "arms" / arm.name / "train" / "final"
        if arm.reward is not None:
            _train_arm(cfg, arm, refs, state, log, train)
            write_results(cfg, state.data, arms)
        model = cfg.policy if arm.reward is None else str(final)
        for es in cfg.eval_sets:
            key = f"eval/{arm.name}/{es.name}"
            data = es.data.model_dump(mode="json")
            if state.done(key) and state.data[key].get("data") == data:
                log(f"[eval] {arm.name} on {es.name}: finished earlier, skipped")
                continue
            # Never run, or run on other problems (e.g. a grown `limit`): the evaluation resumes
            # from its predictions file, so only the problems it has not answered are generated.
            ecfg = eval_config(cfg, model, es, out / "arms" / arm.name / f"eval_{es.name}")
            log(f"[eval] {arm.name} on {es.name}")

            def run_eval(ecfg: EvalConfig = ecfg, title: str = f"{arm.name} on {es.name}") -> Any:
                with GenerationProgress(title, console, enabled=console is not None) as live:
                    return evaluate(ecfg, live=live)

            state.run(key, run_eval, log, data=data)
            write_results(cfg, state.data, arms)  # results so far, after every finished stage

    # 4. report
    log("[report] results.md, results.json, plots/")
    return write_results(cfg, state.data, arms)


def _train_arm(
    cfg: ExperimentConfig,
    arm: ArmConfig,
    refs: Path,
    state: State,
    log: Callable[[str], None],
    train: Callable[..., Any],
) -> None:
    """GRPO for one arm with the shared budget (resumes from its last checkpoint)."""
    b = cfg.budget
    run_dir = cfg.output / "arms" / arm.name / "train"
    if state.done(f"train/{arm.name}") and (run_dir / "final").is_dir():
        log(f"[train] {arm.name}: finished earlier, skipped")
        return
    tcfg = arm_train_config(cfg, arm, refs)
    log(
        f"[train] {arm.name}: {b.steps} GRPO steps × {b.prompts_per_step} prompts × {b.completions_per_prompt}"
    )
    state.run(f"train/{arm.name}", lambda: train(tcfg), log)


# --- every stage's config, typed (a renamed field is a type error here, not a silent no-op) --------


def engine_spec(cfg: ExperimentConfig, model: str) -> str:
    """The generator spec for a model: on the engine unless it already names a backend."""
    from pbrlsvr.generation import with_backend

    return with_backend(model, "ct2") if cfg.engine == "ct2" else model


def pivot_config(cfg: ExperimentConfig) -> PivotCommandConfig:
    """The pivot stage: English references for the training problems, kept by agreement (never gold)."""
    from pbrlsvr.generation.base import SamplingConfig
    from pbrlsvr.pivot.config import PivotCommandConfig, PivotConfig

    p = cfg.pivot
    return PivotCommandConfig(
        data=DataConfig.model_validate({**cfg.train_data.model_dump(), "langs": cfg.langs}),
        store=cfg.output / "pivot" / "references.sqlite",
        output=cfg.output / "pivot" / "references.jsonl",
        keep=p.keep,
        min_agreement=p.min_agreement,
        keep_truncated=p.keep_truncated,
        pivot=PivotConfig(
            model=engine_spec(cfg, p.model),
            samples=p.samples,
            sampling=SamplingConfig(
                max_new_tokens=p.max_new_tokens,
                temperature=p.temperature if p.samples > 1 else 0.0,
                seed=cfg.budget.seed,
            ),
        ),
    )


def eval_config(cfg: ExperimentConfig, model: str, eval_set: EvalSetConfig, output: Path) -> EvalConfig:
    """One evaluation stage: ``model`` on ``eval_set`` with the training prompt, greedy."""
    from pbrlsvr.evaluation.config import EvalConfig
    from pbrlsvr.evaluation.prompts import EvalPromptConfig
    from pbrlsvr.generation.base import SamplingConfig

    return EvalConfig(
        model=engine_spec(cfg, model),
        model_options={"compute_type": cfg.compute_type} if cfg.engine == "ct2" else {},
        data=DataConfig.model_validate(eval_set.data.model_dump()),
        output=output,
        sampling=SamplingConfig(max_new_tokens=cfg.eval_max_new_tokens),
        prompt=EvalPromptConfig(style="train"),
        batch_size=cfg.eval_batch_size,
    )


def arm_train_config(cfg: ExperimentConfig, arm: ArmConfig, references: Path) -> TrainConfig:
    """One arm's GRPO: the shared budget, rows and seed; only the reward differs between arms."""
    from pbrlsvr.models.config import ModelConfig
    from pbrlsvr.rewards.config import RewardConfig
    from pbrlsvr.train.config import LoraAdapterConfig, RolloutConfig, TrainConfig

    b = cfg.budget
    run_dir = cfg.output / "arms" / arm.name / "train"
    per_step = b.prompts_per_step * b.completions_per_prompt
    return TrainConfig(
        data=references,
        langs=cfg.langs,
        model=ModelConfig(name=cfg.policy),
        output_dir=run_dir,
        reward=RewardConfig.model_validate({**(arm.reward or {}), "langs": cfg.langs}),
        max_steps=b.steps,
        num_generations=b.completions_per_prompt,
        per_device_train_batch_size=b.micro_batch,
        gradient_accumulation_steps=per_step // b.micro_batch,
        max_completion_length=b.max_completion_length,
        learning_rate=b.learning_rate,
        temperature=b.temperature,
        seed=b.seed,
        save_steps=b.save_steps,
        save_total_limit=1,
        lora=LoraAdapterConfig(enabled=True, r=b.lora_r, alpha=b.lora_alpha),
        rollout=RolloutConfig(engine="ct2" if cfg.engine == "ct2" else "trl", compute_type=cfg.compute_type),
        resume=bool(checkpoints(run_dir)),
    )
