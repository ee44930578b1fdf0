"""GGUF → transformers folder: dequantize once with transformers, then save a normal HF folder.

transformers reads GGUF files (Q4_K_M, Q4_1, Q8_0, ...) by dequantizing every tensor to float
through the ``gguf`` package, which is slow in pure numpy. The result is an ordinary float model,
but transformers marks it as "quantized with gguf" and refuses ``save_pretrained``; the marks are
removed here (the weights really are plain float32 by then), so the folder can be saved and later
reloaded in a second or two.

Weights are saved in float32: dequantized 4-bit values (block scale × quant) are not exactly
representable in bfloat16 or float16, so float32 keeps what the GGUF holds; :func:`load_model`
casts to the requested dtype on load.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pbrlsvr.errors import ModelLoadError
from pbrlsvr.models.progress import Steps, quiet_transformers_bars, route_gguf_tqdm

CHUNK = 8 * 1024 * 1024


def sha256_file(path: Path, on_bytes: Callable[[int], None] | None = None) -> str:
    """Stream a file through sha256 (constant memory); ``on_bytes`` is told each chunk's size."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return digest.hexdigest()


def dequantize_gguf(gguf_path: Path, out_dir: Path, steps: Steps) -> dict[str, Any]:
    """Load ``gguf_path`` with transformers (dequantizing it) and save model + tokenizer to ``out_dir``.

    Returns metadata for the cache marker. Any failure (an architecture or quantization type
    transformers cannot read, a truncated file) becomes a :class:`ModelLoadError` naming the file.
    """
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    dequant = steps.step(f"Dequantizing {name}", total=None)
    try:
        with quiet_transformers_bars(), route_gguf_tqdm(dequant):
            tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
            model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except Exception as exc:
        raise ModelLoadError(
            f"cannot read GGUF file {gguf_path} with transformers {transformers.__version__}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    dequant.done()

    # The weights are plain float32 now; drop the "quantized with gguf" marks that block saving.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config

    save = steps.step("Saving transformers folder", total=None)
    with quiet_transformers_bars():
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    save.done()
    return {
        "source_gguf": gguf_path.name,
        "architecture": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "transformers": transformers.__version__,
        "dtype": "float32",
    }
