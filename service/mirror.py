"""Shadow mirroring: a sample of live /recommend requests is also scored by the candidate, off the
request path. The request only draws a random number and, when sampled, puts the pair on a bounded
queue without waiting; when the queue is full the sample is dropped and counted, so /recommend latency
never depends on the candidate. A background task scores each sample, compares the two top-K lists
(RBO_ext, Jaccard@K), updates Prometheus metrics and logs the pair under its candidate
(steadyrec.core.shadow_pairs), where a job's shadow gate reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

import numpy as np

from service.metrics import Metrics
from service.registry import ModelRegistry
from steadyrec.core.canary import compare
from steadyrec.core.history import History
from steadyrec.core.shadow_pairs import PairLog

__all__ = ["ShadowMirror"]

log = logging.getLogger(__name__)


class ShadowMirror:
    def __init__(
        self, registry: ModelRegistry, metrics: Metrics, pairs: PairLog, sample_rate: float, queue_size: int
    ) -> None:
        self.registry, self.metrics, self.pairs = registry, metrics, pairs
        self.sample_rate = sample_rate
        self.queue: asyncio.Queue[tuple[History, list[str], str, int]] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None
        self._sums = np.zeros(3)  # count, sum of RBO, sum of Jaccard

    def start(self) -> None:
        if self.sample_rate > 0:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="shadow-mirror")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def wants_sample(self) -> bool:
        """Called on the request path first, so unsampled requests build nothing for the mirror."""
        return (
            self.sample_rate > 0 and random.random() < self.sample_rate and self.registry.get("candidate") is not None
        )

    def offer(self, history: History, live_items: list[str], live_version: str, k: int) -> None:
        """Queue a sampled pair: never blocks, never raises; a full queue drops it and counts the drop."""
        copied = History(list(history.items), None if history.times is None else list(history.times))
        try:
            self.queue.put_nowait((copied, live_items, live_version, k))
        except asyncio.QueueFull:
            self.metrics.shadow_dropped.inc()

    async def _run(self) -> None:
        while True:
            history, live_items, live_version, k = await self.queue.get()
            candidate = self.registry.get("candidate")
            live = self.registry.get("live")
            if candidate is None or live is None or live.version != live_version:
                continue  # the models changed since the request: the pair would compare the wrong lists
            try:
                result = await asyncio.to_thread(compare, live, candidate, [history], k, 0.9)
                rbo, jac = float(result.rbo[0]), float(result.jaccard[0])
                pair = {
                    "at": time.time(),
                    "live": live.version,
                    "candidate": candidate.version,
                    "history": history.items,
                    "times": history.times,
                    "live_items": live_items,
                    "rbo": rbo,
                    "jaccard": jac,
                }
                await asyncio.to_thread(self.pairs.append, pair)  # logged first: the metrics count logged pairs
                self._sums += (1.0, rbo, jac)
                self.metrics.shadow_mirrored.inc()
                self.metrics.shadow_rbo.set(self._sums[1] / self._sums[0])
                self.metrics.shadow_jaccard.set(self._sums[2] / self._sums[0])
            except Exception:  # a failing candidate must not stop the mirror
                log.exception("shadow scoring failed")
