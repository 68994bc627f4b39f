"""Sec. 5.6 robustness evaluation: which positions are replaced, by what, and the report."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from training.data.splits import EvalSet, leave_one_out
from training.data.synthetic import SyntheticConfig, synthetic_log
from training.evaluation.ranking import evaluate
from training.evaluation.robustness import replaced_positions, robustness_report, worst_case_inputs
from training.models import build_model
from training.trainer import TrainConfig, seed_everything, train


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        pytest.param("first", [[0, 0, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]], id="first"),
        pytest.param("middle", [[0, 0, 0, 0, 1, 0], [0, 0, 0, 1, 0, 0]], id="middle"),
        pytest.param("last", [[0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1]], id="last"),
        pytest.param("last-3", [[0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 1]], id="last-3"),
        pytest.param("last-5", [[0, 0, 1, 1, 1, 1], [0, 1, 1, 1, 1, 1]], id="last-5-capped-by-length"),
    ],
)
def test_replaced_positions_follow_the_visible_window(setting: str, expected: list[list[int]]) -> None:
    # a history of 4 items (left-padded to 6) and one of 9 items, of which the model reads the last 6
    chosen = replaced_positions(setting, np.array([4, 9]), 6)
    np.testing.assert_array_equal(chosen, np.array(expected, dtype=bool))


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown replacement setting"):
        replaced_positions("end", np.array([3]), 5)


@pytest.fixture(scope="module")
def trained():
    split = leave_one_out(synthetic_log(SyntheticConfig(n_users=120, n_items=40, min_len=5, max_len=14)))
    seed_everything(0)
    model = build_model("sasrec", split.train.n_items, {"hidden": 16, "blocks": 1, "max_len": 10})
    train(model, split.train, TrainConfig(epochs=4, batch_size=32, lr=5e-3))
    return split, model.eval()


def _target_loss(model, data) -> float:
    history = torch.from_numpy(data.padded_histories(np.arange(len(data)), model.max_len))
    with torch.no_grad():
        logits = model.scores(history)
    return float(F.cross_entropy(logits, torch.from_numpy(data.targets) - 1))


def test_worst_case_replaces_only_the_chosen_items_and_raises_the_loss(trained) -> None:
    split, model = trained
    attacked = worst_case_inputs(model, split.test, "last-2", neighbours=10)
    for i in range(len(split.test)):
        before, after = split.test.history(i), attacked.history(i)
        assert len(before) == len(after)
        changed = np.nonzero(before != after)[0]
        assert set(changed) == set(range(len(before) - min(2, len(before)), len(before)))
        assert split.test.targets[i] not in after[changed] and (after > 0).all()
    assert _target_loss(model, attacked) > _target_loss(model, split.test)


def test_report_gives_clean_metrics_and_drops_per_setting(trained) -> None:
    split, model = trained
    rows = robustness_report(model, split.test, ["first", "last"], neighbours=10)
    assert [r["setting"] for r in rows] == ["clean", "first", "last"]
    clean = rows[0]
    for row in rows[1:]:
        assert row["drop_ndcg@10"] == pytest.approx(100 * (clean["ndcg@10"] - row["ndcg@10"]) / clean["ndcg@10"])


def test_evaluate_reads_the_given_inputs_but_excludes_the_real_history(trained) -> None:
    split, model = trained
    same = evaluate(model, split.test, exclude_history=True, inputs=split.test)
    np.testing.assert_array_equal(same.ranks, evaluate(model, split.test, exclude_history=True).ranks)
    attacked = worst_case_inputs(model, split.test, "last", neighbours=10)
    mixed = evaluate(model, split.test, exclude_history=True, inputs=attacked).ranks
    assert (mixed >= 0).all() and not np.array_equal(mixed, same.ranks)
    with pytest.raises(ValueError, match="instances"):
        evaluate(model, split.test, exclude_history=True, inputs=EvalSet.from_instances([0], [1], [np.array([2])]))
