"""A short probe of the cascade perturbation size ε (the paper's Fig. 4) from the cached base of
cascade_table3.py: one adv_cas epoch over a random subset of the training users per ε, then NDCG@10 /
HR@10 on a random subset of the validation instances (full ranking excluding history).

    .venv/bin/python -m benchmarks.cascade.cascade_eps --dataset beauty --eps 0.1 1 10 --users 3000 --base-minutes 12

It exists because ε is an absolute norm: the paper's ε = 10 is relative to its own embedding scale,
which it does not report; the mean item-embedding and state norms of our base are printed beside it.
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch

from benchmarks.cascade.cascade_robustness import subset
from benchmarks.cascade.cascade_table3 import DATASETS, SHARED, base_model
from benchmarks.common.results_io import results_dir, write_results
from steadyrec.core.formats import read_log
from steadyrec.core.methods import CascadeConfig
from training.data.splits import leave_one_out
from training.evaluation.ranking import evaluate
from training.methods.cascade_at import cascade_finetune
from training.trainer import TrainConfig
from training.trainer import train as plain

RESULTS = results_dir(__file__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="beauty", choices=list(DATASETS))
    parser.add_argument("--model", default="sasrec", choices=["sasrec", "gru4rec"])
    parser.add_argument("--eps", type=float, nargs="+", default=[0.1, 1.0, 10.0])
    parser.add_argument("--variant", default="adv_cas")
    parser.add_argument("--users", type=int, default=3000, help="training users and validation instances")
    parser.add_argument("--base-minutes", type=float, default=15.0, help="selects the cached base")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--loss", choices=["ce", "bce"], default="ce")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    # the base's schedule flags are only read when it is not cached
    args.base_epochs, args.eval_every, args.patience, args.base_l2 = 500, 2, 5, 0.0
    log = read_log(SHARED / DATASETS[args.dataset][0])
    split = leave_one_out(log)
    base, info = base_model(args.dataset, args.model, split, log.n_items, args)
    keep = set(np.random.default_rng(args.seed).choice(log.n_users, size=min(args.users, log.n_users), replace=False))
    train = split.train.with_sequences([s if u in keep else s[:0] for u, s in enumerate(split.train.sequences)])
    assert split.valid is not None
    valid = subset(split.valid, args.users, args.seed)
    norms = torch.linalg.vector_norm(base.item_emb.weight[1:].detach(), dim=-1)  # type: ignore[union-attr]
    print(f"item embedding norm: mean {norms.mean():.3f}, max {norms.max():.3f}", flush=True)
    rows = []
    clean = evaluate(base, valid, exclude_history=True).metrics
    rows.append({"eps": 0.0, "variant": "base", **{k: round(clean[k], 4) for k in ("ndcg@10", "hr@10")}})
    print(rows[-1], flush=True)
    for eps in [None, *args.eps]:  # None: the control, one plain epoch on the same users
        model = copy.deepcopy(base)
        t0 = time.perf_counter()
        if eps is None:
            plain(model, train, TrainConfig(epochs=1))
            parts: dict[str, float] = {}
        else:
            _, epochs = cascade_finetune(
                model, train, CascadeConfig(variant=args.variant, eps=eps, eps2=None, direction="fresh", epochs=1)
            )
            parts = epochs[0].parts
        metrics = evaluate(model, valid, exclude_history=True).metrics
        rows.append(
            {
                "eps": eps if eps is not None else 0.0,
                "variant": args.variant if eps is not None else "continue",
                "ndcg@10": round(metrics["ndcg@10"], 4),
                "hr@10": round(metrics["hr@10"], 4),
                **{k: round(v, 4) for k, v in parts.items()},
                "wall_s": round(time.perf_counter() - t0, 1),
            }
        )
        print(rows[-1], flush=True)
        write_results(
            f"cascade-eps-{args.dataset}-{args.model}",
            rows,
            notes=(
                f"Probe: one {args.variant} epoch over {len(keep)} random training users from the cached base "
                f"({info}), validation NDCG@10 / HR@10 on {len(valid)} random validation instances (full ranking "
                "excluding history); `continue`: one plain epoch on the same users. Item-embedding norm of the base: "
                f"mean {norms.mean():.3f}. `clean`, `adv1`, `adv2`: the epoch's mean loss terms (λ-weighted)."
            ),
            folder=RESULTS,
        )


if __name__ == "__main__":
    main()
