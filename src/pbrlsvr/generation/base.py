"""One way to run a model: the :class:`Generator` interface shared by ``pivot/`` and ``evaluation/``.

A generator takes a batch of chat conversations and sampling settings and returns, for every
conversation, ``settings.n`` completions with their token counts and finish reasons. Backends
(transformers, CTranslate2, OpenAI-compatible HTTP, vLLM, a plugin's; registered in
:mod:`pbrlsvr.generation.backends`) implement :meth:`Generator._generate`; callers never care
which one runs.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from pbrlsvr.config import StrictModel

Message = dict[str, str]
"""One chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``."""

Conversation = Sequence[Message]

FinishReason = Literal["stop", "length", "error"]


class SamplingConfig(StrictModel):
    """Decoding settings, pinned and written into every report and reference store key.

    ``temperature == 0`` means greedy decoding (``n`` must then be 1 for distinct samples to make
    sense; greedy with ``n > 1`` returns ``n`` identical completions and is allowed).
    """

    n: int = Field(1, ge=1, description="completions per conversation")
    max_new_tokens: int = Field(512, ge=1)
    temperature: float = Field(0.0, ge=0.0, allow_inf_nan=False)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0, description="0 = off")
    seed: int | None = Field(0, description="sampling seed; None = not reproducible")
    stop: list[str] = Field(default_factory=list, description="extra stop strings")


@dataclass(frozen=True)
class Generation:
    """One completion."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason
    error: str | None = None


ProgressFn = Callable[[int], None]
"""Called with the number of conversations just finished (for progress bars)."""


class Generator(abc.ABC):
    """Chat conversations in, completions out.

    Attributes:
        name: the model's name as written into stores and reports (an alias, an HF id, a URL+model).
    """

    name: str

    def generate(
        self,
        conversations: Sequence[Conversation],
        settings: SamplingConfig | None = None,
        progress: ProgressFn | None = None,
    ) -> list[list[Generation]]:
        """``settings.n`` completions for every conversation, in input order.

        Raises ``ValueError`` for a malformed conversation (empty, a message without ``role`` or
        ``content``, an unknown role) before any generation starts.
        """
        settings = settings or SamplingConfig()
        convs = [check_conversation(c, i) for i, c in enumerate(conversations)]
        if not convs:
            return []
        out = self._generate(convs, settings, progress)
        if len(out) != len(convs) or any(len(g) != settings.n for g in out):
            raise RuntimeError(f"{type(self).__name__} returned the wrong number of completions")
        return out

    @abc.abstractmethod
    def _generate(
        self, conversations: list[list[Message]], settings: SamplingConfig, progress: ProgressFn | None
    ) -> list[list[Generation]]:
        """Backend hook: conversations already validated."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (HTTP clients, GPU memory)."""


_ROLES = {"system", "user", "assistant"}


def check_conversation(conversation: Conversation, index: int = 0) -> list[Message]:
    """A validated copy of one conversation, or a ``ValueError`` naming what is wrong."""
    if isinstance(conversation, str) or not isinstance(conversation, Sequence):
        raise ValueError(
            f"conversation {index} must be a list of messages, got {type(conversation).__name__}"
        )
    if not conversation:
        raise ValueError(f"conversation {index} is empty")
    out: list[Message] = []
    for j, msg in enumerate(conversation):
        if (
            not isinstance(msg, dict)
            or not isinstance(msg.get("role"), str)
            or not isinstance(msg.get("content"), str)
        ):
            raise ValueError(
                f"conversation {index}, message {j}: expected {{'role': str, 'content': str}}, got {msg!r}"
            )
        if msg["role"] not in _ROLES:
            raise ValueError(f"conversation {index}, message {j}: unknown role {msg['role']!r}")
        out.append({"role": msg["role"], "content": msg["content"]})
    return out
