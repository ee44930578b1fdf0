"""Drop training prompts that give GRPO no learning signal, before training starts.

GRPO scores ``num_generations`` completions per prompt and trains on each one's reward minus its
group's mean. When every completion of a group gets the same reward (all correct, all wrong, all in
the wrong language), every advantage is 0: the prompt costs a full generation step and teaches
nothing. This module samples each training row's group once with the *initial* policy (the same
prompt, ``temperature``, ``max_completion_length`` and group size as training, seeded), scores it
with the same reward functions training uses (:func:`pbrlsvr.integrations.trl.make_reward_funcs`
over :meth:`pbrlsvr.rewards.Reward.score_batch`) and keeps a row only when its group's reward std
reaches ``filter_no_signal.min_std``.

TRL logs the online view of the same quantity every step: ``frac_reward_zero_std`` in
``metrics.jsonl`` is the share of the step's groups whose reward std is 0. This filter is the
offline, one-shot version: it removes such prompts up front, measured on the initial policy (a
prompt the initial policy always fails may become learnable later; that is the trade-off).

What "the group's reward" is follows ``aggregation``, as TRL computes it:

* ``sum``: the combined reward (gates and the no-answer rule included); ``std`` is its group std
  (``ddof=1``, NaN-aware, like TRL's ``nanstd``).
* ``normalize_then_sum``: TRL normalises each component within the group, so a group has signal
  when *any* component varies; ``std`` is the largest component std (each one is also written).

Completions the reward cannot score (TRL's ``None``) are left out of the std, as TRL does; a group
with fewer than two scorable completions has std 0.

Resumable and auditable: ``<output_dir>/signal_filter.jsonl`` starts with one settings line
(``{"signal_filter_settings": {...}}``: model, reward config, aggregation, sampling, ``min_std``),
then one line per row as soon as it is decided (``id``, ``lang``, ``rewards``, ``std``, ``kept``,
and ``row_sha``, a hash of the row's prompt and references), flushed. A rerun or ``resume`` reads
the file and samples only the rows not in it; a file written with other settings, or for rows
whose data changed since, is refused (delete it to start over). A line cut off by a kill is
dropped and that row sampled again.

On several processes (``accelerate launch``), :func:`pbrlsvr.train.grpo.train` runs this in the
main process first and the other ranks then read the finished file, so every rank trains on the
same rows. ``output_dir`` must then be shared by all nodes, and the sampling must finish within
torch.distributed's barrier timeout; for a large set, fill the file beforehand from one process
(call :func:`filter_no_signal` with the same config, model and reward).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pbrlsvr.config import settings_diff
from pbrlsvr.errors import DataError
from pbrlsvr.generation.base import Generator, SamplingConfig
from pbrlsvr.hashing import digest
from pbrlsvr.models.progress import Steps

if TYPE_CHECKING:
    from pbrlsvr.rewards.reward import Reward
    from pbrlsvr.train.config import TrainConfig

logger = logging.getLogger(__name__)

FILENAME = "signal_filter.jsonl"
HEADER_KEY = "signal_filter_settings"
FORMAT_VERSION = 1

RowKey = tuple[str, str]


@dataclass
class SignalFilterResult:
    """The rows to train on and what the filter did."""

    rows: list[dict[str, Any]]
    """The kept training rows, in their original order."""
    total: int
    kept: int
    dropped: int
    sampled: int
    """Rows (unique ``(id, lang)``) sampled in this call."""
    reused: int
    """Rows whose decision was read from the file (a rerun or ``resume``)."""
    path: Path


def sampling_settings(cfg: TrainConfig) -> SamplingConfig:
    """The decoding of a training step: group size, temperature, completion length, seed (top-p 1,
    top-k off: TRL's defaults)."""
    return SamplingConfig(
        n=cfg.num_generations,
        max_new_tokens=cfg.max_completion_length,
        temperature=cfg.temperature,
        seed=cfg.seed,
    )


def filter_settings(cfg: TrainConfig, reward: Reward) -> dict[str, Any]:
    """Everything a decision depends on, as written in the file's settings line."""
    return {
        "version": FORMAT_VERSION,
        "model": cfg.model.model_dump(mode="json"),
        "reward": reward.config.model_dump(mode="json"),
        "aggregation": cfg.aggregation,
        "sampling": sampling_settings(cfg).model_dump(mode="json"),
        "min_std": cfg.filter_no_signal.min_std,
    }


def row_sha(row: dict[str, Any]) -> str:
    """A short hash of what a row's decision depends on: its prompt and its references."""
    data = {k: row.get(k) for k in ("prompt", "lang", "reference", "reference_answer", "gold")}
    return digest(data)


def group_std(values: Sequence[float | None]) -> float:
    """Sample std (``ddof=1``) of the finite values, as TRL's ``nanstd``; 0 for fewer than two."""
    xs = [v for v in values if v is not None and math.isfinite(v)]
    if len(xs) < 2:
        return 0.0
    mean = sum(xs) / len(xs)
    return math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))


def read_decisions(path: Path, settings: dict[str, Any]) -> dict[RowKey, dict[str, Any]]:
    """Decisions already in ``path`` (``{}`` when there is no file), after checking its settings.

    A last line without its newline (the process was killed while writing it) is cut off the file
    so that appending continues cleanly; that row is sampled again.
    """
    if not path.exists():
        return {}
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        cut = raw.rfind(b"\n") + 1
        logger.warning("%s: dropping an unfinished last line (interrupted write); that row is redone", path)
        with open(path, "r+b") as fh:
            fh.truncate(cut)
        raw = raw[:cut]
    lines = [line for line in raw.split(b"\n") if line.strip()]
    if not lines:
        return {}
    hint = f"delete {path} to sample every row again"
    try:
        records = [json.loads(line) for line in lines]
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not a signal filter file ({exc}); {hint}") from None
    header = records[0]
    if not isinstance(header, dict) or not isinstance(header.get(HEADER_KEY), dict):
        raise DataError(f"{path} does not start with its settings line; {hint}")
    diff = settings_diff(header[HEADER_KEY], settings)
    if diff:
        raise DataError(
            f"{path} was written with other settings ({'; '.join(diff)}): its decisions do not apply "
            f"to this run; {hint}, or restore those settings"
        )
    done: dict[RowKey, dict[str, Any]] = {}
    for number, rec in enumerate(records[1:], start=2):
        if not isinstance(rec, dict) or not {"id", "lang", "kept", "std", "row_sha"} <= rec.keys():
            raise DataError(f"{path}:{number}: not a signal filter decision; {hint}")
        done[(str(rec["id"]), str(rec["lang"]))] = rec
    return done


def _score_groups(
    funcs: Sequence[Callable[..., list[float | None]]],
    weights: Sequence[float],
    rows: Sequence[dict[str, Any]],
    texts: Sequence[Sequence[str]],
) -> list[tuple[list[float | None], dict[str, list[float | None]]]]:
    """Per row: every completion's weighted reward (TRL's nansum over functions, ``None`` when no
    function scored it) and each function's values, scored in one batch as TRL calls them."""
    completions: list[list[dict[str, str]]] = []
    columns: dict[str, list[Any]] = {k: [] for k in ("reference", "reference_answer", "lang", "gold")}
    for row, group in zip(rows, texts, strict=True):
        for text in group:
            completions.append([{"role": "assistant", "content": text}])
            for k, values in columns.items():
                values.append(row.get(k))
    prompts = [row["prompt"] for row, group in zip(rows, texts, strict=True) for _ in group]
    per_func = [fn(prompts=prompts, completions=completions, **columns) for fn in funcs]
    out = []
    start = 0
    for group in texts:
        end = start + len(group)
        by_func = {
            getattr(fn, "__name__", str(i)): vals[start:end]
            for i, (fn, vals) in enumerate(zip(funcs, per_func, strict=True))
        }
        totals: list[float | None] = []
        for j in range(start, end):
            scored = [(w, vals[j]) for w, vals in zip(weights, per_func, strict=True) if vals[j] is not None]
            totals.append(round(sum(w * float(v) for w, v in scored), 6) if scored else None)
        out.append((totals, by_func))
        start = end
    return out


def filter_no_signal(
    rows: Sequence[dict[str, Any]],
    cfg: TrainConfig,
    reward: Reward,
    *,
    model: Any = None,
    tokenizer: Any = None,
    generator: Generator | None = None,
    progress: bool = True,
) -> SignalFilterResult:
    """Sample, score and keep the training rows whose group reward varies (see the module docstring).

    ``rows`` are :func:`pbrlsvr.train.dataset.build_rows` rows: their ``prompt`` is the training
    prompt, used as is. Sampling goes through ``generator``, or a
    :class:`~pbrlsvr.generation.TransformersGenerator` over ``(model, tokenizer)`` built only when
    some row is not decided yet. Raises :class:`DataError` when no row is left, or when the
    decisions file belongs to other settings or other data.
    """
    from pbrlsvr.integrations.trl import make_reward_funcs

    opts = cfg.filter_no_signal
    path = cfg.output_dir / FILENAME
    settings = filter_settings(cfg, reward)
    sampling = sampling_settings(cfg)
    done = read_decisions(path, settings)

    unique: dict[RowKey, dict[str, Any]] = {}
    for row in rows:
        unique.setdefault((str(row["id"]), str(row["lang"])), row)
    for key, row in unique.items():
        if key in done and done[key]["row_sha"] != row_sha(row):
            raise DataError(
                f"{path}: row {key[0]} ({key[1]}) was decided for other data (its prompt or reference "
                f"changed since); delete {path} to sample every row again"
            )
    pending = [key for key in unique if key not in done]
    reused = len(unique) - len(pending)
    if reused:
        logger.info("signal filter: %d of %d rows already decided in %s", reused, len(unique), path)

    if pending:
        if generator is None:
            if model is None or tokenizer is None:
                raise ValueError("filter_no_signal needs a generator or a (model, tokenizer) pair")
            from pbrlsvr.generation import TransformersGenerator

            generator = TransformersGenerator((model, tokenizer), batch_size=opts.batch_size)
        funcs, weights = make_reward_funcs(reward, cfg.aggregation)
        per_call = max(1, opts.batch_size // sampling.n)
        path.parent.mkdir(parents=True, exist_ok=True)
        new_file = not path.exists() or path.stat().st_size == 0
        with open(path, "a", encoding="utf-8") as fh, Steps(progress) as bars:
            if new_file:
                fh.write(json.dumps({HEADER_KEY: settings}, ensure_ascii=False) + "\n")
                fh.flush()
            bar = bars.step("signal filter: sampling groups", total=len(pending))
            for start in range(0, len(pending), per_call):
                keys = pending[start : start + per_call]
                chunk = [unique[k] for k in keys]
                gens = generator.generate([r["prompt"] for r in chunk], sampling)
                texts = [[g.text for g in group] for group in gens]
                for key, row, (totals, by_func) in zip(
                    keys, chunk, _score_groups(funcs, weights, chunk, texts), strict=True
                ):
                    if cfg.aggregation == "sum":
                        std = group_std(totals)
                        extra: dict[str, Any] = {}
                    else:
                        stds = {name: group_std(vals) for name, vals in by_func.items()}
                        std = max(stds.values(), default=0.0)
                        extra = {"component_std": {k: float(f"{v:.6g}") for k, v in stds.items()}}
                    rec = {
                        "id": key[0],
                        "lang": key[1],
                        "rewards": totals,
                        "std": float(f"{std:.6g}"),
                        "kept": std >= opts.min_std,
                        **extra,
                        "row_sha": row_sha(row),
                    }
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    fh.flush()
                    done[key] = rec
                bar.advance(len(keys))

    kept_rows = [row for row in rows if done[(str(row["id"]), str(row["lang"]))]["kept"]]
    kept_keys = sum(bool(done[k]["kept"]) for k in unique)
    result = SignalFilterResult(
        rows=kept_rows,
        total=len(unique),
        kept=kept_keys,
        dropped=len(unique) - kept_keys,
        sampled=len(pending),
        reused=reused,
        path=path,
    )
    message = (
        f"signal filter: kept {result.kept} of {result.total} prompts, dropped {result.dropped} whose "
        f"{sampling.n} completions all got the same reward (std < {opts.min_std}); "
        f"{result.sampled} sampled now, {result.reused} from {path}"
    )
    logger.info(message)
    if progress:
        from rich.console import Console

        Console(stderr=True).print(message, highlight=False)
    if not kept_rows:
        raise DataError(
            f"all {result.total} prompts got identical rewards within their group of {sampling.n} "
            f"completions (std < {opts.min_std}), so GRPO would learn nothing from any of them: the "
            f"initial policy is always right or always wrong on this data (see the rewards in {path}). "
            "Use harder or easier data, raise temperature or num_generations, or disable filter_no_signal"
        )
    return result
