"""A fake OpenAI-compatible chat-completions server on loopback, for the HTTP generation tests.

It answers deterministically (an echo of the last user message, so tests run fast and know the
text to expect) and can be told to misbehave:

- ``fail_first=K, fail_status=429|500, retry_after="0.2"``: the first K requests get that status;
- ``fail_when="word"``: every request whose last message contains ``word`` gets ``fail_status``;
- ``delay``: seconds each request takes (so concurrency shows up as requests in flight);
- ``max_choices``: answer at most this many choices whatever ``n`` asks (like llama.cpp);
- ``max_in_flight`` / ``requests`` / ``bodies`` / ``auth``: what the client did.

The reply to user text ``t`` for choice ``i`` is ``"echo: t"`` plus ``" #i"`` when ``n > 1`` or a
seed other than the first was asked for; ``max_tokens`` cuts it by words (``finish_reason`` then
``"length"``), ``stop`` strings cut it like OpenAI does. Tokens are counted as whitespace words.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

MODEL = "fake-model"


@dataclass
class FakeState:
    fail_first: int = 0
    fail_status: int = 500
    retry_after: str | None = None
    fail_when: str | None = None
    delay: float = 0.0
    max_choices: int | None = None
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)
    arrival: list[float] = field(default_factory=list)


def _words(text: str) -> list[str]:
    return text.split()


def _reply(text: str, max_tokens: int, stop: list[str]) -> tuple[str, str]:
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=-1)
    if cut >= 0:
        text = text[:cut]
    words = _words(text)
    if len(words) > max_tokens:
        return " ".join(words[:max_tokens]), "length"
    return text, "stop"


def make_app(state: FakeState) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL, "object": "model"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        state.requests += 1
        number = state.requests
        state.bodies.append(body)
        state.auth.append(request.headers.get("authorization"))
        state.arrival.append(time.monotonic())
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            if state.delay:
                await asyncio.sleep(state.delay)
            last = body["messages"][-1]["content"]
            if number <= state.fail_first or (state.fail_when and state.fail_when in last):
                headers = {"Retry-After": state.retry_after} if state.retry_after else {}
                return JSONResponse(
                    {"error": {"message": f"injected failure {state.fail_status}"}},
                    status_code=state.fail_status,
                    headers=headers,
                )
            n = int(body.get("n", 1))
            if state.max_choices is not None:
                n = min(n, state.max_choices)
            first = body.get("seed") in (None, 0)
            stop = body.get("stop") or []
            stop = [stop] if isinstance(stop, str) else stop
            choices, completion = [], 0
            for i in range(n):
                suffix = f" #{i}" if n > 1 or not first else ""
                seed_tag = "" if first else f" s{body.get('seed')}"
                text, reason = _reply(f"echo: {last}{suffix}{seed_tag}", int(body["max_tokens"]), stop)
                completion += len(_words(text))
                choices.append(
                    {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": reason}
                )
            prompt = sum(len(_words(m["content"])) for m in body["messages"])
            return {
                "id": f"chatcmpl-{number}",
                "object": "chat.completion",
                "model": body["model"],
                "choices": choices,
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        finally:
            state.in_flight -= 1

    return app


class FakeOpenAIServer:
    """The app served by uvicorn in a daemon thread on 127.0.0.1, on a port the OS picks."""

    def __init__(self) -> None:
        self.state = FakeState()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        config = uvicorn.Config(make_app(self.state), log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def reset(self) -> FakeState:
        """Forget counters and failure settings (the server keeps running)."""
        fresh = FakeState()
        for name in fresh.__dataclass_fields__:
            setattr(self.state, name, getattr(fresh, name))
        return self.state

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


def free_port() -> int:
    """A loopback port with nothing listening on it (for the dead-server tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
