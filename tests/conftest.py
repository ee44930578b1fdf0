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
        pytest.skip("../shared/data is not present (user clone)")
    return SHARED_DATA
