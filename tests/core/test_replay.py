"""The one replay builder: which users a canary replays, and their histories, from interaction rows."""

from __future__ import annotations

from steadyrec.core.history import History
from steadyrec.core.replay import histories_by_recency, most_recent


def test_timed_rows_are_replayed_in_time_order_with_the_latest_user_first() -> None:
    rows = [("a", "1", 30.0), ("b", "2", 10.0), ("a", "3", 5.0), ("c", "4", 20.0), ("b", "5", 40.0)]
    histories = histories_by_recency(rows)
    a, b = History(["3", "1"], [5.0, 30.0]), History(["2", "5"], [10.0, 40.0])
    assert histories == {"a": a, "c": History(["4"], [20.0]), "b": b}  # each history with its times
    assert list(histories) == ["c", "a", "b"]  # last activity: c 20, a 30, b 40
    assert most_recent(histories, 2) == [("b", b), ("a", a)]


def test_rows_without_every_timestamp_keep_file_order() -> None:
    rows = [("a", "1", 30.0), ("b", "2", None), ("a", "3", 5.0)]
    histories = histories_by_recency(rows)
    assert histories == {"b": History(["2"]), "a": History(["1", "3"])} and list(histories) == ["b", "a"]
    assert most_recent(histories, 10) == [("a", History(["1", "3"])), ("b", History(["2"]))]
    assert most_recent(histories, 0) == []


def test_equal_timestamps_keep_file_order() -> None:
    histories = histories_by_recency([("a", "1", 1.0), ("b", "2", 1.0), ("a", "3", 1.0)])
    assert histories == {"b": History(["2"], [1.0]), "a": History(["1", "3"], [1.0, 1.0])}
