"""A GRPO step that computes what carries loss, on TRL's ``GRPOTrainer`` (``train.lean_step``).

TRL pads a generation batch once, to its longest prompt and its longest completion, shuffles it
and cuts it into micro-batches that all keep that full width; on a device without Triton its fused
LM head also projects every position (prompt and padding included) through the 150k-wide vocabulary,
forward and backward. On a CPU that arithmetic is the step: measured on Qwen2.5-0.5B rollouts
averaging 65-77 tokens under a 256 cap, most of the tokens computed carried no loss. This module
changes how the step computes, never what: the same loss and gradients up to float summation order.

1. **Micro-batches of similar length.** After TRL has generated, scored, shuffled and split a
   generation batch, its rows are regrouped into the same number of equal micro-batches: by real
   length (prompt + completion tokens; ties keep TRL's shuffled order), or a prompt's samples
   together (so they share the prompt's pass, 3.), groups by length: whichever computes fewer
   token positions (:func:`computed_tokens`). Done only where the loss is
   a sum over rows with a batch-independent normaliser (``dapo``, ``grpo``, ``dr_grpo``, ``cispo``,
   ``sapo``, ``luspo``, ``vespo``) and no per-micro-batch statistic is in play (entropy bonus,
   ``top_entropy_quantile``): there the gradient is the same sum whichever micro-batch holds a row.
   ``bnpo`` normalises per micro-batch, so its rows keep TRL's order.
2. **Each micro-batch trimmed to its own width**: prompt columns that are padding in every row (left)
   and completion columns past the longest completion (right) are dropped. Exact: causal attention
   never sees right padding, masked left padding gets no attention, and RoPE scores depend on
   position differences only.
3. **Each distinct prompt computed once** (:func:`lean_logps`): GRPO repeats every prompt
   ``num_generations`` times; on CPU its rows share one pass over the prompt through a KV cache
   that autograd differentiates through.
4. **The LM head on the completion tokens only, in the training dtype** on CPU
   (:mod:`pbrlsvr.train.label_logprobs`): TRL's fused head scores every position off-Triton (prompt
   and padding included) in fp32 vocabulary tiles.

A batch holding any key this module does not know (images, a field a newer TRL adds) keeps TRL's
layout untouched, with one warning, so an unknown per-token field can never be misaligned.
:class:`LeanGRPOTrainer` also records per step the tokens computed vs the tokens with loss and the
seconds of each phase (``time/*``, ``tokens/*`` in ``metrics.jsonl``). TRL internals it relies on
(``_prepare_inputs``/``_buffered_inputs``/``_step``, ``_calculate_rewards``,
``_get_per_token_logps_and_entropies``) are checked
by ``tests/test_lean_step.py``, which fails when TRL changes underneath.
"""

from __future__ import annotations

import logging
import time
from typing import Any

logger = logging.getLogger(__name__)

PROMPT_KEYS = ("prompt_ids", "prompt_mask")
COMPLETION_KEYS = (
    "completion_ids",
    "completion_mask",
    "old_per_token_logps",
    "sampling_per_token_logps",
    "ref_per_token_logps",
    "tool_mask",
    "importance_sampling_ratio",
)
ROW_KEYS = ("advantages",)
SCALAR_KEYS = ("num_items_in_batch",)
KNOWN_KEYS = frozenset(PROMPT_KEYS + COMPLETION_KEYS + ROW_KEYS + SCALAR_KEYS)

ROW_SUM_LOSSES = frozenset({"dapo", "grpo", "dr_grpo", "cispo", "sapo", "luspo", "vespo"})
"""TRL loss types whose gradient does not depend on which micro-batch holds a row."""


def can_sort(args: Any) -> bool:
    """Whether regrouping rows across micro-batches leaves this configuration's gradient unchanged."""
    return (
        getattr(args, "loss_type", "dapo") in ROW_SUM_LOSSES
        and float(getattr(args, "entropy_coef", 0.0) or 0.0) == 0.0
        and not getattr(args, "use_adaptive_entropy", False)
        and float(getattr(args, "top_entropy_quantile", 1.0)) >= 1.0
    )


def _trim(batch: dict[str, Any]) -> dict[str, Any]:
    """``batch`` without the prompt columns that are padding in every row and the completion
    columns after the last real completion token (at least one column of each is kept)."""
    prompt_used = batch["prompt_mask"].bool().any(0).nonzero()
    start = int(prompt_used[0]) if len(prompt_used) else batch["prompt_mask"].size(1) - 1
    completion_used = batch["completion_mask"].bool().any(0).nonzero()
    end = int(completion_used[-1]) + 1 if len(completion_used) else 1
    out = dict(batch)
    for key in PROMPT_KEYS:
        out[key] = batch[key][:, start:]
    width = batch["completion_ids"].size(1)
    for key in COMPLETION_KEYS:
        value = batch.get(key)
        if value is not None and value.dim() >= 2 and value.size(1) == width:
            out[key] = value[:, :end]
    return out


def prompt_groups(prompt_ids: Any, prompt_mask: Any) -> list[int]:
    """For each row, the index of the first row with the same prompt (GRPO repeats each prompt
    ``num_generations`` times: those rows can share one forward pass over it)."""
    key = prompt_ids.masked_fill(prompt_mask == 0, -1).cpu()
    first: dict[bytes, int] = {}
    return [first.setdefault(key[r].numpy().tobytes(), r) for r in range(key.size(0))]


def _lengths(batch: dict[str, Any]) -> tuple[list[int], list[int]]:
    return batch["prompt_mask"].sum(1).tolist(), batch["completion_mask"].sum(1).tolist()


def _row_order(batch: dict[str, Any]) -> list[int]:
    """Rows by real length, longest first (ties keep TRL's shuffled order)."""
    prompt, completion = _lengths(batch)
    return sorted(range(len(prompt)), key=lambda r: -(prompt[r] + completion[r]))


def group_order(group: list[int], prompt: list[int], completion: list[int]) -> list[int]:
    """Row indices with the rows of one prompt together (``group[r]``: the first row with row
    ``r``'s prompt), so they share its forward pass; groups by their longest row, longest first,
    and within a group longest completion first. Used by the loss's micro-batches and the engine
    rollout's importance forward alike."""
    longest: dict[int, int] = {}
    for r, g in enumerate(group):
        longest[g] = max(longest.get(g, 0), prompt[r] + completion[r])
    return sorted(range(len(group)), key=lambda r: (-longest[group[r]], group[r], -completion[r]))


def _group_order(batch: dict[str, Any]) -> list[int]:
    prompt, completion = _lengths(batch)
    return group_order(prompt_groups(batch["prompt_ids"], batch["prompt_mask"]), prompt, completion)


def computed_tokens(batch: dict[str, Any], order: list[int], size: int) -> int:
    """Token positions the forward pass computes when ``order`` is cut into micro-batches of
    ``size`` rows: each distinct prompt once at its micro-batch's prompt width, each row's
    completion at the micro-batch's completion width (+1: the prompt's last token, which
    predicts the first completion token)."""
    prompt, completion = _lengths(batch)
    group = prompt_groups(batch["prompt_ids"], batch["prompt_mask"])
    total = 0
    for start in range(0, len(order), size):
        rows = order[start : start + size]
        distinct = len({group[r] for r in rows})
        total += distinct * max(prompt[r] for r in rows) + len(rows) * (1 + max(completion[r] for r in rows))
    return total


def relayout(
    batches: list[dict[str, Any]], *, sort: bool, share_prompts: bool = True
) -> list[dict[str, Any]] | None:
    """The micro-batches of one generation batch regrouped (``sort``) and trimmed; ``None`` when a
    batch holds a key this module does not know (then TRL's layout stays). ``share_prompts``: the
    forward pass computes a prompt once per micro-batch (the CPU path), so grouping a prompt's
    samples together is a candidate layout; otherwise rows go by length."""
    import torch

    if not batches or any(set(b) - KNOWN_KEYS for b in batches):
        return None
    sizes = [b["prompt_ids"].size(0) for b in batches]
    if sort and len(batches) > 1 and len(set(sizes)) == 1:
        merged: dict[str, Any] = {}
        for key, value in batches[0].items():
            if value is None or key in SCALAR_KEYS or (torch.is_tensor(value) and value.dim() == 0):
                merged[key] = value
            else:
                merged[key] = torch.cat([b[key] for b in batches])
        size = sizes[0]
        candidates = [_row_order(merged), _group_order(merged)] if share_prompts else [_row_order(merged)]
        best = min(candidates, key=lambda o: computed_tokens(merged, o, size))
        batches = []
        for start in range(0, len(best), size):
            index = torch.tensor(best[start : start + size])
            batches.append(
                {
                    k: v
                    if v is None or k in SCALAR_KEYS or (torch.is_tensor(v) and v.dim() == 0)
                    else v[index]
                    for k, v in merged.items()
                }
            )
    return [_trim(b) for b in batches]


def lean_logps(
    trainer: Any, model: Any, input_ids: Any, attention_mask: Any, logits_to_keep: int, entropy: bool
) -> tuple[Any, Any] | None:
    """Per-token log-probs (and entropies) of the completions, each distinct prompt computed once,
    the LM head on the completion tokens only (:func:`pbrlsvr.train.label_logprobs.label_logprobs`).

    Where rows share a prompt, all but its last token run once per distinct prompt with a KV
    cache; the cache is selected out to every row (``Cache.batch_select_indices``, through which
    autograd sums the rows' gradients into the shared prompt) and the last prompt token plus the
    completion run on top of it. Positions are those of the plain pass (the cache continues them),
    so the values equal TRL's up to float summation order. ``None`` where this does not apply (a
    head with bias, logit scaling or soft-capping): the caller then takes TRL's own path."""
    import torch

    from pbrlsvr.train.label_logprobs import label_logprobs

    hf = model.get_base_model() if hasattr(model, "get_base_model") else model
    text = hf.config.get_text_config()
    if any(
        getattr(text, k, None) is not None
        for k in ("final_logit_softcapping", "logit_scale", "logits_scaling")
    ):
        return None
    head = hf.get_output_embeddings()
    if head is None or getattr(head, "bias", None) is not None:
        return None
    backbone = hf.base_model
    prompt_width = input_ids.size(1) - logits_to_keep
    prefix = prompt_width - 1  # the last prompt token predicts the first completion token
    groups = prompt_groups(input_ids[:, :prompt_width], attention_mask[:, :prompt_width])
    firsts = sorted(set(groups))
    hidden = None
    with trainer.accelerator.autocast():
        if len(firsts) < len(groups) and prefix >= 1:
            heads = torch.tensor(firsts, device=input_ids.device)
            slot = {g: i for i, g in enumerate(firsts)}
            out = backbone(
                input_ids=input_ids[heads, :prefix],
                attention_mask=attention_mask[heads, :prefix],
                use_cache=True,
            )
            cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
            if cache is not None and hasattr(cache, "batch_select_indices"):
                cache.batch_select_indices(torch.tensor([slot[g] for g in groups], device=input_ids.device))
                hidden = backbone(
                    input_ids=input_ids[:, prefix:],
                    attention_mask=attention_mask,
                    **{_cache_kwarg(backbone): cache},
                ).last_hidden_state[:, :-1]
        if hidden is None:
            hidden = backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            hidden = hidden[:, prefix:-1]
        targets = input_ids[:, prompt_width:]
        valid = attention_mask[:, prompt_width:].bool()
        logps, ent = label_logprobs(hidden[valid], head.weight, targets[valid], trainer.temperature)
    zeros = torch.zeros(valid.shape, dtype=logps.dtype, device=logps.device)
    per_token = zeros.masked_scatter(valid, logps)
    return per_token, (zeros.masked_scatter(valid, ent) if entropy else None)


def _cache_kwarg(backbone: Any) -> str:
    """``cache`` (transformers >= 5.2x) or ``past_key_values`` (before): what the backbone takes."""
    import inspect

    params = inspect.signature(type(backbone).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def lean_trainer_class() -> type:
    """:class:`LeanGRPOTrainer`, built on first use so importing this module does not import TRL."""
    global _LEAN
    if _LEAN is None:
        _LEAN = _build()
    return _LEAN


_LEAN: type | None = None


def _build() -> type:
    from transformers import TrainerCallback
    from trl import GRPOTrainer

    class _OptimizerClock(TrainerCallback):
        """Seconds from the end of the last backward to the end of the optimizer step."""

        def __init__(self, trainer: Any) -> None:
            self.trainer = trainer
            self.started = 0.0

        def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.started = time.perf_counter()

        def on_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.trainer._add("time/optimizer_seconds", time.perf_counter() - self.started)

    class LeanGRPOTrainer(GRPOTrainer):
        """``GRPOTrainer`` with the micro-batch layout of this module and per-phase step figures."""

        def __init__(self, *args: Any, lean: bool = True, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.lean = lean
            self._sort = lean and can_sort(self.args)
            # The CPU pass (lean_logps) gives the entropy without a gradient, so it serves every
            # configuration but an entropy bonus; checkpointing disables the KV cache it shares.
            self._lean_logps = lean and not (
                float(getattr(self.args, "entropy_coef", 0.0) or 0.0) != 0.0
                or getattr(self.args, "use_adaptive_entropy", False)
                or getattr(self.args, "activation_checkpointing", False)
                or getattr(self.args, "gradient_checkpointing", False)
            )
            self._warned_layout = False
            self.step_figures: dict[str, float] = {}
            self.add_callback(_OptimizerClock(self))

        # ---- layout ---------------------------------------------------------------------------

        def _prepare_inputs(self, generation_batch: Any) -> Any:
            generate_every = self.args.steps_per_generation * self.num_iterations
            fresh = self.model.training and (
                self._step % generate_every == 0 or self._buffered_inputs is None
            )
            started = time.perf_counter()
            inputs = super()._prepare_inputs(generation_batch)
            if not fresh:
                return inputs
            self._add("time/rollout_seconds", time.perf_counter() - started)
            batches = self._buffered_inputs
            if self.lean:
                on_cpu = batches[0]["prompt_ids"].device.type == "cpu"
                laid = relayout(list(batches), sort=self._sort, share_prompts=on_cpu)
                if laid is None:
                    if not self._warned_layout:
                        logger.warning("lean_step: a batch field it does not know; keeping TRL's layout")
                        self._warned_layout = True
                else:
                    self._buffered_inputs = batches = laid
                    inputs = batches[self._step % self.args.steps_per_generation]
            self._add("tokens/computed", float(sum(self._computed(b) for b in batches)))
            self._add("tokens/with_loss", float(sum(int(b["completion_mask"].sum()) for b in batches)))
            self._add("tokens/prompt", float(sum(int(b["prompt_mask"].sum()) for b in batches)))
            return inputs

        # ---- one forward pass per distinct prompt -----------------------------------------------

        def _get_per_token_logps_and_entropies(
            self,
            model: Any,
            input_ids: Any,
            attention_mask: Any,
            logits_to_keep: int,
            batch_size: int | None = None,
            compute_entropy: bool = False,
            compute_aux_loss: bool = False,
            **multimodal: Any,
        ) -> Any:
            plain = (
                not self._lean_logps
                or compute_aux_loss
                or any(v is not None for v in multimodal.values())
                or input_ids.device.type != "cpu"  # on CUDA, TRL's Triton head scores completions only
            )
            if not plain:
                size = batch_size or input_ids.size(0)
                parts = [
                    lean_logps(
                        self,
                        model,
                        input_ids[start : start + size],
                        attention_mask[start : start + size],
                        logits_to_keep,
                        compute_entropy,
                    )
                    for start in range(0, input_ids.size(0), size)
                ]
                if all(p is not None for p in parts):
                    import torch

                    logps = torch.cat([p[0] for p in parts])
                    entropies = torch.cat([p[1] for p in parts]) if compute_entropy else None
                    return logps, entropies, None
            return super()._get_per_token_logps_and_entropies(
                model,
                input_ids,
                attention_mask,
                logits_to_keep,
                batch_size=batch_size,
                compute_entropy=compute_entropy,
                compute_aux_loss=compute_aux_loss,
                **multimodal,
            )

        def _computed(self, batch: dict[str, Any]) -> int:
            """Token positions the forward pass of ``batch`` computes (each distinct prompt once
            where the lean pass shares it)."""
            if not self.lean or batch["prompt_ids"].device.type != "cpu":
                return batch["prompt_ids"].numel() + batch["completion_ids"].numel()
            return computed_tokens(
                batch, list(range(batch["prompt_ids"].size(0))), batch["prompt_ids"].size(0)
            )

        # ---- phases -----------------------------------------------------------------------------

        def _calculate_rewards(self, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            rewards = super()._calculate_rewards(*args, **kwargs)
            self._add("time/reward_seconds", time.perf_counter() - started)
            return rewards

        def compute_loss(self, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            loss = super().compute_loss(model, inputs, *args, **kwargs)
            self._add("time/loss_forward_seconds", time.perf_counter() - started)
            return loss

        def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
            before = self.step_figures.get("time/loss_forward_seconds", 0.0) + self.step_figures.get(
                "time/rollout_seconds", 0.0
            )
            started = time.perf_counter()
            out = super().training_step(model, inputs, num_items_in_batch)
            spent = time.perf_counter() - started
            after = self.step_figures.get("time/loss_forward_seconds", 0.0) + self.step_figures.get(
                "time/rollout_seconds", 0.0
            )
            self._add("time/backward_seconds", max(0.0, spent - (after - before)))
            return out

        def _add(self, key: str, value: float) -> None:
            self.step_figures[key] = self.step_figures.get(key, 0.0) + value

        def take_step_figures(self) -> dict[str, float]:
            """The figures gathered since the last call (one optimizer step's worth when called
            from the logging callback), then reset."""
            figures, self.step_figures = self.step_figures, {}
            return figures

    return LeanGRPOTrainer
