"""EASE, EASE-IPW, ARM, R-LARM and R-LARM(NN) under strong generalisation (R-LARM paper Table 2, Fig. 2).

    .venv/bin/python -m benchmarks.rlarm.rlarm_ease --datasets ml-1m foursquare
    .venv/bin/python -m benchmarks.rlarm.rlarm_ease --datasets ml-1m --folds 10   # every user tested once

Protocol (paper Sec. 5): held-out users (seeded; ml-1m 600 validation + 600 test, foursquare 200 + 200),
80% of each held-out user's items folded in, 20% to predict, fold-in items never ranked; NDCG@100,
Recall@20, Recall@50 (denominator min(#relevant, k)). Every hyper-parameter is chosen on validation
NDCG@100 and the chosen model is reported once on test. With --folds K (beyond the paper, for statistical
power: ML20M has 10k test users, ml-1m's single split 600) split f tests fold f, validates on fold f + 1
and trains on the rest; hyper-parameters are chosen per split and the test users of all K splits are pooled
for the overall figures, the bottom-20% bucket, the paired t-tests and Fig. 2.

Grids (small by default so the whole run fits the shared CPU; flags widen them):
- EASE: C in --ease-c. EASE-IPW: beta in --betas x C in {C*/3, C*, 3 C*} around EASE's best C*.
- ARM / R-LARM / R-LARM(NN): C = C*, learning rate in --lrs (the paper's grid is 1e-5..1e-4), B in --bs,
  hidden width --hidden for the NN adversary; mini-batch 1024 users, K = 1 warm-up epoch, Adam for both
  players, early stopping on validation NDCG@100 with patience 5 and at most --epochs epochs.
  Deviation, said in the results: the learner W starts from the EASE solution at C* (--init ease) rather
  than GlorotNormal (--init glorot, the paper's). ml-1m has 4,840 training users, 5 mini-batches per
  epoch (ML20M: 113): from GlorotNormal W reaches validation NDCG@100 0.15 after 12 epochs (EASE: 0.48),
  so the paper's 100 epochs are not enough here. Started from EASE, the Adam learner only drifts below
  it on validation (the reweighting is lost in its optimiser noise); --learner closed-form (beyond the
  paper) replaces it by the exact weighted EASE (Eq. 8) for the current adversary after each epoch.

Per-user groups (Fig. 2): test users bucketed by EASE's NDCG@100 (bottom q%, q = 10..100), each
model's improvement on each bucket with a paired t-test; a PNG plot per dataset.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.results_io import results_dir, write_results
from benchmarks.rlarm.rlarm_report import FoldResult, fold_rows, plot_groups, pooled, summary_rows
from steadyrec.core.formats import read_log
from training.data.strong_generalisation import (
    HeldOut,
    StrongSplit,
    strong_generalisation,
    strong_generalisation_folds,
)
from training.evaluation.groups import group_report
from training.evaluation.heldout import HeldoutResult, evaluate_heldout, item_item_scorer
from training.methods.larm import LarmConfig, LarmEpoch, fit_larm
from training.models.ease import fit_ease, ipw_weights

RESULTS = results_dir(__file__)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DATASETS = {
    # name: (file, held-out users per validation / test set, minimum interactions per user)
    "ml-1m": ("ml-1m/ml-1m.txt", 600, 1),  # 6,040 users: 10% validation, 10% test
    "foursquare": ("foursquare/foursquare.tsv", 200, 10),  # 2,106 users with >= 10 check-ins (FINEST's filter)
}


def heldout(w: np.ndarray, data: HeldOut) -> HeldoutResult:
    return evaluate_heldout(item_item_scorer(w), data.fold_in, data.targets)


def tune_ease(split: StrongSplit, cs: list[float], beta: float = 0.0) -> tuple[float, float, np.ndarray, float]:
    """Best C on validation for one beta: (C, valid NDCG@100, W, seconds of one fit)."""
    theta = ipw_weights(np.asarray(split.train.sum(1)).ravel(), beta) if beta else None
    best: tuple[float, float, np.ndarray, float] | None = None
    for c in cs:
        t0 = time.perf_counter()
        w = fit_ease(split.train, c, theta)
        seconds = time.perf_counter() - t0
        valid = heldout(w, split.valid).metrics["ndcg@100"]
        print(f"  ease beta={beta:g} C={c:.1e}: valid ndcg@100 {valid:.4f} (fit {seconds:.1f}s)", flush=True)
        if best is None or valid > best[1]:
            best = (c, valid, w, seconds)
    assert best is not None
    return best


def weight_profile(theta: np.ndarray, train: Any) -> dict[str, float]:
    """How a user weighting theta (m,) spreads users and how IPW-like it is: its standard deviation (theta has
    mean 1) and its Pearson correlation with log n_u, the user's training items (EASE-IPW's n_u^-beta: near -1;
    0 for uniform weights, where it is undefined)."""
    log_n = np.log(np.maximum(np.asarray(train.sum(1)).ravel(), 1.0))
    spread = float(theta.std())
    return {"theta_std": spread, "theta_corr_log_n": float(np.corrcoef(theta, log_n)[0, 1]) if spread > 0 else 0.0}


def tune_larm(
    split: StrongSplit, variant: str, c: float, w0: np.ndarray, args: argparse.Namespace
) -> tuple[dict[str, Any], np.ndarray]:
    best: tuple[dict[str, Any], np.ndarray] | None = None
    for lr in args.lrs:
        for b in args.bs:
            config = LarmConfig(
                variant=variant,  # type: ignore[arg-type]
                c=c,
                b=b,
                hidden=args.hidden,
                lr=lr,
                batch_size=args.batch_size,
                epochs=args.epochs,
                patience=args.patience,
                init=args.init,
                learner=args.learner,
                seed=args.seed,
                max_seconds=args.run_seconds,
            )

            def show(e: LarmEpoch) -> None:
                print(
                    f"    epoch {e.epoch:3d} loss {e.learner_loss:.5f} valid {e.valid_ndcg} ({e.seconds:.1f}s)",
                    flush=True,
                )

            warm = w0 if args.init == "ease" and args.learner == "adam" else None
            result = fit_larm(split.train, config, valid=split.valid, init_weights=warm, on_epoch=show)
            assert result.theta is not None  # fit_larm always sets it
            info = {
                "lr": lr,
                "b": b,
                "valid": result.best_valid or 0.0,
                "epochs": len(result.epochs),
                "best_epoch": result.best_epoch,
                "s_per_epoch": result.seconds_per_epoch,
                "wall_s": result.wall_s,
                "config": asdict(config),
                **weight_profile(result.theta, split.train),
            }
            print(
                f"  {variant} lr={lr:g} B={b:g}: valid ndcg@100 {info['valid']:.4f} at epoch {result.best_epoch} "
                f"of {len(result.epochs)} ({result.seconds_per_epoch:.1f}s/epoch); weights std "
                f"{info['theta_std']:.3f}, corr with log n_u {info['theta_corr_log_n']:.2f}",
                flush=True,
            )
            if best is None or info["valid"] > best[0]["valid"]:
                best = (info, result.weights)
    assert best is not None
    return best


def fit_fold(split: StrongSplit, args: argparse.Namespace) -> FoldResult:
    """Tune every method on the split's validation users, then evaluate each chosen model on its test users."""
    chosen: dict[str, dict[str, Any]] = {}
    weights: dict[str, np.ndarray] = {}
    c_star, valid, w_ease, fit_s = tune_ease(split, args.ease_c)
    chosen["ease"], weights["ease"] = {"c": c_star, "valid": valid, "fit_s": fit_s}, w_ease
    best_ipw: tuple[float, float, float, np.ndarray, float] | None = None
    for beta in args.betas:
        c, v, w, s = tune_ease(split, [c_star / 3, c_star, c_star * 3], beta)
        if best_ipw is None or v > best_ipw[2]:
            best_ipw = (beta, c, v, w, s)
    assert best_ipw is not None
    counts = np.asarray(split.train.sum(1)).ravel()
    chosen["ease-ipw"] = {
        "beta": best_ipw[0],
        "c": best_ipw[1],
        "valid": best_ipw[2],
        "fit_s": best_ipw[4],
        **weight_profile(ipw_weights(counts, best_ipw[0]), split.train),
    }
    weights["ease-ipw"] = best_ipw[3]
    for variant in args.variants:
        chosen[variant], weights[variant] = tune_larm(split, variant, c_star, w_ease, args)
        chosen[variant]["c"] = c_star
        chosen[variant]["fit_s"] = chosen[variant]["wall_s"]
    return FoldResult(chosen, {method: heldout(w, split.test) for method, w in weights.items()})


def run(name: str, args: argparse.Namespace) -> None:
    path, n_held, min_inter = DATASETS[name]
    started = time.perf_counter()
    log = read_log(SHARED / path, min_interactions=min_inter)
    n_splits = args.folds or 1
    folds: list[FoldResult] = []
    for f in range(n_splits):
        split = (
            strong_generalisation_folds(log, args.folds, f, seed=args.seed)
            if args.folds
            else strong_generalisation(log, n_held, n_held, seed=args.seed)
        )
        print(
            f"== {name} split {f + 1}/{n_splits}: {log.n_users} users, {log.n_items} items; train "
            f"{split.train.shape[0]} users, valid {len(split.valid)}, test {len(split.test)} "
            f"({time.perf_counter() - started:.0f}s so far)",
            flush=True,
        )
        folds.append(fit_fold(split, args))
    rows = summary_rows(name, folds)
    base = pooled(folds, "ease", "ndcg@100")
    others = {m: pooled(folds, m, "ndcg@100") for m in folds[0].tests if m != "ease"}
    groups = group_report(base, others)
    tag = f"{name}{args.tag or (f'-{args.folds}fold' if args.folds else '')}"
    png = RESULTS / f"rlarm-groups-{tag}.png"
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot_groups(groups, name, png)
    wall = time.perf_counter() - started
    init_note = (
        "the learner W is the exact weighted EASE (Eq. 8) for the current adversary after each epoch (`--learner "
        "closed-form`, beyond the paper: the paper's Adam learner, started from EASE, only drifts below EASE on "
        "ml-1m's validation users); the adversary takes Adam steps"
        if args.learner == "closed-form"
        else "W starts from the EASE solution at the chosen C (a deviation from the paper's GlorotNormal)"
        if args.init == "ease"
        else "W starts GlorotNormal (as in the paper)"
    )
    users = rows[0]["users"]
    protocol = (
        f"{args.folds}-fold strong generalisation (seed {args.seed}): split f tests fold f's users, validates on "
        f"fold f + 1 and trains on the other {args.folds - 2} folds, so each of the {users} test users is tested "
        "once; hyper-parameters are chosen per split on its validation users and every figure pools the test "
        "users of all splits (per-fold figures: `rlarm-folds-" + tag + ".md`)"
        if args.folds
        else f"Strong generalisation: {len(split.valid)} validation and {users} test users (seed {args.seed}); "
        "hyper-parameters chosen on validation NDCG@100, reported on test"
    )
    notes = (
        f"{name}. {protocol}. 80% of each held-out user's items folded in, 20% to predict; fold-in items are "
        "excluded from the ranking; Recall@k denominator min(#relevant, k). "
        "`p_value`: paired t-test against EASE over all test users; `bottom20_*`: the 20% of test users with the "
        "lowest EASE NDCG@100; `p_vs_ease_ipw` / `bottom20_p_vs_ease_ipw`: paired t-tests against EASE-IPW "
        "(two-sided). `c`, `beta`, `lr`, `b`: the value chosen (with the number of splits choosing it); "
        "`valid_ndcg@100`, `epochs`, `s_per_epoch`, `fit_s`: means over splits. "
        "`theta_std`, `theta_corr_log_n` (means over splits): the chosen user weighting's spread (mean 1) and "
        "its correlation with log n_u (the user's training items; EASE-IPW's n_u^-beta is near -1), for "
        "ARM/R-LARM the weights the kept W was fitted with (uniform, std 0 and correlation 0, when validation "
        "keeps the warm-up epoch: plain EASE). "
        f"ARM/R-LARM: {init_note}; "
        f"grid lr {args.lrs}, B {args.bs}, hidden {args.hidden}, batch {args.batch_size}, at most {args.epochs} "
        f"epochs, patience {args.patience}, {args.run_seconds}s per run. `fit_s`: the closed-form fit (EASE rows) or "
        "the whole chosen ARM/R-LARM run; `s_per_epoch`: one ARM/R-LARM epoch (training + validation). "
        f"Whole benchmark {wall:.0f}s, alone on the machine unless said otherwise. "
        f"Per-group plot: `{png.name}`; per-group table: `rlarm-groups-{tag}.md`. "
        "Paper (ML20M, 10k test users): EASE 0.420, EASE-IPW 0.424, ARM 0.419, R-LARM 0.425, R-LARM(NN) 0.426."
    )
    write_results(f"rlarm-ease-{tag}", rows, notes, folder=RESULTS)
    if args.folds:
        write_results(f"rlarm-folds-{tag}", fold_rows(name, folds), f"Per split of `rlarm-ease-{tag}`.", folder=RESULTS)
    group_rows = [
        {
            "dataset": name,
            "method": g.model,
            "bottom_q": g.quantile,
            "users": g.users,
            "ease_ndcg@100": round(g.baseline, 4),
            "ndcg@100": round(g.mean, 4),
            "improvement_pct": round(g.improvement_pct, 2) if g.improvement_pct is not None else "",
            "p_value": round(g.p_value, 4),
        }
        for g in groups
    ]
    write_results(
        f"rlarm-groups-{tag}",
        group_rows,
        f"Fig. 2 of the paper: bottom q% of the test users of `rlarm-ease-{tag}` by EASE's NDCG@100.",
        folder=RESULTS,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["ml-1m"], choices=list(DATASETS))
    parser.add_argument("--ease-c", type=float, nargs="+", default=[3e-5, 1e-4, 3e-4, 1e-3, 3e-3])
    parser.add_argument("--betas", type=float, nargs="+", default=[0.1, 0.25, 0.5])
    parser.add_argument("--variants", nargs="+", default=["arm", "r-larm", "r-larm-nn"])
    parser.add_argument("--lrs", type=float, nargs="+", default=[2e-5, 1e-4])
    parser.add_argument("--bs", type=float, nargs="+", default=[1e-2])
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=30, help="paper: 100")
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--init", choices=["ease", "glorot"], default="ease")
    parser.add_argument(
        "--learner", choices=["adam", "closed-form"], default="adam", help="closed-form: W is the exact weighted EASE"
    )
    parser.add_argument("--run-seconds", type=float, default=300.0, help="wall-time budget per ARM/R-LARM run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--folds", type=int, default=0, help="K-fold strong generalisation (every user tested once); 0 = one split"
    )
    parser.add_argument("--tag", default="", help="suffix of the result names (default: -Kfold with --folds K)")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"no datasets at {SHARED}: this benchmark needs ../shared/data")
    logging.basicConfig(level=logging.WARNING)
    for name in args.datasets:
        run(name, args)


if __name__ == "__main__":
    main()
