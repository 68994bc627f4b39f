"""The binary user-item matrix X of the EASE family (R-LARM paper, Sec. 4: X in {0, 1}^{m x n})."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

__all__ = ["user_item_matrix"]


def user_item_matrix(sequences: Sequence[np.ndarray], n_items: int) -> sp.csr_matrix:
    """Rows = users, column j = internal item j + 1; repeated interactions count once: (m, n) float32 CSR."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    rows = np.repeat(np.arange(len(sequences)), lengths)
    cols = np.concatenate([*sequences, np.zeros(0, np.int64)]).astype(np.int64) - 1
    if cols.size and (cols.min() < 0 or cols.max() >= n_items):
        raise ValueError(f"item ids must be in 1..{n_items}")
    x = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(sequences), n_items))
    x.sum_duplicates()
    x.data[:] = 1.0  # binary, whatever the repeats
    return x
