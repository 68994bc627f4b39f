"""Table 3 / Table 4 of the cascade-guided AT paper (Tan et al.), and SAO, on this CPU.

Protocol (paper Sec. 5.3-5.4): leave-one-out; full ranking over all items excluding the user's history
(the target kept), top-10 (NDCG@10, HT@10 = HR@10). A base model is trained first (within a wall-time
budget, cached under var/ so every method starts from the same weights), then each method fine-tunes a
copy of it for the adversarial budget; validation (the second-to-last item) picks the best epoch of
both phases, the test row is reported there.

    .venv/bin/python -m benchmarks.cascade.cascade_table3 --datasets beauty --models sasrec \\
        --base-minutes 12 --adv-minutes 5 --cost --robustness

Paper schedules are 500 base + 100 adversarial epochs on an A100; ours are whatever fits the budgets,
reported per row (``epochs``, ``wall_s``). ``--cost`` times one base epoch and one adv_cas epoch of the
same model on the same data, interleaved (``epoch_cost_ratio``; ``--direction recycled``: the cheaper Eq. 7);
``--robustness`` runs Sec. 5.6's item replacements (first / middle / last, last K = 1..5) on the base
and the adversarially tuned models and plots Fig. 6.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchmarks.cascade.cascade_cost import cost_from_rows, epoch_cost
from benchmarks.cascade.cascade_rows import notes, schedule_info, uncertainty
from benchmarks.common.results_io import merge_results, results_dir, write_results
from steadyrec.core.formats import read_log
from steadyrec.core.methods import CASCADE_VARIANTS, CascadeConfig, SaoConfig
from training.allocator import SWITCH
from training.data.splits import Split, leave_one_out
from training.evaluation.ranking import evaluate, ndcg_per_instance
from training.methods.cascade_at import cascade_finetune
from training.methods.sao import sao_finetune
from training.models import SequentialModel, build_model
from training.trainer import TrainConfig, seed_everything, train

RESULTS = results_dir(__file__)

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
CACHE = ROOT / "var" / "cascade-bases"
DATASETS = {
    # name: (file, max length: paper Sec. 5.3, 200 for ML-1M and 50 for the Amazon sets)
    "ml-1m": ("ml-1m/ml-1m.txt", 200),
    "beauty": ("beauty/Beauty.txt", 50),
    "video-games": ("video-games/Video_Games.txt", 50),
}
# paper Table 3 / Table 4 (NDCG@10, HT@10); "video-games" is the paper's "Video"
PAPER: dict[tuple[str, str, str], tuple[float, float]] = {
    ("ml-1m", "sasrec", "base"): (0.1359, 0.2528),
    ("ml-1m", "sasrec", "adv_linear"): (0.1508, 0.2795),
    ("ml-1m", "sasrec", "adv_seq"): (0.1440, 0.2680),
    ("ml-1m", "sasrec", "adv_global"): (0.1519, 0.2808),
    ("ml-1m", "sasrec", "adv_cas"): (0.1546, 0.2831),
    ("ml-1m", "sasrec", "adv_cas_1"): (0.1523, 0.2738),
    ("ml-1m", "sasrec", "adv_cas_2"): (0.1512, 0.2704),
    ("beauty", "sasrec", "base"): (0.0264, 0.0537),
    ("beauty", "sasrec", "adv_linear"): (0.0315, 0.0626),
    ("beauty", "sasrec", "adv_seq"): (0.0304, 0.0597),
    ("beauty", "sasrec", "adv_global"): (0.0313, 0.0622),
    ("beauty", "sasrec", "adv_cas"): (0.0320, 0.0630),
    ("beauty", "sasrec", "adv_cas_1"): (0.0309, 0.0614),
    ("beauty", "sasrec", "adv_cas_2"): (0.0311, 0.0614),
    ("video-games", "sasrec", "base"): (0.0441, 0.0875),
    ("video-games", "sasrec", "adv_linear"): (0.0553, 0.1059),
    ("video-games", "sasrec", "adv_seq"): (0.0519, 0.1001),
    ("video-games", "sasrec", "adv_global"): (0.0557, 0.1068),
    ("video-games", "sasrec", "adv_cas"): (0.0606, 0.1162),
    ("video-games", "sasrec", "adv_cas_1"): (0.0583, 0.1111),
    ("video-games", "sasrec", "adv_cas_2"): (0.0562, 0.1101),
    ("ml-1m", "gru4rec", "base"): (0.1255, 0.2419),
    ("ml-1m", "gru4rec", "adv_linear"): (0.1351, 0.2581),
    ("ml-1m", "gru4rec", "adv_seq"): (0.1308, 0.2520),
    ("ml-1m", "gru4rec", "adv_global"): (0.1345, 0.2543),
    ("ml-1m", "gru4rec", "adv_cas"): (0.1360, 0.2588),
    ("beauty", "gru4rec", "base"): (0.0228, 0.0460),
    ("beauty", "gru4rec", "adv_linear"): (0.0288, 0.0560),
    ("beauty", "gru4rec", "adv_seq"): (0.0252, 0.0493),
    ("beauty", "gru4rec", "adv_global"): (0.0285, 0.0550),
    ("beauty", "gru4rec", "adv_cas"): (0.0298, 0.0566),
    ("video-games", "gru4rec", "base"): (0.0442, 0.0872),
    ("video-games", "gru4rec", "adv_cas"): (0.0520, 0.0993),
}
# controls: `continue` trains on with the base's schedule (its L2, none by default); `continue_l2` is Eq. 10 with
# λ1 = λ2 = 0, i.e. the adversarial phase's own schedule (L2 1e-5) without its adversarial terms, which isolates
# what those terms add
METHODS = ["base", "continue", "continue_l2", *CASCADE_VARIANTS, "sao"]


def model_config(kind: str, dataset: str, args: argparse.Namespace) -> dict[str, Any]:
    max_len = DATASETS[dataset][1]
    # the paper's sampler only when asked, so the cached bases (uniform negatives) keep their names
    unseen = {"negatives": "unseen"} if args.negatives == "unseen" else {}
    if kind == "sasrec":  # as benchmarks/training/sasrec_loo.py (our base rows): dropout 0.5 on the sparse Amazon sets
        dropout = args.sasrec_dropout if args.sasrec_dropout is not None else 0.2 if max_len > 50 else 0.5
        return {"hidden": args.hidden, "loss": args.loss, "max_len": max_len, "dropout": dropout, **unseen}
    config = {"hidden": 100, "loss": args.loss, "max_len": max_len, "dropout": args.gru_dropout, **unseen}  # Sec. 5.3
    if args.gru_embedding:  # only when asked, so the cached bases (GRU4RecConfig's embedding 64) keep their names
        config["embedding"] = args.gru_embedding
    if args.gru_untied:  # likewise
        config["tied"] = False
    return config


def base_model(dataset: str, kind: str, split: Split, n_items: int, args: argparse.Namespace) -> tuple[Any, dict]:
    """The trained base (from the cache when present) and its schedule: epochs, best epoch, wall_s."""
    config = model_config(kind, dataset, args)
    tag = "-".join(f"{k}{v}" for k, v in sorted(config.items()))
    l2 = f"-l2{args.base_l2:g}" if args.base_l2 else ""  # bases trained without L2 keep their older names
    path = CACHE / f"{dataset}-{kind}-{tag}-m{args.base_minutes:g}-p{args.patience}{l2}-s{args.seed}.pt"
    seed_everything(args.seed)
    model = build_model(kind, n_items, config)
    if path.is_file():
        saved = torch.load(path, weights_only=True)
        model.load_state_dict(saved["state"])
        print(f"  base from {path}: {saved['info']}", flush=True)
        return model, saved["info"]
    schedule = TrainConfig(
        epochs=args.base_epochs,
        seed=args.seed,
        eval_every=args.eval_every,
        patience=args.patience,
        max_seconds=args.base_minutes * 60,
        weight_decay=args.base_l2,
    )
    result = train(model, split.train, schedule, valid=split.valid, on_epoch=show(time.perf_counter()))
    info = schedule_info(result)
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.save({"state": model.state_dict(), "info": info}, path)
    return model, info


def show(started: float) -> Any:
    def report(r: Any) -> None:
        valid = f"valid ndcg@10 {r.valid['ndcg@10']:.4f} hr@10 {r.valid['hr@10']:.4f}" if r.valid else ""
        parts = " ".join(f"{k} {v:.4f}" for k, v in getattr(r, "parts", {}).items())
        print(
            f"    epoch {r.epoch:3d} loss {r.loss:.4f} {parts} {r.seconds:5.1f}s {valid} "
            f"({time.perf_counter() - started:.0f}s)",
            flush=True,
        )

    return report


def finetune(run: Run, model: SequentialModel, split: Split, args: argparse.Namespace) -> dict[str, Any]:
    """Fine-tune ``model`` in place with ``run``'s method (cascade variants and SAO at its ε, as
    `method_runs` pairs them); its schedule (epochs, best epoch, wall_s) and best validation NDCG@10."""
    method = run.method
    budget = {"epochs": args.adv_epochs, "max_seconds": args.adv_minutes * 60, "seed": args.seed}
    on_epoch = show(time.perf_counter())
    valid = split.valid if args.adv_valid else None
    if method == "continue":  # control: plain training for the same budget
        schedule = TrainConfig(eval_every=1, weight_decay=args.base_l2, **budget)  # type: ignore[arg-type]
        result = train(model, split.train, schedule, valid=valid, on_epoch=on_epoch)
    elif method == "sao":
        config = SaoConfig(eps=run.eps, **budget)  # type: ignore[arg-type]
        result, _ = sao_finetune(model, split.train, config, valid=valid, on_epoch=on_epoch)
    else:
        off = {"variant": "adv_cas", "lam1": 0.0, "lam2": 0.0} if method == "continue_l2" else {"variant": method}
        cascade = CascadeConfig(
            eps=run.eps,
            eps2=run.eps2,
            direction=args.direction,
            level1_norm=args.level1_norm,
            level2_norm=args.level2_norm,
            lam1=args.lam1,
            dropout=args.dropout,
            adv1_positions=args.adv1_positions,
            cascade_scale=args.cascade_scale,
            **off,  # type: ignore[arg-type]
            **budget,  # type: ignore[arg-type]
        )
        result, _ = cascade_finetune(model, split.train, cascade, valid=valid, on_epoch=on_epoch)
    return schedule_info(result)


def readings(args: argparse.Namespace, method: str) -> dict[str, Any]:
    """The row's lesser-used cascade options (issue #32's readings), named only where they differ from the
    defaults, so that earlier rows and their tables keep their columns."""
    sampler = {"negatives": args.negatives} if args.negatives != "uniform" else {}  # every row, the base's too
    if method not in CASCADE_VARIANTS:
        return sampler
    chosen = {
        "lam1": args.lam1,
        "dropout": args.dropout,
        "adv1_positions": args.adv1_positions,
        "cascade_scale": args.cascade_scale,
    }
    defaults = {"lam1": 1.0, "dropout": "shared", "adv1_positions": "all", "cascade_scale": "mean_effect"}
    return {**sampler, **{k: v for k, v in chosen.items() if v != defaults[k]}}


@dataclass(frozen=True)
class Run:
    """One row's method and ε: ``eps`` for SAO and both cascade levels, ``eps2`` for level 2 when it differs."""

    method: str
    eps: float
    eps2: float | None = None


def method_runs(args: argparse.Namespace) -> list[Run]:
    """One Run per row, in ``--methods`` order: SAO once per ``--sao-eps``; then adv_cas once per
    ``--eps-extra`` and once per ``--eps2`` (level 2 at that ε, level 1 at ``--eps``). ``--level2`` sets
    level 2's ε of every cascade row of ``--methods`` (Table 4 at the ε the adv_cas rows use)."""
    runs: list[Run] = []
    for method in args.methods:
        level2 = args.level2 if method in CASCADE_VARIANTS else None
        runs += [Run("sao", e) for e in args.sao_eps] if method == "sao" else [Run(method, args.eps, level2)]
    runs += [Run("adv_cas", e) for e in args.eps_extra]
    return runs + [Run("adv_cas", args.eps, e2) for e2 in args.eps2]


def arguments() -> argparse.ArgumentParser:
    """This benchmark's command line (other studies parse theirs with it to name the same cached base)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["beauty"], choices=list(DATASETS))
    parser.add_argument("--models", nargs="+", default=["sasrec"], choices=["sasrec", "gru4rec"])
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--base-minutes", type=float, default=15.0, help="base training budget per model")
    parser.add_argument("--base-epochs", type=int, default=500, help="paper: 500")
    parser.add_argument("--base-l2", type=float, default=0.0, help="our sasrec-loo bases use none (paper: 1e-5)")
    parser.add_argument("--adv-minutes", type=float, default=5.0, help="fine-tuning budget per method")
    parser.add_argument("--adv-epochs", type=int, default=100, help="paper: 100")
    parser.add_argument("--eps", type=float, default=10.0, help="cascade ε (paper: 10)")
    parser.add_argument("--eps-extra", type=float, nargs="*", default=[], help="also adv_cas at these ε")
    parser.add_argument("--eps2", type=float, nargs="*", default=[], help="also adv_cas, level 2 (Eq. 9) at these ε")
    parser.add_argument(
        "--level2",
        type=float,
        default=None,
        help="level-2 (Eq. 9) ε of every cascade row in --methods (default: --eps)",
    )
    parser.add_argument(
        "--sao-eps", type=float, nargs="+", default=[0.5], help="SAO ε, one row each (paper: 0.5; pick on valid)"
    )
    parser.add_argument("--eval-every", type=int, default=2)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=64, help="SASRec width (our base rows: 64; paper: 100)")
    parser.add_argument(
        "--sasrec-dropout",
        type=float,
        default=None,
        help="SASRec dropout (default: 0.2 on ml-1m, 0.5 on the Amazon sets, as our base rows; paper: 0.2)",
    )
    parser.add_argument(
        "--gru-embedding", type=int, default=0, help="GRU4Rec item embedding size (0: GRU4RecConfig's 64; paper: 100)"
    )
    parser.add_argument(
        "--gru-untied", action="store_true", help="GRU4Rec scores with its own output table (GRU4RecConfig.tied)"
    )
    parser.add_argument(
        "--gru-dropout", type=float, default=0.2, help="GRU4Rec dropout (paper: 0.2; our SASRec uses 0.5 on Amazon)"
    )
    parser.add_argument("--loss", choices=["ce", "bce"], default="ce", help="base loss (paper: bce)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cost", action="store_true", help="also measure epoch_cost_ratio")
    parser.add_argument(
        "--direction", choices=["fresh", "recycled"], default="fresh", help="Eq. 7's g (CascadeConfig.direction)"
    )
    parser.add_argument(
        "--level1-norm",
        choices=["item", "sequence", "batch"],
        default="item",
        help="what Eq. 7's ||g|| runs over (CascadeConfig.level1_norm)",
    )
    parser.add_argument(
        "--level2-norm",
        choices=["instance", "batch"],
        default="instance",
        help="what Eq. 9's ||h|| runs over (CascadeConfig.level2_norm)",
    )
    parser.add_argument(
        "--negatives",
        choices=["uniform", "unseen"],
        default="uniform",
        help="BCE negatives (base and L_adv2): uniform over the items, or the user's unseen items (the paper's)",
    )
    parser.add_argument("--lam1", type=float, default=1.0, help="λ1 of Eq. 10 (CascadeConfig.lam1; paper: 1)")
    parser.add_argument(
        "--dropout",
        choices=["shared", "independent"],
        default="shared",
        help="Eq. 6's two passes: w's dropout masks for ŵ, or independent draws (CascadeConfig.dropout)",
    )
    parser.add_argument(
        "--adv1-positions",
        choices=["all", "last"],
        default="all",
        help="Eq. 6 over every target position or each window's last (CascadeConfig.adv1_positions)",
    )
    parser.add_argument(
        "--cascade-scale",
        choices=["mean_effect", "mean_inverse"],
        default="mean_effect",
        help="C re-scaled to mean(C) = 1 or mean(1/C) = 1 (CascadeConfig.cascade_scale)",
    )
    parser.add_argument(
        "--malloc-defaults",
        action="store_true",
        help="leave glibc's malloc thresholds as they are (sets STEADYREC_KEEP_FREED_MEMORY=0; see training.allocator)",
    )
    parser.add_argument("--robustness", action="store_true", help="also run Sec. 5.6 and plot Fig. 6")
    parser.add_argument("--robust-users", type=int, default=5000, help="test users in the robustness runs")
    parser.add_argument("--adv-valid", action=argparse.BooleanOptionalAction, default=True, help="best epoch on valid")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 helps on oversubscribed CPUs)")
    parser.add_argument("--name", default="cascade")
    parser.add_argument("--merge-from", nargs="*", default=[], help="only merge these results (NAME) into --name")
    parser.add_argument("--notes-file", type=Path, default=None, help="extra notes for the merged results")
    return parser


def main() -> None:
    args = arguments().parse_args()
    if args.malloc_defaults:
        os.environ[SWITCH] = "0"
    if args.merge_from:
        merge_results(args.name, args.merge_from, args.notes_file, folder=RESULTS)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    if not SHARED.is_dir():
        sys.exit(f"no datasets at {SHARED}: this benchmark needs ../shared/data")
    logging.basicConfig(level=logging.WARNING)
    rows: list[dict[str, Any]] = []
    robust_rows: list[dict[str, Any]] = []
    for dataset in args.datasets:
        log = read_log(SHARED / DATASETS[dataset][0])
        split = leave_one_out(log)
        for kind in args.models:
            print(f"== {dataset} / {kind}: {log.n_users} users, {log.n_items} items", flush=True)
            base, base_info = base_model(dataset, kind, split, log.n_items, args)
            base_result = evaluate(base, split.test, exclude_history=True)  # the base row's, and p_vs_base's
            base_per_user = ndcg_per_instance(base_result.ranks, 10)
            tuned: dict[str, SequentialModel] = {"base": base}
            for run in method_runs(args):
                method = run.method
                model = base if method == "base" else copy.deepcopy(base)
                used_eps = run.eps if method in (*CASCADE_VARIANTS, "sao") else None
                print(f"  -- {method} (eps {used_eps}, level-2 eps {run.eps2})", flush=True)
                info = base_info if method == "base" else finetune(run, model, split, args)
                result = base_result if method == "base" else evaluate(model, split.test, exclude_history=True)
                test, per_user = result.metrics, ndcg_per_instance(result.ranks, 10)
                paper = PAPER.get((dataset, kind, method), (None, None))
                row = {
                    "dataset": dataset,
                    "model": kind,
                    "method": method,
                    "loss": args.loss,
                    "eps": used_eps,
                    "eps2": (run.eps if run.eps2 is None else run.eps2) if method in CASCADE_VARIANTS else None,
                    "direction": args.direction if method in CASCADE_VARIANTS else None,
                    "level1_norm": args.level1_norm if method in CASCADE_VARIANTS else None,
                    "level2_norm": args.level2_norm if method in CASCADE_VARIANTS else None,
                    **readings(args, method),
                    "ndcg@10": round(test["ndcg@10"], 4),
                    "hr@10": round(test["hr@10"], 4),
                    **uncertainty(per_user, base_per_user, method, paper[0]),
                    "valid_ndcg@10": info.get("valid_ndcg@10"),
                    "epochs": info["epochs"],
                    "best_epoch": info["best_epoch"],
                    "wall_s": info["wall_s"],
                    "s_per_epoch": info["s_per_epoch"],
                    "train_s_per_epoch": info.get("train_s_per_epoch"),
                    "base_epochs": base_info["epochs"],
                    "paper_ndcg@10": paper[0],
                    "paper_hr@10": paper[1],
                }
                print(f"  {row}", flush=True)
                rows.append(row)
                tuned.setdefault(method, model)
                write_results(args.name, rows, notes=notes(args), folder=RESULTS)
            if args.cost:
                config = CascadeConfig(
                    eps=args.eps,
                    eps2=args.eps2[0] if args.eps2 else args.level2,
                    seed=args.seed,
                    direction=args.direction,
                    level1_norm=args.level1_norm,
                    level2_norm=args.level2_norm,
                    lam1=args.lam1,
                    dropout=args.dropout,
                    adv1_positions=args.adv1_positions,
                    cascade_scale=args.cascade_scale,
                )
                cost: dict[str, Any] | None = epoch_cost(dataset, kind, base, split, config, args.base_l2)
            else:
                cost = cost_from_rows(rows, dataset, kind)
            if cost is not None:
                rows.append(cost)
                write_results(args.name, rows, notes=notes(args), folder=RESULTS)
            if args.robustness:
                from benchmarks.cascade.cascade_robustness import ROBUST_NOTES, robustness_rows

                robust_name = f"{args.name}-robustness"
                robust_rows += robustness_rows(robust_name, dataset, kind, tuned, split, args.robust_users, args.seed)
                write_results(robust_name, robust_rows, notes=ROBUST_NOTES, folder=RESULTS)
    print(f"results in {RESULTS}", flush=True)


if __name__ == "__main__":
    main()
