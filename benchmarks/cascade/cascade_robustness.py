"""Sec. 5.6 robustness rows (Fig. 5 and Fig. 6) for the cascade benchmark, and the Fig. 6 plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.results_io import results_dir
from training.data.splits import EvalSet, Split
from training.evaluation.robustness import SETTINGS, robustness_report
from training.models import SequentialModel
from training.models.base import CausalModel

RESULTS = results_dir(__file__)

ROBUST_NOTES = (
    "Sec. 5.6: replace the first, middle or last item, or the last K items, of each test history (the part the "
    "model reads) by the worst-case nearby item: the gradient of the target's cross-entropy on the item's "
    "embedding, then among the item's nearest neighbours the one whose offset points most along it. Drops are "
    "relative to the same model on clean histories; full ranking excluding history."
)


def subset(data: EvalSet, n: int, seed: int) -> EvalSet:
    """``n`` instances drawn without replacement (all of them when n >= len(data)), in their order."""
    if n >= len(data):
        return data
    rows = np.sort(np.random.default_rng(seed).choice(len(data), size=n, replace=False))
    return EvalSet.from_instances(
        [int(data.users[i]) for i in rows], [int(data.targets[i]) for i in rows], [data.history(i) for i in rows]
    )


def robustness_rows(
    name: str, dataset: str, kind: str, models: dict[str, SequentialModel], split: Split, users: int, seed: int
) -> list[dict[str, Any]]:
    """One row per (method, setting): metrics under worst-case replacement and the drop from clean (%).

    The Fig. 6 plot goes to ``{name}-{dataset}-{kind}.png`` beside the run's results.
    """
    test = subset(split.test, users, seed)
    rows: list[dict[str, Any]] = []
    for method, model in models.items():
        if not isinstance(model, CausalModel):
            continue
        for r in robustness_report(model, test, SETTINGS):
            row = {"dataset": dataset, "model": kind, "method": method, "users": len(test), **r}
            rows.append({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
            print(f"  robustness {rows[-1]}", flush=True)
    plot_last_k(rows, RESULTS / f"{name}-{dataset}-{kind}.png")
    return rows


def plot_last_k(rows: list[dict[str, Any]], path: Path) -> None:
    """Fig. 6: HR@10 (and NDCG@10) drop against K, the number of last items replaced, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = [1, 2, 3, 4, 5]
    names = ["last", "last-2", "last-3", "last-4", "last-5"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric in zip(axes, ("hr@10", "ndcg@10"), strict=True):
        for method in dict.fromkeys(r["method"] for r in rows):
            by = {r["setting"]: r for r in rows if r["method"] == method}
            if all(n in by for n in names):
                ax.plot(ks, [by[n][f"drop_{metric}"] for n in names], marker="o", label=method)
        ax.set_xlabel("K (last items replaced)")
        ax.set_ylabel(f"drop of {metric.upper()} (%)")
        ax.set_xticks(ks)
        ax.grid(alpha=0.3)
    axes[0].legend()
    first = rows[0]
    fig.suptitle(f"{first['model']} on {first['dataset']}: worst-case replacement of the last K items")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
