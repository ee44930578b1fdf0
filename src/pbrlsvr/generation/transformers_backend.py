"""Batched generation with a transformers causal LM (CPU or one GPU).

>>> gen = TransformersGenerator("smollm2-135m-instruct")  # doctest: +SKIP
>>> gen.generate([[{"role": "user", "content": "2+2?"}]], SamplingConfig(max_new_tokens=32))  # doctest: +SKIP

How a call runs:

1. Every conversation goes through the tokenizer's chat template (with the assistant generation
   prompt); a tokenizer without a template gets a plain ``role: content`` layout and a warning.
2. Prompts longer than ``max_input_tokens`` are **not** truncated: each becomes an error
   :class:`Generation` (``finish_reason="error"``, the reason in ``error``) and the other
   conversations run. Cutting the start of a prompt drops the system prompt and the question,
   which would silently corrupt a pivot reference or an evaluation. With ``max_input_tokens=None``
   the limit is the model's context (``max_position_embeddings``) minus ``max_new_tokens``, as
   vLLM and OpenAI servers reject a request whose prompt plus ``max_tokens`` does not fit.
3. Rows (one per conversation, or ``n`` per conversation when sampling) are sorted by prompt
   length, longest first, and run ``batch_size`` rows per ``generate`` call with left padding, so
   little padding is computed; results come back in input order.
4. Decoding is exactly :class:`SamplingConfig`: the checkpoint's ``generation_config`` sampling
   defaults (temperature, repetition penalty, ...) are overridden, only its EOS/BOS/pad ids are
   kept. ``temperature == 0`` is greedy, and greedy with ``n > 1`` decodes once and repeats it.
5. Sampling draws each row's tokens from its own ``torch.Generator`` seeded by
   ``(settings.seed, sample index, prompt tokens)``: the same conversation with the same settings
   gives the same text whatever else is in the batch, whatever ``batch_size`` is and whether it
   runs alone (up to float differences that padding causes in the logits; these flip a token only
   on near-ties). ``seed=None`` draws fresh randomness.
6. Stop strings end a row as soon as they appear and the text is cut before the first one
   (``finish_reason="stop"``, as for EOS); ``"length"`` means ``max_new_tokens`` ran out first.
   ``completion_tokens`` counts the tokens the model generated for that row up to and including
   its EOS or the token that completed the stop string (never padding); ``prompt_tokens`` counts
   the row's chat-template tokens (never padding).

``batch_size`` counts rows (conversation x sample), so ``n`` never multiplies the memory used.
The default (16) was measured on a 2-core CPU with SmolLM2-135M, 32 MGSM prompts, 64 new tokens
(``benchmarks/bench_generation.py --n-prompts 32 --sweep 4,8,16,32``): generated tokens/s 27.6 at
4, 45.9 at 8, 62.5 at 16, 58.8 at 32 (one at a time: 13.3). Beyond 16 nothing is gained, and every
extra row in a batch is one more chance that the whole batch waits for one long answer (rows that
hit EOS keep their slot until the batch ends).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pbrlsvr.generation.backends import register_backend
from pbrlsvr.generation.base import Generation, Generator, Message, ProgressFn, SamplingConfig

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 16
"""Rows per ``generate`` call; measured on 2 CPU cores (``benchmarks/bench_generation.py``)."""


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` cut before the earliest stop string, and whether one was found."""
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def chat_prompt_ids(tokenizer: Any, conversation: list[Message], owner: Any = None) -> list[int]:
    """The prompt token ids of one conversation: the tokenizer's chat template with the assistant
    generation prompt, or (no template) a plain ``role: content`` layout, warned about once per
    ``owner`` (a generator with ``name`` and ``_warned_template``)."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    else:
        if owner is not None and not getattr(owner, "_warned_template", False):
            logger.warning(
                "tokenizer of %s has no chat template; using a plain 'role: content' layout",
                getattr(owner, "name", "the model"),
            )
            owner._warned_template = True
        text = "".join(f"{m['role']}: {m['content']}\n" for m in conversation) + "assistant:"
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def prompt_limit(
    max_input_tokens: int | None, context_length: int | None, max_new_tokens: int
) -> tuple[int | None, str]:
    """The longest prompt a backend accepts, and how to say it in an error: ``max_input_tokens``
    if set, else what fits the model's context with ``max_new_tokens`` (as vLLM and OpenAI
    servers reject a prompt whose ``max_tokens`` does not fit), else no limit."""
    if max_input_tokens is not None:
        return max_input_tokens, f"max_input_tokens={max_input_tokens}"
    if context_length is not None:
        limit = context_length - max_new_tokens
        return limit, (
            f"the {limit} that fit the model's {context_length}-token context with max_new_tokens={max_new_tokens}"
        )
    return None, ""


def reject_long_prompts(
    prompts: Sequence[Sequence[int]], n: int, limit: tuple[int | None, str], progress: ProgressFn | None
) -> dict[int, list[Generation]]:
    """Error results (``n`` each) for the prompts longer than ``limit`` (from :func:`prompt_limit`),
    by index; they are counted as done for ``progress`` and warned about once. Never truncated:
    cutting a prompt's start drops its system prompt and question."""
    most, why = limit
    out = {}
    for i, ids in enumerate(prompts):
        if most is not None and len(ids) > most:
            msg = f"prompt has {len(ids)} tokens, more than {why}"
            out[i] = [Generation("", len(ids), 0, "error", error=msg)] * n
    if out:
        logger.warning("%d of %d prompts are longer than %s: returned as errors", len(out), len(prompts), why)
        if progress:
            progress(len(out))
    return out


def _row_seed(seed: int, sample: int, prompt_ids: Sequence[int]) -> int:
    """A 63-bit seed for one row, from the call's seed, the sample index and the prompt tokens."""
    h = hashlib.sha256(f"{seed}:{sample}:".encode())
    h.update(",".join(map(str, prompt_ids)).encode())
    return int.from_bytes(h.digest()[:8], "little") >> 1


def _make_sampler(temperature: float, top_p: float, top_k: int, seeds: list[int], device: Any) -> Any:
    """A logits processor that samples each row with its own generator and leaves only that token.

    Used with greedy ``generate`` (``do_sample=False``): the argmax of the returned scores is the
    token this processor sampled, so the draw of one row never depends on the other rows.
    """
    import torch
    from transformers import LogitsProcessor

    class SeededSampler(LogitsProcessor):
        def __init__(self) -> None:
            self.generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]

        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
            logits = scores.float() / temperature
            if top_k > 0 and top_k < logits.shape[-1]:
                kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            if top_p < 1.0:
                sorted_logits, order = torch.sort(logits, descending=False, dim=-1)
                cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
                drop = cumulative <= (1 - top_p)
                drop[..., -1] = False  # always keep the most likely token
                logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
            probs = logits.softmax(dim=-1)
            picks = torch.cat(
                [torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(self.generators)]
            )
            out = torch.full_like(scores, float("-inf"))
            out[torch.arange(out.shape[0], device=out.device), picks] = 0.0
            return out

    return SeededSampler()


def _make_stop_criteria(tokenizer: Any, stop: list[str], prompt_len: int, rows: int) -> Any:
    """A stopping criterion that ends a row once its generated text contains a stop string.

    It decodes only the last few tokens of each unfinished row per step (enough for the longest
    stop string); ``done_at[row]`` records how many tokens that row had generated when it stopped.
    A stop string this window misses is still cut from the full text afterwards.
    """
    import torch
    from transformers import StoppingCriteria

    window = max(len(s) for s in stop) + 2

    class StopStrings(StoppingCriteria):
        def __init__(self) -> None:
            self.done_at: list[int | None] = [None] * rows

        def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
            generated = input_ids.shape[1] - prompt_len
            todo = [r for r in range(rows) if self.done_at[r] is None]
            if todo and generated > 0:
                tails = input_ids[todo, max(prompt_len, input_ids.shape[1] - window) :].tolist()
                texts = tokenizer.batch_decode(tails, skip_special_tokens=True)
                for r, text in zip(todo, texts, strict=True):
                    if any(s in text for s in stop):
                        self.done_at[r] = generated
            done = [d is not None for d in self.done_at]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StopStrings()


class TransformersGenerator(Generator):
    """Generate with a transformers causal LM, batched and length-sorted (see the module docstring).

    Args:
        model: a model spec for :func:`pbrlsvr.models.load_model` (offline alias, ``.gguf``, folder,
            HF id), or an already loaded ``(model, tokenizer)`` pair.
        dtype, device, revision, trust_remote_code: passed to ``load_model`` (ignored for a pair).
        batch_size: rows (conversation x sample) per ``generate`` call.
        max_input_tokens: longer prompts become error generations; ``None`` = the model's
            ``max_position_embeddings`` minus ``max_new_tokens`` (no limit if the config has none).
        name: the name written into stores and reports; default the spec, or the pair's
            ``config.name_or_path``.
    """

    def __init__(
        self,
        model: str | tuple[PreTrainedModel, PreTrainedTokenizerBase],
        *,
        dtype: str = "float32",
        device: str = "cpu",
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_input_tokens: int | None = None,
        revision: str | None = None,
        trust_remote_code: bool = False,
        name: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_input_tokens is not None and max_input_tokens < 1:
            raise ValueError(f"max_input_tokens must be >= 1 or None, got {max_input_tokens}")
        if isinstance(model, str):
            import contextlib
            import sys

            from pbrlsvr.models import load_model
            from pbrlsvr.models.progress import quiet_transformers_bars

            # transformers' "Loading weights" tqdm bar is a mess of carriage returns in a log file
            quiet = contextlib.nullcontext() if sys.stderr.isatty() else quiet_transformers_bars()
            with quiet:
                self.model, self.tokenizer = load_model(
                    model, dtype=dtype, device=device, revision=revision, trust_remote_code=trust_remote_code
                )
            self.name = name or model
        else:
            self.model, self.tokenizer = model
            self.model.eval()
            self.name = name or str(
                getattr(self.model.config, "name_or_path", "") or type(self.model).__name__
            )
        self.batch_size = batch_size
        self.max_input_tokens = max_input_tokens
        context = getattr(self.model.config, "max_position_embeddings", None)
        self.context_length: int | None = int(context) if isinstance(context, int) else None
        self._eos_ids = self._find_eos_ids()
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self._eos_ids[0] if self._eos_ids else 0
        self._pad_id = int(pad)
        self._warned_template = False

    # ---- setup helpers -------------------------------------------------------------------------

    def _find_eos_ids(self) -> list[int]:
        ids: list[int] = []
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for value in (gen_eos, self.tokenizer.eos_token_id):
            if value is None:
                continue
            for v in value if isinstance(value, list | tuple) else [value]:
                if int(v) not in ids:
                    ids.append(int(v))
        return ids

    def encode(self, conversation: list[Message]) -> list[int]:
        """The prompt token ids of one conversation (chat template + assistant generation prompt)."""
        return chat_prompt_ids(self.tokenizer, conversation, self)

    def _generation_config(self, max_length: int) -> Any:
        """A greedy config that pins every decoding default (the checkpoint's only fill the ids).

        ``max_length`` (prompt width + new tokens) rather than ``max_new_tokens``, so that a
        checkpoint's own ``max_length`` does not make transformers warn on every call.
        """
        from transformers import GenerationConfig

        params = GenerationConfig._get_default_generation_params()
        params.update(
            max_length=max_length,
            min_length=0,
            do_sample=False,
            num_beams=1,
            num_return_sequences=1,
            eos_token_id=self._eos_ids or None,
            pad_token_id=self._pad_id,
            bos_token_id=getattr(self.tokenizer, "bos_token_id", None),
            return_dict_in_generate=False,
            output_scores=False,
        )
        return GenerationConfig(**params)

    def prompt_limit(self, max_new_tokens: int) -> tuple[int | None, str]:
        """The longest prompt accepted with ``max_new_tokens``, and how to say it in an error."""
        return prompt_limit(self.max_input_tokens, self.context_length, max_new_tokens)

    # ---- generation ----------------------------------------------------------------------------

    def _generate(
        self, conversations: list[list[Message]], settings: SamplingConfig, progress: ProgressFn | None
    ) -> list[list[Generation]]:
        n = settings.n
        greedy = settings.temperature == 0
        prompts = [self.encode(c) for c in conversations]
        results: list[list[Generation | None]] = [[None] * n for _ in conversations]

        rejected = reject_long_prompts(prompts, n, self.prompt_limit(settings.max_new_tokens), progress)
        jobs: list[tuple[int, int, list[int]]] = []  # (conversation, sample, prompt ids)
        for i, ids in enumerate(prompts):
            if i in rejected:
                results[i] = rejected[i]  # type: ignore[assignment]
                continue
            for j in range(1 if greedy else n):
                jobs.append((i, j, ids))

        base_seed = settings.seed if settings.seed is not None else secrets.randbits(62)
        jobs.sort(key=lambda job: -len(job[2]))  # stable: equal lengths keep input order
        left = {}
        for i, _, _ in jobs:
            left[i] = left.get(i, 0) + 1
        for start in range(0, len(jobs), self.batch_size):
            chunk = jobs[start : start + self.batch_size]
            seeds = [_row_seed(base_seed, j, ids) for _, j, ids in chunk]
            outs = self._run_batch([ids for _, _, ids in chunk], settings, None if greedy else seeds)
            finished = 0
            for (i, j, _), gen in zip(chunk, outs, strict=True):
                if greedy:
                    results[i] = [gen] * n
                else:
                    results[i][j] = gen
                left[i] -= 1
                finished += left[i] == 0
            if progress and finished:
                progress(finished)
        return [[g for g in row if g is not None] for row in results]

    def _run_batch(
        self, prompts: list[list[int]], settings: SamplingConfig, seeds: list[int] | None
    ) -> list[Generation]:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        rows, width = len(prompts), max(len(p) for p in prompts)
        device = self.model.device
        input_ids = torch.full((rows, width), self._pad_id, dtype=torch.long)
        attention = torch.zeros((rows, width), dtype=torch.long)
        for r, ids in enumerate(prompts):  # left padding
            input_ids[r, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[r, width - len(ids) :] = 1

        processors = LogitsProcessorList()
        if seeds is not None:
            processors.append(
                _make_sampler(settings.temperature, settings.top_p, settings.top_k, seeds, device)
            )
        criteria = StoppingCriteriaList()
        stopper = None
        if settings.stop:
            stopper = _make_stop_criteria(self.tokenizer, settings.stop, width, rows)
            criteria.append(stopper)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                generation_config=self._generation_config(width + settings.max_new_tokens),
                logits_processor=processors,
                stopping_criteria=criteria,
            )
        generated = out[:, width:].tolist()

        eos = set(self._eos_ids)
        gens = []
        for r, tokens in enumerate(generated):
            length, finish = len(tokens), "length"
            for k, t in enumerate(tokens):
                if t in eos:
                    length, finish = k + 1, "stop"
                    break
            if stopper is not None and stopper.done_at[r] is not None and stopper.done_at[r] <= length:
                length, finish = stopper.done_at[r], "stop"
            if finish == "length" and length < settings.max_new_tokens:
                finish = "stop"  # ended early for a reason generate knows (should not happen)
            text = self.tokenizer.decode(tokens[:length], skip_special_tokens=True)
            text, hit = truncate_at_stop(text, settings.stop)
            gens.append(Generation(text, len(prompts[r]), length, "stop" if hit else finish))
        return gens


register_backend("transformers", TransformersGenerator, default=True)
