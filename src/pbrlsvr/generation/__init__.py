"""One way to run a model for ``pivot/`` and ``evaluation/``: chat conversations in, completions out.

>>> from pbrlsvr.generation import SamplingSettings, build_generator
>>> gen = build_generator("smollm2-135m-instruct", batch_size=8)  # doctest: +SKIP
>>> gen = build_generator("http://localhost:8000/v1#meta-llama/Llama-3.1-8B-Instruct")  # doctest: +SKIP
>>> out = gen.generate([[{"role": "user", "content": "2+2?"}]], SamplingSettings(max_new_tokens=64))  # doctest: +SKIP

Backends (all implement :class:`Generator`):

- :class:`TransformersGenerator`: any causal LM :func:`pbrlsvr.models.load_model` can load, batched
  with left padding and length sorting; CPU or one GPU.
- :class:`OpenAIGenerator`: any OpenAI-compatible chat-completions server (vLLM, SGLang, TGI,
  llama.cpp, OpenAI) over HTTP, concurrent, with retries.
- :class:`VLLMGenerator`: vLLM's offline engine (``pip install 'pbrlsvr[vllm]'``).
- :class:`CT2Generator`: the CTranslate2 engine (``ct2:<model>``, ``pip install 'pbrlsvr[engine]'``),
  the fast path on CPU: int8 sampling about 20x HF ``generate`` on 2 cores (DESIGN.md).

Importing this package loads neither torch nor httpx; backends import what they need when built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pbrlsvr.errors import ConfigError
from pbrlsvr.generation.base import (
    Conversation,
    FinishReason,
    Generation,
    Generator,
    Message,
    ProgressFn,
    SamplingSettings,
    check_conversation,
)
from pbrlsvr.generation.ct2_backend import CT2Generator
from pbrlsvr.generation.openai_backend import OpenAIGenerator, ServerUnavailableError
from pbrlsvr.generation.transformers_backend import DEFAULT_BATCH_SIZE, TransformersGenerator
from pbrlsvr.generation.vllm_backend import VLLMGenerator

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "CT2Generator",
    "Conversation",
    "FinishReason",
    "Generation",
    "Generator",
    "Message",
    "OpenAIGenerator",
    "ProgressFn",
    "SamplingSettings",
    "ServerUnavailableError",
    "TransformersGenerator",
    "VLLMGenerator",
    "build_generator",
    "check_conversation",
    "parse_generator_spec",
]

_KWARGS: dict[str, tuple[str, ...]] = {
    "openai": ("model", "api_key_env", "concurrency", "timeout", "max_retries", "backoff"),
    "vllm": (
        "dtype",
        "tensor_parallel_size",
        "gpu_memory_utilization",
        "max_model_len",
        "max_input_tokens",
        "chunk_size",
        "trust_remote_code",
        "name",
    ),
    "ct2": (
        "compute_type",
        "device",
        "threads",
        "batch_size",
        "max_input_tokens",
        "trust_remote_code",
        "name",
    ),
    "transformers": (
        "dtype",
        "device",
        "batch_size",
        "max_input_tokens",
        "revision",
        "trust_remote_code",
        "name",
    ),
}


def parse_generator_spec(spec: str) -> tuple[str, str, str | None]:
    """``(backend, target, model)`` for a generator spec (see :func:`build_generator`).

    ``backend`` is ``"openai"``, ``"vllm"``, ``"ct2"`` or ``"transformers"``; ``target`` is the URL (without the
    ``#model`` part) or the model spec; ``model`` is the part after ``#`` for URLs, else None.
    """
    text = spec.strip()
    if not text:
        raise ConfigError("empty generator spec: give a model, vllm:<model> or http(s)://host/v1#<model>")
    if text.lower().startswith(("http://", "https://")):
        url, sep, model = text.partition("#")
        return "openai", url, (model.strip() or None) if sep else None
    if text.lower().startswith("vllm:"):
        model = text[5:].strip()
        if not model:
            raise ConfigError(f"generator spec {spec!r}: name the model after 'vllm:'")
        return "vllm", model, None
    if text.lower().startswith("ct2:"):
        model = text[4:].strip()
        if not model:
            raise ConfigError(f"generator spec {spec!r}: name the model after 'ct2:'")
        return "ct2", model, None
    return "transformers", text, None


def build_generator(spec: str | Mapping[str, Any], **kw: Any) -> Generator:
    """A :class:`Generator` for one spec string.

    - ``http://host:port/v1#<model>`` or ``https://...#<model>``: :class:`OpenAIGenerator`; the
      model (the request's ``model`` field) follows ``#``, or is given as ``model=`` (both must then
      agree). The ``#`` form keeps a whole remote model in one config string
      (``model.name: http://gpu-box:8000/v1#meta-llama/Llama-3.1-8B-Instruct``), and it is the
      generator's ``name``.
    - ``vllm:<model>``: :class:`VLLMGenerator` (needs ``pbrlsvr[vllm]``).
    - ``ct2:<model>``: :class:`CT2Generator` (needs ``pbrlsvr[engine]``), any model spec converted
      once to CTranslate2 (int8 by default; ``compute_type=float32`` for fp32 numerics).
    - anything else (offline alias, ``.gguf``, folder, HF id): :class:`TransformersGenerator`.

    Keyword arguments go to the backend's constructor; ``None`` values are dropped (so callers can
    pass optional settings through), and one the backend does not take is a :class:`ConfigError`.
    ``spec`` may also be a mapping ``{"model": <spec>, **options}`` (a config section); keyword
    arguments override its options.
    """
    if isinstance(spec, Mapping):
        options = dict(spec)
        if not isinstance(options.get("model"), str):
            raise ConfigError(f"generator options {options!r} need a 'model' string (the spec)")
        spec = options.pop("model")
        kw = {**options, **kw}
    backend, target, url_model = parse_generator_spec(spec)
    opts = {k: v for k, v in kw.items() if v is not None}
    unknown = sorted(set(opts) - set(_KWARGS[backend]))
    if unknown:
        from pbrlsvr.config import did_you_mean

        hints = [(k, did_you_mean(k, _KWARGS[backend])) for k in unknown]
        named = ", ".join(f"{k} (did you mean {near}?)" if near else k for k, near in hints)
        raise ConfigError(
            f"generator spec {spec!r} ({backend} backend) does not take {named}; "
            f"it takes {', '.join(_KWARGS[backend])}"
        )
    if backend == "openai":
        model = opts.pop("model", None)
        if url_model and model and url_model != model:
            raise ConfigError(f"generator spec {spec!r} names model {url_model!r} but model={model!r}")
        model = url_model or model
        if not model:
            raise ConfigError(
                f"generator spec {spec!r}: name the served model, as {target}#<model> or with model=..."
            )
        return OpenAIGenerator(target, model, **opts)
    if backend == "vllm":
        return VLLMGenerator(target, **opts)
    if backend == "ct2":
        return CT2Generator(target, **opts)
    return TransformersGenerator(target, **opts)
