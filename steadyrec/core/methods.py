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
| `apt`       | FINEST's APT baseline: fine-tuning on data perturbed along model-made fake users |
| `acae`      | FINEST's ACAE baseline: fast-gradient noise on the input sequence embeddings   |
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

__all__ = [
    "ADVERSARIAL_METHODS",
    "CASCADE_VARIANTS",
    "CONFIGS",
    "METHODS",
    "PAPER_EPOCHS",
    "AcaeConfig",
    "AptConfig",
    "CascadeConfig",
    "FinestConfig",
    "MethodConfig",
    "RlarmConfig",
    "SaoConfig",
    "make_method_config",
    "parameter_table",
]


PAPER_EPOCHS = 50  # FINEST Sec. 6.1: 50 fine-tuning epochs (Fig. 7: gains saturate by then)

# The ranges a caller (a job body, ``--set``) can ask for; typos such as ``epochs: 100000000`` are refused.
Epochs = Annotated[int, Field(ge=1, le=500)]
LearningRate = Annotated[float, Field(gt=0.0, le=1.0)]
BatchSize = Annotated[int, Field(ge=1, le=8192)]
Seed = Annotated[int, Field(ge=0, le=2**31 - 1)]
Weight = Annotated[float, Field(ge=0.0, le=1000.0)]
Epsilon = Annotated[float, Field(ge=0.0, le=100.0)]
Seconds = Annotated[float, Field(gt=0.0, le=7 * 86_400.0)]
Device = Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:\d{1,2})?|mps)$")]


@dataclass(frozen=True)
class FinestConfig:
    epochs: Epochs = 2  # a daily update: 2 keep the default canary passed with accuracy held
    sample_ratio: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.01  # R, Sec. 6.1: 1% pseudo-perturbed per epoch
    top_k: Annotated[int, Field(ge=2, le=1000)] = 100  # K, Sec. 6.1 (Fig. 7: 100 is best)
    lam: Weight = 1.0  # λ, Eq. 5 (Sec. 6.1); the official code's ~16 kept lists less steady here
    margin_order: Annotated[float, Field(ge=0.0, le=10.0)] = 0.1  # λ1, Eq. 3 first term (Sec. 6.1)
    margin_score: Annotated[float, Field(ge=0.0, le=10.0)] = 0.1  # λ2, Eq. 3 second term (Sec. 6.1)
    # Eq. 3's hinge terms per instance: "sum" as printed, "mean" as the official code; "mean" measured steadier
    reduction: Literal["sum", "mean"] = "mean"
    simulate: bool = True  # Step 2; False = ablation "w/o perturbation simulation" (Table 6)
    order_term: bool = True  # Eq. 3 first term; False = ablation (Table 6)
    score_term: bool = True  # Eq. 3 second term; False = ablation (Table 6)
    regularize: bool = True  # False = the "Random F.T." baseline: perturbation simulation only
    lr: LearningRate = 1e-3  # Sec. 6.1
    batch_size: BatchSize = 128  # same batches as plain training, so an epoch costs about the same
    seed: Seed = 0  # drives the per-epoch simulations and the data order
    device: Device = "auto"

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
    """Cascade-guided adversarial training (Tan et al., Sec. 4, Eq. 6-12). Defaults are the settings our
    benchmarks measured as good on SASRec and GRU4Rec (docs/method-parameters.md); the paper's in comments."""

    variant: CascadeVariant = "adv_cas"  # Table 3 / Table 4 rows; see training.methods.cascade_at.SWITCHES
    # ε of Eq. 7 (level 1), per history item. Paper: 10 (Sec. 5.3), which collapses our embeddings (SASRec
    # scales its inputs by sqrt(d)); 0.003 beat 0.01 on beauty and is what every measured row uses
    eps: Epsilon = 0.003
    # ε of Eq. 9 (level 2); None: ``eps`` for both levels, as the paper. 0.1 is the best measured on SASRec
    eps2: Epsilon | None = 0.1
    lam1: Weight = 1.0  # λ1, Eq. 10 (Sec. 5.3)
    lam2: Weight = 1.0  # λ2, Eq. 10 (Sec. 5.3)
    # adversarial epochs from the trained model; 10 gain on every measured pair (paper: 100 after convergence)
    epochs: Epochs = 10
    lr: LearningRate = 1e-3  # Sec. 5.3: Adam, learning rate 0.001
    batch_size: BatchSize = 128  # b, Sec. 5.3 (also the b of Eq. 11)
    weight_decay: Annotated[float, Field(ge=0.0, le=1.0)] = 1e-5  # Sec. 5.3: L2 1e-5
    floor: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1  # Alg. 1 line 14: min-max onto [floor, 1], not 0
    xi: Annotated[float, Field(gt=0.0, le=1.0)] = 1e-3  # Eq. 7 at A = 0 is flat: start from a ξ-long step
    # Eq. 7's g: "fresh" its own pass per batch (the paper); "recycled" the previous update's input gradient,
    # measured as accurate at under 2x a base epoch (fresh: 2.7-2.9x)
    direction: Literal["fresh", "recycled"] = "recycled"
    # what Eq. 7's ||g|| runs over: each history "item" (the issue's reading), the whole window ("sequence",
    # Eq. 7 literally) or the whole "batch"; the other two at most matched "item" in our measurements
    level1_norm: Literal["item", "sequence", "batch"] = "item"
    # what Eq. 9's ||h|| runs over: each "instance", or the whole "batch" (at most matched "instance")
    level2_norm: Literal["instance", "batch"] = "instance"
    # Eq. 6's two passes: "shared" gives ŵ w's dropout masks and takes Eq. 7 with dropout off (measures the
    # perturbation alone); "independent": two training-mode passes, so L_adv1 also penalises dropout noise
    dropout: Literal["shared", "independent"] = "shared"
    # which positions Eq. 6 averages ||ŵ - w|| over: every target position, or each window's "last" (the
    # state that predicts, the paper's one term per user)
    adv1_positions: Literal["all", "last"] = "all"
    # after Alg. 1's min-max: C re-scaled to mean 1 ("mean_effect"), or so that mean(1/C) = 1
    # ("mean_inverse": the same total perturbation A / C as adv_global's A, Sec. 5.5)
    cascade_scale: Literal["mean_effect", "mean_inverse"] = "mean_effect"
    max_seconds: Seconds | None = None  # wall-time budget (stops after the epoch that crosses it); None: all epochs
    seed: Seed = 0  # data order, negatives and the random start of Eq. 7
    device: Device = "auto"

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
        if self.dropout not in ("shared", "independent"):
            raise ValueError(f"dropout must be 'shared' or 'independent', got {self.dropout!r}")
        if self.adv1_positions not in ("all", "last"):
            raise ValueError(f"adv1_positions must be 'all' or 'last', got {self.adv1_positions!r}")
        if self.cascade_scale not in ("mean_effect", "mean_inverse"):
            raise ValueError(f"cascade_scale must be 'mean_effect' or 'mean_inverse', got {self.cascade_scale!r}")

    @property
    def level2_eps(self) -> float:
        """ε of Eq. 9: ``eps2`` when set, else the paper's single ``eps``."""
        return self.eps if self.eps2 is None else self.eps2


@dataclass(frozen=True)
class SaoConfig:
    """Sequential-based adversarial optimisation (Manotumruksa and Yilmaz, SIGIR 2020, Eq. 6-11)."""

    eps: Epsilon = 0.1  # ε, Eq. 8; the best of 0.02 / 0.05 / 0.1 measured on SASRec (the paper's APR value: 0.5)
    lam: Weight = 1.0  # λ, Eq. 6 and Eq. 10 (Sec. 3.1)
    epochs: Epochs = 10  # from the trained model; the paper continues "until convergence" (Fig. 2)
    lr: LearningRate = 1e-3  # our base's Adam rate (the paper starts its own training at 0.05 with batch 512)
    batch_size: BatchSize = 128  # our base's batch size (the paper uses 512)
    weight_decay: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0  # the paper names no L2 term
    max_seconds: Seconds | None = None  # wall-time budget (stops after the epoch that crosses it); None: all epochs
    seed: Seed = 0  # data order and negatives
    device: Device = "auto"

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

    epochs: Epochs = 10  # fine-tuning epochs; beyond the paper (which trains EASE-sized models to convergence)
    adversary: Literal["linear", "nn"] = "linear"  # sigma(X_i a) (Eq. 10) or sigma(tanh(X_i A0) A1) (Eq. 12)
    hidden: Annotated[int, Field(ge=1, le=1024)] = 32  # k, A0's width for "nn" (Eq. 12; not reported)
    b: Weight = 1e-2  # B, the adversary's l2 weight (Eq. 10 / 12)
    k: Annotated[int, Field(ge=1, le=1000)] = 10  # the rank loss is 1 - NDCG@k of the next item
    warmup: Annotated[int, Field(ge=0, le=500)] = 1  # K of Alg. 2: epochs before the adversary moves (Sec. 5.1)
    lr: LearningRate = 1e-3  # FINEST's fine-tuning rate (Sec. 6.1); learner and adversary share it (Sec. 5.1)
    batch_size: Annotated[int, Field(ge=2, le=8192)] = 128  # the sequential models' batches (SASRec paper)
    finest: bool = False  # also FINEST's perturbation simulation and rank-preserving regulariser (its defaults)
    seed: Seed = 0  # adversary initialisation, data order, simulations
    device: Device = "auto"

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


@dataclass(frozen=True)
class AcaeConfig:
    """ACAE as FINEST adapts it (Sec. 6.1): fine-tuning on L(S) + λ L(S + Δ), Δ the fast gradient method's
    noise on the input sequence embeddings (Yuan et al. add it to the parameters)."""

    eps: Epsilon = 0.1  # ε of Δ = ε g / ||g|| per history item; SAO's measured best on the same input hook
    lam: Weight = 1.0  # λ, the adversarial term's weight (ACAE's λ)
    epochs: Epochs = 2  # as FINEST's default: a daily update (the RLS harness runs the paper's 50)
    lr: LearningRate = 1e-3  # FINEST Sec. 6.1, every fine-tuning method
    batch_size: BatchSize = 128  # the base's batches
    weight_decay: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0  # none, as the other fine-tunings
    max_seconds: Seconds | None = None  # wall-time budget (stops after the epoch that crosses it); None: all epochs
    seed: Seed = 0  # data order and negatives
    device: Device = "auto"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("epochs >= 1, batch_size >= 1 and lr > 0 are required")
        if self.eps < 0 or self.lam < 0 or self.weight_decay < 0:
            raise ValueError("eps, lam and weight_decay must be >= 0")


@dataclass(frozen=True)
class AptConfig:
    """APT as FINEST adapts it (Sec. 6.1): fake user profiles made from the model itself (data-free
    extraction: each next item drawn from the model's own top items), the real users most like them
    perturbed with their items (insertion, replacement) or deletions, and the model fine-tuned on the
    perturbed data (no regulariser)."""

    sample_ratio: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.01  # interactions perturbed per epoch: FINEST's R
    edits: Annotated[int, Field(ge=1, le=100)] = 5  # interactions each fake profile changes in its nearest user
    profile_length: Annotated[int, Field(ge=2, le=200)] = 20  # items of one fake profile
    top_k: Annotated[int, Field(ge=1, le=1000)] = 10  # each profile item is drawn from the model's top-k
    epochs: Epochs = 2  # as FINEST's default: a daily update (the RLS harness runs the paper's 50)
    lr: LearningRate = 1e-3  # FINEST Sec. 6.1, every fine-tuning method
    batch_size: BatchSize = 128  # the base's batches
    seed: Seed = 0  # profiles, perturbations and data order
    device: Device = "auto"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.edits < 1 or self.top_k < 1:
            raise ValueError("epochs, batch_size, edits and top_k >= 1 and lr > 0 are required")
        if not 0.0 < self.sample_ratio < 1.0:
            raise ValueError(f"sample_ratio must be in (0, 1), got {self.sample_ratio}")

    def finest_config(self) -> FinestConfig:
        """The FINEST loop APT runs in: its simulation replaced by APT's, no regulariser."""
        return FinestConfig(
            epochs=self.epochs,
            sample_ratio=self.sample_ratio,
            lr=self.lr,
            batch_size=self.batch_size,
            seed=self.seed,
            device=self.device,
            regularize=False,
        )


MethodConfig = FinestConfig | CascadeConfig | SaoConfig | RlarmConfig | AcaeConfig | AptConfig

# methods with their own config; the others are FINEST's loop with fixed switches (METHODS)
ADVERSARIAL_METHODS: dict[str, type[CascadeConfig] | type[SaoConfig] | type[AcaeConfig]] = {
    "cascade": CascadeConfig,
    "sao": SaoConfig,
    "acae": AcaeConfig,
}
CONFIGS: dict[str, type[MethodConfig]] = {**ADVERSARIAL_METHODS, "rlarm": RlarmConfig, "apt": AptConfig}
# method -> fixed FINEST switches; these methods run through the FINEST fine-tuning loop
METHODS: dict[str, dict[str, Any]] = {
    "finest": {},
    "random-ft": {"regularize": False},
    "continue": {"regularize": False, "simulate": False},
    "rlarm": {},  # its own config (RlarmConfig), run in the FINEST loop with adversarial user weights
    "apt": {},  # its own config (AptConfig), run in the FINEST loop with APT's fake-profile perturbations
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


def _range(schema: dict[str, Any]) -> str:
    """A parameter's allowed values in words, from its JSON schema."""
    options = schema.get("anyOf", [schema])
    parts = []
    for option in options:
        if option.get("type") == "null":
            parts.append("null")
        elif "enum" in option:
            parts.append("one of " + ", ".join(str(v) for v in option["enum"]))
        elif option.get("type") == "boolean":
            parts.append("true, false")
        elif "pattern" in option:
            parts.append("matches `" + option["pattern"].replace("|", "\\|") + "`")
        else:
            low = f"({option['exclusiveMinimum']}" if "exclusiveMinimum" in option else f"[{option.get('minimum', '')}"
            high = f"{option['exclusiveMaximum']})" if "exclusiveMaximum" in option else f"{option.get('maximum', '')}]"
            parts.append(f"{low}, {high}")
    return " or ".join(parts)


def parameter_table() -> str:
    """Every method's parameters with their defaults and allowed ranges, as a Markdown table."""
    lines = ["| method | parameter | default | allowed |", "|---|---|---|---|"]
    for method in [*METHODS, *ADVERSARIAL_METHODS]:
        cls = CONFIGS.get(method, FinestConfig)
        fixed = METHODS.get(method, {})
        properties = TypeAdapter(cls).json_schema()["properties"]
        for name, schema in properties.items():
            if name in fixed:
                continue
            default = schema.get("default")
            shown = "null" if default is None else str(default).lower() if isinstance(default, bool) else default
            lines.append(f"| {method} | `{name}` | {shown} | {_range(schema)} |")
    return "\n".join(lines) + "\n"
