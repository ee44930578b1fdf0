"""GRPO rollouts on the CTranslate2 engine, through TRL's ``rollout_func`` hook (no trainer fork).

TRL 1.16's ``GRPOTrainer(rollout_func=...)`` hands the hook the batch's prompts (each prompt
repeated ``num_generations`` times in a row, as TRL's sampler lays them out) and takes back, per
prompt, the prompt ids, the completion ids and the sampled tokens' log-probs; everything after
(rewards, advantages, the loss) is TRL's own. TRL's built-in path on CPU is HF ``generate``; its
vLLM path needs vLLM, whose CPU build cannot load new weights the way TRL pushes them
(``load_weights`` fails on the repacked CPU weights).

What :class:`EngineRollout` does on each call:

1. **Weights.** When the trainer's optimizer has stepped ``sync_every`` times since the last
   push (and before the first rollout), the policy is converted in memory into the engine
   (LoRA merged out of place: :func:`pbrlsvr.generation.ct2_engine.convert_model`). With
   ``sync_every: 1`` (default) every rollout uses the current weights, as TRL does with vLLM.
2. **Generation.** Runs of identical prompts become one engine row with that many samples
   (``num_hypotheses``), decoded :data:`ROWS_PER_CALL` rows at a time, seeded by
   ``(seed, step, process)``.
3. **Importance mask** (``importance_mask``, on by default with ``int8``): the engine samples from
   its own (int8) numerics, the trainer scores with fp32 ones. TRL corrects this mismatch only for
   vLLM (``vllm_importance_sampling_correction``, which needs ``use_vllm``), so this hook does it
   with TRL's public ``env_mask`` output: the trainer's log-probs of the sampled tokens are
   computed once (one no-grad forward pass, the loss's own scoring code, a prompt's samples
   together), and tokens whose ratio
   ``exp(trainer - engine)`` leaves ``[mask_min, mask_max]`` are masked out of the loss, TRL's
   ``token_mask`` mode. Engine log-probs are before temperature (CTranslate2), so the mask needs
   ``temperature == 1``.

Per-step figures (sync seconds, generation seconds and tokens/s, weight version: the trainer step
whose weights sampled, mismatch and
masked share) are kept in :attr:`EngineRollout.last_stats`; ``pbrlsvr train`` writes them into
``metrics.jsonl`` as ``rollout/*``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from typing import Any

from pbrlsvr.generation.ct2_engine import CT2Engine, convert_model, eos_ids
from pbrlsvr.generation.transformers_backend import chat_prompt_ids
from pbrlsvr.train.lean_step import group_order

logger = logging.getLogger(__name__)

ROWS_PER_CALL = 32
"""Sampled rows CTranslate2 decodes together (prompts × samples). Measured on 2 cores, Qwen 0.5B
int8, 128 new tokens: 4×8 rows 112-125 tok/s, 8×8 100-111, 16×8 43-45: beyond a few dozen rows
a step gets slower than the batch gains. CTranslate2 also sorts the prompts by length into these
chunks, so prompt tokens beyond the shortest in a chunk cost few decoding steps."""


def _runs(prompts: list[Any]) -> list[tuple[int, int]]:
    """``(start, length)`` of each run of identical consecutive prompts."""
    runs: list[tuple[int, int]] = []
    for i, prompt in enumerate(prompts):
        if runs and prompts[runs[-1][0]] == prompt:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs


class EngineRollout:
    """A TRL ``rollout_func`` generating on a :class:`CT2Engine` (see the module docstring).

    Args:
        engine: the engine; its weights are replaced from the trainer's model before the first
            rollout, so it may be built from the base model or anything with the same tokenizer.
        max_completion_length, temperature, top_p, top_k: decoding (TRL's ``GRPOConfig`` values).
        seed: base seed; each rollout is seeded by ``(seed, global step, process index)``.
        sync_every: optimizer steps between weight pushes (1 = always on-policy).
        importance_mask: mask tokens whose trainer/engine probability ratio leaves
            ``[mask_min, mask_max]`` (costs one no-grad forward pass per rollout).
        lean: score that pass with a prompt's samples together, groups by length (each prompt
            computed once by the lean trainer; ``train.lean_step``; False: TRL's row order, kept
            for the step benchmark).
    """

    def __init__(
        self,
        engine: CT2Engine,
        *,
        max_completion_length: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int = 0,
        seed: int = 0,
        sync_every: int = 1,
        importance_mask: bool = False,
        mask_min: float = 0.5,
        mask_max: float = 2.0,
        lean: bool = True,
    ) -> None:
        if sync_every < 1:
            raise ValueError(f"sync_every must be >= 1, got {sync_every}")
        if importance_mask and temperature != 1.0:
            raise ValueError(
                "importance_mask needs temperature 1: CTranslate2 reports log-probs before temperature"
            )
        if not 0 <= mask_min < 1 < mask_max:
            raise ValueError(f"need 0 <= mask_min < 1 < mask_max, got {mask_min}, {mask_max}")
        self.engine = engine
        self.max_completion_length = max_completion_length
        self.temperature = temperature
        self.top_p = top_p
        self.top_k = top_k
        self.seed = seed
        self.sync_every = sync_every
        self.importance_mask = importance_mask
        self.mask_min, self.mask_max = mask_min, mask_max
        self.lean = lean
        self.synced_step: int | None = None
        self.last_stats: dict[str, float] = {}
        self.__name__ = "pbrlsvr_engine_rollout"

    # ---- the hook --------------------------------------------------------------------------

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        step = int(trainer.state.global_step)
        stats: dict[str, float] = {}
        if self.synced_step is None or step - self.synced_step >= self.sync_every:
            seconds = self.engine.load_weights(trainer.accelerator.unwrap_model(trainer.model))
            self.synced_step = step
            stats["rollout/sync_seconds"] = seconds
        # The trainer step whose weights the engine holds (0: the initial ones): continues across a
        # resume, where the engine's own push count restarts.
        stats["rollout/weight_version"] = float(self.synced_step or 0)
        stats["rollout/staleness"] = float(step - (self.synced_step or 0))

        tokenizer = trainer.processing_class
        started = time.perf_counter()
        prompt_ids = [self._encode(tokenizer, p, trainer) for p in prompts]
        completion_ids: list[list[int]] = [[] for _ in prompts]
        logprobs: list[list[float]] = [[] for _ in prompts]
        by_count: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for start, length in _runs(prompts):
            by_count[length].append((start, length))
        process = int(getattr(trainer.accelerator, "process_index", 0))
        for count, runs in sorted(by_count.items()):
            samples = self.engine.generate(
                [prompt_ids[start] for start, _ in runs],
                n=count,
                max_new_tokens=self.max_completion_length,
                temperature=self.temperature,
                top_p=self.top_p,
                top_k=self.top_k,
                seed=self._seed(step, process, count),
                logprobs=True,
                max_batch_size=max(1, ROWS_PER_CALL // count),
            )
            for (start, length), row in zip(runs, samples, strict=True):
                for k in range(length):
                    completion_ids[start + k] = row[k].token_ids
                    logprobs[start + k] = list(row[k].logprobs or [0.0] * len(row[k].token_ids))
        seconds = time.perf_counter() - started
        tokens = sum(len(c) for c in completion_ids)
        stats["rollout/generate_seconds"] = seconds
        stats["rollout/tokens_per_second"] = tokens / seconds if seconds > 0 else 0.0
        out: dict[str, Any] = {
            "prompt_ids": prompt_ids,
            "completion_ids": completion_ids,
            "logprobs": logprobs,
        }
        if self.importance_mask:
            mask, mismatch = self._mask(trainer, prompt_ids, completion_ids, logprobs)
            out["env_mask"] = mask
            stats.update(mismatch)
        self.last_stats = stats
        return out

    # ---- helpers -----------------------------------------------------------------------------

    def _encode(self, tokenizer: Any, prompt: Any, trainer: Any) -> list[int]:
        if isinstance(prompt, str):  # a plain-text dataset: no chat template
            return list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        return chat_prompt_ids(tokenizer, prompt, trainer)

    def _seed(self, step: int, process: int, count: int) -> int:
        digest = hashlib.sha256(f"{self.seed}:{step}:{process}:{count}".encode()).digest()
        return int.from_bytes(digest[:4], "little") >> 1

    def _mask(
        self,
        trainer: Any,
        prompt_ids: list[list[int]],
        completion_ids: list[list[int]],
        engine_logprobs: list[list[float]],
    ) -> tuple[list[list[int]], dict[str, float]]:
        """Per-token 0/1 mask (1 = keep) from the trainer/engine probability ratio, and how far
        the two disagree (mean |Δ log p|, share masked).

        The trainer's log-probs come from the loss's own scoring (the trainer's
        ``_get_per_token_logps_and_entropies``: the fused LM head under its autocast; the lean
        trainer computes each distinct prompt once) on a prompt's samples together, groups by
        length, each batch padded only to its own longest row, with the LM head on the completion
        tokens only (:mod:`pbrlsvr.train.lean_step`); ``lean=False`` keeps the rows in TRL's
        order (the old layout)."""
        import torch

        started = time.perf_counter()
        model = trainer.model
        device = next(model.parameters()).device
        pad = trainer.processing_class.pad_token_id or 0
        masks: list[list[int]] = [[] for _ in prompt_ids]
        diffs: list[float] = []
        masked = 0
        batch = max(1, int(getattr(trainer.args, "per_device_train_batch_size", 4)))
        rows_with_tokens = [r for r in range(len(prompt_ids)) if completion_ids[r]]
        order = rows_with_tokens
        if self.lean:  # a prompt's samples together (they share its forward pass), longest groups first
            first: dict[tuple[int, ...], int] = {}
            group = [first.setdefault(tuple(prompt_ids[r]), i) for i, r in enumerate(rows_with_tokens)]
            ranked = group_order(
                group,
                [len(prompt_ids[r]) for r in rows_with_tokens],
                [len(completion_ids[r]) for r in rows_with_tokens],
            )
            order = [rows_with_tokens[i] for i in ranked]
        was_training = model.training
        model.eval()
        try:
            for start in range(0, len(order), batch):
                rows = order[start : start + batch]
                # As TRL lays a batch out: prompts left-padded, completions right-padded.
                width_p = max(len(prompt_ids[r]) for r in rows)
                width_c = max(len(completion_ids[r]) for r in rows)
                ids = torch.full((len(rows), width_p + width_c), pad, dtype=torch.long)
                attention = torch.zeros_like(ids)
                for j, r in enumerate(rows):
                    p, c = prompt_ids[r], completion_ids[r]
                    ids[j, width_p - len(p) : width_p] = torch.tensor(p)
                    ids[j, width_p : width_p + len(c)] = torch.tensor(c)
                    attention[j, width_p - len(p) : width_p + len(c)] = 1
                with torch.no_grad():
                    logps, _, _ = trainer._get_per_token_logps_and_entropies(
                        model, ids.to(device), attention.to(device), width_c, batch_size=len(rows)
                    )
                logps = logps.float().cpu()
                for j, r in enumerate(rows):
                    picked = logps[j, : len(completion_ids[r])]
                    delta = picked - torch.tensor(engine_logprobs[r])
                    ratio = delta.exp()
                    keep = ((ratio >= self.mask_min) & (ratio <= self.mask_max)).int().tolist()
                    masks[r] = keep
                    diffs.extend(delta.abs().tolist())
                    masked += len(keep) - sum(keep)
        finally:
            model.train(was_training)
        total = max(1, len(diffs))
        return masks, {
            "rollout/logp_abs_diff": sum(diffs) / total,
            "rollout/masked_share": masked / total,
            "rollout/mask_seconds": time.perf_counter() - started,
        }

    def close(self) -> None:
        self.engine.close()


def build_engine_rollout(
    model: Any,
    tokenizer: Any,
    *,
    compute_type: str,
    threads: int,
    max_completion_length: int,
    temperature: float,
    seed: int,
    sync_every: int,
    importance_mask: bool,
    mask_min: float,
    mask_max: float,
    lean: bool = True,
) -> EngineRollout:
    """An :class:`EngineRollout` whose engine starts from ``model``'s own weights (converted in
    memory, so no cache or source folder is needed; the first rollout then finds it in sync)."""
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="pbrlsvr-ct2-policy-"))
    convert_model(model, tokenizer, folder, compute_type)
    engine = CT2Engine(
        folder,
        tokenizer,
        compute_type=compute_type,
        threads=threads,
        eos_token_ids=eos_ids(getattr(getattr(model, "generation_config", None), "eos_token_id", None)),
        owns_dir=True,
    )
    rollout = EngineRollout(
        engine,
        max_completion_length=max_completion_length,
        temperature=temperature,
        seed=seed,
        sync_every=sync_every,
        importance_mask=importance_mask,
        mask_min=mask_min,
        mask_max=mask_max,
        lean=lean,
    )
    rollout.synced_step = 0
    return rollout
