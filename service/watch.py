"""Watch a model after a job promoted it, and roll it back on its own when it serves worse.

A job with ``promote_if_passed`` and a ``watch`` policy records both in the version's stored verdict. When
this replica sees ``live`` change to such a version (an automatic promotion), it compares what the new
model serves during ``window_s`` with what the previous one served before it, per request of
``/recommend``: the error rate (unexpected failures, not client errors), the p99 latency of scoring, and
the online hit rate (service.hit_rate). Past a threshold, and with at least ``min_requests`` served, it
makes the previous version live again and records why, in the alias history and in the version's verdict
(``promotion.watch``); otherwise the watch ends passed. Errors end a watch early: once ``min_requests``
were served, an error rate past the threshold rolls back at once. Each replica watches what it serves;
the first rollback wins, and the others stop watching when they see live change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.hit_rate import HitRate, VersionCounts
from service.registry import ModelRegistry
from service.schemas import WatchPolicy
from steadyrec.core.manifest import utc_now

__all__ = ["AUTO_PROMOTION", "PromotionWatch", "ServingStats"]

log = logging.getLogger(__name__)

AUTO_PROMOTION = "promoted by job "  # how a job's promotion reads in the alias history
RECENT = 5000  # latencies kept per version for the baseline's p99


@dataclass
class _Served:
    requests: int = 0
    errors: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT))


class ServingStats:
    """Requests, unexpected errors and scoring latencies of each version this replica served."""

    def __init__(self) -> None:
        self._versions: dict[str, _Served] = {}

    def observe(self, version: str, seconds: float, error: bool) -> None:
        served = self._versions.setdefault(version, _Served())
        served.requests += 1
        served.errors += int(error)
        if not error:
            served.latencies.append(seconds)

    def snapshot(self, version: str) -> tuple[int, int, list[float]]:
        served = self._versions.get(version, _Served())
        return served.requests, served.errors, list(served.latencies)


@dataclass
class _Watch:
    version: str
    previous: str
    policy: WatchPolicy
    started: float
    start: tuple[int, int]  # the new version's requests and errors before the watch
    start_hits: tuple[int, int]  # its judged lists and hits before the watch
    baseline: dict[str, float | None]


def _p99(latencies: list[float]) -> float | None:
    return float(np.quantile(latencies, 0.99)) if latencies else None


class PromotionWatch:
    def __init__(
        self, registry: ModelRegistry, stats: ServingStats, hits: HitRate, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.registry, self.stats, self.hits, self._clock = registry, stats, hits, clock
        self._live: str | None = None
        self._watch: _Watch | None = None

    @property
    def watching(self) -> str | None:
        return self._watch.version if self._watch is not None else None

    async def check(self) -> None:
        """Start a watch on an automatic promotion, end it when its window is over (called every poll)."""
        live = (await asyncio.to_thread(self.registry.store.aliases)).get("live")
        if live != self._live:
            previous, self._live = self._live, live
            self._watch = None
            if live is not None and previous is not None:
                counts = (await self.hits.counts(previous), await self.hits.counts(live))
                await asyncio.to_thread(self._start, live, previous, counts)
        if self._watch is not None:
            await self._judge(final=self._clock() - self._watch.started >= self._watch.policy.window_s)

    def _start(self, version: str, previous: str, counts: tuple[VersionCounts, VersionCounts]) -> None:
        """Watch ``version`` if a job promoted it with a watch policy; ``counts``: the online counts of
        ``previous`` (the baseline) and of ``version`` so far."""
        changes = [c for c in self.registry.store.history() if c["alias"] == "live"]
        if not changes or changes[-1]["to"] != version or not str(changes[-1]["reason"]).startswith(AUTO_PROMOTION):
            return
        verdict = self.registry.store.verdict(version) or {}
        policy = (verdict.get("promotion") or {}).get("watch")
        if policy is None:
            return
        requests, errors, latencies = self.stats.snapshot(previous)
        before, mine = counts
        baseline = {
            "error_rate": errors / requests if requests else None,
            "p99_s": _p99(latencies),
            "hit_rate": before.hit_rate if before.judged else None,
        }
        now = self.stats.snapshot(version)
        self._watch = _Watch(
            version,
            changes[-1]["from"] or previous,
            WatchPolicy.model_validate(policy),
            self._clock(),
            (now[0], now[1]),
            (mine.judged, mine.hits),
            baseline,
        )
        log.info("watching %s after its automatic promotion over %s", version, self._watch.previous)

    def _figures(self, watch: _Watch, counts: VersionCounts) -> dict[str, Any]:
        requests, errors, latencies = self.stats.snapshot(watch.version)
        served, failed = requests - watch.start[0], errors - watch.start[1]
        ok = served - failed
        seen = latencies[-ok:] if ok > 0 else []  # the latest, up to RECENT of them
        judged, hits = counts.judged - watch.start_hits[0], counts.hits - watch.start_hits[1]
        return {
            "requests": served,
            "error_rate": failed / served if served else None,
            "p99_s": _p99(seen),
            "judged": judged,
            "hit_rate": hits / judged if judged else None,
        }

    def _failures(self, watch: _Watch, figures: dict[str, Any]) -> list[str]:
        policy, base, out = watch.policy, watch.baseline, []
        base_errors = base["error_rate"] or 0.0
        if figures["error_rate"] is not None and figures["error_rate"] > base_errors + policy.max_error_rate:
            out.append(
                f"error rate {figures['error_rate']:.4f} is above the previous model's {base_errors:.4f} "
                f"plus {policy.max_error_rate:.4f}"
            )
        if figures["p99_s"] is not None and base["p99_s"] and figures["p99_s"] > base["p99_s"] * policy.max_p99_ratio:
            out.append(
                f"p99 latency {figures['p99_s'] * 1000:.2f} ms is above {policy.max_p99_ratio:g} times the "
                f"previous model's {base['p99_s'] * 1000:.2f} ms"
            )
        if (
            figures["hit_rate"] is not None
            and base["hit_rate"] is not None
            and figures["judged"] >= policy.min_judged
            and figures["hit_rate"] < base["hit_rate"] - policy.max_hit_rate_drop
        ):
            out.append(
                f"online hit rate {figures['hit_rate']:.4f} is below the previous model's "
                f"{base['hit_rate']:.4f} minus {policy.max_hit_rate_drop:.4f}"
            )
        return out

    async def _judge(self, final: bool) -> None:
        watch = self._watch
        assert watch is not None
        figures = self._figures(watch, await self.hits.counts(watch.version))
        enough = figures["requests"] >= watch.policy.min_requests
        failures = self._failures(watch, figures) if enough else []
        errors_only = [f for f in failures if f.startswith("error rate")]
        if not final and not errors_only:
            return
        self._watch = None
        outcome: dict[str, Any] = {"at": utc_now(), "figures": figures, "baseline": watch.baseline}
        if failures:
            reason = "; ".join(failures)
            await self.registry.set_alias("live", watch.previous, f"automatic rollback of {watch.version}: {reason}")
            self._live = watch.previous
            outcome |= {"rolled_back": True, "reason": reason}
            log.warning("rolled %s back to %s: %s", watch.version, watch.previous, reason)
        else:
            why = "served as well as the previous model" if enough else "too little traffic to judge"
            outcome |= {"rolled_back": False, "reason": why}
        await asyncio.to_thread(self._record, watch.version, outcome)

    def _record(self, version: str, outcome: dict[str, Any]) -> None:
        verdict = self.registry.store.verdict(version)
        if verdict is not None:
            promotion = {**verdict.get("promotion", {}), "watch_outcome": outcome}
            self.registry.store.write_verdict(version, {**verdict, "promotion": promotion})
