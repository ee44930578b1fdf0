"""Generation through any OpenAI-compatible chat-completions server (vLLM, SGLang, TGI, llama.cpp, OpenAI).

>>> gen = OpenAIGenerator("http://localhost:8000/v1", "meta-llama/Llama-3.1-8B-Instruct")  # doctest: +SKIP
>>> gen.check()  # raises ServerUnavailableError naming the URL if the server is down  # doctest: +SKIP

- ``base_url`` is the API root (``http://host:8000/v1``); a URL with no path gets ``/v1``.
  Requests go to ``{base_url}/chat/completions``.
- The API key is read from the environment variable named by ``api_key_env`` (default
  ``OPENAI_API_KEY``) when the generator is built and sent as ``Authorization: Bearer``; it is
  never logged or shown in ``repr``. No variable, no header (local servers need none).
- Requests run concurrently on an ``httpx.AsyncClient`` in a private event-loop thread, at most
  ``concurrency`` in flight, so :meth:`generate` is a plain blocking call that works inside or
  outside a running event loop (a Jupyter cell, a FastAPI handler). Progress callbacks run in the
  calling thread.
- Failures are retried by the project's one rule (:mod:`pbrlsvr.retry`: 408, 409, 429, 500, 502,
  503, 504, connection errors and timeouts) up to ``max_retries`` times with exponential backoff
  and jitter (``backoff * 2**attempt * U(0.5, 1.5)``, at most 30 s); a ``Retry-After`` header is
  honoured (up to 120 s) and pauses every request, not just the one that got it.
- A conversation whose request still fails becomes ``n`` generations with ``text=""``,
  ``finish_reason="error"`` and the reason in ``error``; every other conversation keeps its result,
  so the caller can commit what succeeded. Once one request has used all its retries on connection
  failures, the server is taken to be down and later requests try once (no backoff) until one
  succeeds again, so a dead server fails a whole batch in about one retry budget.
- ``n`` is sent as the ``n`` field; a server that returns fewer choices (llama.cpp ignores ``n``)
  gets more requests for the rest, with ``seed + k`` so seeded samples still differ.
- Sampling: ``max_tokens``, ``temperature``, ``top_p``, ``seed`` (if not None), ``stop`` (if any) and
  ``top_k`` only when it is > 0 (a vLLM/SGLang/llama.cpp extension that OpenAI rejects). Stop
  strings are also cut client-side, for servers that ignore them. A server fills what is not sent
  from its own defaults: ``vllm serve`` applies the checkpoint's ``generation_config`` (top_k,
  repetition penalty) unless started with ``--generation-config vllm``; do that for pinned decoding.
- Token counts come from the response's ``usage``: ``prompt_tokens`` as given; with several
  choices in one response, ``usage.completion_tokens`` (their sum) is split over the choices in
  proportion to their text length (exact for ``n == 1``). No ``usage``: counts are 0.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import queue
import threading
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pbrlsvr.errors import PbrlsvrError
from pbrlsvr.generation.backends import register_backend
from pbrlsvr.generation.base import (
    FinishReason,
    Generation,
    Generator,
    Message,
    ProgressFn,
    SamplingConfig,
)
from pbrlsvr.generation.transformers_backend import truncate_at_stop
from pbrlsvr.retry import (
    AttemptFailed,
    Backoff,
    RetriesExhausted,
    acall_with_retries,
    retry_after_seconds,
    retryable_status,
)

logger = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0
MAX_RETRY_AFTER_S = 120.0


class ServerUnavailableError(PbrlsvrError, ConnectionError):
    """The OpenAI-compatible server cannot be reached or refuses the request; names the URL."""


def normalize_base_url(url: str) -> str:
    """``url`` without a trailing slash, with ``/v1`` added when it has no path."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PbrlsvrError(f"not an http(s) URL: {url!r}")
    path = parts.path.rstrip("/") or "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, "")).rstrip("/")


def _finish(reason: Any) -> FinishReason:
    return "length" if reason in ("length", "max_tokens", "model_length") else "stop"


def _split_tokens(total: int, texts: list[str]) -> list[int]:
    """``total`` split over ``texts`` in proportion to their length, summing to ``total``."""
    if len(texts) == 1:
        return [total]
    weights = [max(len(t), 1) for t in texts]
    shares = [total * w // sum(weights) for w in weights]
    for k in range(total - sum(shares)):
        shares[k % len(shares)] += 1
    return shares


class OpenAIGenerator(Generator):
    """Chat completions from an OpenAI-compatible HTTP server (see the module docstring).

    Args:
        base_url: the API root, e.g. ``http://localhost:8000/v1``.
        model: the ``model`` field of every request (what the server serves).
        api_key_env: the environment variable holding the API key (optional).
        concurrency: requests in flight at most.
        timeout: seconds per request (connect, read, write, pool).
        max_retries: retries after the first attempt, for retryable failures.
        backoff: base delay in seconds of the exponential backoff.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff: float = 0.5,
    ) -> None:
        if not model:
            raise PbrlsvrError("OpenAIGenerator needs a model name (the request's 'model' field)")
        if concurrency < 1 or max_retries < 0 or timeout <= 0 or backoff < 0:
            raise ValueError("concurrency >= 1, max_retries >= 0, timeout > 0 and backoff >= 0 are required")
        self.base_url = normalize_base_url(base_url)
        self.model = model
        self.name = f"{self.base_url}#{model}"
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.__api_key = (os.environ.get(api_key_env) or None) if api_key_env else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._lock = threading.Lock()
        self._pause_until = 0.0  # monotonic time before which no request starts (Retry-After)
        self._server_down = False

    def __repr__(self) -> str:
        return f"OpenAIGenerator({self.base_url!r}, {self.model!r}, api_key_env={self.api_key_env!r})"

    # ---- the private event loop ----------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.__api_key:
            headers["Authorization"] = f"Bearer {self.__api_key}"
        return headers

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name=f"pbrlsvr-openai-{id(self):x}", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    async def _get_client(self) -> Any:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                limits=httpx.Limits(
                    max_connections=self.concurrency, max_keepalive_connections=self.concurrency
                ),
                headers=self._headers(),
            )
        return self._client

    def _run(self, coro: Any, events: queue.Queue[int] | None = None, progress: ProgressFn | None = None):
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("OpenAIGenerator.generate called from its own event-loop thread")
        loop = self._ensure_loop()
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            while True:
                try:
                    result = future.result(timeout=0.05)
                    break
                except concurrent.futures.TimeoutError:
                    pass
                finally:
                    while events is not None and progress is not None:
                        try:
                            progress(events.get_nowait())
                        except queue.Empty:
                            break
        except BaseException:
            future.cancel()
            raise
        return result

    def close(self) -> None:
        """Close the HTTP client and stop the event-loop thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if thread.is_alive():
            if self._client is not None:
                client, self._client = self._client, None
                with contextlib.suppress(Exception):
                    asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(timeout=5)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = None

    def __del__(self) -> None:  # best effort, never blocking: do not leak a thread per generator
        loop = getattr(self, "_loop", None)
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(Exception):
                loop.call_soon_threadsafe(loop.stop)

    # ---- health --------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Ask ``GET {base_url}/models``; return the model ids it lists.

        Raises :class:`ServerUnavailableError` naming the URL when the server cannot be reached,
        times out, rejects the API key or answers with an error status. A served model list
        without :attr:`model` only logs a warning (some servers accept other names).
        """
        return self._run(self._check())

    async def _check(self) -> list[str]:
        import httpx

        url = f"{self.base_url}/models"
        client = await self._get_client()
        try:
            resp = await client.get(url, timeout=min(self.timeout, 10.0))
        except httpx.HTTPError as exc:
            raise ServerUnavailableError(
                f"cannot reach the OpenAI-compatible server at {url}: {type(exc).__name__}: {exc}"
            ) from None
        if resp.status_code in (401, 403):
            key = f"${self.api_key_env} is {'set' if self.__api_key else 'not set'}"
            raise ServerUnavailableError(f"{url} refused the API key (HTTP {resp.status_code}; {key})")
        if resp.status_code >= 400:
            raise ServerUnavailableError(f"{url} answered HTTP {resp.status_code}: {resp.text[:200]}")
        try:
            ids = [str(m.get("id")) for m in resp.json().get("data", [])]
        except (ValueError, AttributeError):
            raise ServerUnavailableError(f"{url} did not answer an OpenAI model list") from None
        if ids and self.model not in ids:
            logger.warning("%s does not list model %r (it serves %s)", self.base_url, self.model, ids)
        return ids

    # ---- generation ----------------------------------------------------------------------------

    def _generate(
        self, conversations: list[list[Message]], settings: SamplingConfig, progress: ProgressFn | None
    ) -> list[list[Generation]]:
        events: queue.Queue[int] = queue.Queue()
        return self._run(self._generate_all(conversations, settings, events), events, progress)

    async def _generate_all(
        self, conversations: list[list[Message]], settings: SamplingConfig, events: queue.Queue[int]
    ) -> list[list[Generation]]:
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(conv: list[Message]) -> list[Generation]:
            try:
                return await self._one_conversation(conv, settings, semaphore)
            finally:
                events.put(1)

        return list(await asyncio.gather(*(one(c) for c in conversations)))

    def _body(self, conv: list[Message], settings: SamplingConfig, n: int, extra: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": conv,
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "n": n,
        }
        if settings.seed is not None:
            body["seed"] = settings.seed + extra
        if settings.stop:
            body["stop"] = list(settings.stop)
        if settings.top_k > 0:
            body["top_k"] = settings.top_k
        return body

    async def _one_conversation(
        self, conv: list[Message], settings: SamplingConfig, semaphore: asyncio.Semaphore
    ) -> list[Generation]:
        gens: list[Generation] = []
        extra = 0
        error: str | None = None
        while len(gens) < settings.n:
            want = settings.n - len(gens)
            try:
                data = await self._post_with_retries(self._body(conv, settings, want, extra), semaphore)
                got = self._parse(data, settings)
            except AttemptFailed as exc:
                error = str(exc)
                break
            if not got:
                error = "the server returned no choices"
                break
            gens.extend(got[:want])
            extra += 1
        while len(gens) < settings.n:
            gens.append(Generation("", 0, 0, "error", error=error))
        return gens

    def _parse(self, data: Any, settings: SamplingConfig) -> list[Generation]:
        try:
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
            texts, reasons = [], []
            for choice in choices:
                content = (choice.get("message") or {}).get("content") or ""
                if not isinstance(content, str):
                    raise TypeError(f"message content is {type(content).__name__}")
                texts.append(content)
                reasons.append(choice.get("finish_reason"))
            usage = data.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            completion = int(usage.get("completion_tokens") or 0)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AttemptFailed(f"malformed chat-completions response: {exc!r}", retryable=False) from None
        if not texts:
            return []
        out = []
        for text, reason, count in zip(texts, reasons, _split_tokens(completion, texts), strict=True):
            cut, hit = truncate_at_stop(text, settings.stop)
            out.append(Generation(cut, prompt_tokens, count, "stop" if hit else _finish(reason)))
        return out

    async def _post_with_retries(self, body: dict[str, Any], semaphore: asyncio.Semaphore) -> Any:
        async def attempt() -> Any:
            pause = self._pause_until - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            async with semaphore:
                data = await self._post(body)
            self._server_down = False
            return data

        def on_failure(exc: AttemptFailed) -> bool:
            if exc.wait is not None:
                self._pause_until = max(self._pause_until, time.monotonic() + exc.wait)
            return not (exc.connection and self._server_down)  # another request found it down

        try:
            return await acall_with_retries(
                attempt,
                retries=0 if self._server_down else self.max_retries,
                backoff=Backoff(self.backoff, MAX_BACKOFF_S, MAX_RETRY_AFTER_S),
                on_failure=on_failure,
            )
        except RetriesExhausted as exc:
            if exc.connection:
                self._server_down = True
            raise

    async def _post(self, body: dict[str, Any]) -> Any:
        import httpx

        url = f"{self.base_url}/chat/completions"
        client = await self._get_client()
        try:
            resp = await client.post(url, json=body)
        except httpx.TimeoutException as exc:
            raise AttemptFailed(
                f"POST {url} timed out after {self.timeout} s ({type(exc).__name__})", retryable=True
            ) from None
        except (httpx.TransportError, OSError) as exc:
            raise AttemptFailed(
                f"cannot reach {url}: {type(exc).__name__}: {exc}", retryable=True, connection=True
            ) from None
        if resp.status_code >= 400:
            detail = resp.text[:300].strip()
            raise AttemptFailed(
                f"POST {url} answered HTTP {resp.status_code}: {detail}",
                retryable=retryable_status(resp.status_code),
                wait=retry_after_seconds(resp.headers.get("retry-after"), MAX_RETRY_AFTER_S),
            )
        try:
            return resp.json()
        except ValueError:
            raise AttemptFailed(
                f"POST {url} answered non-JSON: {resp.text[:200]!r}", retryable=False
            ) from None


register_backend("openai", OpenAIGenerator, schemes=("http", "https"), fragment="model")
