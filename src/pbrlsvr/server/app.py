"""The reward service: FastAPI on uvicorn, one reward, one scoring thread, micro-batched.

Endpoints:

* ``POST /score``: ``{"items": [{"response", "lang", "reference", "reference_answer"?, "gold"?,
  "question"?, "id"?, ...}, ...]}`` → ``{"results": [{"reward", "components", "gate", "answer"?,
  "note"?, "id"?} | {"error": "..."}, ...]}`` in input order. An item that cannot be scored gets
  ``{"error"}`` in its place and the others are scored (200); when *no* item can be scored the
  request fails with 422 and ``errors`` lists each item's reason. ``id`` is echoed when given.
  Text with a NUL or a lone surrogate is such an item error (it cannot be tokenized or encoded).
* ``POST /get_reward``: OpenRLHF's remote reward protocol (see :mod:`pbrlsvr.server.openrlhf`): a
  sample that cannot be scored gets reward 0 and ``unscored`` 1 in a 200 answer, its reason in
  ``errors`` and in this service's log. OpenRLHF sends no ``Authorization`` header: serve it
  without ``token_env`` on a loopback or private interface, or put the token on a proxy.
* ``GET /health``: ``{"status": "ok", ...}`` (503 when the scoring thread is gone).
* ``GET /metrics``: Prometheus text (see :mod:`pbrlsvr.server.metrics`).

Errors are JSON ``{"detail": "<what is wrong>"}``: 400 body is not UTF-8 or not strict JSON (NaN,
Infinity, out-of-range numbers and duplicate keys are refused), 401 missing or
wrong bearer token (when ``token_env`` is set), 413 body over ``max_body_bytes`` or more than
``max_items`` items, 422 the JSON has the wrong shape or no item can be scored, 503 the queue is
full (``Retry-After``), 500 a bug. No input stops the server. ``/health`` and ``/metrics`` need
no token.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from pbrlsvr.io_checks import loads_strict
from pbrlsvr.rewards.reward import Reward, RewardItem, RewardResult
from pbrlsvr.server import openrlhf
from pbrlsvr.server.batcher import Busy, ItemFailure, MicroBatcher
from pbrlsvr.server.config import ServeConfig
from pbrlsvr.server.metrics import Metrics, server_metrics

log = logging.getLogger("pbrlsvr.server")

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_MAX_LISTED_ERRORS = 20


class HTTPError(Exception):
    """A request the service refuses: status code, message, and the ``errors_total`` reason."""

    def __init__(self, status: int, detail: str, reason: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.reason = reason
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, **self.extra}

    def headers(self) -> dict[str, str]:
        if self.status == 401:
            return {"WWW-Authenticate": "Bearer"}
        if self.status == 503:
            return {"Retry-After": "1"}
        return {}


class SafeJSONResponse(JSONResponse):
    """JSON as Starlette writes it, except that text that cannot be UTF-8 encoded (a lone surrogate
    in an echoed ``id``) is written ``\\u``-escaped instead of failing the whole response."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode(
                "ascii"
            )


class ScoringService:
    """The request handling behind the app: validation, batching, metrics."""

    def __init__(self, cfg: ServeConfig, reward: Reward, token: str | None) -> None:
        self.cfg = cfg
        self.reward = reward
        self.token = token
        self.batcher = MicroBatcher(
            reward.score_batch,
            max_batch_size=cfg.max_batch_size,
            max_wait_ms=cfg.max_wait_ms,
            max_pending_items=cfg.max_pending_items,
            on_batch=self._on_batch,
        )
        self.metrics: Metrics = server_metrics(lambda: self.batcher.pending_items)
        self.trailing = (
            openrlhf.trailing_tokens(cfg.openrlhf.special_tokens)
            if cfg.openrlhf.strip_special_tokens
            else None
        )
        self.started = time.time()

    def _on_batch(self, n: int, seconds: float) -> None:
        self.metrics.observe("batch_size", n)
        self.metrics.observe("batch_duration_seconds", seconds)

    # -- shared steps --------------------------------------------------------------------------

    def check_token(self, request: Request) -> None:
        if self.token is None:
            return
        header = request.headers.get("authorization")
        if not header:
            raise HTTPError(
                401, "missing bearer token: send the header 'Authorization: Bearer <token>'", "unauthorized"
            )
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), self.token.encode()):
            raise HTTPError(401, "invalid bearer token", "unauthorized")

    async def read_json(self, request: Request) -> Any:
        limit = self.cfg.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                raise HTTPError(400, f"invalid Content-Length header {declared!r}", "bad_request") from None
            if size > limit:
                raise HTTPError(
                    413, f"request body is {size} bytes; the limit is {limit} (max_body_bytes)", "too_large"
                )
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPError(413, f"request body is over {limit} bytes (max_body_bytes)", "too_large")
            chunks.append(chunk)
        raw = b"".join(chunks)
        if not raw.strip():
            raise HTTPError(400, "empty request body; expected JSON", "bad_json")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise HTTPError(400, f"request body is not valid UTF-8 (byte {exc.start})", "bad_json") from None
        try:
            # Strict, as `pbrlsvr score` reads lines: NaN/Infinity, out-of-range numbers and
            # duplicate keys are refused (Python's json would take them and answer with invalid JSON).
            return loads_strict(text)
        except ValueError as exc:
            raise HTTPError(400, str(exc), "bad_json") from None

    def validate(self, data: Any) -> RewardItem:
        item = RewardItem.from_mapping(data)
        self.reward.check_item(item)
        return item

    async def score_items(self, items: list[RewardItem]) -> list[RewardResult | ItemFailure]:
        try:
            return await self.batcher.submit(items)
        except Busy as exc:
            raise HTTPError(503, f"server busy: {exc}; retry later", "busy") from None
        except RuntimeError as exc:
            raise HTTPError(503, f"cannot score now: {exc}", "unavailable") from None

    async def handle(self, endpoint: str, request: Request, work: Any) -> Response:
        """Run ``work(request)`` with auth, error mapping and metrics around it."""
        t0 = time.perf_counter()
        headers: dict[str, str] = {}
        try:
            self.check_token(request)
            status, payload = 200, await work(request)
        except HTTPError as exc:
            status, payload, headers = exc.status, exc.body(), exc.headers()
            self.metrics.inc("errors_total", endpoint=endpoint, reason=exc.reason)
        except Exception as exc:  # a bug: answer 500, keep serving
            log.exception("%s: internal error", endpoint)
            status, payload = 500, {"detail": f"internal error: {type(exc).__name__}: {exc}"}
            self.metrics.inc("errors_total", endpoint=endpoint, reason="internal")
        self.metrics.inc("requests_total", endpoint=endpoint, status=str(status))
        self.metrics.observe("request_duration_seconds", time.perf_counter() - t0, endpoint=endpoint)
        return SafeJSONResponse(payload, status_code=status, headers=headers)

    # -- POST /score ---------------------------------------------------------------------------

    async def score(self, request: Request) -> dict[str, Any]:
        body = await self.read_json(request)
        if not isinstance(body, dict):
            raise HTTPError(
                422, f'expected a JSON object {{"items": [...]}}, got {_json_type(body)}', "invalid"
            )
        if "items" not in body:
            raise HTTPError(422, "missing field 'items' (a list of items to score)", "invalid")
        raw_items = body["items"]
        if not isinstance(raw_items, list):
            raise HTTPError(
                422, f"field 'items' must be a list of objects, got {_json_type(raw_items)}", "invalid"
            )
        n = len(raw_items)
        if n > self.cfg.max_items:
            raise HTTPError(
                413, f"{n} items in one request; the limit is {self.cfg.max_items} (max_items)", "too_large"
            )
        self.metrics.inc("items_total", n, endpoint="/score")
        valid: list[RewardItem] = []
        errors: list[str | None] = []
        for data in raw_items:
            try:
                valid.append(self.validate(data))
                errors.append(None)
            except ValueError as exc:
                errors.append(str(exc))
        bad = [(i, e) for i, e in enumerate(errors) if e is not None]
        if bad:
            self.metrics.inc("item_errors_total", len(bad), endpoint="/score")
            self.metrics.inc("errors_total", len(bad), endpoint="/score", reason="item")
        if n and not valid:
            raise HTTPError(
                422,
                "no item could be scored: "
                + "; ".join(f"item {i}: {e}" for i, e in bad[:_MAX_LISTED_ERRORS]),
                "invalid",
                errors=[{"index": i, "error": e} for i, e in bad],
            )
        scored = iter(await self.score_items(valid))
        results: list[dict[str, Any]] = []
        failures = 0
        for data, error in zip(raw_items, errors, strict=True):
            if error is not None:
                out: dict[str, Any] = {"error": error}
            else:
                res = next(scored)
                if isinstance(res, ItemFailure):
                    failures += 1
                    out = {"error": res.message}
                else:
                    out = res.to_dict()
            if isinstance(data, dict) and "id" in data:
                out["id"] = data["id"]
            results.append(out)
        if failures:
            self.metrics.inc("item_errors_total", failures, endpoint="/score")
            self.metrics.inc("errors_total", failures, endpoint="/score", reason="internal")
        return {"results": results}

    # -- POST /get_reward (OpenRLHF) -----------------------------------------------------------

    async def get_reward(self, request: Request) -> dict[str, Any]:
        body = await self.read_json(request)
        try:
            queries, prompts, labels = openrlhf.parse_request(body, self.cfg.max_items)
        except OverflowError as exc:
            raise HTTPError(413, str(exc), "too_large") from None
        except ValueError as exc:
            raise HTTPError(422, str(exc), "invalid") from None
        self.metrics.inc("items_total", len(queries), endpoint="/get_reward")
        items, errors, unmatched = openrlhf.build_items(queries, prompts, labels, self.trailing, self.reward)
        if unmatched:
            self.metrics.inc("openrlhf_prompt_unmatched_total", unmatched)
        checked = [item for item in items if item is not None]
        scored = iter(await self.score_items(checked))
        results: list[RewardResult | None] = []
        for i, item in enumerate(items):
            res = next(scored) if item is not None else None
            if isinstance(res, ItemFailure):  # a scorer error on this item: logged by the batcher
                errors[i], res = f"query[{i}]: scoring failed: {res.message}", None
            results.append(res)
        bad = [(i, e) for i, e in enumerate(errors) if e is not None]
        if bad:
            # OpenRLHF retries a failed request 5 times and then leaves the reward None (training
            # dies later, far from the cause), so an unscorable sample is answered with reward 0
            # and `unscored` 1; this log line is where a person finds which sample and why.
            self.metrics.inc("item_errors_total", len(bad), endpoint="/get_reward")
            self.metrics.inc("errors_total", len(bad), endpoint="/get_reward", reason="item")
            for i, error in bad[:_MAX_LISTED_ERRORS]:
                log.warning(
                    "/get_reward: sample %d of %d (%s) scored 0, not scorable: %s",
                    i,
                    len(queries),
                    openrlhf.describe(labels[i], prompts[i]),
                    error,
                )
        return openrlhf.build_response(results, errors, openrlhf.component_names(self.reward))

    # -- GET /health ---------------------------------------------------------------------------

    def health(self) -> tuple[int, dict[str, Any]]:
        alive = self.batcher.alive
        sem = self.reward.semantic
        lang = self.reward.language
        info = {
            "status": "ok" if alive else "unavailable",
            "worker_alive": alive,
            "encoder": sem.encoder.name if sem is not None else None,
            "components": sorted(self.reward.weights),
            "langs": list(lang.candidates) if lang is not None else None,
            "max_batch_size": self.cfg.max_batch_size,
            "max_wait_ms": self.cfg.max_wait_ms,
            "pending_items": self.batcher.pending_items,
            "batches": self.batcher.batches,
            "uptime_s": round(time.time() - self.started, 1),
            "auth": self.token is not None,
        }
        return (200 if alive else 503), info


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def create_app(
    cfg: ServeConfig | None = None, *, reward: Reward | None = None, token: str | None = None
) -> FastAPI:
    """The FastAPI app. ``reward`` defaults to ``Reward(cfg.reward)`` built now (errors surface
    before any port is bound); ``token`` defaults to ``cfg.resolve_token()``."""
    cfg = cfg if cfg is not None else ServeConfig()
    if token is None:
        token = cfg.resolve_token()
    if reward is None:
        reward = Reward(cfg.reward)
    service = ScoringService(cfg, reward, token)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.batcher.start()
        try:
            yield
        finally:
            service.batcher.stop()

    app = FastAPI(
        title="pbrlsvr reward service",
        summary="The PB-RLSVR reward over HTTP, micro-batched (TRL, verl, OpenRLHF).",
        lifespan=lifespan,
    )
    app.state.service = service

    @app.post("/score")
    async def score(request: Request) -> Response:
        """Score items: {"items": [{response, lang, reference, ...}]} → {"results": [...]}."""
        return await service.handle("/score", request, service.score)

    @app.post("/get_reward")
    async def get_reward(request: Request) -> Response:
        """OpenRLHF: {"query", "prompts", "labels"} → {"rewards", "scores", "extra_logs"}."""
        return await service.handle("/get_reward", request, service.get_reward)

    @app.get("/health")
    async def health() -> Response:
        status, info = service.health()
        return JSONResponse(info, status_code=status)

    @app.get("/metrics")
    async def metrics() -> Response:
        return PlainTextResponse(service.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    return app


def build_reward(cfg: ServeConfig) -> Reward:
    """The service's reward: ``Reward(cfg.reward)``, after applying ``torch_threads``."""
    if cfg.torch_threads is not None:
        import torch

        torch.set_num_threads(cfg.torch_threads)
    return Reward(cfg.reward)


def run_server(cfg: ServeConfig, *, reward: Reward | None = None, load_seconds: float | None = None) -> None:
    """Load the reward once (unless given), then serve until interrupted (``pbrlsvr serve``)."""
    import uvicorn

    t0 = time.perf_counter()
    if reward is None:
        reward = build_reward(cfg)
        load_seconds = time.perf_counter() - t0
    app = create_app(cfg, reward=reward)
    service: ScoringService = app.state.service
    config = uvicorn.Config(
        app, host=cfg.host, port=cfg.port, log_level=cfg.log_level, access_log=cfg.access_log
    )  # configures uvicorn's loggers
    sem = service.reward.semantic
    logging.getLogger("uvicorn.error").info(
        "pbrlsvr: reward loaded in %.1f s (encoder %s; components %s); max_batch_size %d, max_wait_ms %g, "
        "auth %s",
        load_seconds or 0.0,
        sem.encoder.name if sem is not None else "none",
        ", ".join(sorted(service.reward.weights)),
        cfg.max_batch_size,
        cfg.max_wait_ms,
        "on" if service.token else "off",
    )
    uvicorn.Server(config).run()
