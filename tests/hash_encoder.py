"""A tiny deterministic encoder for unit tests: hashed character trigrams, no model at all."""

from __future__ import annotations

import hashlib

import numpy as np

from pbrlsvr.rewards.encoders.base import Encoder, Kind


class HashEncoder(Encoder):
    """Bag of hashed character trigrams (64 dims): similar strings get similar vectors."""

    name = "hash-test"
    dim = 64

    def __init__(self) -> None:
        self.calls = 0
        self.texts_encoded = 0

    def _encode_sorted(self, features: list[str], kind: Kind) -> np.ndarray:
        self.calls += 1
        self.texts_encoded += len(features)
        out = np.zeros((len(features), self.dim), dtype=np.float32)
        for row, text in enumerate(features):
            t = f"  {text.lower()}  "
            for i in range(len(t) - 2):
                h = int.from_bytes(hashlib.blake2b(t[i : i + 3].encode(), digest_size=4).digest(), "little")
                out[row, h % self.dim] += 1.0
        out[:, 0] += 1e-3  # no all-zero rows
        return out
