"""Generation with vLLM's offline engine (``vllm.LLM``), for GPUs.

Install with ``pip install 'pbrlsvr[vllm]'``; without vLLM, building a :class:`VLLMGenerator`
raises :class:`~pbrlsvr.errors.MissingDependencyError` (importing this module does not).

- The model spec goes through :func:`pbrlsvr.models.prepare_model`, so offline aliases and
  ``.gguf`` files work as elsewhere (vLLM gets the prepared folder); HF ids are passed as they are.
- Prompts are built with the tokenizer's chat template (assistant generation prompt) and sent as
  token ids, so a prompt longer than ``max_input_tokens`` (default: the engine's
  ``max_model_len`` minus one) becomes an error :class:`Generation` for that conversation instead of
  failing the whole batch.
- :class:`SamplingConfig` maps to ``vllm.SamplingParams``: ``n``, ``max_tokens=max_new_tokens``,
  ``temperature`` (0 = greedy), ``top_p``, ``top_k`` (0 → -1, off), ``seed`` (per request: the same
  settings give the same samples on the same engine and GPU), ``stop`` (cut from the text, not
  included). Only these are set, so the checkpoint's ``generation_config`` defaults (repetition
  penalty, ...) do not apply: decoding is exactly the pinned settings.
- ``finish_reason``: vLLM's ``"length"`` → ``"length"``, ``"stop"`` (EOS or stop string) →
  ``"stop"``, anything else (``"abort"``) → ``"error"``. Token counts are the prompt's token ids and
  each completion's ``token_ids``.
- Progress is reported per chunk of ``chunk_size`` conversations (vLLM schedules each chunk as one
  batch, so large chunks keep the GPU full).

Not tested on this project's CPU machines beyond the import guard.
"""

from __future__ import annotations

import logging
from typing import Any

from pbrlsvr.errors import MissingDependencyError
from pbrlsvr.generation.backends import register_backend
from pbrlsvr.generation.base import Generation, Generator, Message, ProgressFn, SamplingConfig
from pbrlsvr.generation.transformers_backend import truncate_at_stop

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'pbrlsvr[vllm]'"


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise MissingDependencyError(
            f"the vLLM generation backend needs vLLM, which is not installed ({exc}); "
            f"install it with `{INSTALL_HINT}` (GPU machines only)"
        ) from None
    return vllm


def sampling_params(settings: SamplingConfig) -> Any:
    """``vllm.SamplingParams`` for pinned :class:`SamplingConfig` (needs vLLM)."""
    vllm = _import_vllm()
    return vllm.SamplingParams(
        n=settings.n,
        max_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        top_p=settings.top_p,
        top_k=settings.top_k if settings.top_k > 0 else -1,
        seed=settings.seed,
        stop=list(settings.stop) or None,
        include_stop_str_in_output=False,
    )


class VLLMGenerator(Generator):
    """Generate with ``vllm.LLM`` (see the module docstring).

    Args:
        model: an offline alias, ``.gguf``, folder or HF id.
        dtype: vLLM's ``dtype`` (``auto``, ``float16``, ``bfloat16``, ``float32``).
        tensor_parallel_size: GPUs to shard the model over.
        gpu_memory_utilization: share of each GPU's memory vLLM may take.
        max_model_len: context length (default: the model's).
        max_input_tokens: longer prompts become error generations (default ``max_model_len - 1``).
        chunk_size: conversations per ``LLM.generate`` call (progress is reported per chunk).
        name: the name written into stores and reports (default: ``model``).
        **llm_kwargs: passed on to ``vllm.LLM`` (``enforce_eager``, ``quantization``, ...).
    """

    def __init__(
        self,
        model: str,
        *,
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        max_input_tokens: int | None = None,
        chunk_size: int = 1024,
        trust_remote_code: bool = False,
        name: str | None = None,
        **llm_kwargs: Any,
    ) -> None:
        vllm = _import_vllm()
        from pbrlsvr.models import prepare_model

        self.name = name or model
        self.chunk_size = max(1, chunk_size)
        path = prepare_model(model)
        self.llm = vllm.LLM(
            model=path,
            dtype=dtype,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            trust_remote_code=trust_remote_code,
            **llm_kwargs,
        )
        self.tokenizer = self.llm.get_tokenizer()
        if max_input_tokens is None:
            try:
                max_input_tokens = int(self.llm.llm_engine.model_config.max_model_len) - 1
            except (AttributeError, TypeError, ValueError):
                max_input_tokens = None
        self.max_input_tokens = max_input_tokens

    def encode(self, conversation: list[Message]) -> list[int]:
        """Prompt token ids: the chat template with the assistant generation prompt."""
        text = self.tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _generate(
        self, conversations: list[list[Message]], settings: SamplingConfig, progress: ProgressFn | None
    ) -> list[list[Generation]]:
        params = sampling_params(settings)
        results: list[list[Generation]] = []
        for start in range(0, len(conversations), self.chunk_size):
            chunk = conversations[start : start + self.chunk_size]
            prompts = [self.encode(c) for c in chunk]
            ok = [
                k
                for k, p in enumerate(prompts)
                if self.max_input_tokens is None or len(p) <= self.max_input_tokens
            ]
            outs = (
                self.llm.generate([{"prompt_token_ids": prompts[k]} for k in ok], params, use_tqdm=False)
                if ok
                else []
            )
            by_index = dict(zip(ok, outs, strict=True))
            for k, ids in enumerate(prompts):
                if k not in by_index:
                    msg = f"prompt has {len(ids)} tokens, more than max_input_tokens={self.max_input_tokens}"
                    results.append([Generation("", len(ids), 0, "error", error=msg)] * settings.n)
                    continue
                row = []
                for comp in by_index[k].outputs:
                    text, hit = truncate_at_stop(comp.text, settings.stop)
                    reason = comp.finish_reason
                    finish = (
                        "stop" if hit or reason == "stop" else "length" if reason == "length" else "error"
                    )
                    error = None if finish != "error" else f"vLLM finish_reason={reason!r}"
                    row.append(Generation(text, len(ids), len(comp.token_ids), finish, error=error))
                results.append(row)
            if progress:
                progress(len(chunk))
        return results

    def close(self) -> None:
        """Drop the engine so its GPU memory can be freed."""
        self.llm = None  # type: ignore[assignment]


register_backend("vllm", VLLMGenerator, prefix="vllm")
