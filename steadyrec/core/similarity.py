"""Rank-list similarity: RBO_ext (Webber, Moffat and Zobel 2010), Jaccard@K and average overlap.

Numpy only (no torch), so the service's shadow comparison and canary use exactly these functions.

With ``X_d = |A[:d] ∩ B[:d]|`` the overlap at depth d of two rankings:

- ``rbo_ext`` is Webber et al.'s extrapolated RBO (Eq. 32; Eq. 30 for lists of equal length k):
  ``(1 - p) / p * sum_{d=1..k} X_d / d * p^d + X_k / k * p^k``. Identical lists give 1.0, disjoint 0.0.
  (The truncated sum without the extrapolation term gives 0.6513 for identical top-10 lists: not RBO.)
- ``jaccard`` is ``|A ∩ B| / |A ∪ B|`` over the two top-K sets.
- ``average_overlap`` is ``mean_{d=1..k} X_d / d``: what RBO with p = 1 over the full lists reduces to,
  which is what the official FINEST code reports as "RBO" (`ao_full` in our tables).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["average_overlap", "jaccard", "overlap_curve", "rbo_depth", "rbo_ext", "rbo_ext_uneven"]


def overlap_curve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, K) and (N, K) rankings of distinct items -> (N, K) overlaps, column d-1 = |a[:d] ∩ b[:d]|.

    An item at position i of ``a`` and position j of ``b`` is shared from depth max(i, j) + 1 on, so
    X_d counts the items whose max(i, j) < d: a cumulative count, no set operations.
    """
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    if a.shape != b.shape:
        raise ValueError(f"rankings must have the same shape, got {a.shape} and {b.shape}")
    n, k = a.shape
    match = a[:, :, None] == b[:, None, :]  # (N, K, K): a[i] == b[j]
    found = match.any(axis=2)  # (N, K) does a[i] occur in b
    j = match.argmax(axis=2)  # (N, K) its position in b
    depth = np.maximum(np.arange(k)[None, :], j)  # (N, K) first 0-based depth where a[i] is shared
    counts = np.zeros((n, k + 1), dtype=np.int64)
    rows = np.repeat(np.arange(n), k)
    np.add.at(counts, (rows, np.where(found, depth, k).ravel()), 1)
    return np.cumsum(counts[:, :k], axis=1)


def rbo_ext(a: np.ndarray, b: np.ndarray, p: float = 0.9) -> np.ndarray:
    """RBO_ext of each row pair of two (N, K) rankings (Webber et al. Eq. 32 with s = l = K): (N,)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}: p = 1 is average overlap, not RBO")
    x = overlap_curve(a, b).astype(np.float64)  # (N, K)
    k = x.shape[1]
    d = np.arange(1, k + 1, dtype=np.float64)
    weights = p**d  # (K,)
    return (1.0 - p) / p * (x / d * weights).sum(axis=1) + x[:, -1] / k * p**k


def rbo_ext_uneven(s: Sequence[int], l: Sequence[int], p: float = 0.9) -> float:  # noqa: E741
    """RBO_ext of two rankings of possibly different lengths (Webber et al. Eq. 32; s is the shorter)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if len(s) > len(l):
        s, l = l, s  # noqa: E741
    sl, ll = len(s), len(l)
    if ll == 0:
        return 1.0
    if sl == 0:
        return 0.0
    seen_s: set[int] = set()
    seen_l: set[int] = set()
    x, shared = [], 0
    for d in range(ll):
        if d < sl:
            shared += (s[d] in seen_l) + (l[d] in seen_s) + (s[d] == l[d])
            seen_s.add(s[d])
        else:
            shared += l[d] in seen_s
        seen_l.add(l[d])
        x.append(shared)
    x_s, x_l = x[sl - 1], x[-1]
    total = sum(x[d - 1] / d * p**d for d in range(1, ll + 1))
    total += sum(x_s * (d - sl) / (sl * d) * p**d for d in range(sl + 1, ll + 1))
    return (1.0 - p) / p * total + ((x_l - x_s) / ll + x_s / sl) * p**ll


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|A ∩ B| / |A ∪ B| of the top-K sets of each row pair of two (N, K) rankings: (N,)."""
    shared = overlap_curve(a, b)[:, -1].astype(np.float64)
    k = np.atleast_2d(a).shape[1]
    return shared / (2 * k - shared)


def average_overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """mean_{d=1..K} |a[:d] ∩ b[:d]| / d of each row pair: (N,). Over full rankings this is `ao_full`."""
    x = overlap_curve(a, b).astype(np.float64)
    return (x / np.arange(1, x.shape[1] + 1)).mean(axis=1)


def rbo_depth(p: float = 0.9, tolerance: float = 1e-4) -> int:
    """Smallest depth d whose RBO residual bound p^d is below ``tolerance`` (88 for p = 0.9)."""
    return math.ceil(math.log(tolerance) / math.log(p))
