"""FINEST Fig. 5: rank-list stability against the perturbation scale, Original vs FINEST.

    .venv/bin/python -m benchmarks.finest.finest_scale                                  # SASRec, 5 scales
    .venv/bin/python -m benchmarks.finest.finest_scale --scales 0.001 0.01 --epochs 10 --finest-epochs 5

Foursquare as in finest_rls.py (users with fewer than 10 interactions dropped, temporal 90/10 split).
Θ is trained once on the original data; for every scale, Θ' is trained on data with that share of
training interactions randomly deleted (shared-stream regime, as the paper's tables), FINEST fine-tunes
a copy of Θ on that data with Θ's reference lists (training/rls.py), and both are compared with Θ on
every test instance: `rbo` (RBO_ext, p = 0.9), `ao_full` (the paper's "RBO"), Jaccard@10, and next-item
MRR / Recall@10 of the compared model.
Writes finest-scale.md/json and finest-scale.png (rbo and Jaccard@10 against the scale).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.common.results_io import results_dir, write_results
from benchmarks.finest.finest_rls import MODELS, foursquare, rls_config
from training.methods.finest import FinestConfig
from training.rls import RLSConfig, run_rls, train_theta

RESULTS = results_dir(__file__)


def plot(rows: list[dict[str, object]], model: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, metric in zip(axes, ("rbo", "jaccard@10"), strict=True):
        for method, style in (("original", "o--"), ("finest", "s-")):
            points = sorted((float(r["scale"]), float(r[metric])) for r in rows if r["method"] == method)  # type: ignore[arg-type]
            ax.plot([100 * x for x, _ in points], [y for _, y in points], style, label=method)
        ax.set_xscale("log")
        ax.set_xlabel("perturbation scale (% of train interactions deleted)")
        ax.set_ylabel(metric + (" (RBO_ext, p = 0.9)" if metric == "rbo" else ""))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{model} on foursquare: stability of top lists against the perturbation scale")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="sasrec", choices=list(MODELS))
    parser.add_argument("--scales", nargs="+", type=float, default=[0.001, 0.003, 0.01, 0.03, 0.1])
    parser.add_argument("--epochs", type=int, default=20, help="training epochs of Θ and Θ'")
    parser.add_argument("--finest-epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="finest-scale")
    args = parser.parse_args()
    _, split = foursquare()

    def config(scale: float) -> RLSConfig:
        finest = FinestConfig(epochs=args.finest_epochs)
        return rls_config(args.model, args.seed, args.epochs, finest, ("original", "finest"), ratio=scale)

    started = time.perf_counter()
    print(f"training Θ ({args.model}, {args.epochs} epochs) ...", flush=True)
    theta = train_theta(split, config(args.scales[0]))
    theta_s = time.perf_counter() - started
    rows: list[dict[str, object]] = []
    for scale in args.scales:
        t0 = time.perf_counter()
        results = run_rls(split, config(scale), theta=theta, on_step=lambda m: print(f"    {m}", flush=True))
        for method, (result, _) in results.items():
            rows.append(
                {
                    "dataset": "foursquare",
                    "model": args.model,
                    "method": method,
                    "perturbation": "random-deletion",
                    "regime": "shared-stream",
                    "scale": scale,
                    **{k: round(v, 4) for k, v in result.summary().items()},
                    "epochs": args.epochs,
                    "finest_epochs": args.finest_epochs,
                    "wall_s": round(time.perf_counter() - t0, 1),
                }
            )
            print(f"  scale {scale:.3%} {method}: {rows[-1]}", flush=True)
    plot(rows, args.model, RESULTS / f"{args.name}.png")
    write_results(
        args.name,
        rows,
        notes=f"One seed ({args.seed}); Θ trained once ({theta_s:.0f} s), shared by every scale. "
        f"Wall times on a 2-core CPU; wall_s is per scale (Θ' training, FINEST, both comparisons). "
        f"Plot: {args.name}.png.",
        folder=RESULTS,
    )


if __name__ == "__main__":
    main()
