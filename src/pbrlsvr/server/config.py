"""``pbrlsvr serve`` configuration: where to listen, how to batch, what to accept, which reward.

The YAML holds the server keys at the top level and the reward under ``reward:`` (the same section
``pbrlsvr score`` reads), so a file with only ``reward:`` works for both commands::

    host: 0.0.0.0
    port: 8000
    max_batch_size: 64
    max_wait_ms: 2
    token_env: PBRLSVR_TOKEN     # clients must send "Authorization: Bearer $PBRLSVR_TOKEN"
    reward:
      langs: [sw, bn, ja]
      encoder: {name: e5-small-torch}
"""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import Field, field_validator

from pbrlsvr.config import StrictModel
from pbrlsvr.errors import ConfigError
from pbrlsvr.rewards.config import RewardConfig

DEFAULT_MAX_BATCH_SIZE = 64
"""Items scored together by the worker: the batch ``pbrlsvr score`` uses by default."""

DEFAULT_MAX_WAIT_MS = 2.0
"""How long an idle worker waits for more items after the first arrives.

``benchmarks/bench_server.py`` (e5-small-torch, 2 shared CPU cores) could not tell 0, 2 and 10 ms
apart: under load the worker is busy and requests pile up into batches anyway; at 1 client the
wait is pure latency. 2 ms costs at most ~1% of one item's scoring on a CPU and lets requests that
arrive together (a GRPO group from verl's reward loop) share a batch where batching pays (GPUs)."""


class OpenRLHFConfig(StrictModel):
    """How ``POST /get_reward`` cuts the response out of OpenRLHF's ``query`` (prompt + response)."""

    strip_special_tokens: bool = Field(
        True,
        description="drop trailing special tokens (<|im_end|>, <|eot_id|>, </s>, ...) that OpenRLHF keeps "
        "because it decodes with skip_special_tokens=False",
    )
    special_tokens: str = Field(
        r"<[|｜][^<>\s]{1,64}?[|｜]>|</s>|<eos>|<end_of_turn>",
        description="regex of one special token; a run of them at the end of the response is removed",
    )

    @field_validator("special_tokens")
    @classmethod
    def _check_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class ServeConfig(StrictModel):
    """``pbrlsvr serve``: one batched copy of the reward for every trainer rank to call."""

    host: str = Field("127.0.0.1", description="interface to listen on (0.0.0.0 for all)")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0 = any free port)")
    max_batch_size: int = Field(
        DEFAULT_MAX_BATCH_SIZE, ge=1, le=4096, description="most items scored in one Reward.score_batch call"
    )
    max_wait_ms: float = Field(
        DEFAULT_MAX_WAIT_MS,
        ge=0,
        le=10_000,
        allow_inf_nan=False,
        description="an idle worker waits this long for more items before scoring a partial batch",
    )
    max_pending_items: int = Field(
        16_384, ge=1, description="items queued before new requests get 503 (back-pressure)"
    )
    token_env: str | None = Field(
        None,
        description="name of an environment variable holding a bearer token; unset = no authentication "
        "(OpenRLHF sends no token: serve it without one on loopback/a private network, or behind a proxy)",
    )
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="larger request bodies get 413")
    max_items: int = Field(4096, ge=1, description="items (or OpenRLHF queries) per request; more get 413")
    torch_threads: int | None = Field(
        None,
        ge=1,
        description="torch intra-op threads for the encoder (None = torch's default); 1 can be much "
        "faster on a machine whose cores other processes also use",
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    access_log: bool = Field(False, description="log every request (noisy under training load)")
    openrlhf: OpenRLHFConfig = Field(default_factory=OpenRLHFConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)

    @field_validator("token_env")
    @classmethod
    def _check_env_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value

    def resolve_token(self) -> str | None:
        """The bearer token, read from ``token_env`` now; a named but unset/empty variable is an error."""
        if self.token_env is None:
            return None
        token = os.environ.get(self.token_env, "")
        if not token.strip():
            raise ConfigError(
                f"token_env is {self.token_env!r} but that environment variable is unset or empty; "
                f"export {self.token_env}=<secret> or remove token_env to serve without authentication"
            )
        return token.strip()
