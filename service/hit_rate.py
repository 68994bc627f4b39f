"""Online hit rate per model version: did the user's next interaction land in the list we served them?

For a sample of ``/recommend`` answers to a stored user (``user_id``; explicit histories name nobody), the
service remembers the list, the model version and when it was served: the latest answer per user, at
most ``capacity`` users (the least recently served forgotten first). The user's next event that arrives
through ``POST /events`` within ``horizon_s`` of the answer judges that list once: a hit when its item
was in it. Counts per version (served, judged, hits) are in ``/metrics`` and ``GET /models``. Clocks are
the server's own (arrival time), not the events' timestamps. Per process: with several replicas, sum
their counters.
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

__all__ = ["HitRate", "VersionCounts"]


@dataclass
class VersionCounts:
    served: int = 0  # lists remembered
    judged: int = 0  # lists a later event judged
    hits: int = 0  # judged lists that held the event's item

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.judged if self.judged else None


@dataclass(frozen=True)
class _Served:
    version: str
    items: frozenset[str]
    at: float


class HitRate:
    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        sample_rate: float = 1.0,
        horizon_s: float = 86_400.0,
        capacity: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.sample_rate, self.horizon_s, self.capacity = sample_rate, horizon_s, capacity
        self._clock, self._draw = clock, draw
        self._pending: OrderedDict[str, _Served] = OrderedDict()  # user -> their latest sampled list
        self._counts: dict[str, VersionCounts] = {}
        labels = ["version"]
        self._served = Counter("steadyrec_online_served_total", "Served lists remembered", labels, registry=registry)
        self._judged = Counter(
            "steadyrec_online_judged_total", "Served lists judged by a later event", labels, registry=registry
        )
        self._hits = Counter(
            "steadyrec_online_hits_total", "Judged lists holding the event's item", labels, registry=registry
        )

    def served(self, user: str, items: Iterable[str], version: str) -> None:
        """Remember the list ``version`` served ``user`` (when sampled); it replaces the user's earlier one."""
        if self.sample_rate < 1.0 and self._draw() >= self.sample_rate:
            return
        self._pending.pop(user, None)
        self._pending[user] = _Served(version, frozenset(items), self._clock())
        while len(self._pending) > self.capacity:
            self._pending.popitem(last=False)
        self._counts.setdefault(version, VersionCounts()).served += 1
        self._served.labels(version).inc()

    def interacted(self, user: str, item: str) -> None:
        """A new event of ``user``: it judges the list served to them, if one is pending within the horizon."""
        served = self._pending.pop(user, None)
        if served is None or self._clock() - served.at > self.horizon_s:
            return
        counts = self._counts.setdefault(served.version, VersionCounts())
        counts.judged += 1
        self._judged.labels(served.version).inc()
        if item in served.items:
            counts.hits += 1
            self._hits.labels(served.version).inc()

    def counts(self, version: str) -> VersionCounts:
        return self._counts.get(version, VersionCounts())
