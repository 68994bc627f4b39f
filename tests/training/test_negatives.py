"""Negatives for BCE: uniform over the items, or (``negatives="unseen"``) from the items a user has not
interacted with in training, as SASRec's and the cascade paper's samplers draw them."""

from __future__ import annotations

import numpy as np
import torch

from steadyrec.core.interactions import build_log
from training.data.batches import Batch, TrainingWindows
from training.models.base import draw_negatives

# ids in name order: w 1, x 2, y 3, z 4. User a: x, y, x, z (2, 3, 2, 4); user b: w, y (1, 3)
LOG = build_log([("a", "x", 1.0), ("a", "y", 2.0), ("a", "x", 3.0), ("a", "z", 4.0), ("b", "w", 1.0), ("b", "y", 2.0)])


def test_windows_carry_each_users_distinct_training_items_sorted_and_padded_above_every_id() -> None:
    windows = TrainingWindows(LOG, max_len=3, seen=True)
    seen = windows.seen_items(torch.tensor([0, 1]))
    assert seen is not None and seen.tolist() == [[2, 3, 4], [1, 3, 5]]  # 5 = n_items + 1: padding
    assert TrainingWindows(LOG, max_len=3).seen_items(torch.tensor([0, 1])) is None


def test_unseen_negatives_never_draw_an_item_of_the_users_history() -> None:
    targets = torch.ones((2, 500), dtype=torch.long)
    seen = torch.tensor([[1, 2, 9], [3, 9, 9]])  # padded with n_items + 1 = 9
    batch = Batch(torch.zeros((2, 501), dtype=torch.long), torch.tensor([0, 1]), torch.Generator().manual_seed(0))
    batch.seen = seen
    negatives = draw_negatives(targets, 8, batch).numpy()
    assert not np.isin(negatives[0], [1, 2]).any() and not np.isin(negatives[1], [3]).any()
    assert set(np.unique(negatives[0])) == {3, 4, 5, 6, 7, 8} and set(np.unique(negatives[1])) == {1, 2, 4, 5, 6, 7, 8}


def test_without_seen_items_the_draw_is_the_plain_uniform_one() -> None:
    targets = torch.ones((3, 7), dtype=torch.long)
    batch = Batch(torch.zeros((3, 8), dtype=torch.long), torch.arange(3), torch.Generator().manual_seed(5))
    expected = torch.randint(1, 11, (3, 7), generator=torch.Generator().manual_seed(5))
    assert torch.equal(draw_negatives(targets, 10, batch), expected)
