"""Shared fixtures: the location of ../shared/data, and real Redis and PostgreSQL servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not available: {SHARED_DATA} is absent (CI and developers have it)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private redis-server on 127.0.0.1 (scripts/test.sh installs the Debian package)."""
    import shutil

    from steadyrec.testing.harness import running_redis

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (scripts/test.sh installs it with apt-get)")
    with running_redis() as url:
        yield url


@pytest.fixture
def empty_redis(redis_url: str) -> str:
    """The session's Redis, emptied for one test."""
    import redis

    redis.Redis.from_url(redis_url).flushall()
    return redis_url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A private PostgreSQL server on 127.0.0.1 for the session (scripts/test.sh installs PostgreSQL)."""

    from steadyrec.testing.harness import postgres_bindir, running_postgres

    if postgres_bindir() is None:
        pytest.skip("PostgreSQL is not installed (scripts/test.sh installs it with apt-get)")
    with running_postgres() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A new, empty database on the session's server for one test."""
    import uuid

    import psycopg

    name = f"t{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_server.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """The event log's database, both ways: None (SQLite beside the events path) and a real PostgreSQL."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))
