"""Generate pivot samples into the reference store, resumably.

1. :func:`unique_problems`: problems are deduplicated by their parallel id: the English question is
   the same in every language, so the pivot answers it once (``question_en``, or ``question`` for
   English rows).
2. :func:`plan_pivot`: the store key set of this configuration (:func:`pivot_key_set`) is looked up
   and only the missing ``(problem, sample index)`` pairs are planned (``force`` first deletes this
   key set's samples of these problems). A problem id whose stored samples were written for a
   different English question is an error, never silently reused.
3. :func:`run_plan`: the missing samples are generated in batches of ``pivot.batch_size`` problems
   and every batch is committed at once, so a killed run loses at most the batch in flight and the
   next run continues where it stopped. A problem with all ``k`` samples missing is asked for
   ``n=k`` completions in one request; one with a few missing (after errors) is asked per missing
   sample index ``j`` with ``n=1`` and seed ``seed + j``. Completions with ``finish_reason="error"``
   are reported and not stored, so the next run retries them.

Several processes may run the same configuration on one store: each takes the batches in its own
random order and re-reads the store before every batch, skipping what the others have committed
meanwhile, so they mostly split the work; what they do generate twice (the same batch at the same
time) is stored once (``INSERT OR IGNORE``). Each sample's final answer is the
   rewards' :func:`~pbrlsvr.rewards.answer.extract_final_answer` (see :func:`sample_answer`).

Generators come from :func:`build_pivot_generator`: the generation backend ``pivot.model`` selects
(:mod:`pbrlsvr.generation.backends`; a plugin registers more), with ``pivot.backend`` as its options.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from pbrlsvr.data.problem import Problem
from pbrlsvr.errors import PbrlsvrError
from pbrlsvr.generation.base import Generation, Generator, ProgressFn
from pbrlsvr.generation.progress import GenerationProgress
from pbrlsvr.pivot.config import PivotConfig, sampling_digest
from pbrlsvr.pivot.store import KeySet, ReferenceStore, Sample, question_hash
from pbrlsvr.rewards.answer import extract_answer


class PivotError(PbrlsvrError):
    """A pivot run cannot go on as configured (no backend, a store holding other questions, ...)."""


# --- problems --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PivotProblem:
    """One English question the pivot answers, shared by every language of a parallel id."""

    id: str
    question_en: str
    gold: str | None
    langs: tuple[str, ...]

    @property
    def question_hash(self) -> str:
        return question_hash(self.question_en)


@dataclass
class UniqueProblems:
    """The result of :func:`unique_problems`."""

    problems: list[PivotProblem]
    rows: int
    """(id, lang) rows read."""
    no_english: list[str] = field(default_factory=list)
    """``id:lang`` keys of ids that have no English question in any language (skipped)."""
    conflicts: list[str] = field(default_factory=list)
    """ids whose languages carry different English questions (the first one is used)."""


def english_of(problem: Problem) -> str | None:
    """The pivot's input: ``question_en``, or ``question`` for an English row."""
    if problem.question_en and problem.question_en.strip():
        return problem.question_en
    if problem.lang == "en" and problem.question.strip():
        return problem.question
    return None


def unique_problems(problems: Iterable[Problem]) -> UniqueProblems:
    """Deduplicate problems by parallel id, in order of first appearance."""
    english: dict[str, str | None] = {}
    gold: dict[str, str | None] = {}
    langs: dict[str, list[str]] = {}
    keys: dict[str, list[str]] = {}
    conflicts: list[str] = []
    rows = 0
    for p in problems:
        rows += 1
        text = english_of(p)
        if p.id not in english:
            english[p.id], gold[p.id], langs[p.id], keys[p.id] = text, p.gold, [], []
        elif text is not None:
            seen = english[p.id]
            if seen is None:
                english[p.id] = text
            elif question_hash(seen) != question_hash(text) and p.id not in conflicts:
                conflicts.append(p.id)
        if gold[p.id] is None and p.gold is not None:
            gold[p.id] = p.gold
        langs[p.id].append(p.lang)
        keys[p.id].append(p.key)
    out = UniqueProblems([], rows, conflicts=conflicts)
    for pid, text in english.items():
        if text is None:
            out.no_english.extend(keys[pid])
        else:
            out.problems.append(PivotProblem(pid, text, gold[pid], tuple(langs[pid])))
    return out


# --- generators ------------------------------------------------------------------------------


def build_pivot_generator(cfg: PivotConfig) -> Generator:
    """The generator of ``cfg.model`` with ``cfg.backend`` as its options (:meth:`PivotConfig.model_spec`)."""
    return cfg.model_spec().build()


# --- planning --------------------------------------------------------------------------------


def pivot_key_set(cfg: PivotConfig) -> KeySet:
    """The store key set of a pivot configuration: model name, prompt hash, sampling hash."""
    return KeySet(cfg.model_name, cfg.prompt.digest(), sampling_digest(cfg.sampling))


@dataclass(frozen=True)
class Work:
    """Sample indices still missing for one problem."""

    problem: PivotProblem
    indices: tuple[int, ...]


@dataclass
class PivotPlan:
    """What a run has to do: see :func:`plan_pivot`."""

    cfg: PivotConfig
    key: KeySet
    unique: UniqueProblems
    work: list[Work]
    present: int
    """Samples (index < k) already stored for these problems."""
    deleted: int = 0
    """Samples deleted by ``force``."""

    @property
    def expected(self) -> int:
        return len(self.unique.problems) * self.cfg.samples

    @property
    def missing(self) -> int:
        return sum(len(w.indices) for w in self.work)


def plan_pivot(
    problems: Iterable[Problem], cfg: PivotConfig, store: ReferenceStore, *, force: bool = False
) -> PivotPlan:
    """Deduplicate ``problems``, register the key set, apply ``force`` and find the missing samples.

    Raises:
        PivotError: the store holds samples of this key set for some problem ids that were written
            for a different English question.
    """
    unique = unique_problems(problems)
    key = pivot_key_set(cfg)
    store.register(
        key,
        cfg.prompt.model_dump(mode="json"),
        cfg.sampling.model_dump(mode="json", exclude={"n"}),
    )
    ids = [p.id for p in unique.problems]
    deleted = store.delete(key, ids) if force and ids else 0
    stored = store.index(key, ids) if ids else {}
    clash = [
        p.id for p in unique.problems if any(h != p.question_hash for h in stored.get(p.id, {}).values())
    ]
    if clash:
        shown = ", ".join(clash[:3]) + (f" and {len(clash) - 3} more" if len(clash) > 3 else "")
        raise PivotError(
            f"the store {store.path} holds samples of {key} for {shown} written for a different English "
            "question (another dataset with the same ids?): use another store or pivot.name, or --force "
            "to replace them"
        )
    k = cfg.samples
    work: list[Work] = []
    present = 0
    for p in unique.problems:
        have = stored.get(p.id, {})
        missing = tuple(j for j in range(k) if j not in have)
        present += k - len(missing)
        if missing:
            work.append(Work(p, missing))
    return PivotPlan(cfg, key, unique, work, present, deleted)


# --- running ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationFailure:
    """A completion that came back with ``finish_reason="error"`` (not stored; retried next run)."""

    problem_id: str
    index: int
    error: str


@dataclass
class RunReport:
    """What :func:`run_plan` did."""

    key: KeySet
    problems: int
    rows: int
    expected: int
    present_before: int
    deleted: int = 0
    planned: int = 0
    generated: int = 0
    """Samples committed by this run."""
    duplicates: int = 0
    """Samples generated here that another writer had already stored (ignored)."""
    skipped: int = 0
    """Planned samples another writer stored before this run reached them (not generated)."""
    failures: list[GenerationFailure] = field(default_factory=list)
    generate_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generation_seconds: float = 0.0
    store_seconds: float = 0.0
    """Time inside store calls while generating (re-reading a batch's keys, committing it)."""
    extract_seconds: float = 0.0
    """Time extracting the samples' final answers."""
    wall_seconds: float = 0.0
    no_english: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        """Completion tokens per second of generation time."""
        return self.completion_tokens / self.generation_seconds if self.generation_seconds > 0 else 0.0

    @property
    def store_share(self) -> float:
        """Store time as a share of generation time."""
        return self.store_seconds / self.generation_seconds if self.generation_seconds > 0 else 0.0


ProgressCallback = Callable[[int, int], None]
"""Called as ``(samples handled so far, samples planned)`` after every batch."""


@dataclass(frozen=True)
class _Batch:
    items: tuple[Work, ...]
    n: int
    seed_offset: int


def _batches(work: Sequence[Work], k: int, size: int) -> list[_Batch]:
    full = [w for w in work if len(w.indices) == k]
    out = [_Batch(tuple(full[i : i + size]), k, 0) for i in range(0, len(full), size)]
    by_index: dict[int, list[Work]] = {}
    for w in work:
        if len(w.indices) < k:
            for j in w.indices:
                by_index.setdefault(j, []).append(Work(w.problem, (j,)))
    for j in sorted(by_index):
        items = by_index[j]
        out.extend(_Batch(tuple(items[i : i + size]), 1, j) for i in range(0, len(items), size))
    return out


def sample_answer(text: str, finish_reason: str) -> str | None:
    """The rewards' final answer of a sample (read as English), except that a sample cut off by
    ``max_new_tokens`` (``"length"``) whose only "answer" is its last number has none: that number
    is a step of unfinished reasoning, not a final answer."""
    got = extract_answer(text, "en")
    if got is None or (finish_reason == "length" and got.source == "last_number"):
        return None
    return got.text


def _sample(problem: PivotProblem, index: int, gen: Generation, seconds: float) -> Sample:
    return Sample(
        problem_id=problem.id,
        index=index,
        text=gen.text,
        answer=sample_answer(gen.text, gen.finish_reason),
        finish_reason=gen.finish_reason,
        question_hash=problem.question_hash,
        prompt_tokens=gen.prompt_tokens,
        completion_tokens=gen.completion_tokens,
        seconds=seconds,
    )


def _run_batch(
    batch: _Batch,
    plan: PivotPlan,
    store: ReferenceStore,
    gen: Generator,
    report: RunReport,
    live: GenerationProgress | None = None,
) -> int:
    """Generate and commit one batch; returns the number of planned samples it handled."""
    cfg, key = plan.cfg, plan.key
    t0 = time.perf_counter()
    done_now = store.index(key, [w.problem.id for w in batch.items])  # another writer may have been here
    report.store_seconds += time.perf_counter() - t0
    items: list[Work] = []
    for w in batch.items:
        if any(j not in done_now.get(w.problem.id, {}) for j in w.indices):
            items.append(w)
        else:
            report.skipped += len(w.indices)
    if not items:
        return sum(len(w.indices) for w in batch.items)
    seed = cfg.sampling.seed
    settings = cfg.sampling.model_copy(
        update={"n": batch.n, "seed": None if seed is None else seed + batch.seed_offset}
    )
    t0 = time.perf_counter()
    advance: ProgressFn | None = None
    if live is not None:
        display = live
        display.begin_batch(sum(len(w.indices) for w in batch.items))

        def _advance(finished: int) -> None:  # the backend counts conversations of batch.n samples each
            display.advance(finished * batch.n)

        advance = _advance
    outputs = gen.generate([cfg.prompt.render(w.problem.question_en) for w in items], settings, advance)
    took = time.perf_counter() - t0
    report.generation_seconds += took
    report.generate_calls += 1
    per_sample = took / max(1, sum(len(w.indices) for w in items))
    samples: list[Sample] = []
    t0 = time.perf_counter()
    for w, gens in zip(items, outputs, strict=True):
        for j, g in zip(w.indices, gens, strict=True):
            if g.finish_reason == "error":
                report.failures.append(GenerationFailure(w.problem.id, j, g.error or "error"))
                continue
            samples.append(_sample(w.problem, j, g, per_sample))
            report.prompt_tokens += g.prompt_tokens
            report.completion_tokens += g.completion_tokens
    report.extract_seconds += time.perf_counter() - t0
    t0 = time.perf_counter()
    inserted = store.add(key, samples)
    report.store_seconds += time.perf_counter() - t0
    report.generated += inserted
    report.duplicates += len(samples) - inserted
    return sum(len(w.indices) for w in batch.items)


def run_plan(
    plan: PivotPlan,
    store: ReferenceStore,
    generator: Generator | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    live: GenerationProgress | None = None,
) -> RunReport:
    """Generate the plan's missing samples, committing every batch (see the module docstring).

    ``generator`` defaults to :func:`build_pivot_generator` of the plan's config, built only when
    something is missing (and closed at the end); a generator passed in is left open. ``live``
    shows samples done / planned, tokens/s and time left, started once the model is loaded.
    """
    start = time.perf_counter()
    cfg, key = plan.cfg, plan.key
    report = RunReport(
        key=key,
        problems=len(plan.unique.problems),
        rows=plan.unique.rows,
        expected=plan.expected,
        present_before=plan.present,
        deleted=plan.deleted,
        planned=plan.missing,
        no_english=list(plan.unique.no_english),
        conflicts=list(plan.unique.conflicts),
    )
    if not plan.work:
        report.wall_seconds = time.perf_counter() - start
        return report
    own = generator is None
    gen = build_pivot_generator(cfg) if generator is None else generator
    handled = 0
    try:
        batches = _batches(plan.work, cfg.samples, cfg.batch_size)
        random.Random(f"{os.getpid()}-{time.time_ns()}").shuffle(batches)  # writers spread out
        if live is not None:
            live.start(plan.missing)
        for batch in batches:
            tokens = report.completion_tokens
            handled += _run_batch(batch, plan, store, gen, report, live)
            if on_progress is not None:
                on_progress(handled, plan.missing)
            if live is not None:
                live.batch_done(handled, report.completion_tokens - tokens)
    finally:
        if own:
            gen.close()
        report.wall_seconds = time.perf_counter() - start
    return report


def run_pivot(
    problems: Iterable[Problem],
    cfg: PivotConfig,
    store: ReferenceStore,
    generator: Generator | None = None,
    *,
    force: bool = False,
    on_progress: ProgressCallback | None = None,
    live: GenerationProgress | None = None,
) -> RunReport:
    """:func:`plan_pivot` then :func:`run_plan`: the whole generation step in one call."""
    plan = plan_pivot(problems, cfg, store, force=force)
    return run_plan(plan, store, generator, on_progress=on_progress, live=live)


__all__ = [
    "GenerationFailure",
    "PivotError",
    "PivotPlan",
    "PivotProblem",
    "RunReport",
    "UniqueProblems",
    "Work",
    "build_pivot_generator",
    "english_of",
    "pivot_key_set",
    "plan_pivot",
    "run_pivot",
    "run_plan",
    "sample_answer",
    "unique_problems",
]
