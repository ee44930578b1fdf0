"""`pbrlsvr demo`: the whole PB-RLSVR flow end to end on the packaged offline models.

1. **pivot**: the pivot model writes English references for MSVAMP training problems (kept only
   where the pivot's voted answer matches the gold answer), into a resumable SQLite store;
2. **eval (before)**: the policy on MGSM in the demo's languages: accuracy, language consistency,
   LC&Acc with 95% intervals;
3. **train**: a few GRPO steps (TRL, LoRA) on the PB-RLSVR reward, every component logged;
4. **eval (after)**: the trained policy on the same MGSM problems;
5. **compare**: per-language deltas with paired bootstrap significance.

Every step is resumable: run the demo again after a kill and it continues where it stopped (the
pivot store skips finished samples, evaluation skips finished predictions, training resumes from
its last checkpoint, finished steps are skipped). MSVAMP is SVAMP-derived and disjoint from MGSM,
so training on it and evaluating on MGSM keeps the test set unseen. A few CPU steps on a 135M
model show the pipeline working, not the paper's gains: use ``--policy`` / ``--steps`` and a GPU
for those.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from pbrlsvr.config import StrictModel, validate_langs
from pbrlsvr.data.config import DataConfig
from pbrlsvr.errors import DataError

if TYPE_CHECKING:
    from rich.console import Console

    from pbrlsvr.evaluation.config import EvalConfig
    from pbrlsvr.pivot.config import PivotCommandConfig
    from pbrlsvr.train.config import TrainConfig


class DemoConfig(StrictModel):
    """Sizes and models of the demo.

    With the CTranslate2 engine the defaults ran in 9 min 31 s on 2 CPU cores shared with a test
    suite, models cached (pivot 2m49s, each eval ~1 min, 8 GRPO steps at ~30 s); with HF
    generation they took 12 min 55 s on idle cores. More steps fit in 15 minutes now, but a 135M
    policy at 0% cannot show a significant change in any number of steps that fit, so the default
    stays 8 (``--steps`` raises it) and the report points at the committed experiment.
    """

    output: Path = Field(Path("runs/demo"), description="everything the demo writes")
    pivot: str = Field("qwen2.5-coder-0.5b-instruct", description="the English pivot model")
    policy: str = Field("smollm2-135m-instruct", description="the multilingual policy to train")
    langs: list[str] = Field(default_factory=lambda: ["de", "fr", "sw", "zh"], description="target languages")
    train_problems: int = Field(12, ge=2, description="MSVAMP problems per language for training")
    pivot_samples: int = Field(2, ge=1, description="pivot samples per problem (majority vote)")
    keep: Literal["all", "agree_with_gold"] = Field(
        "agree_with_gold", description="train only on references whose voted answer matches gold"
    )
    keep_truncated: bool = Field(
        False, description="let pivot samples cut at max_new_tokens vote and become references"
    )
    eval_problems: int = Field(8, ge=1, description="MGSM problems per language, before and after")
    steps: int = Field(8, ge=1, description="GRPO steps")
    max_new_tokens: int = Field(192, ge=16, description="eval and pivot completion length")
    train_completion_tokens: int = Field(128, ge=16)
    engine: Literal["auto", "ct2", "hf"] = Field(
        "auto",
        description="generation for pivot, eval and GRPO rollouts: ct2 (CTranslate2, ~20x HF on CPU), "
        "hf (transformers generate), auto (ct2 when pbrlsvr[engine] is installed)",
    )

    _check_langs = field_validator("langs", mode="before")(validate_langs)


def run_demo(
    cfg: DemoConfig, log: Callable[[str], None] = print, *, console: Console | None = None
) -> dict[str, Any]:
    """Run (or resume) the demo; returns the summary written to ``<output>/summary.json``.

    ``console`` shows live progress of the pivot and the two evaluations there (a bar in a
    terminal, timestamped lines in a log); ``None`` shows none. Every step says whether it
    computed, resumed or reused its output, and the report's timings are read from what the steps
    stored (the pivot store, the predictions, ``metrics.jsonl``), so a re-run keeps the first
    run's figures instead of its own zero seconds.
    """
    from pbrlsvr.demo_report import build_demo_report, step_record, training_seconds
    from pbrlsvr.evaluation.compare import compare_runs, render_compare_markdown
    from pbrlsvr.evaluation.runner import evaluate
    from pbrlsvr.pivot.commands import pivot_generate
    from pbrlsvr.train.grpo import train

    out = cfg.output
    out.mkdir(parents=True, exist_ok=True)
    langs = ",".join(cfg.langs)
    engine = _engine(cfg.engine)
    log(f"      generation engine: {'CTranslate2 int8' if engine else 'transformers generate'}")

    def spec(model: str) -> str:
        from pbrlsvr.generation import with_backend

        return with_backend(model, "ct2") if engine else model

    refs = out / "references.jsonl"

    log(f"[1/5] pivot: {cfg.pivot} writes English references for {cfg.train_problems} MSVAMP problems")
    pivot_cfg = pivot_config(cfg, spec(cfg.pivot))
    outcome = pivot_generate(pivot_cfg, progress_console=console)
    n_refs = (
        sum(1 for line in refs.read_text(encoding="utf-8").splitlines() if line.strip())
        if refs.exists()
        else 0
    )
    stats = outcome.to_dict()
    if n_refs == 0:
        cut = stats.get("truncated_samples") or 0
        why = (
            f"the pivot's answers matched gold on none of the {cfg.train_problems} problems"
            if cfg.keep == "agree_with_gold"
            else f"the pivot gave no final answer on any of the {cfg.train_problems} problems"
        )
        if cut and not cfg.keep_truncated:
            why += f" ({cut} samples were cut at max_new_tokens and never vote unless keep_truncated=true)"
        raise DataError(
            f"{why}, so there is nothing to train on: give it more tokens (max_new_tokens), more samples, "
            "a stronger --pivot, keep=all or keep_truncated=true"
        )
    acc = stats.get("pivot_accuracy")
    stored = stats.get("stored") or {}
    steps: dict[str, dict[str, Any]] = {
        "pivot": step_record(
            (stats.get("generation") or {}).get("generated", 0),
            stored.get("samples", 0),
            "samples",
            stored.get("generation_seconds"),
        )
    }
    log(steps["pivot"]["line"])
    log(
        f"      {stats.get('kept')} of {stats.get('problems')} problems kept, {n_refs} training rows; "
        f"pivot accuracy vs gold: {'n/a' if acc is None else f'{acc:.0%}'}"
    )

    def run_eval(model: str, name: str) -> dict[str, Any]:
        from pbrlsvr.generation.progress import GenerationProgress

        ecfg = eval_config(cfg, spec(model), out / name)
        with GenerationProgress(name.replace("_", " "), console, enabled=console is not None) as live:
            result = evaluate(ecfg, live=live)
        work[name] = result.generated
        gen = result.report.get("generation") or {}
        steps[name] = step_record(
            result.generated, result.report["counts"]["items"], "predictions", gen.get("seconds")
        )
        log(steps[name]["line"])
        return result.report

    # What each step actually computed in this call (a re-run of a finished demo computes nothing).
    work: dict[str, Any] = {"pivot": (stats.get("generation") or {}).get("generated", 0), "train_steps": 0}
    log(f"[2/5] eval before: {cfg.policy} on MGSM {langs} × {cfg.eval_problems}")
    before = run_eval(cfg.policy, "eval_before")

    final = out / "train" / "final"
    if (final / "adapter_config.json").is_file() or (final / "config.json").is_file():
        log("[3/5] train: already finished, skipped")
    else:
        log(f"[3/5] train: {cfg.steps} GRPO steps (LoRA) on the PB-RLSVR reward")
        tcfg = train_config(cfg, refs, engine)
        res = train(tcfg)
        work["train_steps"] = res.steps - _checkpoint_step(res.resumed_from)
    steps["train"] = step_record(
        work["train_steps"], cfg.steps, "GRPO steps", training_seconds(out / "train" / "metrics.jsonl")
    )
    log(steps["train"]["line"])

    log(f"[4/5] eval after: the trained policy ({final})")
    after = run_eval(str(final), "eval_after")

    log("[5/5] compare and report")
    comparison = compare_runs(out / "eval_before", out / "eval_after")
    (out / "compare.md").write_text(render_compare_markdown(comparison), encoding="utf-8")
    # The pivot as the demo used it: `generation` is the stored samples' totals (the same on a
    # re-run), `this_run` what this call generated; `training_rows` the rows train read.
    pivot = {k: v for k, v in stats.items() if k not in ("generation", "stored")}
    pivot.update(generation=stored, this_run=stats.get("generation"), training_rows=n_refs)
    report = build_demo_report(
        out,
        settings=cfg.model_dump(mode="json"),
        pivot=pivot,
        before=before,
        after=after,
        comparison=comparison,
        metrics_path=out / "train" / "metrics.jsonl",
        steps={k: {f: v for f, v in rec.items() if f != "line"} for k, rec in steps.items()},
    )
    summary = {
        "report": str(out / "report.md"),
        "report_json": str(out / "report.json"),
        "plots": [str(out / rel) for rel in report["plots"].values()],
        "computed": work,
        "steps": report["steps"],
        "references": n_refs,
        "pivot_accuracy": acc,
        "before": _headline(before),
        "after": _headline(after),
        "macro_delta": comparison.get("macro"),
        "train_metrics": str(out / "train" / "metrics.jsonl"),
        "eval_reports": [str(out / "eval_before" / "report.md"), str(out / "eval_after" / "report.md")],
        "compare": str(out / "compare.md"),
        "config": cfg.model_dump(mode="json"),
    }
    (out / "summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
    )
    return summary


# The three steps' configs, typed (a renamed field is a type error here, not a silent no-op).


def pivot_config(cfg: DemoConfig, model: str) -> PivotCommandConfig:
    """The pivot step: references for ``train_problems`` MSVAMP problems per language."""
    from pbrlsvr.generation.base import SamplingConfig
    from pbrlsvr.pivot.config import PivotCommandConfig, PivotConfig

    return PivotCommandConfig(
        data=DataConfig(source="msvamp", langs=cfg.langs, limit=cfg.train_problems),
        store=cfg.output / "references.sqlite",
        output=cfg.output / "references.jsonl",
        keep=cfg.keep,
        keep_truncated=cfg.keep_truncated,
        pivot=PivotConfig(
            model=model,
            samples=cfg.pivot_samples,
            sampling=SamplingConfig(
                max_new_tokens=cfg.max_new_tokens, temperature=0.7 if cfg.pivot_samples > 1 else 0.0
            ),
        ),
    )


def eval_config(cfg: DemoConfig, model: str, output: Path) -> EvalConfig:
    """An evaluation step: MGSM, ``eval_problems`` per language, with the training prompt."""
    from pbrlsvr.evaluation.config import EvalConfig
    from pbrlsvr.evaluation.prompts import EvalPromptConfig
    from pbrlsvr.generation.base import SamplingConfig

    return EvalConfig(
        model=model,
        data=DataConfig(source="mgsm", langs=cfg.langs, limit=cfg.eval_problems),
        output=output,
        sampling=SamplingConfig(max_new_tokens=cfg.max_new_tokens),
        prompt=EvalPromptConfig(style="train"),
    )


def train_config(cfg: DemoConfig, references: Path, engine: bool) -> TrainConfig:
    """The training step: ``steps`` GRPO steps with LoRA on the PB-RLSVR reward."""
    from pbrlsvr.models.config import ModelConfig
    from pbrlsvr.rewards.config import RewardConfig
    from pbrlsvr.train.config import RolloutConfig, TrainConfig

    return TrainConfig(
        data=references,
        model=ModelConfig(name=cfg.policy),
        output_dir=cfg.output / "train",
        max_steps=cfg.steps,
        num_generations=4,
        per_device_train_batch_size=4,
        max_completion_length=cfg.train_completion_tokens,
        learning_rate=5e-5,
        save_steps=max(1, cfg.steps // 2),
        reward=RewardConfig(langs=cfg.langs),
        rollout=RolloutConfig(engine="ct2" if engine else "trl"),
        resume=(cfg.output / "train").is_dir(),
    )


def _engine(choice: str) -> bool:
    """Whether the demo generates on CTranslate2 (``auto``: when it is installed)."""
    if choice != "auto":
        return choice == "ct2"
    from pbrlsvr.generation.ct2_engine import engine_available

    return engine_available()


def _checkpoint_step(checkpoint: str | None) -> int:
    """The global step a ``checkpoint-N`` folder holds (0 for none)."""
    if not checkpoint:
        return 0
    tail = Path(checkpoint).name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _headline(report: dict[str, Any]) -> dict[str, Any]:
    """The macro averages over non-English languages, the numbers a person reads first."""
    macro = report.get("averages", {}).get("macro") or {}
    return {k: macro.get(k) for k in ("accuracy", "language_consistency", "lc_acc")}
