"""The sentence-encoder interface every semantic reward uses.

An :class:`Encoder` turns a list of texts into L2-normalised float32 vectors, one row per text in
input order. Subclasses implement two hooks, and :meth:`Encoder.encode` does the rest: input
checks, the empty list, encoding in length-sorted order (similar lengths side by side, which is
what makes batching worthwhile and keeps per-text work predictable) and putting the rows back in
input order.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, Literal, get_args

import numpy as np

Kind = Literal["query", "passage"]
"""Which e5 prefix a text gets: ``"query: "`` (symmetric tasks such as semantic similarity, and
search queries) or ``"passage: "`` (documents to be retrieved). Encoders without prefixes ignore it."""

KINDS: tuple[str, ...] = get_args(Kind)


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return kind


def check_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list of str, or a ``TypeError`` that names the offending item."""
    if isinstance(texts, (str, bytes)):
        raise TypeError("encode() takes a list of texts, not a single string: use encode([text], kind)")
    if texts is None:
        raise TypeError("encode() takes a list of texts, got None")
    items = list(texts)
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str")
    return items


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class Encoder(abc.ABC):
    """A multilingual sentence encoder.

    Attributes:
        name: a short identifier (what :func:`~pbrlsvr.rewards.encoders.build_encoder` takes).
        dim: the embedding size.
    """

    name: str
    dim: int

    def encode(self, texts: Sequence[str], kind: Kind = "query") -> np.ndarray:
        """Embed ``texts``: float32 array of shape ``(len(texts), dim)``, rows L2-normalised and
        in input order. An empty list gives shape ``(0, dim)``; an empty string is a text like
        any other (it encodes to the prefix and special tokens alone; only a model whose tokenizer
        adds no special tokens gives it the zero vector).

        Raises ``TypeError`` for a bare string, ``None`` or a non-str item, ``ValueError`` for an
        unknown ``kind``.
        """
        items = check_texts(texts)
        check_kind(kind)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        features = self._featurize(items, kind)
        lengths = [self._length(f) for f in features]
        order = sorted(range(len(items)), key=lengths.__getitem__)
        vecs = np.asarray(self._encode_sorted([features[i] for i in order], kind), dtype=np.float32)
        if vecs.shape != (len(items), self.dim):
            raise RuntimeError(f"{self.name}: expected shape {(len(items), self.dim)}, got {vecs.shape}")
        out = np.empty_like(vecs)
        out[order] = vecs
        return l2_normalize(out)

    # -- hooks ---------------------------------------------------------------------------------
    def _featurize(self, texts: list[str], kind: Kind) -> list[Any]:
        """Per-text work done before sorting (tokenisation); default: the texts themselves."""
        return list(texts)

    def _length(self, feature: Any) -> int:
        """The sort key of one featurised text (default ``len``: characters, or tokens)."""
        return len(feature)

    @abc.abstractmethod
    def _encode_sorted(self, features: list[Any], kind: Kind) -> np.ndarray:
        """Embed features given shortest first; return rows in the same order."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"
