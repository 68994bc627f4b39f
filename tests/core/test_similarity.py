import numpy as np
import pytest

from steadyrec.core.similarity import (
    average_overlap,
    jaccard,
    overlap_curve,
    rbo_depth,
    rbo_ext,
    rbo_ext_uneven,
)

BASE = list(range(10))


def swapped(i: int, j: int) -> list[int]:
    out = BASE.copy()
    out[i], out[j] = out[j], out[i]
    return out


def replaced(i: int) -> list[int]:
    out = BASE.copy()
    out[i] = 99
    return out


# Reference values from ../shared/STYLE.md (Webber et al. 2010 Eq. 32, p = 0.9, K = 10).
@pytest.mark.parametrize(
    ("other", "expected"),
    [
        pytest.param(BASE, 1.0, id="identical"),
        pytest.param(swapped(0, 1), 0.9, id="swap-ranks-1-2"),
        pytest.param(swapped(8, 9), 0.9952, id="swap-ranks-9-10"),
        pytest.param(replaced(0), 0.7297, id="replace-rank-1"),
        pytest.param(replaced(9), 0.9613, id="replace-rank-10"),
        pytest.param(BASE[::-1], 0.5116, id="reversed"),
        pytest.param(list(range(10, 20)), 0.0, id="disjoint"),
    ],
)
def test_rbo_ext_matches_reference_values(other: list[int], expected: float) -> None:
    value = rbo_ext(np.array([BASE]), np.array([other]), p=0.9)[0]
    assert value == pytest.approx(expected, abs=5e-5)
    assert rbo_ext_uneven(BASE, other, p=0.9) == pytest.approx(value, abs=1e-12)


def test_rbo_is_symmetric_and_vectorised_over_rows() -> None:
    rng = np.random.default_rng(0)
    a = np.stack([rng.permutation(30)[:10] for _ in range(50)])
    b = np.stack([rng.permutation(30)[:10] for _ in range(50)])
    np.testing.assert_allclose(rbo_ext(a, b), rbo_ext(b, a))
    np.testing.assert_allclose(rbo_ext(a, b), [rbo_ext_uneven(x, y) for x, y in zip(a, b, strict=True)])


def test_rbo_of_uneven_lists_extrapolates_the_shorter() -> None:
    assert rbo_ext_uneven(BASE[:5], BASE) == pytest.approx(1.0)
    assert rbo_ext_uneven([], BASE) == 0.0


def test_p_of_one_is_refused() -> None:
    with pytest.raises(ValueError, match="average overlap"):
        rbo_ext(np.array([BASE]), np.array([BASE]), p=1.0)


def test_jaccard_after_replacing_one_item() -> None:
    assert jaccard(np.array([BASE]), np.array([replaced(3)]))[0] == pytest.approx(9 / 11)


def test_overlap_curve_and_average_overlap() -> None:
    np.testing.assert_array_equal(overlap_curve(np.array([[1, 2, 3]]), np.array([[2, 1, 4]])), [[0, 2, 2]])
    assert average_overlap(np.array([[1, 2, 3]]), np.array([[2, 1, 4]]))[0] == pytest.approx((0 + 1 + 2 / 3) / 3)
    assert average_overlap(np.array([BASE]), np.array([BASE[::-1]]))[0] < 1.0


def test_rbo_depth_leaves_a_residual_below_the_tolerance() -> None:
    d = rbo_depth(0.9, 1e-4)
    assert 0.9**d < 1e-4 <= 0.9 ** (d - 1)


def test_full_average_overlap_matches_the_definition() -> None:
    import torch

    from training.evaluation.stability import full_average_overlap

    rng = np.random.default_rng(0)
    a = np.stack([rng.permutation(12) for _ in range(4)])
    b = np.stack([rng.permutation(12) for _ in range(4)])
    fast = full_average_overlap(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    slow = [np.mean([len(set(x[:d]) & set(y[:d])) / d for d in range(1, 13)]) for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(fast, slow)
    np.testing.assert_allclose(average_overlap(a, b), slow)
