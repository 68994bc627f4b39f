"""EASE / EASE-IPW closed form (R-LARM paper Eq. 7-8) and its serving model (multi-hot built in the graph)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from steadyrec.core.interactions import InteractionLog
from steadyrec.core.onnx_model import load_version
from training.artifact import data_info, load_model, popular_items, write_artifact
from training.data.matrix import user_item_matrix
from training.models import build_model
from training.models.ease import EASE, EASEConfig, ease_lambda, fit_ease, ipw_weights
from training.onnx_export import export_onnx

# 4 users x 4 items, made by hand
X = np.array(
    [
        [1, 1, 0, 0],
        [0, 1, 1, 0],
        [1, 0, 1, 1],
        [1, 1, 1, 0],
    ],
    dtype=np.float64,
)


def constrained_ridge(x: np.ndarray, lam: float) -> np.ndarray:
    """Eq. 7 solved column by column: column j regresses X[:, j] on the other columns (so W_jj = 0)."""
    n = x.shape[1]
    w = np.zeros((n, n))
    for j in range(n):
        others = [i for i in range(n) if i != j]
        a = x[:, others]
        w[others, j] = np.linalg.solve(a.T @ a + lam * np.eye(n - 1), a.T @ x[:, j])
    return w


def test_closed_form_equals_the_constrained_least_squares_on_a_4x4_matrix() -> None:
    c = 0.25
    lam = ease_lambda(c, 4, 4)
    assert lam == pytest.approx(c * 16 / 2)  # Steck's lambda = C m n / 2 for Eq. 7's 1/(mn) scaling
    np.testing.assert_allclose(fit_ease(X, c), constrained_ridge(X, lam), atol=1e-12)


def test_closed_form_is_a_stationary_point_of_eq7_off_the_diagonal() -> None:
    c, m, n = 0.1, 4, 4
    w = fit_ease(X, c)
    grad = -2.0 / (m * n) * X.T @ (X - X @ w) + c * w  # gradient of Eq. 7
    grad[np.diag_indices(n)] = 0.0  # the constraint's multipliers absorb the diagonal
    np.testing.assert_allclose(grad, 0.0, atol=1e-12)


def test_diagonal_is_exactly_zero() -> None:
    rng = np.random.default_rng(0)
    x = (rng.random((30, 12)) < 0.3).astype(np.float64)
    w = fit_ease(x, 0.01, ipw_weights(x.sum(1), 0.5))
    assert np.all(np.diag(w) == 0.0)


def test_ipw_weights_are_inverse_powers_of_the_user_counts_with_mean_one() -> None:
    counts = np.array([1, 4, 16, 0])
    theta = ipw_weights(counts, 0.5)
    raw = np.array([1.0, 0.5, 0.25])  # n^-0.5
    np.testing.assert_allclose(theta[:3], raw / raw.mean())
    assert theta[3] == 0.0
    np.testing.assert_allclose(ipw_weights(counts, 0.0)[:3], 1.0)


def test_ipw_equals_ease_on_rows_scaled_by_sqrt_theta() -> None:
    theta = np.array([2.0, 0.5, 1.0, 0.25])
    scaled = np.sqrt(theta)[:, None] * X
    np.testing.assert_allclose(fit_ease(X, 0.3, theta), constrained_ridge(scaled, ease_lambda(0.3, 4, 4)), atol=1e-12)


def test_ipw_with_equal_weights_is_plain_ease() -> None:
    np.testing.assert_allclose(fit_ease(X, 0.3, np.ones(4)), fit_ease(X, 0.3), atol=1e-12)


def test_sparse_matrix_from_sequences_is_binary() -> None:
    x = user_item_matrix([np.array([1, 2, 2]), np.array([4])], 4)
    np.testing.assert_array_equal(x.toarray(), [[1, 1, 0, 0], [0, 0, 0, 1]])


def test_model_scores_are_the_multi_hot_history_times_w() -> None:
    w = fit_ease(X, 0.1)
    model = EASE.from_weights(w, EASEConfig(max_len=5)).eval()
    history = torch.tensor([[0, 0, 0, 1, 2], [0, 3, 3, 4, 1], [0, 0, 0, 0, 0]])  # left-padded, a repeat
    expected = np.array([[1, 1, 0, 0], [1, 0, 1, 1], [0, 0, 0, 0]], dtype=np.float64) @ w
    np.testing.assert_allclose(model.scores(history).numpy(), expected, atol=1e-6)


def test_ease_has_no_gradient_training() -> None:
    with pytest.raises(NotImplementedError, match="closed form"):
        build_model("ease", 4).loss(None)  # type: ignore[arg-type]


def test_artifact_onnx_matches_pytorch_and_reloads(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    seqs = tuple(rng.choice(np.arange(1, 31), size=rng.integers(2, 12), replace=False) for _ in range(40))
    log = InteractionLog(tuple(str(u) for u in range(40)), tuple(str(i) for i in range(30)), seqs)
    w = fit_ease(user_item_matrix(log.sequences, log.n_items), 1e-3)
    model = EASE.from_weights(w, EASEConfig(max_len=10, c=1e-3))
    data = data_info(log, source="synthetic", fmt=None, split="strong-generalisation", min_interactions=1)
    write_artifact(
        tmp_path / "ease", model, item_ids=log.item_ids, popular=popular_items(log), data=data, export_onnx=export_onnx
    )
    loaded, manifest, _ = load_model(tmp_path / "ease")
    assert manifest.model_kind == "ease" and manifest.config["c"] == 1e-3
    served = load_version("ease", tmp_path / "ease")
    for batch in (1, 7):
        history = torch.randint(0, 31, (batch, 10))
        scores = served.score(history.numpy())
        with torch.no_grad():
            np.testing.assert_allclose(scores, loaded.scores(history).numpy(), atol=1e-4)
