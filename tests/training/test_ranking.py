import math

import numpy as np
import pytest
import torch

from training.data.batches import Batch
from training.data.splits import EvalSet
from training.evaluation.ranking import evaluate, metrics_from_ranks
from training.models.base import SequentialModel


class FixedScores(SequentialModel):
    """Scores item j with ``table[j - 1]`` whatever the history: ranks are known by hand."""

    kind = "fixed"

    def __init__(self, table: list[float]) -> None:
        super().__init__(len(table), type("Cfg", (), {"max_len": 4})())
        self.table = torch.nn.Parameter(torch.tensor(table), requires_grad=False)

    def scores(self, history: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        return self.table.expand(history.shape[0], -1).clone()

    def loss(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError


# item:           1    2    3    4    5    6
SCORES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]


def instances(targets: list[int], histories: list[list[int]]) -> EvalSet:
    return EvalSet.from_instances(list(range(len(targets))), targets, [np.array(h, dtype=np.int64) for h in histories])


def test_ndcg_of_a_known_rank() -> None:
    metrics = metrics_from_ranks(np.array([0, 2, 15]), ks=(10,))
    assert metrics["ndcg@10"] == pytest.approx((1.0 + 1.0 / math.log2(4) + 0.0) / 3)
    assert metrics["hr@10"] == pytest.approx(2 / 3)
    assert metrics["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 16) / 3)


def test_full_ranking_counts_every_higher_item() -> None:
    result = evaluate(FixedScores(SCORES), instances([4], [[1, 2]]), exclude_history=False, ks=(3,))
    assert result.ranks.tolist() == [3]  # items 1, 2, 3 score higher
    assert result.metrics["hr@3"] == 0.0


def test_excluding_history_removes_seen_items_but_keeps_the_target() -> None:
    data = instances([4, 2], [[1, 2], [1, 2, 3]])
    result = evaluate(FixedScores(SCORES), data, exclude_history=True, ks=(3,))
    assert result.ranks.tolist() == [1, 0]  # 1, 2 removed -> only 3 above 4; target 2 kept, 1 removed
    assert result.metrics["ndcg@3"] == pytest.approx((1 / math.log2(3) + 1.0) / 2)


def test_ties_count_against_the_model() -> None:
    result = evaluate(FixedScores([0.5] * 6), instances([3], [[1]]), exclude_history=False)
    assert result.ranks.tolist() == [5]


def test_evaluation_is_batched_without_changing_results() -> None:
    data = instances([1, 2, 3, 4, 5, 6], [[2], [3], [4], [5], [6], [1]])
    whole = evaluate(FixedScores(SCORES), data, exclude_history=True, batch_size=512)
    pieces = evaluate(FixedScores(SCORES), data, exclude_history=True, batch_size=4)
    np.testing.assert_array_equal(whole.ranks, pieces.ranks)
