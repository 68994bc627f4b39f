"""Typed configs of the hardening methods and their validation from plain dicts.

No torch here: the service validates ``POST /jobs/finetune`` parameters with these before a job ever
reaches the worker.

| method      | what it does                                                                 |
|-------------|------------------------------------------------------------------------------|
| `finest`    | FINEST rank-preserving fine-tuning against a reference model (default: base) |
| `random-ft` | FINEST's perturbation simulation without the regulariser (paper baseline)    |
| `continue`  | plain continued training on the data (no simulation, no regulariser)         |
| `rlarm`     | R-LARM adversarial user reweighting (rank-loss adversary); `finest` adds FINEST |
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

__all__ = ["METHODS", "PLANNED_METHODS", "FinestConfig", "MethodConfig", "RlarmConfig", "make_method_config"]


@dataclass(frozen=True)
class FinestConfig:
    epochs: int = 50  # Sec. 6.1: 50 fine-tuning epochs (Fig. 7: gains saturate by then)
    sample_ratio: float = 0.01  # R, Sec. 6.1: 1% of training interactions pseudo-perturbed per epoch
    top_k: int = 100  # K, Sec. 6.1: top-200 (= 2K) sampled, top-100 preserved (Fig. 7: 100 is best)
    lam: float = 1.0  # λ, Eq. 5 (Sec. 6.1)
    margin_order: float = 0.1  # λ1, Eq. 3 first term (Sec. 6.1)
    margin_score: float = 0.1  # λ2, Eq. 3 second term (Sec. 6.1)
    simulate: bool = True  # Step 2; False = ablation "w/o perturbation simulation" (Table 6)
    order_term: bool = True  # Eq. 3 first term; False = ablation (Table 6)
    score_term: bool = True  # Eq. 3 second term; False = ablation (Table 6)
    regularize: bool = True  # False = the "Random F.T." baseline: perturbation simulation only
    lr: float = 1e-3  # Sec. 6.1
    batch_size: int = 128  # same batches as plain training, so an epoch costs about the same
    seed: int = 0  # drives the per-epoch simulations and the data order
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.top_k < 2 or self.batch_size < 1:
            raise ValueError("epochs >= 1, top_k >= 2 and batch_size >= 1 are required")
        if not 0.0 <= self.sample_ratio < 1.0:
            raise ValueError(f"sample_ratio must be in [0, 1), got {self.sample_ratio}")
        if self.lam < 0 or self.margin_order < 0 or self.margin_score < 0:
            raise ValueError("lam, margin_order and margin_score must be >= 0")


@dataclass(frozen=True)
class RlarmConfig:
    """R-LARM's adversarial user reweighting (Shivaswamy and Garcia-Garcia, RecSys 2022) applied to a
    sequential model's fine-tuning: per-user loss weights from an adversary that ascends on 1 - NDCG@k
    of the current model (Alg. 2, Eq. 10 / 12), normalised over each mini-batch (Sec. 5.1)."""

    epochs: int = 10  # fine-tuning epochs; beyond the paper (which trains EASE-sized models to convergence)
    adversary: Literal["linear", "nn"] = "linear"  # sigma(X_i a) (Eq. 10) or sigma(tanh(X_i A0) A1) (Eq. 12)
    hidden: int = 32  # k, A0's width for the "nn" adversary (Eq. 12; tuned in the paper, value not reported)
    b: float = 1e-2  # B, the adversary's l2 weight (Eq. 10 / 12)
    k: int = 10  # the rank loss is 1 - NDCG@k of the next item; NDCG@10 is what the sequential papers report
    warmup: int = 1  # K of Alg. 2: epochs before the adversary moves (Sec. 5.1: after the first epoch)
    lr: float = 1e-3  # FINEST's fine-tuning rate (Sec. 6.1); learner and adversary share it (R-LARM Sec. 5.1)
    batch_size: int = 128  # the sequential models' batches (SASRec paper)
    finest: bool = False  # also FINEST's perturbation simulation and rank-preserving regulariser (its defaults)
    seed: int = 0  # adversary initialisation, data order, simulations
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.k < 1 or self.batch_size < 2 or self.hidden < 1 or self.warmup < 0:
            raise ValueError("epochs >= 1, k >= 1, batch_size >= 2, hidden >= 1 and warmup >= 0 are required")
        if self.b < 0 or self.lr <= 0:
            raise ValueError("b >= 0 and lr > 0 are required")

    def finest_config(self) -> FinestConfig:
        """The FINEST loop the reweighting runs in: FINEST itself, or plain continued training."""
        switches = {} if self.finest else {"regularize": False, "simulate": False}
        return FinestConfig(
            epochs=self.epochs, lr=self.lr, batch_size=self.batch_size, seed=self.seed, device=self.device, **switches
        )


MethodConfig = FinestConfig | RlarmConfig

# method -> fixed FINEST switches; every method runs through the FINEST fine-tuning loop
PLANNED_METHODS = ("cascade", "sao")  # issue #6: refused with a clear message until then
METHODS: dict[str, dict[str, Any]] = {
    "finest": {},
    "random-ft": {"regularize": False},
    "continue": {"regularize": False, "simulate": False},
    "rlarm": {},  # its own config (RlarmConfig), run in the FINEST loop with adversarial user weights
}
CONFIGS: dict[str, type[MethodConfig]] = {"rlarm": RlarmConfig}  # methods whose config is not FinestConfig


def make_method_config(method: str, params: dict[str, Any] | None = None) -> MethodConfig:
    """The typed config of ``method`` from user parameters; unknown methods and keys are refused."""
    if method in PLANNED_METHODS:
        raise ValueError(f"method {method!r} is not available yet; available: {', '.join(METHODS)}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    params = dict(params or {})
    fixed = METHODS[method]
    cls = CONFIGS.get(method, FinestConfig)
    allowed = {f.name for f in fields(cls)} - set(fixed)
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"unknown {method} parameters {unknown}; allowed: {sorted(allowed)}")
    try:
        return TypeAdapter(cls).validate_python({**params, **fixed}, strict=False)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ValueError(f"invalid {method} parameters: {problems}") from None
