"""Which histories a canary replays: the one builder the service's event store, the offline canary
(`steadyrec canary`) and a fine-tune job's gate share, so all three replay the same users from one log.

Rows are put in time order when every row has a timestamp (a stable sort: ties keep file order) and kept
in file order otherwise; each user's history is their items in that order, and users are ranked by
their last interaction. Torch-free.
"""

from __future__ import annotations

from collections.abc import Iterable

from steadyrec.core.interactions import RawInteraction

__all__ = ["histories_by_recency", "most_recent"]


def histories_by_recency(rows: Iterable[RawInteraction]) -> dict[str, list[str]]:
    """{user: items oldest first}, users ordered from the least to the most recently active."""
    rows = list(rows)
    if rows and all(stamp is not None for _, _, stamp in rows):
        rows.sort(key=lambda row: row[2] or 0.0)
    histories: dict[str, list[str]] = {}
    for user, item, _ in rows:
        history = histories.pop(user, [])  # re-inserted: the user becomes the most recent
        history.append(item)
        histories[user] = history
    return histories


def most_recent(histories: dict[str, list[str]], limit: int) -> list[tuple[str, list[str]]]:
    """The ``limit`` most recently active users of ``histories_by_recency``, newest first, with copies of
    their histories."""
    if limit <= 0:
        return []
    users = list(histories)[-limit:][::-1]
    return [(user, list(histories[user])) for user in users]
