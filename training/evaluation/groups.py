"""Per-user-group report of the R-LARM paper's Fig. 2 (Sec. 5.4).

Users are sorted by the baseline's per-user metric (EASE's NDCG@100 in the paper); bucket q holds the
bottom q% of them (q = 10, 20, ..., 100, so buckets are nested and q = 100 is everyone). For every other
model, on the same users: the mean metric, its improvement over the baseline (absolute and in percent,
the paper's y-axis) and the p-value of a two-sided paired t-test (scipy.stats.ttest_rel; the paper
tests at the 5% level).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["GroupRow", "bottom_indices", "group_report", "paired_p_value"]

QUANTILES = tuple(range(10, 101, 10))  # Fig. 2's x-axis: bottom 10%, 20%, ..., 100%


@dataclass(frozen=True)
class GroupRow:
    model: str
    quantile: int  # bottom q% of users by the baseline
    users: int
    baseline: float  # the baseline's mean on these users
    mean: float  # the model's mean on these users
    improvement: float  # mean - baseline
    improvement_pct: float | None  # 100 (mean - baseline) / baseline; None when the baseline mean is 0
    p_value: float  # paired t-test, two-sided


def bottom_indices(baseline: np.ndarray, quantile: float) -> np.ndarray:
    """Indices of the ceil(q% of H) users with the lowest baseline values (ties broken by index)."""
    baseline = np.asarray(baseline)
    n = max(1, math.ceil(len(baseline) * quantile / 100.0))
    return np.argsort(baseline, kind="stable")[:n]


def paired_p_value(model: np.ndarray, baseline: np.ndarray) -> float:
    """Two-sided paired t-test p-value; 1.0 when the two agree on every user (no difference to test)."""
    diff = np.asarray(model, dtype=np.float64) - np.asarray(baseline, dtype=np.float64)
    if len(diff) < 2 or not np.any(diff):
        return 1.0
    if np.ptp(diff) <= 1e-12 * np.abs(diff).max():  # the same shift for every user: t is infinite
        return 0.0
    return float(stats.ttest_rel(model, baseline).pvalue)


def group_report(
    baseline: np.ndarray, models: Mapping[str, np.ndarray], quantiles: Sequence[int] = QUANTILES
) -> list[GroupRow]:
    """One row per (model, bucket); every array is (H,) per user, aligned with ``baseline``."""
    baseline = np.asarray(baseline, dtype=np.float64)
    rows: list[GroupRow] = []
    for name, values in models.items():
        values = np.asarray(values, dtype=np.float64)
        if values.shape != baseline.shape:
            raise ValueError(f"{name}: {values.shape} per-user values, baseline has {baseline.shape}")
        for q in quantiles:
            idx = bottom_indices(baseline, q)
            base, mean = float(baseline[idx].mean()), float(values[idx].mean())
            pct = 100.0 * (mean - base) / base if base > 0 else None
            rows.append(
                GroupRow(name, q, len(idx), base, mean, mean - base, pct, paired_p_value(values[idx], baseline[idx]))
            )
    return rows
