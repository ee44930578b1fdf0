"""The ``model:`` section: a model to load (train's policy)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pbrlsvr.config import StrictModel


class ModelConfig(StrictModel):
    """A model to load with transformers (see :func:`pbrlsvr.models.load_model`): train's ``model:``.

    Its fields are the transformers generation backend's options; ``train`` checks the name through
    the backend registry (a ``ct2:``, ``vllm:`` or URL spec cannot be trained).
    """

    name: str = Field(
        "qwen2.5-coder-0.5b-instruct",
        description="offline alias, HF id, local folder or .gguf file",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "float32"
    device: str = Field("cpu", description="cpu, cuda, cuda:1, auto")
    revision: str | None = Field(None, description="HF revision (branch, tag or commit)")
    trust_remote_code: bool = False
