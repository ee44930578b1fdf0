"""The HTTP client of ``POST /score``, shared by the TRL and verl adapters (sync and async, retried).

The service URL is ``url`` if given, else ``$PBRLSVR_URL``, else ``http://127.0.0.1:8000``; the
bearer token is ``token`` if given, else ``$PBRLSVR_TOKEN`` (none when unset). Connection errors,
timeouts and the statuses of the project's one retry rule (:mod:`pbrlsvr.retry`: 408, 409, 429,
500, 502, 503, 504) are retried with jittered exponential back-off (``retries`` times, waits of at
most 10 s, ``Retry-After`` honoured up to 10 s); any other error raises :class:`RemoteRewardError`
with the server's message.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from pbrlsvr.errors import PbrlsvrError
from pbrlsvr.retry import (
    AttemptFailed,
    Backoff,
    RetriesExhausted,
    acall_with_retries,
    call_with_retries,
    retry_after_seconds,
    retryable_status,
)

DEFAULT_URL = "http://127.0.0.1:8000"
URL_ENV = "PBRLSVR_URL"
TOKEN_ENV = "PBRLSVR_TOKEN"
MAX_WAIT_S = 10.0


class RemoteRewardError(PbrlsvrError, RuntimeError):
    """The reward service refused a request or stayed unreachable after every retry."""


def service_url(url: str | None = None) -> str:
    """The base URL (``/score`` or ``/get_reward`` at the end is tolerated and removed)."""
    base = (url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
    for suffix in ("/score", "/get_reward"):
        base = base.removesuffix(suffix)
    return base


class ScoreClient:
    """Posts items to ``{url}/score`` and returns one dict per item (a result or ``{"error"}``).

    Args:
        url: the service's base URL (see the module docstring for the default).
        token: bearer token (default ``$PBRLSVR_TOKEN``).
        timeout: seconds per attempt (a big GRPO batch on a busy CPU service can take minutes).
        retries: extra attempts after a connection error, a timeout or a retried status.
        backoff: first retry delay in seconds, doubled each time (jittered, capped at 10 s).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        timeout: float = 600.0,
        retries: int = 4,
        backoff: float = 0.5,
    ) -> None:
        self.url = service_url(url)
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self._lock = threading.Lock()
        self._sync: tuple[int, httpx.Client] | None = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    def __getstate__(self) -> dict[str, Any]:  # picklable (TRL and Ray copy reward functions)
        state = self.__dict__.copy()
        for key in ("_lock", "_sync", "_async"):
            state.pop(key)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._sync = None
        self._async = weakref.WeakKeyDictionary()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    # -- sync ----------------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        with self._lock:  # one client per process (a forked worker must not share the parent's)
            if self._sync is None or self._sync[0] != os.getpid():
                self._sync = (os.getpid(), httpx.Client(timeout=self.timeout, headers=self.headers))
            return self._sync[1]

    def score(self, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Score ``items`` (dicts with response, lang, reference, ...) and wait for the results."""
        if not items:
            return []
        payload = {"items": list(items)}

        def attempt() -> httpx.Response:
            try:
                return _checked(self._client().post(f"{self.url}/score", json=payload))
            except httpx.TransportError as exc:
                raise AttemptFailed(f"{type(exc).__name__}: {exc}", connection=True) from None

        try:
            resp = call_with_retries(attempt, retries=self.retries, backoff=self._backoff)
        except RetriesExhausted as exc:
            raise self._gave_up(exc) from None
        return _results(resp, len(items))

    # -- async ---------------------------------------------------------------------------------

    def _aclient(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()  # an AsyncClient belongs to one event loop
        client = self._async.get(loop)
        if client is None:
            client = self._async[loop] = httpx.AsyncClient(timeout=self.timeout, headers=self.headers)
        return client

    async def ascore(self, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Async :meth:`score`."""
        if not items:
            return []
        payload = {"items": list(items)}

        async def attempt() -> httpx.Response:
            try:
                return _checked(await self._aclient().post(f"{self.url}/score", json=payload))
            except httpx.TransportError as exc:
                raise AttemptFailed(f"{type(exc).__name__}: {exc}", connection=True) from None

        try:
            resp = await acall_with_retries(attempt, retries=self.retries, backoff=self._backoff)
        except RetriesExhausted as exc:
            raise self._gave_up(exc) from None
        return _results(resp, len(items))

    @property
    def _backoff(self) -> Backoff:
        return Backoff(self.backoff, cap=MAX_WAIT_S, max_retry_after=MAX_WAIT_S)

    def _gave_up(self, exc: RetriesExhausted) -> RemoteRewardError:
        return RemoteRewardError(f"{self.url}/score failed after {exc.attempts} attempts: {exc.last}")

    def close(self) -> None:
        with self._lock:
            if self._sync is not None and self._sync[0] == os.getpid():
                self._sync[1].close()
            self._sync = None


def _checked(resp: httpx.Response) -> httpx.Response:
    """``resp``, or a retryable :class:`AttemptFailed` when its status is retried."""
    if retryable_status(resp.status_code):
        wait = retry_after_seconds(resp.headers.get("retry-after"), MAX_WAIT_S)
        raise AttemptFailed(_describe(resp), wait=wait)
    return resp


def _describe(resp: httpx.Response) -> str:
    try:
        detail = resp.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return f"HTTP {resp.status_code}: {detail or resp.text[:500]}"


def _results(resp: httpx.Response, n: int) -> list[dict[str, Any]]:
    if resp.status_code != 200:
        raise RemoteRewardError(f"{resp.request.url} refused the request: {_describe(resp)}")
    try:
        results = resp.json()["results"]
    except (ValueError, KeyError, TypeError):
        raise RemoteRewardError(f"{resp.request.url} answered without 'results': {resp.text[:500]}") from None
    if not isinstance(results, list) or len(results) != n:
        got = len(results) if isinstance(results, list) else type(results).__name__
        raise RemoteRewardError(f"{resp.request.url} answered {got} results for {n} items")
    return results
