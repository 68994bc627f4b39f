"""One SQLite file as a small store, for the embedded mode (no Redis): write-ahead log, immediate
transactions, a 30 s busy timeout; the table is created on first use."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

__all__ = ["SQLiteFile"]


class SQLiteFile:
    def __init__(self, path: Path, table_sql: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(table_sql)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level="IMMEDIATE")
