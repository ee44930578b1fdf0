"""Where the data shipped inside the package lives (``pbrlsvr/resources/data``).

See ``resources/data/README.md`` for sources, licences and how the slices were made.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def data_dir() -> Path:
    """The packaged data folder."""
    return Path(str(files("pbrlsvr") / "resources" / "data"))


def mgsm_dir() -> Path:
    """MGSM: ``mgsm_<lang>.tsv`` for 11 languages and ``exemplars.jsonl`` (CC BY 4.0)."""
    return data_dir() / "mgsm"


def msvamp_dir() -> Path:
    """MSVAMP: ``msvamp_<lang>.jsonl`` for 10 languages (Apache-2.0)."""
    return data_dir() / "msvamp"


def gsm8k_mgsm_test() -> Path:
    """The 250 GSM8K test problems that MGSM translated (rows 0-249 of GSM8K test, MIT)."""
    return data_dir() / "gsm8k" / "test_mgsm250.jsonl"


def gsm8k_mgsm_model_solutions() -> Path:
    """GSM8K's example model solutions (6B/175B, fine-tuned/verified) for those 250 problems."""
    return data_dir() / "gsm8k" / "example_model_solutions_mgsm250.jsonl"
