"""Mirrored pairs, per candidate: what the service's shadow mirror logged, and what a shadow gate reads.

A pair is one live ``/recommend`` request also scored by the candidate: ``at`` (Unix seconds), ``live`` and
``candidate`` (versions), the request's ``history`` and ``live_items``, and the two lists' ``rbo`` /
``jaccard``. Each candidate has its own log, so a gate counts and reads only its own pairs: a Redis list
``steadyrec:shadow:pairs:<candidate>`` capped at ``CAP`` (shared by every replica and the worker), or, in
the embedded setup, ``<state dir>/shadow/<candidate>.jsonl``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["PairLog"]

REDIS_PREFIX = "steadyrec:shadow:pairs:"
CAP = 100_000  # pairs kept per candidate (a gate needs a few hundred to a few thousand)


class PairLog:
    """Append-only, capped log of mirrored pairs per candidate version (Redis, or JSON-lines files)."""

    def __init__(self, redis_url: str | None, state_dir: Path) -> None:
        self.folder = Path(state_dir) / "shadow"
        self.redis = None
        if redis_url:
            import redis

            self.redis = redis.Redis.from_url(redis_url)

    def _file(self, candidate: str) -> Path:
        return self.folder / f"{candidate}.jsonl"  # versions follow the registry's identifier rule

    def append(self, pair: dict[str, Any]) -> None:
        candidate = str(pair["candidate"])
        line = json.dumps(pair)
        if self.redis is not None:
            pipe = self.redis.pipeline()
            pipe.rpush(REDIS_PREFIX + candidate, line)
            pipe.ltrim(REDIS_PREFIX + candidate, -CAP, -1)
            pipe.execute()
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._file(candidate).open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def read(self, candidate: str) -> list[dict[str, Any]]:
        """The candidate's pairs, oldest first (a line cut short by a crash is skipped)."""
        if self.redis is not None:
            raw = self.redis.lrange(REDIS_PREFIX + candidate, 0, -1)
            lines = [r.decode() if isinstance(r, bytes) else str(r) for r in raw]
        else:
            path = self._file(candidate)
            lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out
