"""Micro-batching: concurrent requests share one ONNX Runtime call.

Requests wait in a queue that one dedicated inference thread drains: it takes whatever is queued (up to
``max_batch_size``, waiting at most ``max_wait_ms`` for more when the batch is not full), groups it by
model version, runs each group as one call, and hands the rows back to the event loop in one callback
per group. The event loop never runs a model. At low load a request runs at once (no idle wait by
default); under load, requests that arrive during a call form the next batch.

The thread is the batcher (rather than an asyncio task handing batches to an executor): a request then
costs one wake-up of the thread and one of the loop, with no task turns or executor futures between
them, which is most of what a request adds to a sub-millisecond call. The batcher knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from service.errors import NotReady
from service.metrics import Metrics
from steadyrec.core.onnx_model import LoadedModel

__all__ = ["MicroBatcher"]


@dataclass
class _Pending:
    model: LoadedModel
    history: np.ndarray  # (max_len,) int64
    times: np.ndarray | None  # (max_len,) int64 seconds, for a time-aware model
    future: asyncio.Future[np.ndarray]
    queued_at: float = field(default_factory=time.perf_counter)


def _deliver(group: list[_Pending], scores: np.ndarray) -> None:
    """On the event loop: each request gets its row (B, n_items) -> (n_items,)."""
    for item, row in zip(group, scores, strict=True):
        if not item.future.done():  # the client may have gone
            item.future.set_result(row)


def _fail(group: list[_Pending], err: BaseException) -> None:
    for item in group:
        if not item.future.done():
            item.future.set_exception(err)


class MicroBatcher:
    def __init__(self, metrics: Metrics, max_batch_size: int = 32, max_wait_ms: float = 0.0) -> None:
        self.metrics = metrics
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self._queue: deque[_Pending] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        with self._ready:
            self._stopping = True
            self._ready.notify()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        _fail(list(self._queue), NotReady("the service is shutting down"))
        self._queue.clear()

    async def score(self, model: LoadedModel, history: np.ndarray, times: np.ndarray | None = None) -> np.ndarray:
        """Scores of all items for one left-padded history (and its (max_len,) timestamps, for a time-aware
        model): (max_len,) -> (n_items,), a row the caller owns."""
        if self._loop is None or self._stopping:
            raise NotReady("the service is not running (starting up or shutting down)")
        future: asyncio.Future[np.ndarray] = self._loop.create_future()
        with self._ready:
            self._queue.append(_Pending(model, history, times, future))
            self._ready.notify()
        return await future

    def _take(self) -> list[_Pending] | None:
        """Block until requests are queued; the next batch, or None when stopping (inference thread)."""
        with self._ready:
            while not self._queue and not self._stopping:
                self._ready.wait()
            if self._stopping:
                return None
            deadline = time.perf_counter() + self.max_wait_s
            while (
                len(self._queue) < self.max_batch_size
                and not self._stopping
                and (remaining := deadline - time.perf_counter()) > 0
            ):
                self._ready.wait(remaining)
            return [self._queue.popleft() for _ in range(min(self.max_batch_size, len(self._queue)))]

    def _run(self) -> None:
        assert self._loop is not None  # set by start() before the thread exists
        while (batch := self._take()) is not None:
            started = time.perf_counter()
            groups: dict[int, list[_Pending]] = {}
            for item in batch:
                if not item.future.cancelled():  # a read of the future's state only
                    groups.setdefault(id(item.model), []).append(item)
            for group in groups.values():
                try:
                    scores = self._call(group, started)
                except Exception as err:  # the group's requests fail; the thread, and every later batch, go on
                    self._loop.call_soon_threadsafe(_fail, group, err)
                else:
                    self._loop.call_soon_threadsafe(_deliver, group, scores)

    def _call(self, group: list[_Pending], started: float) -> np.ndarray:
        """One ONNX Runtime call for a group of one model version: (B, max_len) -> (B, n_items)."""
        for item in group:
            self.metrics.queue_wait.observe(started - item.queued_at)
        histories = np.stack([item.history for item in group])  # (B, max_len)
        model = group[0].model
        times = np.stack([item.times for item in group]) if model.uses_time else None  # type: ignore[misc]
        t0 = time.perf_counter()
        scores = model.score(histories, times)  # (B, n_items)
        if len(scores) != len(group):
            raise RuntimeError(f"model {group[0].model.version} returned {len(scores)} rows for {len(group)}")
        self.metrics.inference.observe(time.perf_counter() - t0)
        self.metrics.batch_size.observe(len(group))
        return scores
