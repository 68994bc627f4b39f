"""The canary showcase: which retrained candidates may replace a live SASRec on foursquare?

    .venv/bin/python -m benchmarks.canary.canary_showcase [--live-epochs 30] [--tune-epochs N] [--cache-dir DIR]

The world (live model, fresh logs with 0.1% perturbed, replay) is described in `showcase_world.py`.
Candidates built from the new data:

- A `plain`: retrained from scratch, as a daily job would (a fresh random initialisation: seed + 1);
- B `finest`: FINEST fine-tuned from the live weights with the live model as reference (the product's
  default FINEST parameters, the ones a `POST /jobs/finetune` without parameters uses);
- C `continued`: continued training from the live weights, no regulariser (FINEST's `continue`).

Each is exported to ONNX and judged by the service's canary gate with its default policy on a replay
of the 1,000 most recently active users. The noise floor (live vs a different-seed retrain on the same
data) is candidate A's own comparison. Prints every verdict and its figures.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

from benchmarks.canary.showcase_world import build_world, export, judge, train_live, train_sasrec
from benchmarks.common.results_io import results_dir, write_results
from steadyrec.core.canary import CanaryPolicy
from steadyrec.core.methods import make_method_config
from training.methods.finest import finest_finetune
from training.models import SequentialModel

RESULTS = results_dir(__file__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--live-epochs", type=int, default=30)
    parser.add_argument("--tune-epochs", type=int, help="FINEST / continued epochs (default: the method's own)")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, help="state dicts of live and plain: reused when present")
    parser.add_argument("--only-plain", action="store_true", help="train (and cache) live and plain, then stop")
    args = parser.parse_args()
    world = build_world(args.seed, args.samples)
    print(
        f"foursquare: {world.full.n_users} users, {world.full.n_items} items; live trained on "
        f"{world.old_train.n_interactions} interactions, the new data has {world.new_train.n_interactions} "
        "(0.1% deleted)",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="canary-showcase-"))
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    live = train_live(world, args.live_epochs, args.seed, args.cache_dir / "live.pt" if args.cache_dir else None)
    timings["live"] = time.perf_counter() - t0
    candidates: dict[str, SequentialModel] = {}

    t0 = time.perf_counter()
    plain_cache = args.cache_dir / "plain.pt" if args.cache_dir else None
    plain = train_sasrec(world.new_train, world.full.n_items, args.live_epochs, args.seed + 1, plain_cache)
    candidates["plain"], timings["plain"] = plain, time.perf_counter() - t0
    if args.only_plain:
        return
    for name, method in (("finest", "finest"), ("continued", "continue")):
        t0 = time.perf_counter()
        model = copy.deepcopy(live)
        params = {} if args.tune_epochs is None else {"epochs": args.tune_epochs}
        finest_finetune(model, world.new_train, live, make_method_config(method, params))
        candidates[name], timings[name] = model, time.perf_counter() - t0

    live_art = export(live, world, work / "live", "live")
    policy = CanaryPolicy()
    results = []
    for name, model in candidates.items():
        row = {"candidate": name, **judge(live_art, export(model, world, work / name, name), world, policy)}
        row["build_s"] = round(timings[name], 1)
        print(f"\n== candidate {name}: {'PASS' if row['passed'] else 'FAIL'} ({timings[name]:.0f}s to build)")
        for failure in filter(None, str(row["failures"]).split("; ")):
            print(f"   - {failure}")
        print(
            f"   rbo mean {row['rbo']:.4f} p10 {row['rbo_p10']:.4f}; jaccard@10 mean {row['jaccard@10']:.4f}; "
            f"ndcg@10 {row['ndcg@10']:.4f} (live {row['live_ndcg@10']:.4f})",
            flush=True,
        )
        results.append(row)
    write_results(
        "showcase",
        results,
        notes=f"Default policy: {policy.model_dump()}. Live trained in "
        f"{timings['live']:.0f}s ({args.live_epochs} epochs); FINEST and continued: from the live weights "
        f"with the default FINEST parameters (epochs overridden: {args.tune_epochs}) "
        f"({make_method_config('finest', {})}); plain: {args.live_epochs} epochs from a new initialisation.",
        folder=RESULTS,
    )


if __name__ == "__main__":
    main()
