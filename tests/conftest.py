"""Shared fixtures. Tests never reach a hub: HF_HUB_OFFLINE is forced on for the whole run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The development-only ../shared/data folder; tests that need it skip on a user's clone."""
    if not SHARED_DATA.is_dir():
        pytest.skip(missing_shared_data(SHARED_DATA))
    return SHARED_DATA


def missing_shared_data(path: Path) -> str:
    """The skip reason a user reads in `make test`'s summary when the development data is absent."""
    return (
        f"needs the maintainers' development data in {path} (GSM8K-train translations and "
        "MGSM copies kept outside the repository; not shipped, not needed to use pbrlsvr). "
        "Everything pbrlsvr ships is tested without it."
    )
