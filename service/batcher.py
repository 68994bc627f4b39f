"""Micro-batching: concurrent requests share one ONNX Runtime call.

Requests wait in a queue that one dedicated inference thread drains: it takes whatever is queued (up to
``max_batch_size``, waiting at most ``max_wait_ms`` for more when the batch is not full), groups it by
model version, runs each group as one call, and hands the rows back to the event loop in one callback
per group. The event loop never runs a model. At low load a request runs at once (no idle wait by
default); under load, requests that arrive during a call form the next batch.

A request either wants every item's score (``score``) or, on a graph with its own top-K, the best ``k``
with some items left out (``top``); the two kinds run as separate calls, each group's ``k`` the largest
asked and its exclusion lists padded with 0.

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
from typing import Any

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
    future: asyncio.Future[Any]
    k: int = 0  # 0: every item's score; else the graph's top k
    exclude: np.ndarray | None = None  # (E,) int64 internal ids the top k leaves out
    queued_at: float = field(default_factory=time.perf_counter)


def _deliver(group: list[_Pending], rows: list[Any]) -> None:
    """On the event loop: each request gets its row (scores, or its top k's ids and scores)."""
    for item, row in zip(group, rows, strict=True):
        if not item.future.done():  # the client may have gone
            item.future.set_result(row)


def _fail(group: list[_Pending], err: BaseException) -> None:
    for item in group:
        if not item.future.done():
            item.future.set_exception(err)


def _check_rows(model: LoadedModel, got: int, asked: int) -> None:
    if got != asked:
        raise RuntimeError(f"model {model.version} returned {got} rows for {asked}")


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
        row: np.ndarray = await self._enqueue(_Pending(model, history, times, self._future()))
        return row

    async def top(
        self, model: LoadedModel, history: np.ndarray, times: np.ndarray | None, k: int, exclude: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The graph's top ``k`` (1 <= k <= n_items) for one history, ``exclude`` (E,) internal ids left out:
        internal ids (k,) best first and their scores (k,), -inf where fewer than k were left."""
        best: tuple[np.ndarray, np.ndarray] = await self._enqueue(
            _Pending(model, history, times, self._future(), k, exclude)
        )
        return best

    def _future(self) -> asyncio.Future[Any]:
        if self._loop is None or self._stopping:
            raise NotReady("the service is not running (starting up or shutting down)")
        return self._loop.create_future()

    async def _enqueue(self, pending: _Pending) -> Any:
        with self._ready:
            self._queue.append(pending)
            self._ready.notify()
        return await pending.future

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
            groups: dict[tuple[int, bool], list[_Pending]] = {}
            for item in batch:
                if not item.future.cancelled():  # a read of the future's state only
                    groups.setdefault((id(item.model), item.k > 0), []).append(item)
            for group in groups.values():
                try:
                    rows = self._call(group, started)
                except Exception as err:  # the group's requests fail; the thread, and every later batch, go on
                    self._loop.call_soon_threadsafe(_fail, group, err)
                else:
                    self._loop.call_soon_threadsafe(_deliver, group, rows)

    def _call(self, group: list[_Pending], started: float) -> list[Any]:
        """One ONNX Runtime call for a group of one model version and one kind: (B, max_len) -> B rows, each
        (n_items,) scores or the pair (ids (k,), scores (k,)) of a top-k request."""
        for item in group:
            self.metrics.queue_wait.observe(started - item.queued_at)
        histories = np.stack([item.history for item in group])  # (B, max_len)
        model = group[0].model
        times = np.stack([item.times for item in group]) if model.uses_time else None  # type: ignore[misc]
        t0 = time.perf_counter()
        rows: list[Any]
        if group[0].k:
            k = max(item.k for item in group)
            lists = [item.exclude if item.exclude is not None else np.zeros(0, np.int64) for item in group]
            exclude = np.zeros((len(group), max(max(map(len, lists)), 1)), np.int64)  # (B, E), 0 = none
            for row, ids_out in enumerate(lists):
                exclude[row, : len(ids_out)] = ids_out
            ids, scores = model.top(histories, times, k, exclude)  # (B, k) each
            _check_rows(model, len(ids), len(group))
            rows = [(ids[r, : item.k], scores[r, : item.k]) for r, item in enumerate(group)]
        else:
            full = model.score(histories, times)  # (B, n_items)
            _check_rows(model, len(full), len(group))
            rows = list(full)
        self.metrics.inference.observe(time.perf_counter() - t0)
        self.metrics.batch_size.observe(len(group))
        return rows
