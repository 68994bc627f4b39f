import numpy as np
import pytest

from steadyrec.core.interactions import build_log, reindex
from training.data.splits import leave_one_out, temporal_split


def small_log():
    rows = [("a", str(i), float(t)) for t, i in enumerate([1, 2, 3, 4, 5])]
    rows += [("b", str(i), float(t)) for t, i in enumerate([3, 1])]
    rows += [("c", str(i), float(t)) for t, i in enumerate([2, 4, 2, 6, 1, 3, 5, 4, 3, 2])]
    return build_log(rows)


def test_items_are_dense_one_based_and_map_back() -> None:
    log = small_log()
    assert log.item_ids == ("1", "2", "3", "4", "5", "6")
    assert log.item_index()["6"] == 6
    np.testing.assert_array_equal(log.sequences[1], [3, 1])
    assert log.item_counts()[0] == 0


def test_fingerprint_changes_with_content_only() -> None:
    assert small_log().fingerprint() == small_log().fingerprint()
    log = small_log()
    changed = log.with_sequences([log.sequences[0][:-1], *log.sequences[1:]])
    assert changed.fingerprint() != log.fingerprint()


def test_leave_one_out_holds_out_last_two_items() -> None:
    split = leave_one_out(small_log())
    np.testing.assert_array_equal(split.train.sequences[0], [1, 2, 3])
    np.testing.assert_array_equal(split.train.sequences[1], [3, 1])  # too short: all train, not evaluated
    assert list(split.test.users) == [0, 2] and list(split.test.targets) == [5, 2]
    assert list(split.valid.targets) == [4, 3]
    np.testing.assert_array_equal(split.test.history(0), [1, 2, 3, 4])
    np.testing.assert_array_equal(split.valid.history(0), [1, 2, 3])


def test_temporal_split_trains_on_first_ninety_percent() -> None:
    split = temporal_split(small_log())
    assert len(split.train.sequences[2]) == 9  # int(10 * 0.9)
    assert len(split.train.sequences[0]) == 4  # int(5 * 0.9)
    assert list(split.test.users) == [0, 1, 2]  # one instance per held-out interaction
    assert list(split.test.targets) == [5, 1, 2]
    np.testing.assert_array_equal(split.test.history(2), [2, 4, 2, 6, 1, 3, 5, 4, 3])


def test_temporal_split_rejects_bad_fraction() -> None:
    with pytest.raises(ValueError, match="train_fraction"):
        temporal_split(small_log(), 1.0)


def test_padded_histories_left_pad_and_truncate() -> None:
    split = leave_one_out(small_log())
    np.testing.assert_array_equal(split.test.padded_histories(np.array([0]), 6), [[0, 0, 1, 2, 3, 4]])
    np.testing.assert_array_equal(split.test.padded_histories(np.array([0]), 2), [[3, 4]])


def test_reindex_maps_into_another_index_and_drops_unknown() -> None:
    log = small_log()
    mapped, dropped = reindex(log, ["3", "1", "2"])
    np.testing.assert_array_equal(mapped.sequences[0], [2, 3, 1])  # items 4, 5 unknown
    assert dropped == 2 + 0 + 4  # user c: 4, 6, 5, 4
