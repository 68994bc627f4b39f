"""The cost of an adversarial epoch against a base epoch (issue #6: <= 2x; the cascade paper's A100 figures
give 3.9x), as `cascade`'s ``epoch_cost`` rows of ``benchmarks/cascade/cascade_table3.py``."""

from __future__ import annotations

import copy
import time
from typing import Any

from steadyrec.core.methods import CascadeConfig
from training.allocator import keep_freed_memory
from training.data.batches import TrainingWindows
from training.data.splits import Split
from training.methods.cascade_at import CascadeLoss, cascade_matrix
from training.models import SequentialModel
from training.trainer import TrainConfig, model_loss, optimiser_for, seed_everything, train_step

__all__ = ["cost_from_rows", "cost_row", "epoch_cost"]


def cost_from_rows(rows: list[dict[str, Any]], dataset: str, kind: str) -> dict[str, Any] | None:
    """epoch_cost_ratio from this run's `continue` (plain epochs) and `adv_cas` rows of one model."""
    by: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r.get("dataset") == dataset and r.get("model") == kind:
            by.setdefault(r["method"], r)  # the first adv_cas row: the one at --eps
    if "continue" not in by or "adv_cas" not in by:
        return None
    base_s, adv_s = by["continue"]["train_s_per_epoch"], by["adv_cas"]["train_s_per_epoch"]
    return cost_row(dataset, kind, base_s, adv_s, "continue vs adv_cas rows (training passes per epoch, no validation)")


def cost_row(dataset: str, kind: str, base_s: float, adv_s: float, how: str) -> dict[str, Any]:
    print(f"  cost: base epoch {base_s:.1f}s, adv_cas epoch {adv_s:.1f}s, ratio {adv_s / base_s:.2f}", flush=True)
    return {
        "benchmark": "cascade",
        "dataset": dataset,
        "model": kind,
        "method": "epoch_cost",
        "base_epoch_s": round(base_s, 1),
        "adv_epoch_s": round(adv_s, 1),
        "epoch_cost_ratio": round(adv_s / base_s, 2),
        "paper_ratio": 3.9,
        "measured_by": how,
    }


def epoch_cost(
    dataset: str, kind: str, base: SequentialModel, split: Split, config: CascadeConfig, base_l2: float
) -> dict[str, Any]:
    """One base epoch (L2 ``base_l2``) and one adv_cas epoch (``config``) on copies of the same model,
    interleaved batch by batch (a base update, then an adv_cas update on the same batch), so that load from
    other tenants of this VM falls on both alike (epochs timed back to back varied by 25 %). The adv_cas
    copy first runs one untimed epoch: with recycled directions that is where every window's first
    direction is computed."""
    allocator = "keeps freed memory" if keep_freed_memory() else "glibc defaults"
    plain, tuned = copy.deepcopy(base).train(), copy.deepcopy(base).train()
    objective = CascadeLoss(cascade_matrix(split.train, tuned.max_len, config), config)
    plain_opt = optimiser_for(plain, TrainConfig(lr=config.lr, weight_decay=base_l2))
    tuned_opt = optimiser_for(tuned, TrainConfig(lr=config.lr, weight_decay=config.weight_decay))
    windows = TrainingWindows(split.train, base.max_len)
    order_rng, sample_rng = seed_everything(config.seed)
    for batch in windows.batches(config.batch_size, order_rng, sample_rng):
        train_step(tuned, tuned_opt, objective, batch)
    base_s = adv_s = 0.0
    for batch in windows.batches(config.batch_size, order_rng, sample_rng):
        t0 = time.perf_counter()
        train_step(plain, plain_opt, model_loss, batch)
        t1 = time.perf_counter()
        train_step(tuned, tuned_opt, objective, batch)
        base_s, adv_s = base_s + t1 - t0, adv_s + time.perf_counter() - t1
    how = (
        f"one epoch each, interleaved batch by batch, after one adv_cas epoch (--cost, direction {config.direction}, "
        f"allocator {allocator})"
    )
    return cost_row(dataset, kind, base_s, adv_s, how)
