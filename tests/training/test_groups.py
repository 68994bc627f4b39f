"""Per-user-group report (R-LARM paper Fig. 2): nested bottom-q% buckets by the baseline, paired t-tests."""

import numpy as np
import pytest
from scipy import stats

from training.evaluation.groups import bottom_indices, group_report, paired_p_value


def test_bottom_buckets_hold_the_users_the_baseline_serves_worst() -> None:
    baseline = np.array([0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 0.0])
    assert sorted(bottom_indices(baseline, 20)) == [1, 9]  # values 0.1 and 0.0
    assert sorted(bottom_indices(baseline, 30)) == [1, 5, 9]
    assert len(bottom_indices(baseline, 100)) == 10
    assert len(bottom_indices(baseline, 15)) == 2  # ceil(1.5)


def test_report_improvement_and_paired_t_test_on_a_hand_made_case() -> None:
    baseline = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    model = baseline + np.array([0.10, 0.12, 0.08, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.3])
    rows = {r.quantile: r for r in group_report(baseline, {"m": model}, quantiles=(30, 100))}
    low = rows[30]
    assert low.users == 3 and low.baseline == pytest.approx(0.2) and low.mean == pytest.approx(0.3)
    assert low.improvement_pct == pytest.approx(50.0)
    assert low.p_value == pytest.approx(stats.ttest_rel(model[:3], baseline[:3]).pvalue)
    assert rows[100].improvement == pytest.approx(0.0, abs=1e-12)


def test_p_value_edge_cases() -> None:
    a = np.array([0.1, 0.2, 0.3])
    assert paired_p_value(a, a) == 1.0  # no difference at all
    assert paired_p_value(a + 0.1, a) == 0.0  # the same gain for every user
    with pytest.raises(ValueError, match="per-user values"):
        group_report(a, {"m": np.zeros(4)})
