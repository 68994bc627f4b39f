"""FINEST Tables 3b/4b on foursquare: rank-list stability of Original, Random F.T. and FINEST.

    .venv/bin/python -m benchmarks.finest.finest_rls                       # full protocol (hours on 2 cores)
    .venv/bin/python -m benchmarks.finest.finest_rls --models sasrec --seeds 1 --epochs 20 --finest-epochs 10

Users with fewer than 10 interactions dropped, temporal 90/10 split, 0.1% deletion perturbations
(random and CASPER), FINEST defaults of the paper (R = 1%, K = 100, λ = 1, λ1 = λ2 = 0.1), embedding
128, max length 50. Original rows compare Θ with Θ' retrained on the perturbed data; Random F.T. and
FINEST rows fine-tune a copy of Θ on the perturbed data (the official code's protocol, training/rls.py).
Θ is trained once per model, regime and seed. Every row names its regime; `rbo` is RBO_ext at p = 0.9 (what
our canary uses), `ao_full` the full-list average overlap (what the paper's tables call RBO). p-values:
one-tailed paired t-test over seeds of the method's rbo against Original. Also measures the cost of a
FINEST epoch against a plain epoch, one evaluation pass and one RLS computation (`--cost`).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from benchmarks.common.results_io import merge_results, results_dir, write_results
from steadyrec.core.formats import read_log
from steadyrec.core.interactions import InteractionLog
from training.data.splits import Split, temporal_split
from training.evaluation.ranking import evaluate
from training.evaluation.stability import compare_models
from training.methods.finest import FinestConfig, finest_finetune
from training.models import build_model
from training.models.base import SequentialModel
from training.perturbation import PerturbationConfig
from training.rls import Regime, RLSConfig, run_rls, stream_layout, train_theta
from training.trainer import TrainConfig, seed_everything, train

RESULTS = results_dir(__file__)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "foursquare" / "foursquare.tsv"
MODELS: dict[str, dict[str, Any]] = {
    "sasrec": {"hidden": 128, "max_len": 50, "dropout": 0.2},  # TiSASRec's stand-in before #33
    "tisasrec": {"hidden": 128, "max_len": 50, "dropout": 0.2, "time_span": 256},  # Sec. 6.1: d 128, n 50
    "bert4rec": {"hidden": 128, "heads": 2, "max_len": 50, "dropout": 0.1, "mask_prob": 0.2},
    "lstm": {"hidden": 128, "embedding": 128, "max_len": 50},
}
PERTURBATIONS = {"random-deletion": "random", "casper-deletion": "casper"}
PAPER = {  # FINEST Table 3b, random deletion: (original ao/jaccard, finest ao/jaccard)
    "sasrec": (0.7680, 0.2725, 0.9368, 0.6510),  # the paper's TiSASRec figures (SASRec stood in)
    "tisasrec": (0.7680, 0.2725, 0.9368, 0.6510),
    "bert4rec": (0.7948, 0.3542, 0.8824, 0.5080),
    "lstm": (0.7096, 0.1682, 0.8452, 0.4116),
}


def foursquare() -> tuple[InteractionLog, Split]:
    """FINEST's foursquare protocol: users with fewer than 10 interactions dropped, temporal 90/10 split."""
    if not DATA.is_file():
        sys.exit(f"needs {DATA}")
    logging.basicConfig(level=logging.WARNING)
    log = read_log(DATA, min_interactions=10)
    return log, temporal_split(log)


def apply_model_setting(setting: str) -> None:
    """``MODEL.KEY=VALUE`` -> MODELS[MODEL][KEY] = VALUE (a JSON number or literal, else the string)."""
    name, _, value = setting.partition("=")
    model, _, key = name.partition(".")
    if model not in MODELS or not key or not value:
        raise SystemExit(f"--model-set wants MODEL.KEY=VALUE with MODEL in {sorted(MODELS)}, got {setting!r}")
    try:
        MODELS[model][key] = json.loads(value)
    except json.JSONDecodeError:
        MODELS[model][key] = value


def rls_config(
    model: str,
    seed: int,
    epochs: int,
    finest: FinestConfig,
    methods: tuple[str, ...],
    *,
    regime: Regime = "shared-stream",
    selection: str = "random",
    ratio: float = 0.001,
    batch_size: int = 128,
    init_jitter: float = 0.0,
) -> RLSConfig:
    """One RLS run of the paper's setting: the model's config, ``batch_size`` users a batch (Θ, Θ' and the
    fine-tunes), ``ratio`` of deletions, Θ''s initial weights nudged by ``init_jitter``."""
    return RLSConfig(
        model=model,
        model_config=MODELS[model],
        train=TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed),
        perturbation=PerturbationConfig(selection=selection, ratio=ratio, seed=seed),  # type: ignore[arg-type]
        regime=regime,
        finest=replace(finest, batch_size=batch_size),
        methods=methods,
        init_jitter=init_jitter,
    )


SE_KEYS = ("rbo", "ao_full", "jaccard@10", "mrr", "recall@10")  # reported with their standard error over seeds


def summarise(runs: list[dict[str, float]], baseline: list[dict[str, float]] | None) -> dict[str, float]:
    keys = runs[0].keys()
    row = {k: round(float(np.mean([r[k] for r in runs])), 4) for k in keys}
    if len(runs) > 1:
        for k in SE_KEYS:
            row[f"{k}_se"] = round(float(np.std([r[k] for r in runs], ddof=1) / np.sqrt(len(runs))), 4)
    if baseline is not None and len(runs) > 1:
        row["p_value"] = round(
            float(
                stats.ttest_rel([r["rbo"] for r in runs], [r["rbo"] for r in baseline], alternative="greater").pvalue
            ),
            4,
        )
    return row


def stability_rows(args: argparse.Namespace, split) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    thetas: dict[tuple[str, str, int], SequentialModel] = {}  # Θ depends on model, stream layout and seed only
    for model in args.models:
        for regime in args.regimes:
            perturbations = ["none"] if regime == "different-seed" else args.perturbations
            methods = ("original",) if regime == "different-seed" else tuple(args.methods)
            for perturbation in perturbations:
                per_method: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
                started = time.perf_counter()
                for seed in range(args.seeds):
                    cfg = rls_config(
                        model,
                        seed,
                        args.epochs,
                        FinestConfig(epochs=args.finest_epochs, reduction=args.reduction, lam=args.lam),
                        methods,
                        regime=regime,
                        selection=PERTURBATIONS.get(perturbation, "random"),
                        ratio=args.ratio,
                        batch_size=args.batch_size,
                        init_jitter=args.init_jitter,
                    )
                    key = (model, stream_layout(regime), seed)
                    if key not in thetas:
                        print(f"    train Θ ({model}, {regime}, seed {seed})", flush=True)
                        thetas[key] = train_theta(split, cfg)
                    results = run_rls(split, cfg, theta=thetas[key], on_step=lambda m: print(f"    {m}", flush=True))
                    for method, (result, _) in results.items():
                        low = result.low_accuracy_rows(0.2)
                        rest = np.setdiff1d(np.arange(len(result.rbo)), low)
                        summary = result.summary()
                        summary["bottom20_rbo"] = result.summary(low)["rbo"]
                        summary["rest_rbo"] = result.summary(rest)["rbo"]
                        per_method[method].append(summary)
                    print(
                        f"  {model} {regime} {perturbation} seed {seed}: "
                        + ", ".join(
                            f"{m} rbo {v[-1]['rbo']:.4f} ao {v[-1]['ao_full']:.4f} jac {v[-1]['jaccard@10']:.4f}"
                            for m, v in per_method.items()
                        ),
                        flush=True,
                    )
                for method, runs in per_method.items():
                    base = per_method.get("original") if method != "original" else None
                    rows.append(
                        {
                            "dataset": "foursquare",
                            "model": model,
                            "method": method,
                            "perturbation": perturbation,
                            "regime": regime,
                            **({"init_jitter": args.init_jitter} if args.init_jitter else {}),
                            "seeds": args.seeds,
                            **summarise(runs, base),
                            "wall_s": round(time.perf_counter() - started, 1),
                        }
                    )
    return rows


def cost_rows(args: argparse.Namespace, split) -> list[dict[str, object]]:
    """Plain epoch vs FINEST epoch, one evaluation pass, one RLS pass (BERT4Rec, hidden 128, length 50)."""
    rows: list[dict[str, object]] = []
    official = {"plain_epoch_s": 13.5, "finest_epoch_s": 19.0, "eval_pass_s": 66.5, "rls_s": 148.0}
    for model_name in args.cost_models:
        seed_everything(0)
        model = build_model(model_name, split.train.n_items, MODELS[model_name])
        other = copy.deepcopy(model)
        plain_times, finest_times = [], []
        for rounds in range(args.cost_rounds):  # alternated: this machine's speed drifts by tens of % in minutes
            plain = train(model, split.train, TrainConfig(epochs=1, seed=rounds))
            tuned = finest_finetune(other, split.train, model, FinestConfig(epochs=1, seed=rounds))
            plain_times.append(plain.epochs[0].seconds)
            finest_times.append(tuned.epochs[0].seconds)
        plain_s, finest_s = float(np.median(plain_times)), float(np.median(finest_times))
        t0 = time.perf_counter()
        evaluate(model, split.test, exclude_history=False)
        eval_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        compare_models(model, other, split.test)
        rls_s = time.perf_counter() - t0
        row = {
            "benchmark": "finest",
            "dataset": "foursquare",
            "model": model_name,
            "plain_epoch_s": round(plain_s, 2),
            "finest_epoch_s": round(finest_s, 2),
            "epoch_cost_ratio": round(finest_s / plain_s, 3),
            "reference_lists_s": round(tuned.reference_s, 2),
            "eval_pass_s": round(eval_s, 2),
            "rls_s": round(rls_s, 2),
            "test_instances": len(split.test),
        }
        if model_name == "bert4rec":
            row.update({f"official_{k}": v for k, v in official.items()})
            row["speedup_eval"] = round(official["eval_pass_s"] / eval_s, 1)
            row["speedup_rls"] = round(official["rls_s"] / rls_s, 1)
            row["speedup_plain_epoch"] = round(official["plain_epoch_s"] / plain_s, 1)
            row["speedup_finest_epoch"] = round(official["finest_epoch_s"] / finest_s, 1)
        print(f"  cost {model_name}: {row}", flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--models",
        nargs="*",
        default=["sasrec", "bert4rec", "lstm"],  # the recorded runs' set; TiSASRec's row: --models tisasrec
        choices=list(MODELS),
        help="none: cost rows only",
    )
    parser.add_argument("--regimes", nargs="+", default=["shared-stream", "independent-stream", "different-seed"])
    parser.add_argument("--perturbations", nargs="+", default=list(PERTURBATIONS), choices=list(PERTURBATIONS))
    parser.add_argument("--methods", nargs="+", default=["original", "random-ft", "finest"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=50, help="training epochs of Θ and Θ'")
    parser.add_argument("--finest-epochs", type=int, default=50)
    parser.add_argument("--ratio", type=float, default=0.001)
    parser.add_argument("--batch-size", type=int, default=128, help="users a batch (official code: 16, BERT4Rec 8)")
    parser.add_argument("--reduction", choices=["sum", "mean"], default=FinestConfig.reduction, help="Eq. 3 reduction")
    parser.add_argument("--lam", type=float, default=FinestConfig.lam, help="λ of Eq. 5")
    parser.add_argument(
        "--init-jitter",
        type=float,
        default=0.0,
        help="relative noise on Θ''s initial weights (1e-7: float32's ulp, as GPU run-to-run differences)",
    )
    parser.add_argument(
        "--model-set",
        nargs="+",
        default=[],
        metavar="MODEL.KEY=VALUE",
        help="override a model's config, e.g. sasrec.loss=bce (TiSASRec's one-negative BCE)",
    )
    parser.add_argument("--cost-rounds", type=int, default=5, help="plain and FINEST epochs, alternated, per model")
    parser.add_argument("--cost-models", nargs="*", default=["bert4rec", "sasrec", "lstm"])
    parser.add_argument("--name", default="finest")
    parser.add_argument("--merge-from", nargs="*", default=[], help="only merge these results (NAME) into --name")
    parser.add_argument("--notes-file", type=Path, default=None, help="extra notes for the merged results")
    args = parser.parse_args()
    if args.merge_from:
        merge_results(args.name, args.merge_from, args.notes_file, folder=RESULTS)
        return
    for setting in args.model_set:
        apply_model_setting(setting)
    log, split = foursquare()
    print(
        f"foursquare: {log.n_users} users, {log.n_items} items, {log.n_interactions} interactions, "
        f"{len(split.test)} test instances",
        flush=True,
    )
    rows = cost_rows(args, split) + stability_rows(args, split)
    paper = "; ".join(f"{m}: original {v[0]}/{v[1]} -> FINEST {v[2]}/{v[3]}" for m, v in PAPER.items())
    settings = (
        f"Θ and Θ' {args.epochs} epochs, batches of {args.batch_size}; FINEST {args.finest_epochs} epochs, "
        f"Eq. 3 reduction {args.reduction}, "
        f"λ {args.lam}; perturbation ratio {args.ratio}; Θ' initial-weight jitter {args.init_jitter}; "
        f"model configs {', '.join(f'{m} {MODELS[m]}' for m in args.models) or '-'}."
    )
    write_results(
        args.name,
        rows,
        notes=f"{settings} Paper Table 3b (random deletion, ao_full / jaccard@10): {paper}.",
        folder=RESULTS,
    )


if __name__ == "__main__":
    main()
