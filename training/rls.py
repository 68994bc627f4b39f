"""The RLS protocol (FINEST Eq. 2): how much do a model's rank lists move when its training data moves?

Θ is trained on the original training data; test inputs always come from the original data, and every
row compares a model's full rank lists with Θ's. Rows ("methods"):

- ``original``: Θ' trained from Θ's initial weights on the perturbed data (the paper's Original rows);
- ``random-ft`` (FINEST's perturbation simulation without the regulariser), ``finest``, the FINEST
  ablations, and FINEST's two baselines ``apt`` and ``acae`` (Sec. 6.1, ``training/methods/apt.py`` and
  ``acae.py``, at the FINEST schedule): a copy of Θ fine-tuned on the perturbed data, FINEST with Θ's
  own reference lists. This is the official code's protocol (its main script fine-tunes the model it
  trained on the original data, with that model's reference lists, on the perturbed data, and compares
  it with that model) and the
  production one (the live model, fine-tuned on fresh logs against its own lists, is the candidate):
  one call, ``finest_finetune(copy_of_reference, new_data, reference)``, serves both.

Regimes of the ``original`` row, named in every table:

- ``independent-stream``: data order and sampling come from streams that do not depend on the data, so
  the comparison isolates the effect of the perturbed interactions;
- ``shared-stream``: as the official FINEST code, one random stream drives shuffling and sampling and its
  first use shuffles the training interactions, so any change to the data changes every later draw and
  the whole training trajectory diverges (the regime of the paper's tables);
- ``different-seed``: Θ' is trained on the *unchanged* data with another seed, each run with one stream
  as in the official code (so Θ is the shared-stream Θ): the noise floor (no fine-tuning rows: there is
  no perturbed data to fine-tune on).

``init_jitter`` (any regime) multiplies each of Θ''s initial weights by (1 + jitter * N(0, 1)) from a
stream of its own: at ~1e-7 (float32's ulp) it stands in for the run-to-run differences of
non-deterministic GPU kernels, under which the official code ran; on CPU every training run here is
bit-reproducible, so without it the only differences between Θ and Θ' are the data and its order.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch

from steadyrec.core.interactions import InteractionLog
from steadyrec.core.methods import PAPER_EPOCHS, AcaeConfig, AptConfig
from training.data.splits import Split
from training.evaluation.stability import StabilityResult, compare_models
from training.methods.acae import acae_finetune
from training.methods.apt import apt_finetune
from training.methods.finest import FinestConfig, finest_finetune
from training.models import SequentialModel, build_model
from training.perturbation import PerturbationConfig, perturb
from training.trainer import TrainConfig, seed_everything, train

__all__ = [
    "METHOD_CONFIGS",
    "RLSConfig",
    "Regime",
    "run_rls",
    "theta_prime_data",
    "train_theta",
    "train_theta_prime",
]

log = logging.getLogger(__name__)

Regime = Literal["independent-stream", "shared-stream", "different-seed"]

# method name -> overrides of the FINEST config (None: no fine-tuning; "apt" / "acae": FINEST's baselines,
# their own fine-tuning at the FINEST config's schedule)
METHOD_CONFIGS: dict[str, dict[str, Any] | None] = {
    "apt": {},
    "acae": {},
    "original": None,
    "random-ft": {"regularize": False},
    "finest": {},
    "finest-no-simulation": {"simulate": False},  # Table 6 ablations
    "finest-no-order-term": {"order_term": False},
    "finest-no-score-term": {"score_term": False},
}


@dataclass(frozen=True)
class RLSConfig:
    model: str
    model_config: dict[str, Any]
    train: TrainConfig
    perturbation: PerturbationConfig = field(default_factory=PerturbationConfig)
    regime: Regime = "independent-stream"
    finest: FinestConfig = field(default_factory=lambda: FinestConfig(epochs=PAPER_EPOCHS))  # Sec. 6.1
    methods: tuple[str, ...] = ("original", "random-ft", "finest")
    p: float = 0.9
    init_jitter: float = 0.0  # relative noise on Θ''s initial weights; 0: Θ' starts from Θ's exact weights


def stream_layout(regime: Regime) -> Literal["shared", "independent"]:
    """How ``regime`` draws data order and sampling: regimes with one layout train the same Θ. The noise
    floor trains both models as the official code does (one stream per run), so its Θ is the shared-stream Θ."""
    return "independent" if regime == "independent-stream" else "shared"


def _streams(data: InteractionLog, seed: int, regime: Regime) -> tuple[torch.Generator, torch.Generator]:
    if stream_layout(regime) == "shared":
        shared = torch.Generator().manual_seed(seed)
        torch.randperm(data.n_interactions, generator=shared)  # first use depends on the data size
        return shared, shared
    return torch.Generator().manual_seed(seed * 2 + 1), torch.Generator().manual_seed(seed * 2 + 2)


def _trained(
    cfg: RLSConfig, data: InteractionLog, init_seed: int, stream_seed: int, n_items: int, jitter: float = 0.0
) -> SequentialModel:
    seed_everything(init_seed)
    model = build_model(cfg.model, n_items, cfg.model_config)
    if jitter > 0.0:
        _jitter(model, jitter, seed=init_seed)
    train(model, data, replace(cfg.train, seed=stream_seed), rngs=_streams(data, stream_seed, cfg.regime))
    return model.eval()


def _jitter(model: SequentialModel, scale: float, seed: int) -> None:
    """Multiply every weight by (1 + scale * N(0, 1)), from a generator that leaves the global stream alone."""
    noise = torch.Generator().manual_seed(seed + 7919)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.0 + scale * torch.randn(p.shape, generator=noise, dtype=p.dtype))


def train_theta(split: Split, cfg: RLSConfig) -> SequentialModel:
    """Θ: the model trained on the original data (shareable between runs that differ only in perturbation)."""
    return _trained(cfg, split.train, cfg.train.seed, cfg.train.seed, split.train.n_items)


def theta_prime_data(split: Split, cfg: RLSConfig) -> InteractionLog:
    """The data Θ' learns from: the perturbed training data, or the original in the different-seed regime."""
    if cfg.regime == "different-seed":
        return split.train
    return perturb(split.train, replace(cfg.perturbation, seed=cfg.train.seed)).log


def train_theta_prime(split: Split, cfg: RLSConfig) -> SequentialModel:
    """Θ': from Θ's initial weights and seed on the perturbed data, or from another seed on the same data."""
    seed = cfg.train.seed + (1000 if cfg.regime == "different-seed" else 0)
    return _trained(cfg, theta_prime_data(split, cfg), seed, seed, split.train.n_items, cfg.init_jitter)


def _schedule_of(config: FinestConfig) -> dict[str, Any]:
    """The FINEST config's schedule, which the baselines run at (FINEST Sec. 6.1: one setting for all)."""
    return {k: getattr(config, k) for k in ("epochs", "lr", "batch_size", "seed", "device")}


def run_rls(
    split: Split,
    cfg: RLSConfig,
    *,
    theta: SequentialModel | None = None,
    theta_prime: SequentialModel | None = None,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, tuple[StabilityResult, dict[str, float]]]:
    """Train Θ (unless given), then for each method: Θ' for ``original`` (trained unless given; it must
    come from this config's regime and perturbation), or a copy of Θ fine-tuned on the perturbed data;
    compare it with Θ.

    Returns method -> (stability result, timings in seconds: ``theta_s`` training Θ (0 when given),
    ``model_s`` training Θ' or fine-tuning the copy of Θ, ``compare_s`` the comparison).
    """
    if cfg.regime == "different-seed" and set(cfg.methods) != {"original"}:
        raise ValueError("the different-seed regime has no perturbed data to fine-tune on: methods=('original',)")

    def step(message: str) -> None:
        log.info(message)
        if on_step is not None:
            on_step(message)

    t0 = time.perf_counter()
    if theta is None:
        step("train Θ on the original data")
        theta = train_theta(split, cfg)
    train_s = time.perf_counter() - t0
    data = theta_prime_data(split, cfg)
    out: dict[str, tuple[StabilityResult, dict[str, float]]] = {}
    for method in cfg.methods:
        overrides = METHOD_CONFIGS[method]
        t1 = time.perf_counter()
        if overrides is None:
            if theta_prime is None:
                other = "the same data with another seed" if cfg.regime == "different-seed" else "the perturbed data"
                step(f"train Θ' on {other}")
                theta_prime = train_theta_prime(split, cfg)
            model = theta_prime
        else:
            step(f"fine-tune a copy of Θ on the perturbed data with {method}")
            model = copy.deepcopy(theta)
            schedule = replace(cfg.finest, seed=cfg.train.seed, **overrides)
            if method == "apt":
                apt_finetune(model, data, AptConfig(**_schedule_of(schedule), sample_ratio=schedule.sample_ratio))
            elif method == "acae":
                acae_finetune(model, data, AcaeConfig(**_schedule_of(schedule)))
            else:
                finest_finetune(model, data, theta, schedule)
        tune_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        result = compare_models(theta, model, split.test, p=cfg.p)
        timings = {"theta_s": train_s, "model_s": tune_s, "compare_s": time.perf_counter() - t2}
        out[method] = (result, timings)
    return out
