"""Runs OpenRLHF's own reward client against pbrlsvr (started by tests/test_openrlhf.py).

Usage: ``python tests/openrlhf_driver.py <openrlhf install dir> <remote_url> <cases.json>``; prints
``RESULT <json>`` per case: the ``output`` dict OpenRLHF's ``SingleTurnAgentExecutor.execute``
returns (reward, scores, extra_logs; ``reward`` is ``None`` when OpenRLHF gave up). A case is
``{"row": <a line of pbrlsvr export-openrlhf>, "response": ...}``, turned into prompt and label by
OpenRLHF's own ``preprocess_data`` (``--data.input_key input --data.label_key label
--data.apply_chat_template``), or ``{"prompt", "label", "response"}`` as given.

The code that builds the prompt and label and talks to the reward is OpenRLHF 0.11.2's, unchanged:
``openrlhf/datasets/prompts_dataset.py``, ``openrlhf/utils/agent.py`` (request, retries, error
handling, the ``.py`` file loader) and ``openrlhf/utils/logging_utils.py``. Only the package
``__init__`` files are bypassed, because they import transformers, sympy and DeepSpeed, which
these modules do not use. The chat template, tokenizer and vLLM engine are stand-ins: a
ChatML-style template, characters as token ids, and an engine that "generates" the case's response.
"""

from __future__ import annotations

import asyncio
import json
import sys
import types
from pathlib import Path
from types import SimpleNamespace
from typing import Any


def load_agent(site: Path) -> Any:
    sys.path.append(str(site))  # after ours: its copies of shared packages never shadow ours
    for name in ("openrlhf", "openrlhf.utils", "openrlhf.datasets"):
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(site / name.replace(".", "/"))]
        sys.modules[name] = pkg
    import openrlhf.datasets.prompts_dataset as dataset
    import openrlhf.utils.agent as agent

    return agent, dataset


def chatml(chat: list[dict[str, Any]], tokenize: bool = False, add_generation_prompt: bool = True) -> str:
    """``tokenizer.apply_chat_template`` for a ChatML model (content already a string or text parts)."""

    def text(content: Any) -> str:
        return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)

    out = "".join(f"<|im_start|>{m['role']}\n{text(m['content'])}<|im_end|>\n" for m in chat)
    return out + ("<|im_start|>assistant\n" if add_generation_prompt else "")


class CharTokenizer:
    """``tokenizer(text=..., ...)["input_ids"][0].tolist()`` and ``decode`` as OpenRLHF calls them."""

    def __call__(self, text: str, add_special_tokens: bool = False, return_tensors: str = "pt") -> Any:
        return {"input_ids": [SimpleNamespace(tolist=lambda: [ord(c) for c in text])]}

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return "".join(chr(i) for i in ids)


class ScriptedEngine:
    def __init__(self, response: str) -> None:
        self.response = response

    async def generate(self, prompt_ids: list[int], params: Any, multi_modal_data: Any = None) -> Any:
        out = SimpleNamespace(
            token_ids=[ord(c) for c in self.response], text=self.response, finish_reason="stop", logprobs=None
        )
        return SimpleNamespace(outputs=[out])


async def run(agent: Any, dataset: Any, url: str, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    executor = agent.SingleTurnAgentExecutor(url)
    outputs = []
    for case in cases:
        if "row" in case:
            prompt, label = dataset.preprocess_data(case["row"], None, "input", "label", chatml)
        else:
            prompt, label = case["prompt"], case["label"]
        out = await executor.execute(
            prompt,
            label,
            SimpleNamespace(max_tokens=512, logprobs=None),
            4096,
            CharTokenizer(),
            ScriptedEngine(case["response"] + "<|im_end|>"),
        )
        outputs.append({k: out[k] for k in ("reward", "scores", "extra_logs")})
    return outputs


def main() -> None:
    site, url, cases_path = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    agent, dataset = load_agent(site)
    cases = json.loads(cases_path.read_text(encoding="utf-8"))
    for out in asyncio.run(run(agent, dataset, url, cases)):
        print("RESULT " + json.dumps(out), flush=True)  # OpenRLHF's logger writes to stdout too


if __name__ == "__main__":
    main()
