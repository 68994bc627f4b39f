"""Timing raw ONNX Runtime calls, the same way in every latency study."""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def call_seconds(
    session: Any, outputs: list[str] | None, feed: dict[str, Any], calls: int, warmup: int = 10
) -> list[float]:
    """Wall seconds of each of ``calls`` ``session.run(outputs, feed)`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        session.run(outputs, feed)
    seconds = []
    for _ in range(calls):
        t0 = time.perf_counter()
        session.run(outputs, feed)
        seconds.append(time.perf_counter() - t0)
    return seconds


def history_feed(histories: np.ndarray, top_k: int | None) -> dict[str, np.ndarray]:
    """The graph's inputs for (B, L) histories; with ``top_k``, a top-K graph's k and each history masked."""
    feed = {"history": histories}
    if top_k is not None:
        feed |= {"k": np.array([top_k], np.int64), "exclude": histories}
    return feed
