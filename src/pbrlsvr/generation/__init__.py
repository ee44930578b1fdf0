"""One way to run a model for ``pivot/``, ``evaluation/`` and the reward's LLM translator: chat
conversations in, completions out.

>>> from pbrlsvr.generation import SamplingConfig, build_generator
>>> gen = build_generator("smollm2-135m-instruct", batch_size=8)  # doctest: +SKIP
>>> gen = build_generator("http://localhost:8000/v1#meta-llama/Llama-3.1-8B-Instruct")  # doctest: +SKIP
>>> out = gen.generate([[{"role": "user", "content": "2+2?"}]], SamplingConfig(max_new_tokens=64))  # doctest: +SKIP

A model spec selects a backend of the registry :data:`~pbrlsvr.generation.backends.BACKENDS`
(:func:`parse_model_spec` is its one parser); the built-ins, each registered in its own module:

- ``transformers`` (the default): :class:`TransformersGenerator`, any causal LM
  :func:`pbrlsvr.models.load_model` can load, batched with left padding and length sorting; CPU or one GPU.
- ``openai`` (``http(s)://host/v1#<model>``): :class:`OpenAIGenerator`, any OpenAI-compatible
  chat-completions server (vLLM, SGLang, TGI, llama.cpp, OpenAI) over HTTP, concurrent, with retries.
- ``vllm`` (``vllm:<model>``): :class:`VLLMGenerator`, vLLM's offline engine (``pip install 'pbrlsvr[vllm]'``).
- ``ct2`` (``ct2:<model>``): :class:`CT2Generator`, the CTranslate2 engine (``pip install 'pbrlsvr[engine]'``),
  the fast path on CPU: int8 sampling about 20x HF ``generate`` on 2 cores (DESIGN.md).

Importing this package loads neither torch nor httpx; backends import what they need when built.
"""

from __future__ import annotations

from pbrlsvr.generation.backends import (
    BACKENDS,
    Backend,
    ModelSpec,
    backend_names,
    build_generator,
    parse_model_spec,
    register_backend,
    with_backend,
)
from pbrlsvr.generation.base import (
    Conversation,
    FinishReason,
    Generation,
    Generator,
    Message,
    ProgressFn,
    SamplingConfig,
    check_conversation,
)
from pbrlsvr.generation.ct2_backend import CT2Generator
from pbrlsvr.generation.openai_backend import OpenAIGenerator, ServerUnavailableError
from pbrlsvr.generation.transformers_backend import DEFAULT_BATCH_SIZE, TransformersGenerator
from pbrlsvr.generation.vllm_backend import VLLMGenerator

__all__ = [
    "BACKENDS",
    "DEFAULT_BATCH_SIZE",
    "Backend",
    "CT2Generator",
    "Conversation",
    "FinishReason",
    "Generation",
    "Generator",
    "Message",
    "ModelSpec",
    "OpenAIGenerator",
    "ProgressFn",
    "SamplingConfig",
    "ServerUnavailableError",
    "TransformersGenerator",
    "VLLMGenerator",
    "backend_names",
    "build_generator",
    "check_conversation",
    "parse_model_spec",
    "register_backend",
    "with_backend",
]
