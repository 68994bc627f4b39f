"""The event log on SQLite (WAL, the embedded default) and on a real PostgreSQL server: the same code."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from steadyrec.core.event_log import Event, EventLog, database_url, open_event_log
from steadyrec.core.migrations import HEAD
from steadyrec.core.settings import SharedSettings


def _settings(tmp_path: Path, url: str | None) -> SharedSettings:
    return SharedSettings(
        events_path=tmp_path / "events" / "events.jsonl", state_dir=tmp_path / "state", database_url=url
    )


def test_appended_events_read_back_in_commit_order_within_a_window(tmp_path, database_url) -> None:
    events = open_event_log(_settings(tmp_path, database_url))
    events.append([Event("u1", "i1", 30.0), Event("u2", "i2", 10.0)])
    events.append([Event("u1", "i3", 20.0)])
    assert list(events.read()) == [Event("u1", "i1", 30.0), Event("u2", "i2", 10.0), Event("u1", "i3", 20.0)]
    assert list(events.read(since=15.0, until=25.0)) == [Event("u1", "i3", 20.0)]
    assert list(events.read(since=20.0)) == [Event("u1", "i1", 30.0), Event("u1", "i3", 20.0)]
    assert events.count() == 3
    events.close()


def test_a_second_process_sees_what_the_first_committed(tmp_path, database_url) -> None:
    settings = _settings(tmp_path, database_url)
    writer, reader = open_event_log(settings), open_event_log(settings)  # two engines, as two processes have
    writer.append([Event("u", "a", 1.0)])
    assert [e.item for e in reader.read()] == ["a"]
    writer.close(), reader.close()


def test_the_schema_is_made_once_by_processes_opening_together(tmp_path, database_url) -> None:
    settings = _settings(tmp_path, database_url)
    opened: list[EventLog] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(open_event_log(settings))
        except BaseException as err:  # collected: the assertion below names it
            errors.append(err)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(opened) == 4
    with opened[0].engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == HEAD
    for events in opened:
        events.close()


def test_an_earlier_json_lines_log_is_imported_once_and_kept_as_a_backup(tmp_path, database_url) -> None:
    settings = _settings(tmp_path, database_url)
    settings.events_path.parent.mkdir(parents=True)
    settings.events_path.write_text(
        '{"user": "a", "item": "i1", "timestamp": 1.0}\n{"user": "b", "item": "i2", "timestamp": 2.0}\n{"user": "c'
    )  # the last line torn by a crash: never acknowledged
    events = open_event_log(settings)
    assert list(events.read()) == [Event("a", "i1", 1.0), Event("b", "i2", 2.0)]
    backup = settings.events_path.with_name("events.jsonl.imported")
    assert not settings.events_path.exists() and backup.exists()
    backup.rename(settings.events_path)  # the same file back (a restored volume): not imported twice
    again = open_event_log(settings)
    assert again.count() == 2 and backup.exists()
    events.close(), again.close()


def test_the_database_url_names_sqlite_beside_the_events_path_or_psycopg_for_postgresql() -> None:
    assert database_url(None, Path("/var/ev/events.jsonl")) == "sqlite:////var/ev/events.sqlite"
    assert database_url("postgresql://u@h:5432/db", Path("x")) == "postgresql+psycopg://u@h:5432/db"
    assert database_url("postgres://u@h/db", Path("x")) == "postgresql+psycopg://u@h/db"
    assert database_url("postgresql+psycopg://u@h/db", Path("x")) == "postgresql+psycopg://u@h/db"


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path) -> None:
    events = open_event_log(_settings(tmp_path, None))
    with events.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
    events.close()
