"""ARM, R-LARM and R-LARM(NN) on top of EASE (R-LARM paper Sec. 4.3-4.4, Algorithms 1-2, Eq. 9-12).

Learner: the item-item matrix W (n x n) with diag(W) = 0 (a mask keeps the diagonal out of every
product, and it is stored as exact zeros). Its loss on a mini-batch of l users (Eq. 9 with Eq. 6's
z = n sum_i sigma_i, normalised per mini-batch as in Sec. 5.1):
    L(W, A) = sum_i p_i (1/n) sum_j (X_ij - [X W]_ij)^2 + C/2 ||W||_F^2,   p_i = sigma_i / sum_batch sigma.
With equal weights this is Eq. 7 on the mini-batch, so C means the same as in EASE.
Adversary (training.methods.adversary): ARM ascends L itself (Alg. 1, Eq. 9); R-LARM ascends the rank
loss P = sum_i p_i (1 - NDCG_i(k, W)) (Alg. 2, Eq. 10-11), NDCG of the user's own items X_i ranked
by X_i W (the current iterate, no gradient to W); R-LARM(NN) uses the one-hidden-layer adversary (Eq. 12).
Both players use Adam with the same learning rate (Sec. 5.1); the adversary moves only after K warm-up
epochs (Alg. 1-2 line 4); validation NDCG@100 after each epoch, stopping after ``patience`` epochs
below the peak or at ``epochs`` (Sec. 5.1: 5 and 100), keeping the best W.

``learner="closed-form"`` (beyond the paper): for a fixed adversary the learner's problem is Eq. 8 with
theta_i = sigma_i / mean(sigma) (Eq. 9's normaliser z over the whole data rather than per mini-batch), a
weighted EASE with a closed form. The adversary takes its Adam steps over the epoch's mini-batches against
the current W, then W is replaced by that exact minimiser. This removes the learner's optimiser noise: on
ml-1m the Adam learner, started from EASE, only drifts below it on validation, while the exact learner
shows what the adversary's weights themselves do.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from training.data.strong_generalisation import HeldOut
from training.device import training_device
from training.evaluation.heldout import dense_rows, evaluate_heldout, item_item_scorer, ndcg_at_k
from training.methods.adversary import Adversary, adversary_step, build_adversary, normalised_weights
from training.models.ease import fit_ease
from training.optim import adam

__all__ = [
    "ItemItem",
    "LarmConfig",
    "LarmEpoch",
    "LarmResult",
    "fit_larm",
    "learner_loss",
    "rank_loss",
    "user_weights",
]

log = logging.getLogger(__name__)

Variant = Literal["arm", "r-larm", "r-larm-nn"]


@dataclass(frozen=True)
class LarmConfig:
    variant: Variant = "r-larm"  # arm: Alg. 1 / Eq. 9; r-larm: Alg. 2 / Eq. 10; r-larm-nn: Alg. 2 / Eq. 12
    c: float = 1e-4  # C of Eq. 9 (Eq. 7's scaling); tuned on validation NDCG@100 (Sec. 5.1)
    b: float = 1e-2  # B of Eq. 9-12, the adversary's l2 weight; tuned on validation (Sec. 5.1)
    hidden: int = 32  # k, A0's width in Eq. 12; tuned on validation in Sec. 5.1 (value not reported)
    lr: float = 1e-4  # Sec. 5.1: tuned in {1e-5, 2e-5, 5e-5, 1e-4}; the same for learner and adversary
    batch_size: int = 1024  # Sec. 5.1: 1024 users (rows of X) and all columns per mini-batch
    epochs: int = 100  # Sec. 5.1: at most 100 epochs
    patience: int = 5  # Sec. 5.1: stop after five epochs below the peak validation NDCG@100
    warmup: int = 1  # K of Alg. 1-2; Sec. 5.1: adversarial updates after the first epoch (K > 0)
    k: int = 100  # NDCG@k of the rank loss (Eq. 10-11) and of validation (Sec. 5)
    init: Literal["glorot", "ease"] = "glorot"  # W's start: GlorotNormal (Sec. 5.1) or a given EASE solution
    # adam: Alg. 1-2 as printed (Sec. 5.1); closed-form: W is the exact weighted EASE for the current
    # adversary after each epoch (module docstring), starting from EASE, so ``init`` does not apply
    learner: Literal["adam", "closed-form"] = "adam"
    seed: int = 0  # initialisation and mini-batch order
    device: str = "auto"  # CUDA when present, else CPU
    max_seconds: float | None = None  # wall-time budget: stop after the epoch that crosses it

    def __post_init__(self) -> None:
        if self.variant not in ("arm", "r-larm", "r-larm-nn"):
            raise ValueError(f"variant must be arm, r-larm or r-larm-nn, got {self.variant!r}")
        if self.learner not in ("adam", "closed-form"):
            raise ValueError(f"learner must be adam or closed-form, got {self.learner!r}")
        if self.c < 0 or self.b < 0 or self.lr <= 0 or self.batch_size < 2 or self.epochs < 1 or self.k < 1:
            raise ValueError("c, b >= 0, lr > 0, batch_size >= 2, epochs >= 1 and k >= 1 are required")

    @property
    def rank_adversary(self) -> bool:
        return self.variant != "arm"


class ItemItem(nn.Module):
    """The learner X_i -> X_i W with diag(W) = 0: (B, N) -> (B, N)."""

    off_diagonal: torch.Tensor  # (N, N) buffer: 1 - I

    def __init__(self, n_items: int, init: np.ndarray | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_items, n_items))  # (N, N)
        if init is None:
            nn.init.xavier_normal_(self.weight)  # GlorotNormal (Sec. 5.1)
        else:
            with torch.no_grad():
                self.weight.copy_(torch.from_numpy(np.asarray(init, dtype=np.float32)))
        self.register_buffer("off_diagonal", 1.0 - torch.eye(n_items))  # (N, N)
        with torch.no_grad():
            self.weight.mul_(self.off_diagonal)  # stored diagonal exactly zero; the mask keeps it so

    def masked(self) -> torch.Tensor:
        return self.weight * self.off_diagonal  # (N, N), zero diagonal (Eq. 7's constraint)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.masked()  # (B, N)


def learner_loss(x: torch.Tensor, scores: torch.Tensor, p: torch.Tensor, w: torch.Tensor, c: float) -> torch.Tensor:
    """Eq. 9 on a mini-batch: sum_i p_i mean_j (X_ij - [XW]_ij)^2 + C/2 ||W||^2; x, scores (B, N), p (B,)."""
    per_user = (x - scores).pow(2).mean(1)  # (B,) (1/n) sum_j
    return (p * per_user).sum() + 0.5 * c * w.pow(2).sum()


def rank_loss(scores: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
    """R-LARM's per-user rank loss 1 - NDCG_i(k, W) (Eq. 10-11): the user's own items ranked by X_i W."""
    return 1.0 - ndcg_at_k(scores.detach(), x, k).to(scores.dtype)  # (B,)


@dataclass(frozen=True)
class LarmEpoch:
    epoch: int
    learner_loss: float
    adversary_objective: float | None  # mean over the epoch's adversary steps; None during warm-up
    valid_ndcg: float | None
    seconds: float


@dataclass
class LarmResult:
    weights: np.ndarray  # (N, N) float32, the best W on validation (zero diagonal)
    adversary: Adversary  # as it was at the best epoch (the closed-form W is its weighted EASE)
    theta: np.ndarray | None = None  # (m,) mean 1: the user weights the kept W was fitted with (uniform in warm-up)
    epochs: list[LarmEpoch] = field(default_factory=list)
    best_epoch: int = 0
    best_valid: float | None = None
    wall_s: float = 0.0

    @property
    def seconds_per_epoch(self) -> float:
        return float(np.mean([e.seconds for e in self.epochs])) if self.epochs else 0.0


@torch.no_grad()
def user_weights(adversary: Adversary, train: sp.csr_matrix, batch_size: int, device: torch.device) -> np.ndarray:
    """theta_i = sigma_i / mean(sigma) over every training user: (m,), mean 1 (Eq. 8-9, z over the whole data)."""
    logits = [
        adversary(dense_rows(train, start, min(start + batch_size, train.shape[0]), device))
        for start in range(0, train.shape[0], batch_size)
    ]
    sigma = torch.sigmoid(torch.cat(logits)).double().cpu().numpy()  # (m,)
    return sigma / sigma.mean()


def fit_larm(
    train: sp.csr_matrix,
    config: LarmConfig,
    *,
    valid: HeldOut | None = None,
    init_weights: np.ndarray | None = None,
    on_epoch: Callable[[LarmEpoch], None] | None = None,
) -> LarmResult:
    """Algorithm 1 (ARM) or 2 (R-LARM, R-LARM(NN)) on the training rows X (m, n)."""
    closed_form = config.learner == "closed-form"
    if closed_form and init_weights is not None:
        raise ValueError("learner='closed-form' starts from the EASE solution it computes; pass no init_weights")
    if not closed_form and (config.init == "ease") != (init_weights is not None):
        raise ValueError("init='ease' needs init_weights (an EASE solution); init='glorot' takes none")
    device = training_device(config.device)
    torch.manual_seed(config.seed)
    n = train.shape[1]
    learner = ItemItem(n, fit_ease(train, config.c) if closed_form else init_weights).to(device)
    learner.weight.requires_grad_(not closed_form)
    adversary = build_adversary(n, "nn" if config.variant == "r-larm-nn" else "linear", config.hidden).to(device)
    learner_opt = None if closed_form else adam(learner.parameters(), lr=config.lr)  # Sec. 5.1: Adam, equal rates
    adversary_opt = adam(adversary.parameters(), lr=config.lr)
    order_rng = np.random.default_rng(config.seed)
    result = LarmResult(learner.masked().detach().cpu().numpy(), adversary)
    theta = np.ones(train.shape[0])  # (m,) the closed-form W's user weights: uniform until the adversary moves

    def snapshot() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], np.ndarray]:
        return copy.deepcopy(learner.state_dict()), copy.deepcopy(adversary.state_dict()), theta

    best_state = snapshot()  # W, the adversary and the weights W was fitted with, kept together
    stale = 0
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        losses, objectives = [], []
        rows = sp.csr_matrix(train[order_rng.permutation(train.shape[0])])  # Alg. line 3: shuffled rows
        for start in range(0, rows.shape[0], config.batch_size):
            x = dense_rows(rows, start, min(start + config.batch_size, rows.shape[0]), device)  # (B, N)
            scores = learner(x)  # (B, N) = X W (no graph for the closed-form learner)
            if epoch > config.warmup:  # Alg. 1-2 lines 4-7: the adversary ascends
                user_loss = rank_loss(scores, x, config.k) if config.rank_adversary else (x - scores).pow(2).mean(1)
                objectives.append(adversary_step(adversary, adversary_opt, x, user_loss, config.b))
            with torch.no_grad():
                p = normalised_weights(adversary(x))  # (B,) the current adversary's weights
            loss = learner_loss(x, scores, p, learner.masked(), config.c)  # Alg. 1-2 lines 8-9
            if learner_opt is not None:
                learner_opt.zero_grad(set_to_none=True)
                loss.backward()
                learner_opt.step()
            losses.append(float(loss.detach()))
        if closed_form and epoch > config.warmup:  # the learner's best response to the moved adversary
            theta = user_weights(adversary, train, config.batch_size, device)
            with torch.no_grad():
                learner.weight.copy_(torch.from_numpy(fit_ease(train, config.c, theta).astype(np.float32)))
        valid_ndcg = None
        if valid is not None and len(valid):
            valid_ndcg = evaluate_heldout(
                item_item_scorer(learner.masked().detach()),
                valid.fold_in,
                valid.targets,
                ndcg_ks=(config.k,),
                recall_ks=(),
                device=device,
            ).metrics[f"ndcg@{config.k}"]
        report = LarmEpoch(
            epoch,
            float(np.mean(losses)),
            float(np.mean(objectives)) if objectives else None,
            valid_ndcg,
            time.perf_counter() - t0,
        )
        result.epochs.append(report)
        log.info(
            "%s epoch %d: loss %.6f, valid ndcg %s (%.1fs)",
            config.variant,
            epoch,
            report.learner_loss,
            valid_ndcg,
            report.seconds,
        )
        if on_epoch is not None:
            on_epoch(report)
        if valid_ndcg is not None:
            if result.best_valid is None or valid_ndcg > result.best_valid:
                result.best_epoch, result.best_valid, stale = epoch, valid_ndcg, 0
                best_state = snapshot()
            else:
                stale += 1
                if stale >= config.patience:
                    log.info("early stop at epoch %d (best %d)", epoch, result.best_epoch)
                    break
        else:
            result.best_epoch, best_state = epoch, snapshot()
        if config.max_seconds is not None and time.perf_counter() - started > config.max_seconds:
            log.info("time budget of %.0fs reached after epoch %d", config.max_seconds, epoch)
            break
    learner.load_state_dict(best_state[0])
    adversary.load_state_dict(best_state[1])
    result.weights = learner.masked().detach().cpu().numpy()
    # the Adam learner saw the adversary's weights batch by batch: the kept adversary's describe them
    result.theta = best_state[2] if closed_form else user_weights(adversary, train, config.batch_size, device)
    result.wall_s = time.perf_counter() - started
    return result
