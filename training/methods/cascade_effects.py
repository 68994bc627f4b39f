"""Cascade effects of every history interaction (Tan et al., Sec. 4.2, Algorithm 1, Eq. 11-12).

Training a causal model on a user's window makes each interaction feed (1) every later prediction of the
same window and (2) through the shared item embedding, every other window in the same batch that holds
the same item. For the interaction of user ``i`` at position ``t`` of its last ``T`` items (``t = T`` is
the most recent):

    C(i, t) = 1 + T - t + (b / m) * sum_{k != i} sum_{l <= T} (1 + T - l) * I(v_i^t = v_k^l)      (Eq. 11)

with ``b`` the batch size and ``m`` the number of users (``b / m`` approximates the chance that two
windows share a batch). Algorithm 1 accumulates ``D_v = sum_{k, l: v_k^l = v} (1 + T - l)`` over all
users in one pass; Eq. 11 excludes the user's own terms, so they are subtracted (this module follows
Eq. 11; Algorithm 1's line 11 also counts the user's own occurrences). Everything is vectorised over the
(m, T) window matrix: a weighted ``bincount`` for ``D`` and a sort of (user, item) keys for the user's own
terms.

Normalisation (Alg. 1 line 14 and the fair-comparison note of Sec. 5.5): min-max normalisation maps the
smallest effect to 0, whose inverse (the perturbation scale of Eq. 6) is unbounded, so the values are
mapped onto ``[floor, 1]`` instead of ``[0, 1]``; then they are re-scaled so that their mean over all real
interactions is 1 (``scale="mean_effect"``). The perturbation is A / C, so that makes the total perturbation
larger than the baselines' (C = 1) by mean(1/C) (27% on ml-1m); ``scale="mean_inverse"`` re-scales so that
mean(1/C) = 1 instead, the equal total magnitude Sec. 5.5 asks for.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cascade_effects", "raw_cascade_effects"]


def _own_terms(items: np.ndarray, weight: np.ndarray, n_items: int) -> np.ndarray:
    """Per position, the sum of the user's own weights over its positions holding the same item: (m, T)."""
    m, T = items.shape
    keys = (np.arange(m, dtype=np.int64)[:, None] * (n_items + 1) + items).ravel()  # (m * T,) user-item keys
    unique, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse, weights=weight.ravel(), minlength=len(unique))
    return sums[inverse].reshape(m, T)


def raw_cascade_effects(
    items: np.ndarray, batch_size: int, *, same_sequence: bool = True, cross_sequence: bool = True
) -> np.ndarray:
    """Eq. 11 before normalisation for left-padded windows ``items`` (m, T) (0 = padding): (m, T) floats.

    ``same_sequence`` keeps the ``T - t`` term (effects on the later items of the same window);
    ``cross_sequence`` keeps the ``(b/m)`` sum over other users (Table 4's adv_cas_1 / adv_cas_2 drop one).
    The ``1`` (the interaction's effect on its own prediction) is always kept, so C >= 1 as in Eq. 6.
    Padding positions get 0.
    """
    m, T = items.shape
    real = items > 0  # (m, T)
    position = np.arange(1, T + 1)  # t = 1..T, the last column is the most recent item
    weight = np.where(real, 1.0 + T - position, 0.0)  # (m, T): 1 + T - t, Alg. 1 line 5
    effect = np.ones((m, T))
    if same_sequence:
        effect += T - position  # (T,) broadcast: 1 + T - t
    if cross_sequence and m:
        n_items = int(items.max())
        totals = np.bincount(items.ravel(), weights=weight.ravel(), minlength=n_items + 1)  # D, Alg. 1 lines 3-7
        others = totals[items] - _own_terms(items, weight, n_items)  # (m, T): sum over k != i (Eq. 11)
        effect += batch_size / m * others
    return np.where(real, effect, 0.0)


def cascade_effects(
    items: np.ndarray,
    batch_size: int,
    *,
    same_sequence: bool = True,
    cross_sequence: bool = True,
    floor: float = 0.1,
    scale: str = "mean_effect",
) -> np.ndarray:
    """Normalised cascade effects (m, T) float32: real positions in [floor, 1] up to one common factor,
    mean(C) = 1 over real positions (``scale="mean_inverse"``: mean(1/C) = 1); padding positions are 1 (never
    used: their perturbation is masked)."""
    if not 0.0 < floor <= 1.0:
        raise ValueError(f"floor must be in (0, 1], got {floor}")
    if scale not in ("mean_effect", "mean_inverse"):
        raise ValueError(f"scale must be 'mean_effect' or 'mean_inverse', got {scale!r}")
    raw = raw_cascade_effects(items, batch_size, same_sequence=same_sequence, cross_sequence=cross_sequence)
    real = items > 0
    out = np.ones(items.shape, dtype=np.float64)
    if not real.any():
        return out.astype(np.float32)
    lo, hi = raw[real].min(), raw[real].max()
    scaled = np.ones_like(raw) if hi == lo else floor + (1.0 - floor) * (raw - lo) / (hi - lo)  # Alg. 1 line 14
    # Sec. 5.5: the average cascade value re-normalised to 1; or mean(1/C) = 1, so A / C carries A's total
    factor = 1.0 / scaled[real].mean() if scale == "mean_effect" else (1.0 / scaled[real]).mean()
    scaled = scaled * factor
    out[real] = scaled[real]
    return out.astype(np.float32)
