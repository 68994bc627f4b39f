"""Which histories a canary replays: the one builder the service's event store, the offline canary
(`steadyrec canary`) and a fine-tune job's gate share, so all three replay the same users from one log.

Rows are put in time order when every row has a timestamp (a stable sort: ties keep file order) and kept
in file order otherwise; each user's history is their items in that order, and users are ranked by
their last interaction. Torch-free.
"""

from __future__ import annotations

from collections.abc import Iterable

from steadyrec.core.history import History
from steadyrec.core.interactions import RawInteraction

__all__ = ["histories_by_recency", "most_recent"]


def histories_by_recency(rows: Iterable[RawInteraction]) -> dict[str, History]:
    """{user: history oldest first}, users ordered from the least to the most recently active; each history
    carries its rows' timestamps when every row has one."""
    rows = list(rows)
    timed = bool(rows) and all(stamp is not None for _, _, stamp in rows)
    if timed:
        rows.sort(key=lambda row: row[2] or 0.0)
    items: dict[str, list[str]] = {}
    times: dict[str, list[float]] = {}
    for user, item, stamp in rows:
        history = items.pop(user, [])  # re-inserted: the user becomes the most recent
        history.append(item)
        items[user] = history
        if timed:
            times.setdefault(user, []).append(float(stamp or 0.0))
    return {user: History(history, times[user] if timed else None) for user, history in items.items()}


def most_recent(histories: dict[str, History], limit: int) -> list[tuple[str, History]]:
    """The ``limit`` most recently active users of ``histories_by_recency``, newest first, with their
    histories."""
    if limit <= 0:
        return []
    users = list(histories)[-limit:][::-1]
    return [(user, histories[user]) for user in users]
