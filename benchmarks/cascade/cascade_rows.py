"""What a row of the cascade benchmark (benchmarks/cascade/cascade_table3.py) reports beyond its method and ε: the
schedule of its training phase, how far its test NDCG@10 can be trusted, and the table's notes."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from training.evaluation.groups import paired_p_value
from training.trainer import TrainResult


def schedule_info(result: TrainResult) -> dict[str, Any]:
    """What a row reports of a training phase: its epochs, best epoch, wall time, epoch times and the best
    validation NDCG@10 (None without validation), by which a grid (e.g. SAO's ε) is chosen."""
    best = result.best_valid["ndcg@10"] if result.best_valid else None
    return {
        "epochs": len(result.epochs),
        "best_epoch": result.best_epoch,
        "wall_s": round(result.wall_s, 1),
        "valid_ndcg@10": None if best is None else round(best, 4),
        **epoch_times(result),
    }


def uncertainty(
    per_user: np.ndarray, base_per_user: np.ndarray, method: str, paper: float | None
) -> dict[str, float | None]:
    """How far a test NDCG@10 can be trusted, from its (U,) per-user values: the standard error of the mean
    (`ndcg@10_se`), the paired two-sided t-test against the base on the same users (`p_vs_base`), and the
    distance to the paper's figure in standard errors (`paper_gap_se`; the paper's own error is unknown)."""
    se = float(per_user.std(ddof=1) / np.sqrt(len(per_user)))
    return {
        "ndcg@10_se": round(se, 4),
        "p_vs_base": None if method == "base" else float(f"{paired_p_value(per_user, base_per_user):.2g}"),
        "paper_gap_se": None if paper is None else round((float(per_user.mean()) - paper) / se, 1),
    }


def epoch_times(result: TrainResult) -> dict[str, float]:
    """Mean seconds per epoch: whole epochs (with validation) and the training passes alone."""
    n = len(result.epochs)
    return {
        "s_per_epoch": round(sum(e.seconds for e in result.epochs) / n, 1),
        "train_s_per_epoch": round(sum(e.train_seconds for e in result.epochs) / n, 1),
    }


def notes(args: argparse.Namespace) -> str:
    return (
        "Leave-one-out; full ranking over all items excluding the user's history (target kept), top-10, as the "
        "paper's Table 3. Every method fine-tunes a copy of the same base; validation picks the best epoch of each "
        "phase (`best_epoch`), the test metrics are reported there. `epochs` / `wall_s`: the phase of that row "
        f"(base row: base training); budgets: base {args.base_minutes:g} min, adversarial {args.adv_minutes:g} min "
        f"or {args.adv_epochs} epochs per method (paper: 500 + 100 epochs on an A100); the base stops early after "
        f"{args.patience} validations (every {args.eval_every} epochs) without a gain; base L2 {args.base_l2:g} "
        f"(paper: 1e-5). SASRec width {args.hidden}, dropout "
        f"{'0.2 on ml-1m and 0.5 on the Amazon sets' if args.sasrec_dropout is None else f'{args.sasrec_dropout:g}'}; "
        "GRU4Rec "
        f"hidden 100, dropout {args.gru_dropout:g}{', untied output table' if args.gru_untied else ''} "
        f"(paper: width 100, dropout 0.2). Base loss `{args.loss}` "
        "(paper: BCE with one negative): the clean term L_B of Eq. 10 is the base's own loss, L_adv2 (and SAO's "
        f"adversarial term) is the paper's BCE with one sampled negative. Cascade ε = {args.eps:g}, λ1 = λ2 = 1, "
        "L2 1e-5 in the adversarial phase (`eps2`: the row's level-2 ε, `--eps2`; the paper uses ε; "
        "`level1_norm`: Eq. 7's ||g|| per history `item` (every item's perturbation has norm ε / C), per "
        "`sequence` (each window's A has norm ε) or per `batch`; `level2_norm`: Eq. 9's ||h|| per `instance` "
        "or over the `batch`'s instances); "
        f"SAO ε = {', '.join(f'{e:g}' for e in args.sao_eps)}, λ = 1 "
        "(`valid_ndcg@10`: the best validation NDCG@10 of the row's phase, by which a grid is chosen). "
        "`ndcg@10_se`: standard error of the test NDCG@10 over users; `p_vs_base`: paired two-sided t-test of "
        "the row's per-user NDCG@10 against the base's; `paper_gap_se`: (ours - paper) / `ndcg@10_se`. "
        "`continue_l2` is a control: Eq. 10 with λ1 = λ2 = 0 (the adversarial phase's schedule and L2, no "
        "adversarial terms). `continue` is a control: plain training of the base "
        "(the base's schedule and L2) for the same budget. CPU only (2 cores)."
    )
