"""Schedules: which slot is due when, and one claim per slot."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from steadyrec.core.job_spec import FinetuneJobRequest
from steadyrec.core.schedules import ScheduleRecord, ScheduleSpec, SQLiteScheduleStore, Trigger, due_slot, next_run

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC).timestamp()  # a Sunday, 10:00 UTC


def slot(trigger: dict, now: float, created: float = T0, events: int = 0, at_last: int = 0) -> str | None:
    return due_slot(Trigger(**trigger), now=now, created_at=created, events=events, events_at_last=at_last)


def test_every_hours_is_due_once_per_period_after_the_declaration() -> None:
    assert slot({"every_hours": 2}, T0 + 3599) is None
    assert slot({"every_hours": 2}, T0 + 7200) == "every:1"
    assert slot({"every_hours": 2}, T0 + 14399) == "every:1"
    assert slot({"every_hours": 2}, T0 + 14400) == "every:2"
    assert next_run(Trigger(every_hours=2), now=T0 + 100, created_at=T0, events=0, events_at_last=0) == {
        "at": T0 + 7200
    }


def test_daily_at_is_due_from_that_time_each_day_but_not_before_the_declaration() -> None:
    assert slot({"daily_at": "09:30"}, T0 + 60) is None  # today's 09:30 was before the schedule existed
    assert slot({"daily_at": "10:30"}, T0 + 1799) is None
    assert slot({"daily_at": "10:30"}, T0 + 1800) == "daily:2026-12-06"
    assert slot({"daily_at": "10:30"}, T0 + 86_400) == "daily:2026-12-06"  # 10:00 next day: still yesterday's
    assert slot({"daily_at": "10:30"}, T0 + 86_400 + 1800) == "daily:2026-12-07"
    assert next_run(Trigger(daily_at="10:30"), now=T0, created_at=T0, events=0, events_at_last=0) == {"at": T0 + 1800}


def test_after_events_is_due_once_enough_events_arrived_since_the_last_run() -> None:
    assert slot({"after_events": 100}, T0, events=149, at_last=50) is None
    assert slot({"after_events": 100}, T0, events=150, at_last=50) == "events:150"
    assert next_run(Trigger(after_events=100), now=T0, created_at=T0, events=120, events_at_last=50) == {
        "events_to_go": 30
    }


@pytest.mark.parametrize("trigger", [{}, {"every_hours": 1, "after_events": 5}, {"daily_at": "25:00"}])
def test_a_trigger_is_exactly_one_valid_rule(trigger: dict) -> None:
    with pytest.raises(ValidationError):
        Trigger(**trigger)


def test_a_slot_is_claimed_once(tmp_path) -> None:
    store = SQLiteScheduleStore(tmp_path / "s.sqlite")
    spec = ScheduleSpec(name="daily", job=FinetuneJobRequest(method="finest"), trigger=Trigger(every_hours=1))
    assert store.create(ScheduleRecord(spec=spec)) and not store.create(ScheduleRecord(spec=spec))
    assert store.claim("daily", None, "every:1", last_job="j1")
    assert not store.claim("daily", None, "every:1", last_job="j2")  # a second beat, same slot
    assert not store.claim("daily", None, "every:2", last_job="j3")  # nor another slot from the old state
    record = store.get("daily")
    assert record is not None and (record.last_slot, record.last_job) == ("every:1", "j1")
    assert store.claim("daily", "every:1", "every:2")
    assert store.delete("daily") and store.get("daily") is None and store.all() == []
