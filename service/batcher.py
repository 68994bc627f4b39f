"""Micro-batching: concurrent requests share one ONNX Runtime call.

Requests wait in a queue; one worker task takes whatever is queued (up to ``max_batch_size``, waiting at
most ``max_wait_ms`` for more when the batch is not full), groups it by model version, and runs each
group as one call in a dedicated inference thread, off the event loop. At low load a request runs at
once (no idle wait by default); under load, requests that arrive during a call form the next batch.
The batcher knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from service.inference import LoadedModel
from service.metrics import Metrics

__all__ = ["MicroBatcher"]


@dataclass
class _Pending:
    model: LoadedModel
    history: np.ndarray  # (max_len,) int64
    future: asyncio.Future[np.ndarray]
    queued_at: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    def __init__(self, metrics: Metrics, max_batch_size: int = 32, max_wait_ms: float = 0.0) -> None:
        self.metrics = metrics
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)

    async def score(self, model: LoadedModel, history: np.ndarray) -> np.ndarray:
        """Scores of all items for one left-padded history: (max_len,) -> (n_items,)."""
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(model, history, future))
        return await future

    async def _gather(self) -> list[_Pending]:
        batch = [await self._queue.get()]
        deadline = time.perf_counter() + self.max_wait_s
        while len(batch) < self.max_batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            started = time.perf_counter()
            groups: dict[int, list[_Pending]] = {}
            for item in batch:
                if not item.future.cancelled():
                    groups.setdefault(id(item.model), []).append(item)
            for group in groups.values():
                for item in group:
                    self.metrics.queue_wait.observe(started - item.queued_at)
                histories = np.stack([item.history for item in group])  # (B, max_len)
                t0 = time.perf_counter()
                try:
                    scores = await loop.run_in_executor(self._executor, group[0].model.score, histories)
                except Exception as err:
                    for item in group:
                        if not item.future.done():
                            item.future.set_exception(err)
                    continue
                self.metrics.inference.observe(time.perf_counter() - t0)
                self.metrics.batch_size.observe(len(group))
                for item, row in zip(group, scores, strict=True):
                    if not item.future.done():
                        item.future.set_result(row)
