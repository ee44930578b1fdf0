"""Chat generation on the CTranslate2 engine (``ct2:<model>``): pivot and eval at engine speed on CPU.

>>> gen = build_generator("ct2:qwen2.5-coder-0.5b-instruct")  # doctest: +SKIP

Same contract as the transformers backend (:mod:`pbrlsvr.generation.transformers_backend`):

- prompts are the tokenizer's chat template with the assistant generation prompt; one longer than
  ``max_input_tokens`` (default: the model's context minus ``max_new_tokens``) comes back as an
  error :class:`Generation` and the other conversations run;
- decoding is exactly :class:`SamplingConfig` (no checkpoint defaults such as repetition
  penalty); ``temperature == 0`` is greedy;
- **seeds per batch** (``seed_scope: batch``, the default): CTranslate2 draws every row of a call
  from one random generator, so sampled conversations run ``batch_size // n`` per engine call
  (``n`` hypotheses each, so a call decodes about ``batch_size`` rows, as greedy does), seeded by
  ``(seed, every prompt's tokens in the call)``: the same conversations with the same settings
  and ``batch_size`` give the same samples. A conversation's samples depend on its batch-mates.
  ``seed_scope: conversation`` runs one conversation per call seeded by its own tokens, so its
  samples are the same whatever else is asked, at the engine's one-row speed (measured: 18.7
  tokens/s for the 0.5B pivot on 2 AVX2 cores, against 100-125 batched). Greedy decoding needs no
  seed and runs ``batch_size`` rows per call (CTranslate2 sorts them by length itself);
- stop strings are cut from the text after decoding (``finish_reason="stop"``); CTranslate2 cannot
  stop on a string, so such a row decodes to EOS or the token limit first;
- ``completion_tokens`` counts generated tokens including the EOS token, never padding.

``compute_type`` ``int8`` (default) is the fastest on CPU; greedy text then differs from fp32 HF on
some prompts (22/32 identical in the scouting run); ``float32`` matches HF more closely at about a
third of the speed.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from pathlib import Path
from typing import Any

from pbrlsvr.errors import ConfigError
from pbrlsvr.generation.backends import register_backend
from pbrlsvr.generation.base import Generation, Generator, Message, ProgressFn, SamplingConfig
from pbrlsvr.generation.ct2_engine import CT2Engine, Sample, converted_model_dir, eos_ids
from pbrlsvr.generation.transformers_backend import (
    chat_prompt_ids,
    prompt_limit,
    reject_long_prompts,
    truncate_at_stop,
)

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 32
"""Greedy rows per engine call. On 2 cores (Qwen 0.5B int8, MGSM prompts in 4 languages, 128 new
tokens) 32 rows gave 81-90 generated tokens/s against 25-26 at 16; beyond a few dozen rows
sampling measured slower per token (see :data:`pbrlsvr.train.engine_rollout.ROWS_PER_CALL`)."""


def _call_seed(seed: int, prompts: list[list[int]]) -> int:
    """A 31-bit seed for one engine call, from the run's seed and every prompt's tokens in it (a
    single conversation's seed is what it was when calls held one conversation)."""
    h = hashlib.sha256(f"{seed}:".encode())
    h.update("|".join(",".join(map(str, p)) for p in prompts).encode())
    return int.from_bytes(h.digest()[:4], "little") >> 1


class CT2Generator(Generator):
    """Generate with CTranslate2 (see the module docstring).

    Args:
        model: a model spec (offline alias, ``.gguf``, folder, LoRA adapter folder, HF id),
            converted once into the cache; or a ready ``(CT2Engine, context_length)`` pair.
        compute_type: ``int8`` (default), ``int8_float32``, ``float32``.
        device: ``cpu`` or ``cuda``.
        threads: intra-op threads (0 = all cores).
        batch_size: rows per engine call (greedy: conversations; sampled: conversations × ``n``).
        seed_scope: ``batch`` (sampled conversations share calls, seeded per call) or
            ``conversation`` (one per call, seeded by its own tokens); see the module docstring.
        max_input_tokens: longer prompts become error generations.
        name: the name written into stores and reports (default: ``ct2:<model>``).
    """

    def __init__(
        self,
        model: str | tuple[CT2Engine, int | None],
        *,
        compute_type: str = "int8",
        device: str = "cpu",
        threads: int = 0,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_input_tokens: int | None = None,
        trust_remote_code: bool = False,
        name: str | None = None,
        seed_scope: str = "batch",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if seed_scope not in ("batch", "conversation"):
            raise ConfigError(f"seed_scope must be 'batch' or 'conversation', got {seed_scope!r}")
        self.seed_scope = seed_scope
        if isinstance(model, str):
            from transformers import AutoConfig, AutoTokenizer

            folder = converted_model_dir(model, compute_type, trust_remote_code=trust_remote_code)
            tokenizer = AutoTokenizer.from_pretrained(str(folder / "hf"))
            config = AutoConfig.from_pretrained(str(folder / "hf"))
            self.engine = CT2Engine(
                folder,
                tokenizer,
                device=device,
                compute_type=compute_type,
                threads=threads,
                eos_token_ids=_generation_eos(folder),
            )
            context = getattr(config, "max_position_embeddings", None)
            self.context_length = int(context) if isinstance(context, int) else None
            self.name = name or f"ct2:{model}"
        else:
            self.engine, self.context_length = model
            self.name = name or "ct2"
        self.tokenizer = self.engine.tokenizer
        self.batch_size = batch_size
        self.max_input_tokens = max_input_tokens
        self._warned_template = False

    def encode(self, conversation: list[Message]) -> list[int]:
        """The prompt token ids of one conversation (chat template + assistant generation prompt)."""
        return chat_prompt_ids(self.tokenizer, conversation, self)

    def _to_generation(self, sample: Sample, prompt_len: int, settings: SamplingConfig) -> Generation:
        text = self.tokenizer.decode(sample.token_ids, skip_special_tokens=True)
        text, hit = truncate_at_stop(text, settings.stop)
        finish = "stop" if hit else sample.finish_reason
        return Generation(text, prompt_len, len(sample.token_ids), finish)

    def _generate(
        self, conversations: list[list[Message]], settings: SamplingConfig, progress: ProgressFn | None
    ) -> list[list[Generation]]:
        n = settings.n
        greedy = settings.temperature == 0
        prompts = [self.encode(c) for c in conversations]
        results: list[list[Generation] | None] = [None] * len(prompts)
        limit = prompt_limit(self.max_input_tokens, self.context_length, settings.max_new_tokens)
        rejected = reject_long_prompts(prompts, n, limit, progress)
        for i, row in rejected.items():
            results[i] = row
        todo = [i for i in range(len(prompts)) if i not in rejected]
        common = {
            "n": n,
            "max_new_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "top_k": settings.top_k,
        }
        if greedy or self.seed_scope == "batch":
            size = self.batch_size if greedy else max(1, self.batch_size // n)
            todo.sort(key=lambda i: -len(prompts[i]))  # stable: equal lengths keep input order
            groups = [todo[s : s + size] for s in range(0, len(todo), size)]
        else:
            groups = [[i] for i in todo]
        base = settings.seed if settings.seed is not None else secrets.randbits(31)
        for group in groups:
            seed = None if greedy else _call_seed(base, [prompts[i] for i in group])
            samples = self.engine.generate([prompts[i] for i in group], seed=seed, **common)
            for i, row in zip(group, samples, strict=True):
                results[i] = [self._to_generation(s, len(prompts[i]), settings) for s in row]
            if progress:
                progress(len(group))
        return [r or [] for r in results]

    def close(self) -> None:
        self.engine.close()


def _generation_eos(folder: Path) -> list[int]:
    """EOS ids from the source model's ``generation_config.json`` saved in the converted folder's ``hf/``
    (Qwen ends chat turns with ``<|im_end|>``, which is not the tokenizer's ``eos_token``)."""
    import json

    path = folder / "hf" / "generation_config.json"
    try:
        value: Any = json.loads(path.read_text(encoding="utf-8")).get("eos_token_id")
    except (OSError, ValueError):
        return []
    return eos_ids(value)


register_backend("ct2", CT2Generator, prefix="ct2")
