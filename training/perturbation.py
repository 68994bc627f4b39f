"""Interaction-level perturbations of training data (FINEST Sec. 5.1 and the CASPER paper).

A perturbation picks ``ratio`` of the training interactions (at least one) and applies one operation to
each: ``deletion`` removes it, ``insertion`` puts the least popular item right before it, ``replacement``
swaps its item for the least popular item. Selections:

- ``random``: uniformly among all interactions;
- ``earliest-random`` / ``latest-random``: uniformly among the first / last 10% of each user's interactions;
- ``casper``: the interactions with the most descendants in the interaction graph (edges from each
  interaction to the same user's next interaction and to the next interaction with the same item), i.e.
  those whose removal cascades furthest. Descendant counts are exact below ``sketch_size`` and estimated
  with bottom-k min-hash sketches (Cohen 1997) above it, in one reverse-topological pass.

Only training data is perturbed; test inputs always come from the original data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from steadyrec.core.interactions import InteractionLog

__all__ = [
    "PerturbationConfig",
    "PerturbationResult",
    "apply_operation",
    "apply_operations",
    "casper_scores",
    "perturb",
    "select_interactions",
]

Operation = Literal["deletion", "insertion", "replacement"]
Selection = Literal["random", "earliest-random", "latest-random", "casper"]
EDGE_FRACTION = 0.1  # FINEST: Earliest-/Latest-Random draw from the first / last 10% of each user


@dataclass(frozen=True)
class PerturbationConfig:
    operation: Operation = "deletion"  # FINEST Table 3 uses deletions
    selection: Selection = "random"
    ratio: float = 0.001  # FINEST: 0.1% of the training interactions
    seed: int = 0
    sketch_size: int = 64  # CASPER descendant estimate: exact below this size, ~12% error above

    def __post_init__(self) -> None:
        if not 0.0 < self.ratio <= 1.0:
            raise ValueError(f"ratio must be in (0, 1], got {self.ratio}")
        if self.operation not in ("deletion", "insertion", "replacement"):
            raise ValueError(f"unknown operation {self.operation!r}")
        if self.selection not in ("random", "earliest-random", "latest-random", "casper"):
            raise ValueError(f"unknown selection {self.selection!r}")


@dataclass(frozen=True)
class PerturbationResult:
    log: InteractionLog
    chosen: list[tuple[int, int]]  # (user index, position in the user's original sequence)
    filler_item: int  # the least popular item used by insertion / replacement
    origins: tuple[np.ndarray, ...]  # per user: original position of each item, -1 if inserted/replaced


def _flat_positions(log: InteractionLog) -> tuple[np.ndarray, np.ndarray]:
    users = np.concatenate([np.full(len(s), u) for u, s in enumerate(log.sequences)])
    positions = np.concatenate([np.arange(len(s)) for s in log.sequences])
    return users, positions


def casper_scores(log: InteractionLog, sketch_size: int = 64, seed: int = 0) -> np.ndarray:
    """Estimated number of descendants (the node itself included) of every interaction, flat in user order.

    Interactions are ordered by timestamp when the log has them, else by position in the user's sequence
    (ties by user): every edge points forward in that order, so the graph is a DAG.
    """
    users, positions = _flat_positions(log)
    items = np.concatenate(log.sequences)
    time = np.concatenate(log.timestamps) if log.timestamps is not None else positions.astype(np.float64)
    order = np.lexsort((positions, users, time))  # topological order of nodes
    n = len(items)
    rank_of = np.empty(n, dtype=np.int64)
    rank_of[order] = np.arange(n)
    user_next = np.full(n, -1)
    starts = np.concatenate([[0], np.cumsum([len(s) for s in log.sequences])])
    for u in range(log.n_users):
        user_next[starts[u] : starts[u + 1] - 1] = np.arange(starts[u] + 1, starts[u + 1])
    item_next = np.full(n, -1)
    by_item = order[np.argsort(items[order], kind="stable")]  # nodes grouped by item, in time order
    same = items[by_item][:-1] == items[by_item][1:]
    item_next[by_item[:-1][same]] = by_item[1:][same]
    hashes = np.random.default_rng(seed).random(n)
    sketches: list[np.ndarray] = [np.empty(0)] * n
    counts = np.zeros(n)
    for node in order[::-1]:  # children before parents
        parts = [hashes[node : node + 1]]
        for child in (user_next[node], item_next[node]):
            if child >= 0:
                parts.append(sketches[child])
        merged = np.unique(np.concatenate(parts))[:sketch_size]  # bottom-k of the union
        sketches[node] = merged
        full = len(merged) == sketch_size
        counts[node] = (sketch_size - 1) / merged[-1] if full else len(merged)
    return counts


def select_interactions(log: InteractionLog, cfg: PerturbationConfig) -> list[tuple[int, int]]:
    """The (user, position) pairs to perturb, reproducible under ``cfg.seed``."""
    users, positions = _flat_positions(log)
    n = max(1, round(cfg.ratio * len(users)))
    rng = np.random.default_rng(cfg.seed)
    if cfg.selection == "casper":
        scores = casper_scores(log, cfg.sketch_size, cfg.seed)
        pick = np.argsort(-scores, kind="stable")[:n]
    else:
        lengths = np.array([len(s) for s in log.sequences])[users]
        edge = np.maximum(1, np.ceil(EDGE_FRACTION * lengths))
        pool = {
            "random": np.ones(len(users), dtype=bool),
            "earliest-random": positions < edge,
            "latest-random": positions >= lengths - edge,
        }[cfg.selection]
        candidates = np.flatnonzero(pool)
        pick = rng.choice(candidates, size=min(n, len(candidates)), replace=False)
    return sorted((int(users[i]), int(positions[i])) for i in pick)


def perturb(log: InteractionLog, cfg: PerturbationConfig) -> PerturbationResult:
    """Select interactions by ``cfg`` and apply ``cfg.operation`` to them."""
    return apply_operation(log, select_interactions(log, cfg), cfg.operation)


def apply_operation(log: InteractionLog, chosen: list[tuple[int, int]], operation: Operation) -> PerturbationResult:
    """Apply ``operation`` at the given (user, position) interactions; the item index is unchanged."""
    return apply_operations(log, chosen, [operation] * len(chosen))


def apply_operations(
    log: InteractionLog, chosen: list[tuple[int, int]], operations: list[Operation], items: list[int] | None = None
) -> PerturbationResult:
    """Apply one operation per chosen (user, position); ``origins`` maps each resulting item back to
    its position in the original sequence (-1 for inserted and replaced items). Insertions and replacements
    write ``items`` (one per chosen position), by default the least popular item (the ``filler``)."""
    counts = log.item_counts()[1:]
    filler = int(np.argmin(counts)) + 1  # least popular item (lowest id on ties)
    written = items if items is not None else [filler] * len(chosen)
    by_user: dict[int, dict[int, tuple[Operation, int]]] = {}
    for (u, t), operation, new in zip(chosen, operations, written, strict=True):
        by_user.setdefault(u, {})[t] = (operation, new)
    sequences = list(log.sequences)
    stamps = None if log.timestamps is None else list(log.timestamps)
    origins = [np.arange(len(seq)) for seq in log.sequences]
    for u, marked in by_user.items():
        result: list[int] = []
        where: list[int] = []
        when: list[
            int
        ] = []  # the original position whose timestamp each item takes (an inserted item: its successor's)
        for t, item in enumerate(log.sequences[u].tolist()):
            op, new = marked.get(t, (None, 0))
            if op is None:
                result += [item]
                where += [t]
                when += [t]
            elif op == "insertion":
                result += [new, item]
                where += [-1, t]
                when += [t, t]
            elif op == "replacement":
                result += [new]
                where += [-1]
                when += [t]
        sequences[u] = np.asarray(result, dtype=np.int64)
        origins[u] = np.asarray(where, dtype=np.int64)
        if stamps is not None:
            stamps[u] = stamps[u][np.asarray(when, dtype=np.int64)]
    return PerturbationResult(log.with_sequences(sequences, stamps), chosen, filler, tuple(origins))
