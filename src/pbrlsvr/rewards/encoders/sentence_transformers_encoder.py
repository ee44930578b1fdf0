"""Any sentence-transformers model (LaBSE, multilingual-e5-*, BGE-M3, ...) as an :class:`Encoder`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from pbrlsvr.errors import ModelLoadError
from pbrlsvr.rewards.encoders.base import KINDS, Encoder, Kind

E5_PREFIXES = {"query": "query: ", "passage": "passage: "}

_E5_NAME = re.compile(r"(^|[/_-])(multilingual-)?e5-(small|base|large)(-v2)?$", re.IGNORECASE)


def e5_style(model_name_or_path: str) -> bool:
    """True for the e5 family that expects ``query: ``/``passage: `` prefixes (not ``-instruct``)."""
    return bool(_E5_NAME.search(str(model_name_or_path).rstrip("/")))


class SentenceTransformerEncoder(Encoder):
    """A sentence-transformers model, loaded from a Hugging Face id or a local folder.

    Args:
        model_name_or_path: hub id (``intfloat/multilingual-e5-small``) or a local folder.
        device: ``"cpu"``, ``"cuda"``, ... (``None``: sentence-transformers chooses).
        prefixes: text put before each text per kind. ``"auto"`` (default): the model's own
            ``query``/``passage``/``document`` prompts if its config defines them, else the e5
            prefixes for multilingual-e5 / e5 models (by name), else none. ``None``: no prefixes.
        batch_size: texts per forward pass (sentence-transformers pads each batch).
        model_kwargs: extra keyword arguments for ``SentenceTransformer(...)``.
    """

    def __init__(
        self,
        model_name_or_path: str,
        device: str | None = None,
        prefixes: dict[str, str] | str | None = "auto",
        batch_size: int = 32,
        **model_kwargs: Any,
    ) -> None:
        from sentence_transformers import SentenceTransformer

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        try:
            self.model = SentenceTransformer(str(model_name_or_path), device=device, **model_kwargs)
        except (OSError, ValueError, RuntimeError) as exc:
            where = "folder" if Path(str(model_name_or_path)).exists() else "model id"
            raise ModelLoadError(
                f"cannot load sentence-transformers {where} {model_name_or_path!r}: {exc}"
            ) from exc
        self.name = str(model_name_or_path)
        dim = self.model.get_embedding_dimension()
        if not dim:
            raise ModelLoadError(f"{model_name_or_path!r} does not report its embedding dimension")
        self.dim = int(dim)
        self.batch_size = batch_size
        self.prefixes = self._resolve_prefixes(prefixes)

    def _resolve_prefixes(self, prefixes: dict[str, str] | str | None) -> dict[str, str]:
        if prefixes is None:
            return {}
        if isinstance(prefixes, dict):
            unknown = set(prefixes) - set(KINDS)
            if unknown:
                raise ValueError(f"prefixes keys must be among {KINDS}, got {sorted(unknown)}")
            return dict(prefixes)
        if prefixes != "auto":
            raise ValueError(f"prefixes must be 'auto', None or a dict, got {prefixes!r}")
        own = dict(getattr(self.model, "prompts", None) or {})
        if "passage" not in own and "document" in own:
            own["passage"] = own["document"]
        found = {k: own[k] for k in KINDS if own.get(k)}
        if found:
            return found
        return dict(E5_PREFIXES) if e5_style(self.name) else {}

    def _featurize(self, texts: list[str], kind: Kind) -> list[str]:
        prefix = self.prefixes.get(kind, "")
        return [prefix + t for t in texts]

    def _encode_sorted(self, features: list[str], kind: Kind) -> np.ndarray:
        return self.model.encode(
            features,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
