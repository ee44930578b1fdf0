"""One retry rule for every HTTP client of the project: which answers are retried, and how long to wait.

Used by the OpenAI-compatible generation backend (:mod:`pbrlsvr.generation.openai_backend`) and
the reward service's client (:mod:`pbrlsvr.server.client`).

**What is retried** (:data:`RETRY_STATUS`, connection errors and timeouts): an answer that says the
same request may succeed later, unchanged.

- 408 Request Timeout, 504 Gateway Timeout, and timeouts: the server or a proxy ran out of time.
- 429 Too Many Requests, 503 Service Unavailable: overload (``pbrlsvr serve`` answers 503 when its
  queue is full; hosted APIs answer 429 on rate limits). Their ``Retry-After`` is honoured.
- 502 Bad Gateway: a proxy lost the server behind it (a restart).
- 500 Internal Server Error: inference servers answer it for passing engine failures (vLLM
  restarting a worker, a CUDA OOM on one batch); ``pbrlsvr serve`` answers it only for a bug,
  which then fails after one retry budget with the same message.
- 409 Conflict: hosted APIs answer it when a request collides with another one in flight.

Every other 4xx is not retried (the request itself is wrong: a bad key, a malformed body, an
unscorable item; sending it again gets the same answer), nor 501 and 505 (the server will never
serve it). This is the set the OpenAI and Anthropic SDKs retry, minus the permanent 5xx.

**How long to wait** (:class:`Backoff`): ``base * 2**(k-1)`` seconds before retry ``k``, times a
random factor in [0.5, 1.5) so that many clients (TRL ranks, concurrent requests) that failed
together do not retry together, capped at ``cap``; a ``Retry-After`` header (seconds or an HTTP
date) raises the wait to what the server asks, up to ``max_retry_after``.

>>> call_with_retries(lambda: 42, retries=3, backoff=Backoff(base=0.01))
42
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

RETRY_STATUS: frozenset[int] = frozenset({408, 409, 429, 500, 502, 503, 504})
"""HTTP statuses that are retried (see the module docstring for why these)."""


def retryable_status(status: int) -> bool:
    """Whether an HTTP answer with ``status`` is retried."""
    return status in RETRY_STATUS


def retry_after_seconds(value: str | None, cap: float = 120.0) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), within ``[0, cap]``."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), cap)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter (see the module docstring).

    Attributes:
        base: seconds before the first retry (before jitter).
        cap: the longest computed wait.
        max_retry_after: the longest wait a ``Retry-After`` header may ask for.
        jitter: multiply by a random factor in [0.5, 1.5).
    """

    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0
    jitter: bool = True

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first)."""
        wait = self.base * 2 ** max(retry - 1, 0)
        if self.jitter:
            wait *= random.uniform(0.5, 1.5)
        wait = min(wait, self.cap)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


class AttemptFailed(Exception):
    """One attempt failed. An attempt function raises it; ``retryable=False`` stops at once.

    Attributes:
        retryable: whether the same request may succeed later.
        wait: seconds the server asked to wait (``Retry-After``), if any.
        connection: the server could not be reached at all.
    """

    def __init__(
        self, message: str, *, retryable: bool = True, wait: float | None = None, connection: bool = False
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.wait = wait
        self.connection = connection


class RetriesExhausted(AttemptFailed):
    """Every attempt failed; the message is the last failure's and how many attempts were made."""

    def __init__(self, last: AttemptFailed, attempts: int) -> None:
        super().__init__(
            f"{last} (gave up after {attempts} attempt{'s' * (attempts > 1)})",
            retryable=False,
            wait=last.wait,
            connection=last.connection,
        )
        self.last = last
        self.attempts = attempts


OnFailure = Callable[[AttemptFailed], bool]
"""Called after each retryable failure; returning False stops retrying (e.g. the server is known down)."""


class _Attempts:
    """The loop both call forms share: the wait before each attempt, and what a failure means.

    Iterating yields ``(attempt number, seconds to wait first)``; :meth:`failed` re-raises a failure
    that must not be retried and records the others; :meth:`exhausted` is the error after the last.
    """

    def __init__(self, retries: int, backoff: Backoff, on_failure: OnFailure | None) -> None:
        self.retries, self.backoff, self.on_failure = retries, backoff, on_failure
        self.last: AttemptFailed | None = None

    def __iter__(self) -> Iterator[tuple[int, float]]:
        for k in range(self.retries + 1):
            yield k, 0.0 if self.last is None else self.backoff.delay(k, self.last.wait)

    def failed(self, exc: AttemptFailed, k: int) -> None:
        if not exc.retryable:
            raise exc
        self.last = exc
        if self.on_failure is not None and not self.on_failure(exc):
            raise RetriesExhausted(exc, k + 1) from None

    def exhausted(self) -> RetriesExhausted:
        assert self.last is not None
        return RetriesExhausted(self.last, self.retries + 1)


def call_with_retries(
    attempt: Callable[[], T],
    *,
    retries: int,
    backoff: Backoff,
    on_failure: OnFailure | None = None,
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """``attempt()``, retried up to ``retries`` times while it raises a retryable :class:`AttemptFailed`.

    A non-retryable :class:`AttemptFailed` (and any other exception) propagates at once; when the
    retries are spent, :class:`RetriesExhausted` carries the last failure.
    """
    attempts = _Attempts(retries, backoff, on_failure)
    for k, wait in attempts:
        if wait:
            sleep(wait)
        try:
            return attempt()
        except AttemptFailed as exc:
            attempts.failed(exc, k)
    raise attempts.exhausted() from None


async def acall_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    retries: int,
    backoff: Backoff,
    on_failure: OnFailure | None = None,
) -> T:
    """Async :func:`call_with_retries` (waits with ``asyncio.sleep``)."""
    attempts = _Attempts(retries, backoff, on_failure)
    for k, wait in attempts:
        if wait:
            await asyncio.sleep(wait)
        try:
            return await attempt()
        except AttemptFailed as exc:
            attempts.failed(exc, k)
    raise attempts.exhausted() from None


__all__ = [
    "RETRY_STATUS",
    "AttemptFailed",
    "Backoff",
    "RetriesExhausted",
    "acall_with_retries",
    "call_with_retries",
    "retry_after_seconds",
    "retryable_status",
]
