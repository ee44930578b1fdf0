"""Log-probabilities (and entropies) of given next tokens through an LM head, for CPUs.

GRPO's loss needs, per completion token, ``log softmax(h·Wᵀ / T)[target]`` and (for its metric) the
entropy of that distribution. TRL's fused head computes them in vocabulary tiles so that a GPU never
holds the ``(tokens, vocab)`` logits; without Triton its tiles run as torch ops with fp32 copies of
every tile and fp32 GEMMs in the backward. On a CPU with bf16 matrix units that made the LM head
~40% of a Qwen2.5-0.5B micro-batch's forward and backward (torch profiler: 3.65 s of 8.9 s for 568
completion tokens, whose head GEMMs are ~0.5 TFLOP: well under a second at the measured bf16 rate).

:class:`LabelLogProbs` computes the same values a few hundred rows at a time over the whole
vocabulary: one GEMM in the ambient autocast dtype (as the model's own ``lm_head`` would run),
log-sum-exp and entropy in fp32, and a backward that recomputes the logits instead of keeping
them (``softmax - onehot`` in fp32, one GEMM for the hidden states' gradient, another for the
head's own only when it trains). Memory per chunk: ``rows × vocab`` fp32 (~256 MB).
"""

from __future__ import annotations

from typing import Any

CHUNK_BYTES = 256 * 2**20
"""fp32 logits held at once (rows × vocab × 4 bytes)."""


def _dtype(hidden: Any) -> Any:
    import torch

    return torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else hidden.dtype


def _rows(vocab: int) -> int:
    """Rows per chunk: ``CHUNK_BYTES`` of fp32 logits."""
    return max(1, CHUNK_BYTES // (4 * vocab))


def _logits(hidden: Any, weight: Any, inv_t: float) -> Any:
    import torch

    with torch.autocast("cpu", enabled=False):
        return (hidden @ weight.t()).float() * inv_t


class _Function:  # the torch.autograd.Function is built on first use (importing torch is heavy)
    cls: Any = None


def _function() -> Any:
    if _Function.cls is not None:
        return _Function.cls
    import torch

    class LabelLogProbsFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, hidden: Any, weight: Any, targets: Any, inv_t: float) -> Any:  # type: ignore[override]
            dtype = _dtype(hidden)
            w = weight.to(dtype)
            n, vocab = hidden.size(0), weight.size(0)
            logps = torch.empty(n, dtype=torch.float32)
            entropy = torch.empty(n, dtype=torch.float32)
            lse = torch.empty(n, dtype=torch.float32)
            rows = _rows(vocab)
            for start in range(0, n, rows):
                end = min(start + rows, n)
                z = _logits(hidden[start:end].to(dtype), w, inv_t)
                m = z.logsumexp(-1)
                lse[start:end] = m
                z.sub_(m[:, None])  # log p, in place
                logps[start:end] = z.gather(-1, targets[start:end, None]).squeeze(-1)
                entropy[start:end] = -(z.exp() * z).sum(-1)
            ctx.save_for_backward(hidden, weight, targets, lse)
            ctx.inv_t, ctx.dtype = inv_t, dtype
            ctx.mark_non_differentiable(entropy)
            return logps, entropy

        @staticmethod
        def backward(ctx: Any, grad_logps: Any, _grad_entropy: Any) -> Any:  # type: ignore[override]
            hidden, weight, targets, lse = ctx.saved_tensors
            dtype, inv_t = ctx.dtype, ctx.inv_t
            need_hidden, need_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
            w = weight.to(dtype)
            n, vocab = hidden.size(0), weight.size(0)
            grad_hidden = torch.zeros_like(hidden, dtype=torch.float32) if need_hidden else None
            grad_weight = torch.zeros_like(weight, dtype=torch.float32) if need_weight else None
            if grad_logps is None:
                return grad_hidden, grad_weight, None, None
            rows = _rows(vocab)
            for start in range(0, n, rows):
                end = min(start + rows, n)
                h = hidden[start:end].to(dtype)
                # d log p[target] / d z = onehot(target) - softmax(z), times the incoming gradient.
                g = (_logits(h, w, inv_t) - lse[start:end, None]).exp_().neg_()
                g.scatter_add_(-1, targets[start:end, None], torch.ones(end - start, 1))
                g.mul_(grad_logps[start:end, None] * inv_t)
                g = g.to(dtype)
                with torch.autocast("cpu", enabled=False):
                    if grad_hidden is not None:
                        grad_hidden[start:end] = (g @ w).float()
                    if grad_weight is not None:
                        grad_weight += (g.t() @ h).float()
            return (
                None if grad_hidden is None else grad_hidden.to(hidden.dtype),
                None if grad_weight is None else grad_weight.to(weight.dtype),
                None,
                None,
            )

    _Function.cls = LabelLogProbsFunction
    return LabelLogProbsFunction


def label_logprobs(hidden: Any, weight: Any, targets: Any, temperature: float = 1.0) -> tuple[Any, Any]:
    """``(log p(target), entropy)`` per row of ``hidden`` (``(N, d)``) under ``softmax(hidden·Wᵀ/T)``.

    Differentiable in ``hidden`` (and ``weight`` when it requires grad); the entropy is for
    logging only and carries no gradient. Both are fp32.

    >>> import torch
    >>> h, w = torch.randn(3, 4), torch.randn(10, 4)
    >>> logps, ent = label_logprobs(h, w, torch.tensor([1, 2, 3]))
    >>> torch.allclose(logps, torch.log_softmax(h @ w.t(), -1)[torch.arange(3), [1, 2, 3]], atol=1e-6)
    True
    """
    return _function().apply(hidden, weight, targets, 1.0 / temperature)
