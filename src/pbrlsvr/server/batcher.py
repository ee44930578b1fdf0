"""Dynamic micro-batching: concurrent requests merged into one ``Reward.score_batch`` call.

Requests (on the event loop) put *jobs* (chunks of at most ``max_batch_size`` validated items)
on a thread-safe queue and await one future per job. One worker thread, the only caller of the
reward (which is not async and not meant for concurrent use), takes the first waiting job, then
keeps taking jobs until the batch holds ``max_batch_size`` items or ``max_wait_ms`` has passed with
nothing more arriving, scores them in one call and hands each job its slice of the results.

While the worker is busy, new requests pile up in the queue and are all taken at once next time,
so under load batches form even with ``max_wait_ms = 0``; the wait only matters when the worker
is idle (it trades that much latency for a fuller first batch). A batch that raises is scored
again job by job and item by item, so one item that breaks the reward fails alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pbrlsvr.rewards.reward import RewardItem, RewardResult

log = logging.getLogger("pbrlsvr.server")

Scorer = Callable[[Sequence[RewardItem]], list[RewardResult]]


class Busy(Exception):
    """The queue holds ``max_pending_items`` already: the caller should retry later (HTTP 503)."""


class ItemFailure:
    """Stands in for a result when scoring one item raised (the message says why)."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


@dataclass
class _Job:
    items: list[RewardItem]
    future: asyncio.Future[list[RewardResult | ItemFailure]]
    loop: asyncio.AbstractEventLoop
    enqueued: float = field(default_factory=time.perf_counter)


_STOP = object()


class MicroBatcher:
    """Merge concurrent scoring requests into batches scored by one worker thread.

    Args:
        score: the batch scorer, e.g. ``reward.score_batch`` (items are already validated).
        max_batch_size: most items per call (``1`` disables batching).
        max_wait_ms: how long an idle worker waits for more items after the first job.
        max_pending_items: queued items beyond which :meth:`submit` raises :class:`Busy`.
        on_batch: called as ``on_batch(n_items, seconds)`` after each call (metrics).
    """

    def __init__(
        self,
        score: Scorer,
        *,
        max_batch_size: int = 64,
        max_wait_ms: float = 0.0,
        max_pending_items: int = 16_384,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.score = score
        self.max_batch_size = max_batch_size
        self.max_wait = max(0.0, max_wait_ms) / 1000.0
        self.max_pending_items = max_pending_items
        self.on_batch = on_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._carry: _Job | None = None
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="pbrlsvr-scorer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)
        self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def pending_items(self) -> int:
        return self._pending

    # -- the event-loop side -------------------------------------------------------------------

    async def submit(self, items: Sequence[RewardItem]) -> list[RewardResult | ItemFailure]:
        """Score ``items`` (in order) together with whatever else is queued."""
        if not items:
            return []
        if not self.alive:
            raise RuntimeError("the scoring worker is not running")
        with self._pending_lock:
            if self._pending + len(items) > self.max_pending_items:
                raise Busy(
                    f"{self._pending} items are already waiting (max_pending_items={self.max_pending_items})"
                )
            self._pending += len(items)
        loop = asyncio.get_running_loop()
        jobs = []
        for start in range(0, len(items), self.max_batch_size):
            chunk = list(items[start : start + self.max_batch_size])
            job = _Job(chunk, loop.create_future(), loop)
            jobs.append(job)
            self._queue.put(job)
        out: list[RewardResult | ItemFailure] = []
        for part in await asyncio.gather(*(j.future for j in jobs)):
            out.extend(part)
        return out

    # -- the worker thread ---------------------------------------------------------------------

    def _next(self, timeout: float | None) -> _Job | object | None:
        if self._carry is not None:
            job, self._carry = self._carry, None
            return job
        try:
            if timeout is None:
                return self._queue.get()
            if timeout <= 0:
                return self._queue.get_nowait()
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _collect(self) -> tuple[list[_Job], bool]:
        """The next batch of jobs, and whether a stop was requested."""
        first = self._next(None)
        if first is _STOP:
            return [], True
        assert isinstance(first, _Job)
        batch, n = [first], len(first.items)
        deadline = time.perf_counter() + self.max_wait
        while n < self.max_batch_size:
            job = self._next(deadline - time.perf_counter())
            if job is None:
                break
            if job is _STOP:
                return batch, True
            assert isinstance(job, _Job)
            if n + len(job.items) > self.max_batch_size:
                self._carry = job  # a job never exceeds max_batch_size, so it leads the next batch
                break
            batch.append(job)
            n += len(job.items)
        return batch, False

    def _run(self) -> None:
        stop = False
        while not stop:
            try:
                batch, stop = self._collect()
                if batch:
                    self._score(batch)
            except Exception:  # the worker must outlive anything a batch does
                log.exception("scoring worker: unexpected error (continuing)")
        leftover = [self._carry] if self._carry is not None else []
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, _Job):
                leftover.append(job)
        for job in leftover:
            self._deliver(job, RuntimeError("the server is shutting down"))

    def _score(self, batch: list[_Job]) -> None:
        items = [it for job in batch for it in job.items]
        t0 = time.perf_counter()
        try:
            results: list[RewardResult | ItemFailure] = list(self.score(items))
            if len(results) != len(items):
                raise RuntimeError(f"the scorer returned {len(results)} results for {len(items)} items")
        except Exception as exc:
            log.warning("a batch of %d items failed (%s); scoring its items one by one", len(items), exc)
            results = [self._score_one(it) for it in items]
        seconds = time.perf_counter() - t0
        self.batches += 1
        if self.on_batch is not None:
            try:
                self.on_batch(len(items), seconds)
            except Exception:
                log.exception("on_batch callback failed")
        start = 0
        for job in batch:
            self._deliver(job, results[start : start + len(job.items)])
            start += len(job.items)

    def _score_one(self, item: RewardItem) -> RewardResult | ItemFailure:
        try:
            return self.score([item])[0]
        except Exception as exc:
            log.exception("scoring one item failed")
            return ItemFailure(f"internal error while scoring this item: {type(exc).__name__}: {exc}")

    def _deliver(self, job: _Job, outcome: list[RewardResult | ItemFailure] | BaseException) -> None:
        with self._pending_lock:
            self._pending -= len(job.items)

        def settle() -> None:
            if job.future.done():  # the request was cancelled (client went away)
                return
            if isinstance(outcome, BaseException):
                job.future.set_exception(outcome)
            else:
                job.future.set_result(outcome)

        with contextlib.suppress(RuntimeError):  # a closed event loop: nobody is waiting any more
            job.loop.call_soon_threadsafe(settle)
