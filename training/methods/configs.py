"""Typed configs of the hardening methods and their validation from plain dicts.

No torch here: the service validates ``POST /jobs/finetune`` parameters with these before a job ever
reaches the worker.

| method      | what it does                                                                 |
|-------------|------------------------------------------------------------------------------|
| `finest`    | FINEST rank-preserving fine-tuning against a reference model (default: base) |
| `random-ft` | FINEST's perturbation simulation without the regulariser (paper baseline)    |
| `continue`  | plain continued training on the data (no simulation, no regulariser)         |
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

__all__ = ["METHODS", "PLANNED_METHODS", "FinestConfig", "make_method_config"]


@dataclass(frozen=True)
class FinestConfig:
    epochs: int = 50  # Sec. 6.1: 50 fine-tuning epochs (Fig. 7: gains saturate by then)
    sample_ratio: float = 0.01  # R, Sec. 6.1: 1% of training interactions pseudo-perturbed per epoch
    top_k: int = 100  # K, Sec. 6.1: top-200 (= 2K) sampled, top-100 preserved (Fig. 7: 100 is best)
    lam: float = 1.0  # λ, Eq. 5 (Sec. 6.1)
    margin_order: float = 0.1  # λ1, Eq. 3 first term (Sec. 6.1)
    margin_score: float = 0.1  # λ2, Eq. 3 second term (Sec. 6.1)
    # How Eq. 3's hinge terms are reduced per instance. "sum" is Eq. 3 as printed (K-1 + K terms summed);
    # "mean" averages each term's hinges, as the official code's nn.MarginRankingLoss does (it then adds
    # that per user of its 16-user batches, so its λ is about 16 times this one); README "FINEST strength".
    reduction: Literal["sum", "mean"] = "sum"
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


# method -> fixed FINEST switches; every method runs through the FINEST fine-tuning loop
PLANNED_METHODS = ("cascade", "sao", "rlarm")  # issues #6 and #7: refused with a clear message until then
METHODS: dict[str, dict[str, Any]] = {
    "finest": {},
    "random-ft": {"regularize": False},
    "continue": {"regularize": False, "simulate": False},
}


def make_method_config(method: str, params: dict[str, Any] | None = None) -> FinestConfig:
    """The typed config of ``method`` from user parameters; unknown methods and keys are refused."""
    if method in PLANNED_METHODS:
        raise ValueError(f"method {method!r} is not available yet; available: {', '.join(METHODS)}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    params = dict(params or {})
    fixed = METHODS[method]
    allowed = {f.name for f in fields(FinestConfig)} - set(fixed)
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"unknown {method} parameters {unknown}; allowed: {sorted(allowed)}")
    try:
        return TypeAdapter(FinestConfig).validate_python({**params, **fixed}, strict=False)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ValueError(f"invalid {method} parameters: {problems}") from None
