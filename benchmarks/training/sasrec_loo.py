"""SASRec base rows of the cascade-guided AT paper's Table 3: leave-one-out, full ranking over all
items excluding history, NDCG@10 / HR@10, trained within a wall-time budget on this CPU.

    .venv/bin/python -m benchmarks.training.sasrec_loo --datasets ml-1m beauty video-games

Validation (second-to-last item) picks the best epoch; the test row is reported at that epoch.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from benchmarks.common.results_io import results_dir, write_results
from steadyrec.core.formats import read_log
from training.data.splits import leave_one_out
from training.evaluation.ranking import evaluate
from training.models import build_model
from training.trainer import EpochReport, TrainConfig, seed_everything, train

RESULTS = results_dir(__file__)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DATASETS = {
    # name: (file, model overrides) -- max length and dropout as in the SASRec paper
    "ml-1m": ("ml-1m/ml-1m.txt", {"max_len": 200, "dropout": 0.2}),
    "beauty": ("beauty/Beauty.txt", {"max_len": 50, "dropout": 0.5}),
    "video-games": ("video-games/Video_Games.txt", {"max_len": 50, "dropout": 0.5}),
}
PAPER = {"ml-1m": (0.1359, 0.2528), "beauty": (0.0264, 0.0537), "video-games": (0.0441, 0.0875)}


def run(name: str, args: argparse.Namespace) -> dict[str, object]:
    path, overrides = DATASETS[name]
    log = read_log(SHARED / path)
    split = leave_one_out(log)
    print(f"== {name}: {log.n_users} users, {log.n_items} items, {log.n_interactions} interactions", flush=True)
    seed_everything(args.seed)
    model = build_model("sasrec", log.n_items, {"hidden": args.hidden, "loss": args.loss, **overrides})
    config = TrainConfig(
        epochs=args.max_epochs,
        batch_size=128,
        lr=1e-3,
        seed=args.seed,
        eval_every=args.eval_every,
        max_seconds=args.minutes[name] * 60,
        patience=args.patience,
    )
    started = time.perf_counter()

    def show(r: EpochReport) -> None:
        if r.valid:
            print(
                f"  epoch {r.epoch:3d}  loss {r.loss:.4f}  {r.seconds:5.1f}s/epoch  valid ndcg@10 "
                f"{r.valid['ndcg@10']:.4f} hr@10 {r.valid['hr@10']:.4f}  ({time.perf_counter() - started:.0f}s)",
                flush=True,
            )

    result = train(model, split.train, config, valid=split.valid, on_epoch=show)
    test = evaluate(model, split.test, exclude_history=True).metrics
    paper = PAPER[name]
    print(
        f"  test at best epoch {result.best_epoch}: ndcg@10 {test['ndcg@10']:.4f} hr@10 {test['hr@10']:.4f} "
        f"(paper base {paper[0]} / {paper[1]}), {len(result.epochs)} epochs in {result.wall_s:.0f}s",
        flush=True,
    )
    return {
        "dataset": name,
        "model": "sasrec",
        "method": "base",
        "loss": args.loss,
        "hidden": args.hidden,
        "ndcg@10": round(test["ndcg@10"], 4),
        "hr@10": round(test["hr@10"], 4),
        "mrr": round(test["mrr"], 4),
        "epochs": len(result.epochs),
        "best_epoch": result.best_epoch,
        "wall_s": round(result.wall_s, 1),
        "s_per_epoch": round(sum(e.seconds for e in result.epochs) / len(result.epochs), 1),
        "paper_ndcg@10": paper[0],
        "paper_hr@10": paper[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument(
        "--minutes",
        type=float,
        nargs="+",
        default=[30.0],
        help="training budget per dataset (one value for all, or one per dataset)",
    )
    parser.add_argument("--max-epochs", type=int, default=200)
    parser.add_argument("--eval-every", type=int, default=2)
    parser.add_argument("--patience", type=int, default=5, help="validation passes without gain before stopping")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--loss", choices=["ce", "bce"], default="ce")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"no datasets at {SHARED}: this benchmark needs ../shared/data")
    minutes = args.minutes * len(args.datasets) if len(args.minutes) == 1 else args.minutes
    args.minutes = dict(zip(args.datasets, minutes, strict=True))
    logging.basicConfig(level=logging.WARNING)
    rows = []
    for name in args.datasets:
        rows.append(run(name, args))
        write_results(
            "sasrec-loo",
            rows,
            notes="Full ranking over all items excluding each user's history "
            "(target kept); best epoch chosen on validation; CPU only, 2 cores shared with other work.",
            folder=RESULTS,
        )


if __name__ == "__main__":
    main()
