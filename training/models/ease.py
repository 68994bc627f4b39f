"""EASE (Steck, WWW 2019) and EASE-IPW, as written in the R-LARM paper (Sec. 4.2, Eq. 7-8).

Eq. 7: min_W 1/(mn) sum_ij (X_ij - [XW]_ij)^2 + C/2 ||W||_F^2  s.t. diag(W) = 0.
Setting the gradient to zero under the constraint gives Steck's closed form with his lambda = C mn / 2:
P = (X^T X + lambda I)^-1, W_ij = -P_ij / P_jj (i != j), W_jj = 0.
Eq. 8 (EASE-IPW) weights user i's squared loss by theta_i; that is EASE on X with row i scaled by
sqrt(theta_i). Sec. 5: theta_i = n_i^-beta with n_i the user's number of training items.

Serving: :class:`EASE` keeps the one model contract. Its graph input is the same left-padded item-id
history (B, L) every other model takes (0 = padding); the multi-hot vector is built inside the graph,
so the service, the ONNX export and the parity check need nothing EASE-specific.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from training.data.batches import Batch
from training.models.base import SequentialModel

__all__ = ["EASE", "EASEConfig", "ease_lambda", "fit_ease", "ipw_weights", "multi_hot"]


@dataclass(frozen=True)
class EASEConfig:
    max_len: int = 200  # items of the history served (the service's contract); ml-1m users average 165
    c: float = 0.0  # C of Eq. 7 the weights were fitted with (recorded in the manifest; 0 = not fitted)
    beta: float = 0.0  # EASE-IPW's exponent of theta_i = n_i^-beta (Sec. 5); 0 = plain EASE

    def __post_init__(self) -> None:
        if self.max_len < 1 or self.c < 0:
            raise ValueError("max_len >= 1 and c >= 0 are required")


def ease_lambda(c: float, n_users: int, n_items: int) -> float:
    """Steck's ridge weight for Eq. 7's C: the gradient of Eq. 7 is 2/(mn) [(G + C mn / 2 I) W - G]."""
    return c * n_users * n_items / 2.0


def ipw_weights(counts: np.ndarray, beta: float) -> np.ndarray:
    """theta_i = n_i^-beta (Sec. 5), rescaled to mean 1 so that C keeps its meaning across beta
    (a common factor of theta is the same as rescaling C). Users without items get weight 0."""
    counts = np.asarray(counts, dtype=np.float64)
    theta = np.where(counts > 0, np.power(np.maximum(counts, 1.0), -beta), 0.0)
    mean = theta[counts > 0].mean() if (counts > 0).any() else 1.0
    return theta / mean


def fit_ease(x: sp.spmatrix | np.ndarray, c: float, user_weights: np.ndarray | None = None) -> np.ndarray:
    """Closed-form solution of Eq. 7 (or Eq. 8 with ``user_weights`` = theta): (n, n) float64, zero diagonal."""
    x = sp.csr_matrix(x, dtype=np.float64)
    m, n = x.shape
    if user_weights is not None:
        x = sp.diags(np.sqrt(np.asarray(user_weights, dtype=np.float64))) @ x  # Eq. 8: rows times sqrt(theta_i)
    gram = np.asarray((x.T @ x).todense())  # (n, n) = X^T X
    gram[np.diag_indices(n)] += ease_lambda(c, m, n)
    p = np.linalg.inv(gram)  # (n, n)
    w = -p / np.diag(p)[None, :]  # W_ij = -P_ij / P_jj
    w[np.diag_indices(n)] = 0.0  # the constraint of Eq. 7, exactly
    return w


def multi_hot(history: torch.Tensor, n_items: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, L) left-padded ids -> (B, N) binary rows X_i (repeats count once, padding dropped)."""
    ones = torch.ones_like(history, dtype=dtype)  # (B, L)
    hot = torch.zeros(history.shape[0], n_items + 1, dtype=dtype, device=history.device)  # (B, N + 1)
    return hot.scatter(1, history, ones)[:, 1:]  # (B, N): column j is item j + 1


class EASE(SequentialModel):
    """Scores = multi-hot(history) @ W with W the (n, n) item-item matrix (fitted in closed form)."""

    kind = "ease"

    def __init__(self, n_items: int, config: EASEConfig) -> None:
        super().__init__(n_items, config)
        self.weight = nn.Parameter(torch.zeros(n_items, n_items), requires_grad=False)  # (N, N) = W

    @classmethod
    def from_weights(cls, weights: np.ndarray, config: EASEConfig) -> EASE:
        model = cls(weights.shape[0], config)
        with torch.no_grad():
            model.weight.copy_(torch.from_numpy(np.asarray(weights, dtype=np.float32)))
        return model

    def scores(self, history: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        x = multi_hot(history[:, -self.max_len :], self.n_items, self.weight.dtype)  # (B, N) built in the graph
        return x @ self.weight  # (B, N) = X_i W

    def loss(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError(
            "EASE is fitted in closed form (training.models.ease.fit_ease), not by gradient steps; "
            "for the adversarial variants see training.methods.larm"
        )
