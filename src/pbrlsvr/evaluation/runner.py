"""The evaluation runner: problems → prompts → generations → scored predictions → report.

:func:`evaluate` is what ``pbrlsvr eval`` runs. It is resumable: predictions are appended per
batch (flushed and fsynced) to ``<output>/predictions.jsonl``; running it again with the same
output folder and settings skips every finished ``(id, lang)`` and continues. See
:mod:`pbrlsvr.evaluation.store` for what happens on a settings mismatch.

A generation that fails (``finish_reason == "error"``, e.g. an HTTP backend's timeout) is *not*
written, so the next run retries it; the report then says how many problems are missing.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pbrlsvr import __version__
from pbrlsvr.config import dump_config
from pbrlsvr.data import Benchmark, load_benchmark
from pbrlsvr.data.problem import Problem
from pbrlsvr.errors import ConfigError
from pbrlsvr.evaluation.config import EvalConfig
from pbrlsvr.evaluation.metrics import summarize
from pbrlsvr.evaluation.prompts import build_conversation, template_hash
from pbrlsvr.evaluation.report import REPORT_VERSION, render_markdown, write_json, write_text
from pbrlsvr.evaluation.scoring import Scorer, extractor_version, identifiable
from pbrlsvr.evaluation.store import PredictionStore, record_key, slim
from pbrlsvr.generation.backends import ModelSpec
from pbrlsvr.generation.base import Generator, Message
from pbrlsvr.generation.progress import GenerationProgress

ProgressCallback = Callable[[int, int], None]
"""Called with (problems finished, problems in the run) after every batch."""


def make_generator(spec: ModelSpec) -> Generator:
    """The generator of a parsed model spec (tests replace this function)."""
    return spec.build()


@dataclass
class EvalResult:
    """What :func:`evaluate` did."""

    report: dict[str, Any]
    output: Path
    generated: int = 0
    resumed: int = 0
    failed: int = 0
    seconds: float = 0.0
    files: list[Path] = field(default_factory=list)


def _candidates(cfg: EvalConfig, bench: Benchmark) -> list[str]:
    choice = cfg.consistency.candidates
    if choice == "benchmark":
        base = list(bench.languages) + bench.langs
    elif choice == "run":
        base = bench.langs
    else:
        base = list(choice)
    return identifiable(list(dict.fromkeys([*base, "en"])))


def _settings(
    cfg: EvalConfig, bench: Benchmark, candidates: Sequence[str], generator_name: str | None
) -> dict[str, Any]:
    return {
        "benchmark": bench.name,
        "task": bench.kind,
        "model": cfg.model,
        "generator": generator_name,
        "model_options": cfg.model_options,
        "data": cfg.data.model_dump(mode="json"),
        "langs": bench.langs,
        "shots": cfg.shots,
        "decoding": cfg.sampling.model_dump(mode="json"),
        "batch_size": cfg.batch_size,
        "prompt": {
            "style": cfg.prompt.style,
            "system": cfg.prompt.system,
            "overrides": sorted(cfg.prompt.templates),
            "template_hash": template_hash(cfg.prompt, cfg.shots),
        },
        "extractor_version": extractor_version(),
        "consistency": {
            "threshold": cfg.consistency.threshold,
            "rule": "share of the response's letters identified as the prompt's language >= threshold",
            "candidates": list(candidates),
        },
        "bootstrap": {**cfg.bootstrap.model_dump(mode="json"), "method": "percentile"},
        "fingerprint": cfg.fingerprint(),
        "pbrlsvr_version": __version__,
    }


def build_report(
    cfg: EvalConfig,
    bench: Benchmark,
    records: Sequence[dict[str, Any]],
    candidates: Sequence[str],
    generator_name: str | None = None,
    *,
    ignored: int = 0,
) -> dict[str, Any]:
    """The report of ``records`` (the predictions of ``bench.problems``)."""
    summary = summarize(
        records,
        resamples=cfg.bootstrap.resamples,
        seed=cfg.bootstrap.seed,
        confidence=cfg.bootstrap.confidence,
        langs=bench.langs,
    )
    seconds = sum(float(r.get("seconds") or 0.0) for r in records)
    tokens = sum(int(r.get("completion_tokens") or 0) for r in records)
    return {
        "report_version": REPORT_VERSION,
        "created": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "settings": _settings(cfg, bench, candidates, generator_name),
        "counts": {
            "items": len(records),
            "problems": len(bench.problems),
            "missing": len(bench.problems) - len(records),
            "ignored_predictions": ignored,
        },
        # From the predictions themselves, so a resumed or re-rendered run reports the time its
        # predictions took, whichever sittings made them (not the 0 s of a run that reused them).
        "generation": {
            "seconds": round(seconds, 3),
            "completion_tokens": tokens,
            "tokens_per_second": round(tokens / seconds, 2) if seconds > 0 else None,
        },
        **summary,
    }


def _prompt_size(problem: Problem) -> int:
    """Characters of a problem's own text (to batch prompts of similar length together)."""
    return len(problem.question) + sum(len(str(o)) for o in problem.meta.get("options") or ())


def _record(
    problem: Problem, messages: list[Message], gen: Any, scored: Any, elapsed: float
) -> dict[str, Any]:
    return {
        "id": problem.id,
        "lang": problem.lang,
        "prompt": messages,
        "response": gen.text,
        **scored.to_dict(),
        "gold": problem.gold,
        "finish_reason": gen.finish_reason,
        "prompt_tokens": gen.prompt_tokens,
        "completion_tokens": gen.completion_tokens,
        "seconds": round(elapsed, 3),
    }


def evaluate(
    cfg: EvalConfig,
    generator: Generator | None = None,
    *,
    progress: ProgressCallback | None = None,
    log: Callable[[str], None] | None = None,
    live: GenerationProgress | None = None,
) -> EvalResult:
    """Run (or resume) the evaluation ``cfg`` describes and write its outputs.

    Args:
        cfg: the configuration; ``cfg.output`` is required.
        generator: a ready :class:`~pbrlsvr.generation.base.Generator`; default: built from
            ``cfg.model`` / ``cfg.model_options`` (only when some problem is left to generate).
        progress: called with (finished, total) after every batch.
        log: called with one-line status messages.
        live: the live display (items done / total, tokens/s, time left), fed by the backend as
            conversations finish and after every batch; started once the model is loaded.

    Returns:
        An :class:`EvalResult` with the report dict and counts.

    Raises:
        ConfigError: no output folder, or a settings mismatch with existing predictions.
        DataError: the data cannot be loaded or has problems without gold answers.
    """
    say = log or (lambda _msg: None)
    if cfg.output is None:
        raise ConfigError("eval needs an output folder: --output DIR (or output: in the config)")
    started = time.perf_counter()
    bench = load_benchmark(cfg.data, benchmark=cfg.benchmark, task=cfg.task)
    if cfg.shots and bench.kind == "choice":
        raise ConfigError(
            "--shots uses the MGSM math exemplars; multiple-choice tasks run zero-shot (--shots 0)"
        )
    firsts = {p.lang: p for p in reversed(bench.problems)}.values()
    for p in firsts:  # a prompt problem (no exemplars in a language, a bad template) fails before any work
        build_conversation(p, bench.kind, cfg.prompt, cfg.shots)
    candidates = _candidates(cfg, bench)
    output = cfg.output.expanduser()
    result = EvalResult(report={}, output=output)
    own_generator = False
    with PredictionStore(output) as store:
        store.check_or_start(cfg.fingerprint(), cfg.fingerprint_payload(), force=cfg.force)
        done = store.load()
        wanted = {p.key for p in bench.problems}
        pending = [p for p in bench.problems if p.key not in done]
        result.resumed = len(bench.problems) - len(pending)
        if result.resumed:
            say(f"resuming: {result.resumed} of {len(bench.problems)} problems already done")
        if cfg.sort_by_length:
            pending.sort(key=lambda p: -_prompt_size(p))
        total = len(bench.problems)
        finished = result.resumed
        if progress:
            progress(finished, total)
        try:
            if pending and generator is None:
                say(f"loading {cfg.model} ...")
                generator = make_generator(cfg.model_spec())
                own_generator = True
            scorer = Scorer(bench.kind, candidates, cfg.consistency.threshold) if pending else None
            if live is not None and pending:
                live.start(total, finished)
            for start in range(0, len(pending), cfg.batch_size):
                batch = pending[start : start + cfg.batch_size]
                convs = [build_conversation(p, bench.kind, cfg.prompt, cfg.shots) for p in batch]
                t0 = time.perf_counter()
                assert generator is not None and scorer is not None
                if live is not None:
                    live.begin_batch(len(batch))
                outs = generator.generate(convs, cfg.sampling, live.advance if live is not None else None)
                elapsed = (time.perf_counter() - t0) / max(1, len(batch))
                keep = [
                    (p, c, o[0])
                    for p, c, o in zip(batch, convs, outs, strict=True)
                    if o[0].finish_reason != "error"
                ]
                result.failed += len(batch) - len(keep)
                scored = scorer.score([p for p, _, _ in keep], [g.text for _, _, g in keep])
                records = [_record(p, c, g, s, elapsed) for (p, c, g), s in zip(keep, scored, strict=True)]
                store.append(records)
                for rec in records:
                    done[record_key(rec)] = slim(rec)
                result.generated += len(records)
                finished += len(batch)
                if progress:
                    progress(finished, total)
                if live is not None:
                    live.batch_done(finished, sum(o[0].completion_tokens for o in outs))
        finally:
            if own_generator and generator is not None:
                generator.close()
        records = [done[p.key] for p in bench.problems if p.key in done]
        ignored = sum(1 for k in done if k not in wanted)
        name = getattr(generator, "name", None) if generator is not None else None
        report = build_report(cfg, bench, records, candidates, name, ignored=ignored)
        write_json(output / "report.json", report)
        write_text(output / "report.md", render_markdown(report))
        write_text(output / "config.yaml", dump_config(cfg))
        files = [store.path, output / "report.json", output / "report.md", output / "config.yaml"]
        if cfg.plots and records:
            from pbrlsvr.evaluation.plots import plot_report

            files += plot_report(report, output)
    result.report = report
    result.files = files
    result.seconds = time.perf_counter() - started
    if result.failed:
        say(f"{result.failed} generation(s) failed and were not recorded; run again to retry them")
    return result
