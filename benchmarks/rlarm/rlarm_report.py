"""Reporting for rlarm_ease.py: per-split results, the pooled summary and per-split rows, Fig. 2's plot."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.evaluation.groups import GroupRow, bottom_indices, paired_p_value
from training.evaluation.heldout import HeldoutResult

WEIGHT_KEYS = ("theta_std", "theta_corr_log_n")  # weight_profile's columns
PAPER_ML20M = {"ease": 0.420, "ease-ipw": 0.424, "arm": 0.419, "r-larm": 0.425, "r-larm-nn": 0.426}


@dataclass
class FoldResult:
    """One split's chosen hyper-parameters and test results, by method."""

    chosen: dict[str, dict[str, Any]]
    tests: dict[str, HeldoutResult]


def choices(values: list[Any], fmt: str = "{}") -> str:
    """The hyper-parameter chosen in each fold, compactly: '1.0e-04' or '1.0e-04 x7, 3.0e-04 x3'."""
    counts = Counter(fmt.format(v) for v in values)
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{v} x{n}" for v, n in counts.most_common())


def pooled(folds: list[FoldResult], method: str, metric: str) -> np.ndarray:
    """(users,) the metric of every test user of every fold, in fold order."""
    return np.concatenate([f.tests[method].per_user[metric] for f in folds])


def summary_rows(name: str, folds: list[FoldResult]) -> list[dict[str, Any]]:
    """One row per method over the pooled test users (each user tested once across the folds)."""
    base = pooled(folds, "ease", "ndcg@100")
    ipw = pooled(folds, "ease-ipw", "ndcg@100")
    bottom = bottom_indices(base, 20)
    rows: list[dict[str, Any]] = []
    for method in folds[0].tests:
        ndcg = pooled(folds, method, "ndcg@100")
        infos = [f.chosen[method] for f in folds]
        row: dict[str, Any] = {
            "dataset": name,
            "method": method,
            "users": len(ndcg),
            "ndcg@100": round(float(ndcg.mean()), 4),
            "recall@20": round(float(pooled(folds, method, "recall@20").mean()), 4),
            "recall@50": round(float(pooled(folds, method, "recall@50").mean()), 4),
            "bottom20_ndcg@100": round(float(ndcg[bottom].mean()), 4),
            "p_value": round(paired_p_value(ndcg, base), 4),  # overall, paired against EASE
            "bottom20_p_value": round(paired_p_value(ndcg[bottom], base[bottom]), 4),
            "valid_ndcg@100": round(float(np.mean([i["valid"] for i in infos])), 4),
            # strings: the markdown table would print 2e-05 as 0.0000
            "c": choices([i["c"] for i in infos], "{:.1e}"),
            "beta": choices([i["beta"] for i in infos]) if "beta" in infos[0] else "",
            "lr": choices([i["lr"] for i in infos], "{:.0e}") if "lr" in infos[0] else "",
            "b": choices([i["b"] for i in infos], "{:.0e}") if "b" in infos[0] else "",
            "epochs": round(float(np.mean([i["epochs"] for i in infos])), 1) if "epochs" in infos[0] else "",
            "s_per_epoch": round(float(np.mean([i["s_per_epoch"] for i in infos])), 2) if "lr" in infos[0] else "",
            "fit_s": round(float(np.mean([i["fit_s"] for i in infos])), 1),
            "learner": infos[0]["config"]["learner"] if "config" in infos[0] else "",
            **{k: round(float(np.mean([i[k] for i in infos])), 3) if k in infos[0] else "" for k in WEIGHT_KEYS},
            "paper_ml20m_ndcg@100": PAPER_ML20M[method],
        }
        if method not in ("ease", "ease-ipw"):
            row["p_vs_ease_ipw"] = round(paired_p_value(ndcg, ipw), 4)
            row["bottom20_p_vs_ease_ipw"] = round(paired_p_value(ndcg[bottom], ipw[bottom]), 4)
        rows.append(row)
    return rows


def fold_rows(name: str, folds: list[FoldResult]) -> list[dict[str, Any]]:
    """Per fold and method: test users, test and validation NDCG@100 and the chosen hyper-parameters."""
    return [
        {
            "dataset": name,
            "fold": f,
            "method": method,
            "users": len(result.per_user["ndcg@100"]),
            "ndcg@100": round(result.metrics["ndcg@100"], 4),
            "valid_ndcg@100": round(fold.chosen[method]["valid"], 4),
            "c": f"{fold.chosen[method]['c']:.1e}",
            "beta": fold.chosen[method].get("beta", ""),
            "lr": f"{fold.chosen[method]['lr']:.0e}" if "lr" in fold.chosen[method] else "",
            "b": f"{fold.chosen[method]['b']:.0e}" if "b" in fold.chosen[method] else "",
            "epochs": fold.chosen[method].get("epochs", ""),
            "best_epoch": fold.chosen[method].get("best_epoch", ""),  # 1 = the warm-up epoch: plain EASE
            **{k: round(fold.chosen[method][k], 3) if k in fold.chosen[method] else "" for k in WEIGHT_KEYS},
        }
        for f, fold in enumerate(folds)
        for method, result in fold.tests.items()
    ]


def plot_groups(rows: list[GroupRow], dataset: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r.model for r in rows))
    quantiles = sorted({r.quantile for r in rows})
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, name in enumerate(models):
        mine = {r.quantile: r for r in rows if r.model == name}
        xs = np.arange(len(quantiles)) + (i - (len(models) - 1) / 2) * width
        ys = [mine[q].improvement_pct or 0.0 for q in quantiles]
        bars = ax.bar(xs, ys, width, label=name)
        for bar, q in zip(bars, quantiles, strict=True):
            if mine[q].p_value < 0.05:
                ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), "*", ha="center", va="bottom")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(len(quantiles)), [f"{q}%" for q in quantiles])
    ax.set_xlabel("bottom q% of test users by EASE's NDCG@100")
    ax.set_ylabel("NDCG@100 improvement over EASE (%)")
    ax.set_title(f"{dataset}: per-user-group improvement (* paired t-test p < 0.05)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
