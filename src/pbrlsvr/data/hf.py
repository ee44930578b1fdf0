"""Hugging Face datasets, behind one guarded call.

``datasets`` is imported only here and only when a Hub id is asked for, so every other loader
works without it. Offline (``HF_HUB_OFFLINE=1``, no network) a dataset must already be in the
local HF cache; any failure to load becomes a :class:`DataError` that names the dataset, the
subset and split asked for, and the offline alternatives.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pbrlsvr.errors import DataError


@dataclass
class HFRows:
    """One split of a dataset: its column names and its rows as plain dicts."""

    name: str
    columns: list[str]
    rows: Iterable[dict[str, Any]]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)


def _offline() -> bool:
    return any(
        os.environ.get(k, "").lower() in ("1", "true", "yes")
        for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def _load_dataset(dataset_id: str, subset: str | None, split: str | None) -> Any:
    """The raw ``datasets.load_dataset`` call (tests replace this function)."""
    import datasets

    return datasets.load_dataset(dataset_id, subset, split=split)


def load_hf_rows(dataset_id: str, subset: str | None = None, split: str | None = None) -> HFRows:
    """Load one split of a Hub dataset (or a local dataset folder ``datasets`` understands).

    Without ``split``, a dataset with a single split gives that split; one with several is a
    :class:`DataError` listing them.
    """
    name = f"hf:{dataset_id}" + (f"/{subset}" if subset else "") + (f"[{split}]" if split else "")
    try:
        ds = _load_dataset(dataset_id, subset, split)
    except Exception as exc:  # datasets raises many types (ConnectionError, FileNotFoundError, ...)
        hint = (
            " HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set, so only datasets already in the local cache load."
            if _offline()
            else " Check the id, the subset (configuration) and the split, and the network."
        )
        raise DataError(
            f"could not load Hugging Face dataset {dataset_id!r} (subset={subset!r}, split={split!r}): "
            f"{type(exc).__name__}: {str(exc).strip()[:300]}.{hint} Offline, use a built-in source "
            "(mgsm, mgsm-exemplars, msvamp, gsm8k) or a local file or folder instead."
        ) from exc
    if not hasattr(ds, "column_names") or isinstance(ds.column_names, dict):
        splits = sorted(ds.keys()) if hasattr(ds, "keys") else []
        if len(splits) == 1:
            ds = ds[splits[0]]
        else:
            raise DataError(
                f"Hugging Face dataset {dataset_id!r} has several splits ({', '.join(splits)}): "
                "choose one with data.split"
            )
    return HFRows(name=name, columns=list(ds.column_names), rows=ds)


def require_columns(table: HFRows, needed: dict[str, str]) -> None:
    """Every ``{field: column}`` in ``needed`` must be a column of ``table``."""
    missing = {f: c for f, c in needed.items() if c not in table.columns}
    if missing:
        what = ", ".join(f"{c!r} (for {f})" for f, c in missing.items())
        raise DataError(f"{table.name}: column(s) {what} not found; columns: {', '.join(table.columns)}")
