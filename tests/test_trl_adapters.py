"""The TRL adapters read what TRL 1.16 hands them and log the same metrics in every mode.

* Reasoning: with a tokenizer that has a response template, TRL parses each completion with its
  own ``parse_response`` and moves the ``<think>`` text into ``reasoning_content``. Here the
  completion goes through that very function (a byte-level tokenizer with TRL's Qwen3 chat
  template, built in the test) and must score as the raw generated text does.
* Logging: ``aggregation: sum``, ``normalize_then_sum`` (as TRL aggregates the per-component
  functions) and ``remote_trl.RemoteReward`` give the same names and the same (gated) values.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from pbrlsvr.integrations import remote_trl
from pbrlsvr.integrations.trl import PBRLSVRReward, completion_text, make_reward_funcs
from pbrlsvr.rewards.config import RewardConfig
from pbrlsvr.rewards.reward import Reward
from tests.hash_encoder import HashEncoder
from tests.test_rewards_reward import REF, SW, SW_NO_ANSWER, SW_SLIP, SW_WRONG

FINAL = "Jibu ni 11."


@pytest.fixture(scope="module")
def reward() -> Reward:
    return Reward(RewardConfig(langs=["sw"], encoder={"calibration": (0.2, 0.9)}), encoder=HashEncoder())


def qwen3_style_tokenizer() -> Any:
    """A byte-level tokenizer (exact round trip) with TRL's Qwen3 chat template and the response
    template TRL's ``add_response_schema`` picks for it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from trl.chat_template_utils import add_response_schema, qwen3_chat_template

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    inner = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    inner.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    inner.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=inner, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    tok.add_tokens(["<think>", "</think>"])
    tok.chat_template = qwen3_chat_template
    return add_response_schema(tok)


def _columns(n: int) -> dict[str, list[Any]]:
    return {"reference": [REF] * n, "lang": ["sw"] * n, "reference_answer": ["11"] * n, "gold": [None] * n}


def test_reasoning_that_trl_parses_out_is_scored(reward: Reward) -> None:
    from trl.chat_template_utils import parse_response

    tok = qwen3_style_tokenizer()
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "swali"}], tokenize=False, add_generation_prompt=True
    )
    # The reasoning slips (2 cans of 3 = 7): only a trace that reads it can see that.
    raw = f"<think>\n{SW_SLIP}\n</think>\n\n{FINAL}"
    ids = tok(raw + "<|im_end|>", add_special_tokens=False)["input_ids"]
    message = parse_response(tok, ids, prefix=tok(prompt, add_special_tokens=False)["input_ids"])
    # What TRL 1.16 hands the reward function: the reasoning is no longer in `content`.
    assert message["content"] == FINAL and message["reasoning_content"] == SW_SLIP
    assert completion_text([message]) == raw

    logged: dict[str, float] = {}
    got = PBRLSVRReward(reward)(
        prompts=[prompt], completions=[[message]], log_metric=logged.__setitem__, **_columns(1)
    )
    whole = reward.score(raw, "sw", REF, reference_answer="11")
    assert got == [whole.reward]
    assert logged["rewards/trace/mean"] == whole.components["trace"]
    content_only = reward.score(FINAL, "sw", REF, reference_answer="11")
    assert whole.components["trace"] < content_only.components["trace"], "the reasoning was not scored"


def test_completion_text_reads_reasoning_keys_parts_and_every_assistant_turn() -> None:
    assert completion_text([{"role": "assistant", "content": FINAL, "thinking": "hesabu"}]) == (
        f"<think>\nhesabu\n</think>\n\n{FINAL}"
    )
    assert completion_text([{"role": "assistant", "content": FINAL, "reasoning_content": ""}]) == FINAL
    parts = [{"type": "text", "text": "Jibu "}, {"type": "image"}, {"type": "text", "text": "ni 11."}]
    assert completion_text([{"role": "assistant", "content": parts}]) == FINAL
    turns = [
        {"role": "assistant", "content": "5 + 6 = 11. "},
        {"role": "tool", "content": "11"},
        {"role": "assistant", "content": FINAL},
    ]
    assert completion_text(turns) == "5 + 6 = 11. " + FINAL
    assert remote_trl.completion_text(turns) == completion_text(turns)


class _InProcessClient:
    """Stands in for the HTTP client: the service's answer is ``RewardResult.to_dict()`` per item
    (tests/test_server.py checks that against the real service)."""

    def __init__(self, reward: Reward) -> None:
        self.reward = reward

    async def ascore(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.reward.score_batch(items)]


def _trl_aggregate(funcs: list[Any], completions: list[str]) -> dict[str, float]:
    """What TRL logs for per-component functions: ``rewards/<name>/mean`` = nanmean of the
    function's outputs, plus whatever the functions log through ``log_metric``."""
    logged: dict[str, float] = {}
    n = len(completions)
    for f in funcs:
        values = f(prompts=["q"] * n, completions=completions, log_metric=logged.__setitem__, **_columns(n))
        ok = [v for v in values if v is not None and not math.isnan(v)]
        logged[f"rewards/{f.__name__}/mean"] = sum(ok) / len(ok)
    return logged


def test_metric_names_and_gating_are_the_same_in_every_mode_and_adapter(reward: Reward) -> None:
    # An English copy has language share 0: its gate is 0 and its semantic score counts as 0.
    completions = [SW, SW_WRONG, REF, SW_NO_ANSWER]
    n = len(completions)
    results = reward.score_batch(
        [{"response": c, "lang": "sw", "reference": REF, "reference_answer": "11"} for c in completions]
    )
    assert results[2].gate == 0.0 and results[2].components["semantic"] > 0

    summed: dict[str, float] = {}
    (fn,) = make_reward_funcs(reward, "sum")[0]
    fn(prompts=["q"] * n, completions=completions, log_metric=summed.__setitem__, **_columns(n))

    normalized = _trl_aggregate(make_reward_funcs(reward, "normalize_then_sum")[0], completions)

    remote: dict[str, float] = {}
    rfn = remote_trl.RemoteReward("http://127.0.0.1:9")
    rfn.client = _InProcessClient(reward)  # type: ignore[assignment]
    asyncio.run(rfn(prompts=["q"] * n, completions=completions, log_metric=remote.__setitem__, **_columns(n)))

    gated = sum(r.components["semantic"] * r.gate for r in results) / n
    assert summed["rewards/semantic/mean"] == pytest.approx(gated)
    assert summed["pbrlsvr/no_answer"] == pytest.approx(0.25)
    assert set(summed) == set(normalized) == set(remote)
    for key in summed:
        assert normalized[key] == pytest.approx(summed[key]), key
        assert remote[key] == pytest.approx(summed[key]), key
