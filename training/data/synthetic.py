"""A small synthetic interaction log with real sequential structure, for demos and tests.

Every item has a fixed successor (a hidden random cycle over items) and belongs to one of a few
topics. A user starts from an item of their topic and then moves: to the successor of the current
item (probability ``p_successor``), to another item of their topic (``p_topic``), or to a globally
popular item (the rest). A sequential model that learns the successor map beats popularity by far,
so the demo and the tests can tell a trained model from an untrained one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from steadyrec.core.interactions import InteractionLog, RawInteraction, build_log

__all__ = ["SyntheticConfig", "synthetic_interactions", "synthetic_log", "write_tsv"]


@dataclass(frozen=True)
class SyntheticConfig:
    n_users: int = 600  # enough users that every successor is seen many times
    n_items: int = 300  # small enough to train in seconds on a CPU
    n_topics: int = 10  # topics give users distinct tastes
    min_len: int = 15  # FINEST drops users under 10 interactions: keep everyone
    max_len: int = 60
    p_successor: float = 0.6  # sequential signal
    p_topic: float = 0.3  # taste signal; the rest goes to popular items
    seed: int = 7

    def describe(self) -> str:
        return f"synthetic:users={self.n_users},items={self.n_items},seed={self.seed}"


def synthetic_interactions(cfg: SyntheticConfig) -> list[RawInteraction]:
    rng = np.random.default_rng(cfg.seed)
    successor = rng.permutation(cfg.n_items)  # item successor[i] tends to follow item i
    topic = rng.integers(0, cfg.n_topics, cfg.n_items)
    popularity = 1.0 / np.arange(1, cfg.n_items + 1) ** 1.1  # Zipf over a random item order
    popularity = popularity[np.argsort(rng.permutation(cfg.n_items))]
    popularity /= popularity.sum()
    rows: list[RawInteraction] = []
    clock = 0
    for user in range(cfg.n_users):
        mine = np.flatnonzero(topic == rng.integers(0, cfg.n_topics))
        mine = mine if len(mine) else np.arange(cfg.n_items)
        current = int(rng.choice(mine))
        for _ in range(int(rng.integers(cfg.min_len, cfg.max_len + 1))):
            clock += int(rng.integers(1, 100))
            rows.append((f"u{user}", f"i{current}", float(clock)))
            draw = rng.random()
            if draw < cfg.p_successor:
                current = int(successor[current])
            elif draw < cfg.p_successor + cfg.p_topic:
                current = int(rng.choice(mine))
            else:
                current = int(rng.choice(cfg.n_items, p=popularity))
    return rows


def synthetic_log(cfg: SyntheticConfig | None = None) -> InteractionLog:
    return build_log(synthetic_interactions(cfg or SyntheticConfig()))


def write_tsv(rows: list[RawInteraction], path: Path) -> None:
    """Write interactions as `user item timestamp` TSV (the foursquare format), time-sorted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(rows, key=lambda r: r[2] or 0.0)
    path.write_text("".join(f"{u}\t{i}\t{int(t or 0)}\n" for u, i, t in ordered), encoding="utf-8")
