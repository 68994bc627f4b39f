from pathlib import Path

import numpy as np
import pytest

from steadyrec.core.formats import DataFormatError, LogFormat, detect_format, read_log


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def as_lists(log) -> dict[str, list[str]]:
    return {u: [log.item_ids[i - 1] for i in seq] for u, seq in zip(log.user_ids, log.sequences, strict=True)}


def test_pairs_format_keeps_file_order_per_user(tmp_path: Path) -> None:
    path = write(tmp_path, "log.txt", "1 10\n1 3\n2 3\n1 7\n")
    log = read_log(path)
    assert detect_format(path) == "pairs"
    assert as_lists(log) == {"1": ["10", "3", "7"], "2": ["3"]}
    assert log.item_ids == ("3", "7", "10")  # numeric ids sort numerically


def test_sequences_format_one_user_per_line(tmp_path: Path) -> None:
    path = write(tmp_path, "Beauty.txt", "1 5 6 7\n2 6 5\n")
    assert detect_format(path) == "sequences"
    assert as_lists(read_log(path)) == {"1": ["5", "6", "7"], "2": ["6", "5"]}


def test_tsv_format_orders_each_user_by_timestamp(tmp_path: Path) -> None:
    path = write(tmp_path, "checkins.tsv", "u1\tb\t30\nu1\ta\t10\nu2\ta\t5\nu1\tc\t20\n")
    log = read_log(path)
    assert as_lists(log) == {"u1": ["a", "c", "b"], "u2": ["a"]}
    np.testing.assert_array_equal(log.timestamps[0], [10.0, 20.0, 30.0])


def test_recbole_inter_reads_columns_by_header_name(tmp_path: Path) -> None:
    text = "item_id:token\tuser_id:token\trating:float\ttimestamp:float\n42\t7\t3\t200\n41\t7\t5\t100\n"
    log = read_log(write(tmp_path, "x.inter", text))
    assert as_lists(log) == {"7": ["41", "42"]}


def test_min_interactions_drops_short_users_before_indexing_items(tmp_path: Path) -> None:
    log = read_log(write(tmp_path, "log.txt", "1 10\n1 11\n2 99\n"), min_interactions=2)
    assert log.user_ids == ("1",)
    assert log.item_ids == ("10", "11")  # item 99 only belonged to the dropped user


@pytest.mark.parametrize(
    ("name", "text", "line", "reason", "fmt"),
    [
        pytest.param("a.txt", "1 2\n1 2\n3\n", 3, "expected 2 fields", None, id="pairs-missing-item"),
        pytest.param("a.tsv", "u\ti\t1\nu\ti\n", 2, "expected 3 fields", None, id="tsv-missing-timestamp"),
        pytest.param("a.tsv", "u\ti\tnoon\n", 1, "is not a number", None, id="tsv-bad-timestamp"),
        pytest.param("a.tsv", "u\ti\tnan\n", 1, "is not finite", None, id="tsv-nan-timestamp"),
        pytest.param("a.txt", "1 2 3\n2\n", 2, "no items", None, id="sequences-empty-user"),
        pytest.param("a.txt", "1 2 3\n1 4 5\n", 2, "more than one line", "sequences", id="sequences-duplicate-user"),
        pytest.param(
            "a.inter", "user_id:token\titem_id:token\n1\t2\t3\n", 2, "as the header", None, id="recbole-width"
        ),
        pytest.param("a.inter", "user:token\titem_id:token\n1\t2\n", 1, "user_id", None, id="recbole-no-user-col"),
    ],
)
def test_malformed_file_names_file_line_and_reason(
    tmp_path: Path, name: str, text: str, line: int, reason: str, fmt: LogFormat | None
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(DataFormatError) as err:
        read_log(path, fmt)
    assert err.value.line == line
    assert f"{path}:{line}:" in str(err.value)
    assert reason in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no interaction file"):
        read_log(tmp_path / "absent.tsv")


@pytest.mark.parametrize(
    ("folder", "users", "items", "interactions", "min_interactions"),
    [
        ("ml-1m/ml-1m.txt", 6040, 3416, 999611, 1),
        ("ml-100k/ml-100k.inter", 943, 1682, 100000, 1),
        ("foursquare/foursquare.tsv", 2106, None, 192602, 10),
        ("beauty/Beauty.txt", 22363, 12101, 198502, 1),
        ("video-games/Video_Games.txt", 24303, 10672, 231780, 1),
    ],
)
def test_shared_datasets_load_with_published_counts(
    shared_data: Path, folder: str, users: int, items: int | None, interactions: int, min_interactions: int
) -> None:
    log = read_log(shared_data / folder, min_interactions=min_interactions)
    assert (log.n_users, log.n_interactions) == (users, interactions)
    if items is not None:
        assert log.n_items == items
