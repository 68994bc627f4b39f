"""R-LARM's adversarial user reweighting as fine-tuning of SASRec (beyond the paper: `--method rlarm`).

    .venv/bin/python -m benchmarks.rlarm.rlarm_sasrec --dataset ml-1m --base-minutes 10 --epochs 3

Leave-one-out, full ranking over all items excluding the user's history (the target kept), as in
`sasrec-loo`. A SASRec base is trained within a wall-time budget (best validation epoch kept); from
that same base, two fine-tunes of equal length: `sasrec-continue` (plain continued training, the
control: equally many extra epochs) and `sasrec-rlarm` (the same loop with the adversary's per-user
weights). Reported on test: NDCG@10 overall and on the bottom 20% of users, with paired t-tests against
the base and against `continue`; the EASE protocol's keys (NDCG@100, Recall@20 = HR@20 and Recall@50 =
HR@50 with one relevant item) too. The bottom 20% are the users whose *validation* item the base ranks
worst (ties broken by user index): chosen on data none of the test figures use, so no model gains on
the bucket by regression to the mean (choosing it on the base's own test NDCG would put the base at its
floor there by construction).
"""

from __future__ import annotations

import argparse
import copy
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.results_io import results_dir, write_results
from steadyrec.core.formats import read_log
from steadyrec.core.methods import RlarmConfig
from training.data.splits import leave_one_out
from training.evaluation.groups import bottom_indices, paired_p_value
from training.evaluation.ranking import evaluate, ndcg_per_instance
from training.methods.finest import FinestEpoch, finest_finetune
from training.methods.rlarm import rlarm_finetune
from training.models import build_model
from training.trainer import EpochReport, TrainConfig, seed_everything, train

RESULTS = results_dir(__file__)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DATASETS = {"ml-1m": ("ml-1m/ml-1m.txt", 0.2), "foursquare": ("foursquare/foursquare.tsv", 0.5)}  # file, dropout


def per_user(ranks: np.ndarray) -> dict[str, np.ndarray]:
    """Per-instance metrics of one relevant item from its 0-based rank."""
    return {
        "ndcg@10": ndcg_per_instance(ranks, 10),
        "hr@10": (ranks < 10).astype(float),
        "ndcg@100": ndcg_per_instance(ranks, 100),
        "recall@20": (ranks < 20).astype(float),
        "recall@50": (ranks < 50).astype(float),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=list(DATASETS), default="ml-1m")
    parser.add_argument("--base-minutes", type=float, default=10.0, help="wall-time budget of the base training")
    parser.add_argument("--base-epochs", type=int, default=200)
    parser.add_argument("--max-len", type=int, default=200, help="SASRec paper: 200 on ml-1m")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs of both continue and rlarm")
    parser.add_argument("--adversary", choices=["linear", "nn"], default="linear")
    parser.add_argument("--b", type=float, default=1e-2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--finest", action="store_true", help="rlarm combined with FINEST")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"no datasets at {SHARED}: this benchmark needs ../shared/data")
    logging.basicConfig(level=logging.WARNING)
    path, dropout = DATASETS[args.dataset]
    log = read_log(SHARED / path)
    split = leave_one_out(log)
    print(f"== {args.dataset}: {log.n_users} users, {log.n_items} items", flush=True)
    seed_everything(args.seed)
    config = {"hidden": args.hidden, "max_len": args.max_len, "dropout": dropout, "loss": "ce"}
    base = build_model("sasrec", log.n_items, config)

    def show(r: EpochReport) -> None:
        print(f"  base epoch {r.epoch} loss {r.loss:.4f} ({r.seconds:.0f}s) {r.valid or ''}", flush=True)

    trained = train(
        base,
        split.train,
        TrainConfig(epochs=args.base_epochs, eval_every=2, seed=args.seed, max_seconds=args.base_minutes * 60),
        valid=split.valid,
        on_epoch=show,
    )
    base_s = trained.wall_s
    models: dict[str, tuple[Any, dict[str, Any]]] = {
        "sasrec": (base, {"epochs": len(trained.epochs), "wall_s": base_s, "s_per_epoch": base_s / len(trained.epochs)})
    }

    def tuned(e: FinestEpoch) -> None:
        print(f"  fine-tune epoch {e.epoch} next-item {e.next_item_loss:.4f} ({e.seconds:.0f}s)", flush=True)

    rlarm = RlarmConfig(
        epochs=args.epochs, adversary=args.adversary, b=args.b, lr=args.lr, finest=args.finest, seed=args.seed
    )
    control = copy.deepcopy(base)
    seed_everything(args.seed)
    result = finest_finetune(control, split.train, copy.deepcopy(base), rlarm.finest_config(), on_epoch=tuned)
    models["sasrec-continue"] = (control, {"epochs": args.epochs, "wall_s": result.wall_s})
    adversarial = copy.deepcopy(base)
    seed_everything(args.seed)  # the same dropout stream as the control
    result, _ = rlarm_finetune(adversarial, split.train, copy.deepcopy(base), rlarm, on_epoch=tuned)
    models["sasrec-rlarm"] = (adversarial, {"epochs": args.epochs, "wall_s": result.wall_s})
    for _, info in list(models.values())[1:]:
        info["s_per_epoch"] = info["wall_s"] / args.epochs

    scores = {name: per_user(evaluate(m, split.test, exclude_history=True).ranks) for name, (m, _) in models.items()}
    base_ndcg = scores["sasrec"]["ndcg@10"]
    assert split.valid is not None and np.array_equal(split.valid.users, split.test.users)
    valid_ranks = evaluate(base, split.valid, exclude_history=True).ranks  # (users,) aligned with the test set
    bottom = bottom_indices(-valid_ranks, 20)  # the 20% whose validation item the base ranks worst
    rows = []
    for name, metrics in scores.items():
        ndcg = metrics["ndcg@10"]
        info = models[name][1]
        control_ndcg = scores["sasrec-continue"]["ndcg@10"]
        rows.append(
            {
                "dataset": args.dataset,
                "method": name,
                "ndcg@10": round(float(ndcg.mean()), 4),
                "hr@10": round(float(metrics["hr@10"].mean()), 4),
                "bottom20_ndcg@10": round(float(ndcg[bottom].mean()), 4),
                "ndcg@100": round(float(metrics["ndcg@100"].mean()), 4),
                "recall@20": round(float(metrics["recall@20"].mean()), 4),
                "recall@50": round(float(metrics["recall@50"].mean()), 4),
                "bottom20_ndcg@100": round(float(metrics["ndcg@100"][bottom].mean()), 4),
                "p_value": round(paired_p_value(ndcg, base_ndcg), 4),
                "bottom20_p_value": round(paired_p_value(ndcg[bottom], base_ndcg[bottom]), 4),
                "p_vs_continue": round(paired_p_value(ndcg, control_ndcg), 4),
                "bottom20_p_vs_continue": round(paired_p_value(ndcg[bottom], control_ndcg[bottom]), 4),
                "epochs": info["epochs"],
                "s_per_epoch": round(info["s_per_epoch"], 1),
                "wall_s": round(info["wall_s"], 1),
            }
        )
    notes = (
        f"Leave-one-out on {args.dataset}, full ranking excluding history; SASRec hidden {args.hidden}, max_len "
        f"{args.max_len}, CE loss, base trained {len(trained.epochs)} epochs within {args.base_minutes} min "
        f"(best validation epoch {trained.best_epoch}). Fine-tunes: {args.epochs} epochs each from the same base, "
        f"lr {args.lr}; rlarm: {args.adversary} adversary, B {args.b}, NDCG@{rlarm.k} rank loss, warm-up "
        f"{rlarm.warmup} epoch, finest={args.finest}. p-values: paired t-tests on per-user NDCG@10 against the "
        "base (`p_value`) and against `sasrec-continue` (`p_vs_continue`). The bottom-20% bucket: the users whose "
        "validation item the base ranks worst (chosen on validation, measured on test). "
        f"Base wall time {base_s:.0f}s; alone on the machine unless said otherwise."
    )
    write_results(f"rlarm-sasrec-{args.dataset}", rows, notes, folder=RESULTS)


if __name__ == "__main__":
    main()
