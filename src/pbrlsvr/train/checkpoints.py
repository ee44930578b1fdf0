"""Which checkpoint a resumed run continues from: the newest *complete* one.

The Trainer writes ``checkpoint-N/`` file by file; a kill during a save (seconds to minutes on a
real model) leaves a folder without ``trainer_state.json`` or with a truncated weights or
optimizer file. transformers' ``get_last_checkpoint`` takes the highest number regardless, and
every later resume then died on it (``FileNotFoundError``, ``SafetensorError``) while the intact
checkpoint before it went unused. :func:`newest_complete_checkpoint` checks each candidate,
newest first, and returns the first complete one together with the reasons the newer ones were
skipped. Nothing is deleted: a skipped folder stays for the user to inspect (the Trainer's own
``save_total_limit`` rotation removes old checkpoints as it always does).

Complete means: ``trainer_state.json`` parses and names a ``global_step``; the weights
(``adapter_model.safetensors``, ``model.safetensors`` or a sharded index with every shard) have a
whole safetensors header covering the file; ``optimizer.pt``, ``scheduler.pt`` and
``rng_state*.pth``, where present or expected, are whole zip archives (what ``torch.save`` writes;
a truncated one has no central directory).
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

_NUMBERED = re.compile(r"^checkpoint-(\d+)$")
WEIGHT_FILES = ("adapter_model.safetensors", "model.safetensors")
SHARD_INDEX = "model.safetensors.index.json"


def checkpoints(run_dir: Path) -> list[Path]:
    """``checkpoint-N`` folders of ``run_dir``, newest (highest N) first."""
    if not Path(run_dir).is_dir():
        return []
    found = [
        (int(m.group(1)), p) for p in Path(run_dir).iterdir() if p.is_dir() and (m := _NUMBERED.match(p.name))
    ]
    return [p for _, p in sorted(found, reverse=True)]


def _safetensors_problem(path: Path) -> str | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except Exception as exc:  # the library's own error for a torn or foreign file
        return f"{path.name} is unreadable ({str(exc).splitlines()[0][:120]})"
    return None


def checkpoint_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be resumed from, or None when it is complete."""
    state = folder / "trainer_state.json"
    try:
        data = json.loads(state.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no trainer_state.json"
    except (OSError, ValueError) as exc:
        return f"trainer_state.json is unreadable ({exc})"
    if not isinstance(data, dict) or not isinstance(data.get("global_step"), int):
        return "trainer_state.json names no global_step"
    weights = [folder / name for name in WEIGHT_FILES if (folder / name).is_file()]
    index = folder / SHARD_INDEX
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return f"{SHARD_INDEX} is unreadable ({exc})"
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            return f"weight shard {missing[0]} is missing"
        weights += [folder / s for s in shards]
    if not weights:
        return "no model or adapter weights"
    for path in weights:
        if problem := _safetensors_problem(path):
            return problem
    expected = ["optimizer.pt", "scheduler.pt"]
    present = expected + sorted(p.name for p in folder.glob("rng_state*.pth"))
    for name in present:
        path = folder / name
        if not path.is_file():
            return f"no {name}"
        if not zipfile.is_zipfile(path):
            return f"{name} is truncated or not a torch archive"
    return None


def newest_complete_checkpoint(run_dir: Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest complete checkpoint of ``run_dir`` (None if there is none), and each newer one
    skipped with the reason."""
    skipped: list[tuple[Path, str]] = []
    for folder in checkpoints(run_dir):
        problem = checkpoint_problem(folder)
        if problem is None:
            return folder, skipped
        skipped.append((folder, problem))
    return None, skipped
