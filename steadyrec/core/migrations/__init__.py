"""The database schema, made and upgraded by Alembic from code (no alembic.ini): ``upgrade(engine)``.

Every process that opens the event log calls it; processes starting together take turns (a PostgreSQL
advisory lock for the upgrade's transaction, a file lock beside a SQLite database), so the schema is
made once. A new revision goes in ``versions/`` (``alembic revision`` with ``script_location`` set to
this folder).
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

__all__ = ["HEAD", "upgrade"]

HEAD = "0001"  # the newest revision in versions/
LOCK_KEY = 7_300_001  # the advisory lock our upgrades share on PostgreSQL


@contextlib.contextmanager
def _sqlite_lock(engine: Engine) -> Iterator[None]:
    path = engine.url.database
    if not path or path == ":memory:":
        yield
        return
    with open(Path(path).with_name(Path(path).name + ".migrate.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest revision (blocking; a no-op when it is there)."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    lock = _sqlite_lock(engine) if engine.dialect.name == "sqlite" else contextlib.nullcontext()
    with lock, engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
