"""The strong-generalisation split of the R-LARM paper's setup (Sec. 5, after Liang et al. 2018 / Steck 2019).

Users, not interactions, are split: a seeded random set of held-out users for validation and another
for test; every other user trains. Each held-out user's items are split at random into fold-in items
(80%, given to the model as its input row) and target items (20%, to predict); fold-in items are never
ranked. As in Liang et al.'s preprocessing, held-out interactions with items no training user has
are dropped, and a held-out user needs at least 2 such items (one fold-in, one target) to be kept.

K-fold variant (``strong_generalisation_folds``, beyond the paper): the seeded user order is cut into K
folds; split f tests fold f, validates on fold f + 1 (mod K) and trains on the other K - 2, so across
the K splits every user is a test user exactly once. The paper's ML20M has 10k test users; ml-1m's
single split has 600, too few to resolve the ~1% NDCG@100 differences the paper reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from steadyrec.core.interactions import InteractionLog
from training.data.matrix import user_item_matrix

__all__ = ["HeldOut", "StrongSplit", "strong_generalisation", "strong_generalisation_folds"]


@dataclass(frozen=True)
class HeldOut:
    users: np.ndarray  # (H,) index of each held-out user in the log
    fold_in: sp.csr_matrix  # (H, n) items given to the model
    targets: sp.csr_matrix  # (H, n) items to predict (disjoint from fold_in)

    def __len__(self) -> int:
        return len(self.users)


@dataclass(frozen=True)
class StrongSplit:
    train_users: np.ndarray  # (m,) index of each training user in the log
    train: sp.csr_matrix  # (m, n) X of the training users
    valid: HeldOut
    test: HeldOut
    fold_in_fraction: float
    seed: int


def _held_out(
    log: InteractionLog, users: np.ndarray, known: np.ndarray, fraction: float, rng: np.random.Generator
) -> HeldOut:
    kept, fold, target = [], [], []
    for u in users:
        items = np.unique(log.sequences[u])
        items = items[known[items]]  # only items some training user has
        if len(items) < 2:
            continue
        n_target = min(len(items) - 1, max(1, round((1.0 - fraction) * len(items))))
        is_target = np.zeros(len(items), dtype=bool)
        is_target[rng.choice(len(items), size=n_target, replace=False)] = True
        kept.append(int(u))
        fold.append(items[~is_target])
        target.append(items[is_target])
    return HeldOut(
        np.array(kept, dtype=np.int64), user_item_matrix(fold, log.n_items), user_item_matrix(target, log.n_items)
    )


def _check_fraction(fold_in_fraction: float) -> None:
    if not 0.0 < fold_in_fraction < 1.0:
        raise ValueError(f"fold_in_fraction must be in (0, 1), got {fold_in_fraction}")


def _split(
    log: InteractionLog,
    valid_users: np.ndarray,
    test_users: np.ndarray,
    fold_in_fraction: float,
    rng: np.random.Generator,
    seed: int,
) -> StrongSplit:
    """Every user not held out trains; the held-out users' items are split into fold-in and targets."""
    held = np.zeros(log.n_users, dtype=bool)
    held[valid_users] = held[test_users] = True
    train_users = np.flatnonzero(~held)
    train = user_item_matrix([log.sequences[u] for u in train_users], log.n_items)
    known = np.concatenate([[False], np.asarray(train.sum(0)).ravel() > 0])  # by internal id, 0 = padding
    valid = _held_out(log, np.sort(valid_users), known, fold_in_fraction, rng)
    test = _held_out(log, np.sort(test_users), known, fold_in_fraction, rng)
    return StrongSplit(train_users, train, valid, test, fold_in_fraction, seed)


def strong_generalisation(
    log: InteractionLog, n_valid: int, n_test: int, *, fold_in_fraction: float = 0.8, seed: int = 0
) -> StrongSplit:
    """Hold out ``n_valid`` + ``n_test`` users (seeded); fold in ``fold_in_fraction`` of each one's items."""
    if n_valid < 1 or n_test < 1 or n_valid + n_test >= log.n_users:
        raise ValueError(f"need 1 <= n_valid, n_test and n_valid + n_test < {log.n_users} users")
    _check_fraction(fold_in_fraction)
    rng = np.random.default_rng(seed)
    order = rng.permutation(log.n_users)
    return _split(log, order[:n_valid], order[n_valid : n_valid + n_test], fold_in_fraction, rng, seed)


def strong_generalisation_folds(
    log: InteractionLog, n_folds: int, fold: int, *, fold_in_fraction: float = 0.8, seed: int = 0
) -> StrongSplit:
    """Split ``fold`` of K: test users = fold ``fold``, validation = fold ``fold + 1`` (mod K), train = the rest.

    The user order depends on ``seed`` only, so the K splits of one seed partition the users; each held-out
    user's fold-in / target draw depends on (seed, fold, user set) and is reproducible.
    """
    if n_folds < 3 or n_folds > log.n_users:
        raise ValueError(f"need 3 <= n_folds <= {log.n_users} users (one test, one validation, >= 1 train fold)")
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold must be in [0, {n_folds}), got {fold}")
    _check_fraction(fold_in_fraction)
    folds = np.array_split(np.random.default_rng(seed).permutation(log.n_users), n_folds)
    rng = np.random.default_rng([seed, fold])
    return _split(log, folds[(fold + 1) % n_folds], folds[fold], fold_in_fraction, rng, seed)
