"""Strong-generalisation split (held-out users, 80/20 fold-in) and the NDCG@100 / Recall@k metrics."""

import math

import numpy as np
import pytest
import torch

from steadyrec.core.interactions import InteractionLog
from training.data.strong_generalisation import strong_generalisation, strong_generalisation_folds
from training.evaluation.heldout import evaluate_heldout, ndcg_at_k, recall_at_k


def tiny_log(n_users: int = 50, n_items: int = 30, seed: int = 0) -> InteractionLog:
    rng = np.random.default_rng(seed)
    seqs = tuple(
        rng.choice(np.arange(1, n_items + 1), size=int(rng.integers(5, 15)), replace=False) for _ in range(n_users)
    )
    return InteractionLog(tuple(str(u) for u in range(n_users)), tuple(str(i) for i in range(n_items)), seqs)


def test_held_out_users_are_disjoint_from_training_users_and_each_other() -> None:
    split = strong_generalisation(tiny_log(), 8, 10, seed=3)
    train, valid, test = set(split.train_users), set(split.valid.users), set(split.test.users)
    assert not train & valid and not train & test and not valid & test
    assert split.train.shape == (50 - 18, 30)
    assert len(valid) == 8 and len(test) == 10


def test_fold_in_is_80_percent_of_each_held_out_users_items_and_disjoint_from_targets() -> None:
    log = tiny_log()
    split = strong_generalisation(log, 8, 10, seed=3)
    for held in (split.valid, split.test):
        for r, u in enumerate(held.users):
            fold, target = set(held.fold_in[r].indices + 1), set(held.targets[r].indices + 1)
            assert not fold & target
            assert fold | target == set(log.sequences[u].tolist())  # every item is known to training here
            assert len(target) == max(1, round(0.2 * len(log.sequences[u])))


def test_split_is_seeded() -> None:
    a, b = strong_generalisation(tiny_log(), 5, 5, seed=7), strong_generalisation(tiny_log(), 5, 5, seed=7)
    np.testing.assert_array_equal(a.test.users, b.test.users)
    assert (a.test.targets != b.test.targets).nnz == 0


def test_k_folds_make_every_user_a_test_user_exactly_once() -> None:
    log, k = tiny_log(), 5
    splits = [strong_generalisation_folds(log, k, f, seed=2) for f in range(k)]
    tested = np.concatenate([s.test.users for s in splits])
    assert sorted(tested.tolist()) == list(range(50))  # every tiny_log user has >= 5 items: none dropped
    for f, split in enumerate(splits):
        train, valid, test = set(split.train_users), set(split.valid.users), set(split.test.users)
        assert not train & valid and not train & test and not valid & test
        assert len(train) + len(valid) + len(test) == 50
        assert valid == set(splits[(f + 1) % k].test.users)  # fold f + 1 validates split f


def test_k_fold_splits_are_seeded_and_reject_bad_arguments() -> None:
    a, b = strong_generalisation_folds(tiny_log(), 4, 1, seed=5), strong_generalisation_folds(tiny_log(), 4, 1, seed=5)
    np.testing.assert_array_equal(a.test.users, b.test.users)
    assert (a.test.fold_in != b.test.fold_in).nnz == 0
    with pytest.raises(ValueError, match="n_folds"):
        strong_generalisation_folds(tiny_log(), 2, 0)
    with pytest.raises(ValueError, match="fold must be"):
        strong_generalisation_folds(tiny_log(), 4, 4)


def test_held_out_items_unknown_to_training_are_dropped() -> None:
    seqs = (*(np.array([1, 2, 3, 4, 5]) for _ in range(9)), np.array([1, 2, 6]))  # item 6: one user only
    log = InteractionLog(tuple(str(u) for u in range(10)), tuple(str(i) for i in range(6)), seqs)
    for seed in range(20):
        split = strong_generalisation(log, 1, 1, seed=seed)
        if 9 in split.test.users or 9 in split.valid.users:
            held = split.test if 9 in split.test.users else split.valid
            row = list(held.users).index(9)
            assert 5 not in held.fold_in[row].indices and 5 not in held.targets[row].indices
            return
    pytest.fail("user 9 was never held out")


def test_ndcg_on_a_hand_made_case() -> None:
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5]])  # ranking: items 0, 1, 2, 3, 4
    relevant = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0]])  # hits at ranks 2 and 4
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(scores, relevant, 100).item() == pytest.approx(dcg / idcg)
    assert ndcg_at_k(scores, relevant, 2).item() == pytest.approx((1 / math.log2(3)) / idcg)
    assert ndcg_at_k(scores, torch.zeros_like(relevant), 100).item() == 0.0


def test_recall_denominator_is_min_of_relevant_and_k() -> None:
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5]])
    relevant = torch.tensor([[1.0, 0.0, 1.0, 1.0, 1.0]])
    assert recall_at_k(scores, relevant, 2).item() == pytest.approx(1 / 2)  # 1 hit in top 2, min(4, 2) = 2
    assert recall_at_k(scores, relevant, 5).item() == pytest.approx(1.0)  # 4 hits / min(4, 5)


def test_fold_in_items_are_never_ranked() -> None:
    import scipy.sparse as sp

    fold_in = sp.csr_matrix(np.array([[1, 0, 0, 0, 0]], dtype=np.float32))  # item 0 given
    targets = sp.csr_matrix(np.array([[0, 0, 1, 0, 0]], dtype=np.float32))  # item 2 to predict
    scores = torch.tensor([[10.0, 5.0, 4.0, 1.0, 0.0]])  # the fold-in item scores highest
    result = evaluate_heldout(lambda x: scores.expand(x.shape[0], -1), fold_in, targets, ndcg_ks=(100,))
    # with the fold-in item removed the target is rank 2: 1/log2(3); had it stayed, rank 3: 1/log2(4)
    assert result.metrics["ndcg@100"] == pytest.approx(1 / math.log2(3))
    assert result.per_user["recall@20"].tolist() == [1.0]
