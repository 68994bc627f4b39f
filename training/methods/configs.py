"""Typed configs of the hardening methods and their validation from plain dicts.

No torch here: the service validates ``POST /jobs/finetune`` parameters with these before a job ever
reaches the worker.

| method      | what it does                                                                 |
|-------------|------------------------------------------------------------------------------|
| `finest`    | FINEST rank-preserving fine-tuning against a reference model (default: base) |
| `random-ft` | FINEST's perturbation simulation without the regulariser (paper baseline)    |
| `continue`  | plain continued training on the data (no simulation, no regulariser)         |
| `cascade`   | cascade-guided adversarial training (Tan et al., Eq. 6-12) and its baselines |
| `sao`       | sequential adversarial optimisation of SASRec (Manotumruksa and Yilmaz)      |
| `rlarm`     | R-LARM adversarial user reweighting (rank-loss adversary); `finest` adds FINEST |
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

__all__ = [
    "ADVERSARIAL_METHODS",
    "CASCADE_VARIANTS",
    "CONFIGS",
    "METHODS",
    "PAPER_EPOCHS",
    "CascadeConfig",
    "FinestConfig",
    "MethodConfig",
    "RlarmConfig",
    "SaoConfig",
    "make_method_config",
]


PAPER_EPOCHS = 50  # FINEST Sec. 6.1: 50 fine-tuning epochs (Fig. 7: gains saturate by then)


@dataclass(frozen=True)
class FinestConfig:
    # A daily update from the live model: every epoch moves the candidate further from live, and on both
    # worlds measured (foursquare, ml-100k: benchmarks/results/finest-strength*.md) 2 epochs keep the
    # default canary passed with accuracy held. The paper's 50 (Sec. 6.1, Fig. 7) are its RLS protocol's:
    # PAPER_EPOCHS, which training/rls.py and the RLS benchmark use.
    epochs: int = 2
    sample_ratio: float = 0.01  # R, Sec. 6.1: 1% of training interactions pseudo-perturbed per epoch
    top_k: int = 100  # K, Sec. 6.1: top-200 (= 2K) sampled, top-100 preserved (Fig. 7: 100 is best)
    # λ, Eq. 5 (Sec. 6.1: 1.0). The official code adds the per-user mean hinge summed over its 16-user
    # batches (about λ = 16 here); measured on the showcase world, 16 kept lists less steady than 1
    # (finest-strength.md: mean RBO 0.646 vs 0.690 after 20 epochs), so the paper's 1.0 stays.
    lam: float = 1.0
    margin_order: float = 0.1  # λ1, Eq. 3 first term (Sec. 6.1)
    margin_score: float = 0.1  # λ2, Eq. 3 second term (Sec. 6.1)
    # How Eq. 3's hinge terms are reduced per instance: "sum" is Eq. 3 as printed (K-1 + K terms summed);
    # "mean" averages each term's hinges, as the official code's nn.MarginRankingLoss does. Measured, "mean"
    # is at least as steady on every world and metric: the RLS protocol on foursquare (finest-rls-variants-
    # official*.md: SASRec, 10 epochs, ao_full 0.927 vs 0.890, rbo and Jaccard@10 equal, MRR held) and the
    # showcase world (finest-strength.md: 0.69 vs 0.62 after 20 epochs); README "FINEST strength".
    reduction: Literal["sum", "mean"] = "mean"
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


CascadeVariant = Literal["adv_linear", "adv_seq", "adv_global", "adv_cas", "adv_cas_1", "adv_cas_2"]
CASCADE_VARIANTS: tuple[str, ...] = ("adv_linear", "adv_seq", "adv_global", "adv_cas", "adv_cas_1", "adv_cas_2")


@dataclass(frozen=True)
class CascadeConfig:
    """Cascade-guided adversarial training (Tan et al., Sec. 4, Eq. 6-12); paper settings from Sec. 5.3."""

    variant: CascadeVariant = "adv_cas"  # Table 3 / Table 4 rows; see training.methods.cascade_at.SWITCHES
    eps: float = 10.0  # ε, Eq. 7 and Eq. 9 (Sec. 5.3: 10 on every dataset; Fig. 4: best in [10, 20])
    # ε of Eq. 9 (level 2) when it should differ from level 1's; None: ``eps`` for both, as the paper. Our
    # SASRec multiplies input embeddings by sqrt(d) before the encoder, so a level-1 ε moves the encoder's
    # input sqrt(d) times more than the same ε moves level 2's user, target and negative embeddings
    eps2: float | None = None
    lam1: float = 1.0  # λ1, Eq. 10 (Sec. 5.3)
    lam2: float = 1.0  # λ2, Eq. 10 (Sec. 5.3)
    epochs: int = 100  # Sec. 5.3: 100 adversarial epochs after the base model converged
    lr: float = 1e-3  # Sec. 5.3: Adam, learning rate 0.001
    batch_size: int = 128  # b, Sec. 5.3 (also the b of Eq. 11)
    weight_decay: float = 1e-5  # Sec. 5.3: L2 1e-5
    floor: float = 0.1  # Alg. 1 line 14 maps the smallest effect to 0 (unbounded 1/C): min-max onto [floor, 1]
    xi: float = 1e-3  # Eq. 7 differentiates at A = 0 where ||ŵ - w|| is flat: start from a ξ-long random step
    # where Eq. 7's g comes from. "fresh": its own pass per batch (a ξ-step from a random start, dropout
    # off), as the paper; "recycled": the gradient of ||ŵ - w|| that the window's previous update already
    # computed (its input-side gradient at A / C), one power-iteration step further and one epoch older,
    # which saves the direction pass (about a third of an adv_cas epoch); a window's first visit is fresh
    direction: Literal["fresh", "recycled"] = "fresh"
    # what Eq. 7's ||g|| runs over. "item": each history item's gradient on its own, so every item's
    # perturbation has norm eps / C (the reading: "perturbation norms equal eps / C_i"). "sequence":
    # the whole window S_i (T x E), so ||A_i|| = eps and A_i puts its norm where g has it, before the 1 / C
    # rescaling: Eq. 7 read literally (S_i is the concatenated sequence, Table 1) and the norm of the
    # text-classification adversarial training adv_seq comes from (Miyato et al., [23]). An "item" eps is
    # per item, a "sequence" eps per window: equal total norms need eps_sequence = eps_item * sqrt(items).
    # "batch": over every history item of the batch at once (a norm over the whole gradient tensor, as an
    # l2-normalise without an axis gives), so ||A|| = eps per batch and items with larger gradients get more.
    # "item" stays the default: "sequence" at most matched it on video-games (benchmarks/results/
    # cascade-video-seqnorm.md: ε 0.01 level, larger ε lower)
    level1_norm: Literal["item", "sequence", "batch"] = "item"
    # what Eq. 9's ||h|| runs over. "instance": each instance's user, target and negative gradient on its
    # own (each moves by eps). "batch": each of the three over the whole batch's instances, so the
    # perturbation goes to the instances whose BCE has the larger gradient (the ill-fitted ones) and a
    # paper-sized eps (10) spreads to ~0.1-0.3 per instance (10 / sqrt(instances per batch): about 1,100
    # on the Amazon sets, 14,000 on ml-1m), where the per-instance grids found their best eps2. "instance"
    # stays the default: "batch" at most matched it on video-games (cascade-video-l2batch.md: ε 1 level,
    # the paper's 10 lower)
    level2_norm: Literal["instance", "batch"] = "instance"
    max_seconds: float | None = None  # wall-time budget (stops after the epoch that crosses it); None: all epochs
    seed: int = 0  # data order, negatives and the random start of Eq. 7
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.variant not in CASCADE_VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(CASCADE_VARIANTS)}, got {self.variant!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("epochs >= 1, batch_size >= 1 and lr > 0 are required")
        if self.eps < 0 or self.lam1 < 0 or self.lam2 < 0 or self.weight_decay < 0 or self.xi <= 0:
            raise ValueError("eps, lam1, lam2 and weight_decay must be >= 0 and xi > 0")
        if self.eps2 is not None and self.eps2 < 0:
            raise ValueError(f"eps2 must be >= 0 (or None for eps), got {self.eps2}")
        if not 0.0 < self.floor <= 1.0:
            raise ValueError(f"floor must be in (0, 1], got {self.floor}")
        if self.direction not in ("fresh", "recycled"):
            raise ValueError(f"direction must be 'fresh' or 'recycled', got {self.direction!r}")
        if self.level1_norm not in ("item", "sequence", "batch"):
            raise ValueError(f"level1_norm must be 'item', 'sequence' or 'batch', got {self.level1_norm!r}")
        if self.level2_norm not in ("instance", "batch"):
            raise ValueError(f"level2_norm must be 'instance' or 'batch', got {self.level2_norm!r}")

    @property
    def level2_eps(self) -> float:
        """ε of Eq. 9: ``eps2`` when set, else the paper's single ``eps``."""
        return self.eps if self.eps2 is None else self.eps2


@dataclass(frozen=True)
class SaoConfig:
    """Sequential-based adversarial optimisation (Manotumruksa and Yilmaz, SIGIR 2020, Eq. 6-11)."""

    eps: float = 0.5  # ε, Eq. 8 (Sec. 3.1, following APR)
    lam: float = 1.0  # λ, Eq. 6 and Eq. 10 (Sec. 3.1)
    epochs: int = 100  # the paper continues "until convergence" (Fig. 2); 100 = the cascade paper's budget
    lr: float = 1e-3  # our base's Adam rate (the paper starts its own training at 0.05 with batch 512)
    batch_size: int = 128  # our base's batch size (the paper uses 512)
    weight_decay: float = 0.0  # the paper names no L2 term
    max_seconds: float | None = None  # wall-time budget (stops after the epoch that crosses it); None: all epochs
    seed: int = 0  # data order and negatives
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("epochs >= 1, batch_size >= 1 and lr > 0 are required")
        if self.eps < 0 or self.lam < 0 or self.weight_decay < 0:
            raise ValueError("eps, lam and weight_decay must be >= 0")


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
        return FinestConfig(
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            seed=self.seed,
            device=self.device,
            regularize=self.finest,
            simulate=self.finest,
        )


MethodConfig = FinestConfig | CascadeConfig | SaoConfig | RlarmConfig

# methods with their own config; the others are FINEST's loop with fixed switches (METHODS)
ADVERSARIAL_METHODS: dict[str, type[CascadeConfig] | type[SaoConfig]] = {"cascade": CascadeConfig, "sao": SaoConfig}
CONFIGS: dict[str, type[MethodConfig]] = {**ADVERSARIAL_METHODS, "rlarm": RlarmConfig}
# method -> fixed FINEST switches; these methods run through the FINEST fine-tuning loop
METHODS: dict[str, dict[str, Any]] = {
    "finest": {},
    "random-ft": {"regularize": False},
    "continue": {"regularize": False, "simulate": False},
    "rlarm": {},  # its own config (RlarmConfig), run in the FINEST loop with adversarial user weights
}


def make_method_config(method: str, params: dict[str, Any] | None = None) -> MethodConfig:
    """The typed config of ``method`` from user parameters; unknown methods and keys are refused."""
    available = ", ".join([*METHODS, *ADVERSARIAL_METHODS])
    if method not in METHODS and method not in ADVERSARIAL_METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {available}")
    params = dict(params or {})
    fixed = METHODS.get(method, {})
    cls: type[MethodConfig] = CONFIGS.get(method, FinestConfig)
    allowed = {f.name for f in fields(cls)} - set(fixed)
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"unknown {method} parameters {unknown}; allowed: {sorted(allowed)}")
    try:
        adapter: TypeAdapter[MethodConfig] = TypeAdapter(cls)
        return adapter.validate_python({**params, **fixed}, strict=False)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ValueError(f"invalid {method} parameters: {problems}") from None
