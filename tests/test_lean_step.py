"""The lean GRPO step (pbrlsvr.train.lean_step): same loss and gradients as TRL's own layout on a tiny
model, fewer tokens computed, and the TRL internals it leans on still where it expects them."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from pbrlsvr.train.lean_step import can_sort, lean_trainer_class, relayout
from tests.test_train import tiny_causal_lm
from tests.tiny_models import WORDS


def _rows(n: int = 8) -> list[dict[str, Any]]:
    """Prompts of different lengths (so left padding differs between rows)."""
    return [
        {"prompt": [{"role": "user", "content": " ".join(WORDS[: 2 + (i * 5) % 17])}], "i": i}
        for i in range(n)
    ]


def _fake_rollout(prompts: list[Any], trainer: Any) -> dict[str, Any]:
    """Deterministic completions of lengths 1..15 (a function of the prompt and the sample's place),
    so a generation batch mixes short and long rows as real rollouts do."""
    from pbrlsvr.generation.transformers_backend import chat_prompt_ids

    tok = trainer.processing_class
    vocab = [tok.convert_tokens_to_ids(w) for w in WORDS]
    prompt_ids, completion_ids = [], []
    for k, prompt in enumerate(prompts):
        ids = chat_prompt_ids(tok, prompt, trainer)
        h = int(hashlib.sha256(f"{k}:{ids}".encode()).hexdigest(), 16)
        length = 1 + h % 15
        completion = [vocab[(h >> (4 * j)) % len(vocab)] for j in range(length)]
        if h % 3:
            completion[-1] = tok.eos_token_id
        prompt_ids.append(ids)
        completion_ids.append(completion)
    return {
        "prompt_ids": prompt_ids,
        "completion_ids": completion_ids,
        "logprobs": [[0.0] * len(c) for c in completion_ids],
    }


def _reward(completions: list[Any], **kw: Any) -> list[float]:
    return [float(len(str(c)) % 7) / 7 for c in completions]


def _one_step(tmp_path: Any, *, lean: bool, **grpo: Any) -> tuple[dict[str, Any], Any]:
    """Gradients at the first optimizer step, and the trainer."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig

    grads: dict[str, Any] = {}

    class Capture(TrainerCallback):
        def on_pre_optimizer_step(
            self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any
        ) -> None:
            if not grads:
                grads.update(
                    {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
                )

    model, tok = tiny_causal_lm()
    torch.manual_seed(0)
    args = GRPOConfig(
        output_dir=str(tmp_path / ("lean" if lean else "plain")),
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        num_generations=2,
        max_completion_length=16,
        max_steps=1,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        bf16=False,
        seed=0,
        gradient_checkpointing=False,
        **grpo,
    )
    trainer = lean_trainer_class()(
        model=model,
        reward_funcs=[_reward],
        args=args,
        train_dataset=Dataset.from_list(_rows()),
        processing_class=tok,
        rollout_func=_fake_rollout,
        callbacks=[Capture()],
        lean=lean,
    )
    trainer.train()
    return grads, trainer


@pytest.mark.parametrize("loss_type", ["dapo", "grpo", "bnpo"])
def test_lean_step_gives_the_plain_steps_gradients(tmp_path: Any, loss_type: str) -> None:
    """The regrouped, trimmed micro-batches and the compact LM head change no gradient beyond
    float summation order: max |Δgrad| <= 1e-5 × max |grad| (fp32, tiny Llama)."""

    plain, plain_trainer = _one_step(tmp_path, lean=False, loss_type=loss_type)
    lean, lean_trainer = _one_step(tmp_path, lean=True, loss_type=loss_type)
    assert plain and plain.keys() == lean.keys()
    scale = max(float(g.abs().max()) for g in plain.values())
    assert scale > 0
    worst = max(float((plain[n] - lean[n]).abs().max()) for n in plain)
    assert worst <= 1e-5 * scale, f"{loss_type}: max |Δgrad| {worst:.3g} vs max |grad| {scale:.3g}"
    loss_plain = [r["loss"] for r in plain_trainer.state.log_history if "loss" in r]
    loss_lean = [r["loss"] for r in lean_trainer.state.log_history if "loss" in r]
    assert loss_plain == pytest.approx(loss_lean, rel=1e-5, abs=1e-7)
    # Rows are regrouped across micro-batches only where the loss is a sum over rows.
    assert lean_trainer._sort is (loss_type != "bnpo")


def test_lean_step_computes_fewer_tokens_and_logs_its_phases(tmp_path: Any) -> None:
    _, plain = _one_step(tmp_path, lean=False)
    _, lean = _one_step(tmp_path, lean=True)

    def width(trainer: Any) -> int:
        return sum(b["prompt_ids"].numel() + b["completion_ids"].numel() for b in trainer._buffered_inputs)

    assert width(lean) < width(plain)
    # No metrics callback here took them: the step's figures are all still on the trainer.
    figures = lean.take_step_figures()
    assert figures["tokens/computed"] < width(lean)  # each distinct prompt counted once
    assert plain.take_step_figures()["tokens/computed"] == width(plain)
    assert figures["tokens/with_loss"] <= figures["tokens/computed"]
    for phase in ("rollout", "reward", "loss_forward", "backward", "optimizer"):
        assert figures[f"time/{phase}_seconds"] >= 0
    assert lean.take_step_figures() == {}  # taken once


def _batch(prompt_masks: list[list[int]], completion_masks: list[list[int]]) -> dict[str, Any]:
    import torch

    pm = torch.tensor(prompt_masks)
    cm = torch.tensor(completion_masks)
    rows = pm.size(0)
    return {
        "prompt_ids": pm * torch.arange(1, pm.size(1) + 1),
        "prompt_mask": pm,
        "completion_ids": cm * torch.arange(100, 100 + cm.size(1)),
        "completion_mask": cm,
        "advantages": torch.arange(rows, dtype=torch.float32),
        "num_items_in_batch": cm.sum(),
    }


def test_relayout_regroups_by_length_and_trims_without_losing_a_row() -> None:
    import torch

    a = _batch([[0, 0, 1], [1, 1, 1]], [[1, 0, 0, 0], [1, 1, 1, 1]])
    b = _batch([[0, 1, 1], [0, 0, 1]], [[1, 1, 1, 0], [1, 0, 0, 0]])
    b["advantages"] += 10
    out = relayout([a, b], sort=True)
    assert out is not None and len(out) == 2
    # Longest rows together (7 and 5 real tokens), then the short ones (2 and 2).
    assert out[0]["completion_ids"].size(1) == 4 and out[1]["completion_ids"].size(1) == 1
    assert out[1]["prompt_ids"].size(1) == 1  # both short rows have one prompt token
    assert sorted(torch.cat([o["advantages"] for o in out]).tolist()) == [0.0, 1.0, 10.0, 11.0]
    for o in out:
        assert int(o["num_items_in_batch"]) == int(a["num_items_in_batch"])  # a scalar stays as it is
        assert o["prompt_ids"].size(0) == 2
    # Without sort: TRL's rows stay where they are, each batch only trimmed.
    kept = relayout([a, b], sort=False)
    assert kept is not None
    assert kept[0]["advantages"].tolist() == [0.0, 1.0]
    assert kept[1]["completion_ids"].size(1) == 3 and kept[1]["prompt_ids"].size(1) == 2
    # A field it does not know (images, a newer TRL's per-token key): TRL's layout stays.
    assert relayout([{**a, "pixel_values": torch.zeros(2, 3)}], sort=True) is None


def test_sorting_only_where_the_loss_is_a_sum_over_rows() -> None:
    from types import SimpleNamespace as NS

    assert can_sort(
        NS(loss_type="dapo", entropy_coef=0.0, use_adaptive_entropy=False, top_entropy_quantile=1.0)
    )
    assert not can_sort(
        NS(loss_type="bnpo", entropy_coef=0.0, use_adaptive_entropy=False, top_entropy_quantile=1.0)
    )
    assert not can_sort(
        NS(loss_type="dapo", entropy_coef=0.01, use_adaptive_entropy=False, top_entropy_quantile=1.0)
    )
    assert not can_sort(
        NS(loss_type="dapo", entropy_coef=0.0, use_adaptive_entropy=False, top_entropy_quantile=0.2)
    )


@pytest.mark.parametrize("autocast", [False, True])
def test_label_logprobs_equal_log_softmax_and_its_gradients(autocast: bool) -> None:
    """The CPU head gives log_softmax(h·Wᵀ/T)[target] and its entropy, with the gradients autograd
    gives the plain expression (fp32: 1e-5; under bf16 autocast, as the model's own head would
    round: 2e-2), chunked over rows (a tiny chunk forces several)."""
    import torch

    from pbrlsvr.train import label_logprobs as mod

    torch.manual_seed(0)
    h = torch.randn(37, 16, requires_grad=True)
    w = torch.randn(50, 16, requires_grad=True)
    targets = torch.randint(0, 50, (37,))
    upstream = torch.randn(37)
    old = mod.CHUNK_BYTES
    mod.CHUNK_BYTES = 4 * 50 * 8  # 8 rows per chunk
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logps, entropy = mod.label_logprobs(h, w, targets, temperature=0.7)
        (logps * upstream).sum().backward()
    finally:
        mod.CHUNK_BYTES = old
    got = (logps.detach(), entropy, h.grad.clone(), w.grad.clone())
    h.grad = w.grad = None
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        z = (h @ w.t()).float() / 0.7
    ref_all = z.log_softmax(-1)
    ref = ref_all[torch.arange(37), targets]
    (ref * upstream).sum().backward()
    ref_entropy = -(ref_all.exp() * ref_all).sum(-1)
    tol = 2e-2 if autocast else 1e-5
    for a, b in zip(got, (ref.detach(), ref_entropy.detach(), h.grad, w.grad), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=tol, rtol=tol)
    assert not entropy.requires_grad


def test_importance_mask_reads_the_same_log_probs_in_either_layout(tmp_path: Any) -> None:
    """The engine rollout's importance forward, lean (a prompt's samples together, the prompt once,
    the LM head on completions only) or plain (TRL's order, every position), gives the same
    trainer log-probs: the same tokens masked and the same mean |Δ log p| to 1e-5."""
    import torch

    from pbrlsvr.train.engine_rollout import EngineRollout

    _, trainer = _one_step(tmp_path, lean=True)
    prompts = [r["prompt"] for r in _rows(4) for _ in range(2)]
    out = _fake_rollout(prompts, trainer)
    torch.manual_seed(1)
    # Engine log-probs near the trainer's for most tokens, far off for some (masked).
    engine = [[float(-4.3 + 3.0 * (torch.rand(()).item() - 0.5)) for _ in c] for c in out["completion_ids"]]
    results = []
    for lean in (True, False):
        trainer.lean = lean
        rollout = EngineRollout(None, max_completion_length=16, importance_mask=True, lean=lean)  # type: ignore[arg-type]
        results.append(rollout._mask(trainer, out["prompt_ids"], out["completion_ids"], engine))
    (lean_mask, lean_stats), (plain_mask, plain_stats) = results
    assert lean_mask == plain_mask
    assert any(0 in m for m in lean_mask) and any(1 in m for m in lean_mask)  # both kinds of token occur
    assert lean_stats["rollout/logp_abs_diff"] == pytest.approx(
        plain_stats["rollout/logp_abs_diff"], abs=1e-5
    )
