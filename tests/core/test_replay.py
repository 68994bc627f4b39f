"""The one replay builder: which users a canary replays, and their histories, from interaction rows."""

from __future__ import annotations

from steadyrec.core.replay import histories_by_recency, most_recent


def test_timed_rows_are_replayed_in_time_order_with_the_latest_user_first() -> None:
    rows = [("a", "1", 30.0), ("b", "2", 10.0), ("a", "3", 5.0), ("c", "4", 20.0), ("b", "5", 40.0)]
    histories = histories_by_recency(rows)
    assert histories == {"a": ["3", "1"], "c": ["4"], "b": ["2", "5"]}
    assert list(histories) == ["c", "a", "b"]  # last activity: c 20, a 30, b 40
    assert most_recent(histories, 2) == [("b", ["2", "5"]), ("a", ["3", "1"])]


def test_rows_without_every_timestamp_keep_file_order() -> None:
    rows = [("a", "1", 30.0), ("b", "2", None), ("a", "3", 5.0)]
    histories = histories_by_recency(rows)
    assert histories == {"b": ["2"], "a": ["1", "3"]} and list(histories) == ["b", "a"]
    assert most_recent(histories, 10) == [("a", ["1", "3"]), ("b", ["2"])]
    assert most_recent(histories, 0) == []


def test_equal_timestamps_keep_file_order() -> None:
    assert histories_by_recency([("a", "1", 1.0), ("b", "2", 1.0), ("a", "3", 1.0)]) == {"b": ["2"], "a": ["1", "3"]}
