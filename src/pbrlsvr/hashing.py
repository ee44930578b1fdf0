"""One home for the project's two hashes: of a settings payload, and of a piece of text.

Both feed stored keys (prediction fingerprints, pivot store keys, problem ids, signal-filter
decisions), so their exact output is part of the on-disk formats: change them only with a format
version.

>>> digest({"b": 1, "a": [1, 2]})
'94a786c3662bc7be'
>>> text_hash("two  words\\n") == text_hash("two words")
True
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def digest(payload: Any, length: int = 16) -> str:
    """Short sha256 hex of ``payload`` as canonical JSON (sorted keys, no spaces, UTF-8 as is).

    Values JSON cannot encode (paths, dates) are encoded by ``str``, so a settings dump hashes
    without a custom encoder.
    """
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def normalize_ws(text: str) -> str:
    """Collapse every run of whitespace (Unicode line separators included) to one space."""
    return " ".join(text.split())


def text_hash(text: str, length: int = 16, algorithm: str = "sha256") -> str:
    """Short hex digest of ``text`` with whitespace normalised: stable across runs and machines.

    ``algorithm`` is any :mod:`hashlib` name; generic problem ids use sha1 (12 characters) because
    ids written by earlier versions must stay the same.
    """
    return hashlib.new(algorithm, normalize_ws(text).encode("utf-8")).hexdigest()[:length]
