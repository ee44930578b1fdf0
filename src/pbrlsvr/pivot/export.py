"""Chosen references → the training set of the next step (JSONL, Parquet or a HF dataset folder).

:func:`choose_references` votes over each problem's stored samples, checks the voted answer
against gold where there is one and decides what to keep; :func:`reference_rows` joins the kept
references with their problems, one row per ``(problem id, lang)``; :func:`write_rows` writes them.
Every format has the same columns (:data:`EXPORT_COLUMNS`), written atomically (a temporary file
or folder renamed into place, so a reader never sees half an export).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pbrlsvr.data.problem import Problem
from pbrlsvr.errors import PbrlsvrError
from pbrlsvr.pivot.config import ExportFormat, Keep
from pbrlsvr.pivot.runner import PivotError, PivotProblem, unique_problems
from pbrlsvr.pivot.store import KeySet, ReferenceStore, Sample
from pbrlsvr.pivot.voting import Vote, agrees_with_gold, keep_decision, vote

EXPORT_COLUMNS: dict[str, str] = {
    "id": "string",
    "lang": "string",
    "question": "string",
    "question_en": "string",
    "gold": "string",
    "reference": "string",
    "reference_answer": "string",
    "agreement": "float64",
    "votes": "int32",
    "n_samples": "int32",
    "pivot_model": "string",
    "correct": "bool",
    "source": "string",
    "prompt_hash": "string",
    "settings_hash": "string",
}
"""Export columns and their Arrow types. ``gold`` and ``correct`` (voted answer vs gold) are null
where the problem has no gold; everything else is always set."""


class ExportError(PbrlsvrError):
    """An export cannot be written (unknown format, a folder in the way, a missing extra)."""


@dataclass(frozen=True)
class Reference:
    """A problem's voted reference, its gold verdict and whether it is kept."""

    problem: PivotProblem
    vote: Vote
    correct: bool | None
    dropped: str | None

    @property
    def kept(self) -> bool:
        return self.dropped is None


@dataclass
class Selection:
    """What :func:`choose_references` found for a key set and a list of problems."""

    key: KeySet
    references: list[Reference]
    rows: int
    """(id, lang) problem rows read (every language of every id)."""
    samples: int
    """Stored samples voted over."""
    no_english: list[str] = field(default_factory=list)
    generation_seconds: float = 0.0
    """Generation time of the voted samples, summed from the store (whichever runs made them)."""
    completion_tokens: int = 0
    """Completion tokens of the voted samples, from the store."""
    truncated: int = 0
    """Voted samples cut at ``max_new_tokens`` (finish reason ``length``)."""

    def kept(self) -> dict[str, Reference]:
        return {r.problem.id: r for r in self.references if r.kept}

    @property
    def with_gold(self) -> list[Reference]:
        return [r for r in self.references if r.correct is not None]

    @property
    def accuracy(self) -> float | None:
        """The pivot's accuracy: voted answer vs gold, over problems with gold and samples."""
        judged = [r for r in self.with_gold if r.vote.n_samples > 0]
        return sum(bool(r.correct) for r in judged) / len(judged) if judged else None

    def agreement_histogram(self) -> dict[str, int]:
        """Problems per agreement value (``votes/samples``), over problems with samples."""
        counts = Counter(
            f"{r.vote.votes}/{r.vote.n_samples}" for r in self.references if r.vote.n_samples > 0
        )

        def order(label: str) -> tuple[float, int]:
            v, n = (int(x) for x in label.split("/"))
            return (v / n, n)

        return dict(sorted(counts.items(), key=lambda kv: order(kv[0])))

    def dropped(self) -> dict[str, int]:
        return dict(Counter(r.dropped for r in self.references if r.dropped is not None))


def choose_references(
    problems: Iterable[Problem],
    store: ReferenceStore,
    key: KeySet,
    *,
    keep: Keep = "all",
    min_agreement: float = 0.5,
    samples: int | None = None,
    keep_truncated: bool = False,
) -> Selection:
    """Vote over the stored samples of every problem id and decide which references to keep.

    ``samples`` caps the vote at sample indices below it (the run's ``k``); ``None`` uses every
    stored sample of the key set. ``keep_truncated`` lets samples cut at ``max_new_tokens`` vote
    and become references (off: see :func:`~pbrlsvr.pivot.voting.vote`).
    """
    plist = list(problems)
    unique = unique_problems(plist)
    stored = store.samples(key, [p.id for p in unique.problems])
    refs: list[Reference] = []
    total = truncated = tokens = 0
    seconds = 0.0
    for p in unique.problems:
        rows: list[Sample] = stored.get(p.id, [])
        if samples is not None:
            rows = [s for s in rows if s.index < samples]
        total += len(rows)
        truncated += sum(s.finish_reason == "length" for s in rows)
        seconds += sum(s.seconds or 0.0 for s in rows)
        tokens += sum(s.completion_tokens or 0 for s in rows)
        v = vote(rows, keep_truncated=keep_truncated)
        correct = agrees_with_gold(v.answer, p.gold) if v.n_samples else None
        refs.append(Reference(p, v, correct, keep_decision(v, correct, keep, min_agreement)))
    return Selection(
        key,
        refs,
        unique.rows,
        total,
        list(unique.no_english),
        generation_seconds=seconds,
        completion_tokens=tokens,
        truncated=truncated,
    )


def sample_accuracy(store: ReferenceStore, selection: Selection, samples: int | None = None) -> float | None:
    """Share of individual samples whose answer matches gold (problems with gold only)."""
    judged = [r.problem for r in selection.with_gold]
    if not judged:
        return None
    stored = store.samples(selection.key, [p.id for p in judged])
    hits = n = 0
    for p in judged:
        for s in stored.get(p.id, []):
            if samples is not None and s.index >= samples:
                continue
            n += 1
            hits += bool(agrees_with_gold(s.answer, p.gold))
    return hits / n if n else None


def reference_rows(problems: Iterable[Problem], selection: Selection) -> list[dict[str, Any]]:
    """One row per ``(id, lang)`` whose id has a kept reference, in the problems' order."""
    kept = selection.kept()
    out: list[dict[str, Any]] = []
    key = selection.key
    for p in problems:
        ref = kept.get(p.id)
        if ref is None:
            continue
        out.append(
            {
                "id": p.id,
                "lang": p.lang,
                "question": p.question,
                "question_en": ref.problem.question_en,
                "gold": p.gold,
                "reference": ref.vote.reference,
                "reference_answer": ref.vote.answer,
                "agreement": float(ref.vote.agreement),
                "votes": ref.vote.votes,
                "n_samples": ref.vote.n_samples,
                "pivot_model": key.model,
                "correct": ref.correct,
                "source": p.source,
                "prompt_hash": key.prompt_hash,
                "settings_hash": key.settings_hash,
            }
        )
    return out


# --- writing ---------------------------------------------------------------------------------


def resolve_format(path: Path, fmt: ExportFormat = "auto") -> str:
    """``jsonl``, ``parquet`` or ``hf``: ``fmt`` as given, else by the extension (none = HF folder)."""
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == "" or path.is_dir():
        return "hf"
    raise ExportError(
        f"cannot tell the export format of {path} from its extension {suffix!r}: use .jsonl, .parquet, "
        "a folder name (a HF dataset), or set format"
    )


def arrow_schema() -> Any:
    """The export's :class:`pyarrow.Schema`."""
    import pyarrow as pa

    types = {"string": pa.string(), "float64": pa.float64(), "int32": pa.int32(), "bool": pa.bool_()}
    return pa.schema([pa.field(name, types[t], nullable=True) for name, t in EXPORT_COLUMNS.items()])


def _arrow_table(rows: Sequence[dict[str, Any]]) -> Any:
    import pyarrow as pa

    schema = arrow_schema()
    return pa.Table.from_pylist([{c: r.get(c) for c in EXPORT_COLUMNS} for r in rows], schema=schema)


def write_rows(rows: Sequence[dict[str, Any]], path: str | Path, fmt: ExportFormat = "auto") -> str:
    """Write export rows atomically; returns the format used (``jsonl``, ``parquet``, ``hf``)."""
    out = Path(path).expanduser()
    kind = resolve_format(out, fmt)
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "hf":
        _write_hf(rows, out)
        return kind
    if out.is_dir():
        raise ExportError(f"{out} is a folder; a {kind} export needs a file path")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        if kind == "jsonl":
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                for r in rows:
                    fh.write(json.dumps({c: r.get(c) for c in EXPORT_COLUMNS}, ensure_ascii=False) + "\n")
        else:
            os.close(fd)
            import pyarrow.parquet as pq

            pq.write_table(_arrow_table(rows), tmp)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return kind


def _write_hf(rows: Sequence[dict[str, Any]], out: Path) -> None:
    import datasets

    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / "dataset_info.json").exists())
    ):
        raise ExportError(f"{out} exists and is not a HF dataset folder; choose another output or remove it")
    from datasets.utils import logging as ds_logging

    ds = datasets.Dataset(_arrow_table(rows))
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    bars = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()  # the command prints its own summary
    try:
        ds.save_to_disk(str(tmp / "data"), num_shards=1 if not rows else None)
        if out.exists():
            old = tmp / "old"
            out.rename(old)
        (tmp / "data").rename(out)
    finally:
        if bars:
            ds_logging.enable_progress_bar()
        shutil.rmtree(tmp, ignore_errors=True)


def read_rows(path: str | Path, fmt: ExportFormat = "auto") -> list[dict[str, Any]]:
    """Read an export back (any of the three formats) as a list of row dicts."""
    src = Path(path).expanduser()
    kind = resolve_format(src, fmt)
    if kind == "jsonl":
        with src.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(src).to_pylist()
    import datasets

    return datasets.load_from_disk(str(src)).to_list()


# --- key sets --------------------------------------------------------------------------------


def resolve_key_set(store: ReferenceStore, wanted: KeySet) -> KeySet:
    """The key set to export: ``wanted`` when the store has samples of it, else the only key set of
    the same model name (an import, or a run with other settings); otherwise a :class:`PivotError`
    listing what the store holds."""
    infos = store.key_sets()
    if any(i.key == wanted and i.samples > 0 for i in infos):
        return wanted
    same = [i for i in infos if i.key.model == wanted.model and i.samples > 0]
    if len(same) == 1:
        return same[0].key
    listing = "; ".join(f"{i.key} with {i.samples} samples" for i in infos if i.samples) or "nothing"
    if not same:
        raise PivotError(f"the store {store.path} has no samples of {wanted.model!r}; it holds: {listing}")
    raise PivotError(
        f"the store {store.path} holds several key sets of {wanted.model!r} and none matches this "
        f"configuration's prompt and sampling settings: {listing}; set pivot.prompt/pivot.sampling "
        "as in the run to export"
    )


__all__ = [
    "EXPORT_COLUMNS",
    "ExportError",
    "Reference",
    "Selection",
    "arrow_schema",
    "choose_references",
    "read_rows",
    "reference_rows",
    "resolve_format",
    "resolve_key_set",
    "sample_accuracy",
    "write_rows",
]
