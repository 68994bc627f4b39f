"""The canary showcase: which retrained candidates may replace a live SASRec on foursquare?

    .venv/bin/python benchmarks/canary_showcase.py [--live-epochs 30] [--tune-epochs 20]

Live: SASRec (hidden 64, max length 50) trained on foursquare without the newest 5% of each user's
interactions. Fresh logs: those newest interactions arrive; the new training data is everything, with
0.1% of its interactions perturbed (random deletion). Candidates built from the new data:

- A `plain`: retrained from scratch, as a daily job would (a fresh random initialisation: seed + 1);
- B `finest`: FINEST fine-tuned from the live weights with the live model as reference;
- C `continued`: continued training from the live weights, no regulariser (FINEST's `continue`).

Each is exported to ONNX and judged by the service's canary gate with its default policy on a replay
of the 1,000 most recently active users. The noise floor (live vs a different-seed retrain on the same
data) is candidate A's own comparison. Prints every verdict and its figures.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from results_io import write_results  # noqa: E402

from service.canary import CanaryPolicy, gate  # noqa: E402
from service.inference import load_version  # noqa: E402
from training.artifact import data_info, popular_items, write_artifact  # noqa: E402
from training.data.formats import read_interactions  # noqa: E402
from training.data.log import build_log  # noqa: E402
from training.data.splits import temporal_split  # noqa: E402
from training.methods.configs import make_method_config  # noqa: E402
from training.methods.finest import finest_finetune  # noqa: E402
from training.models import SequentialModel, build_model  # noqa: E402
from training.onnx_export import export_onnx  # noqa: E402
from training.perturbation import PerturbationConfig, perturb  # noqa: E402
from training.trainer import TrainConfig, seed_everything, train  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "foursquare" / "foursquare.tsv"
MODEL = {"hidden": 64, "max_len": 50}


def export(model: SequentialModel, log, target: Path) -> Path:
    info = data_info(log, source=str(DATA), fmt="tsv", split="temporal", min_interactions=10)
    write_artifact(target, model, item_ids=log.item_ids, popular=popular_items(log), data=info, export_onnx=export_onnx)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--live-epochs", type=int, default=30)
    parser.add_argument("--tune-epochs", type=int, default=20)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not DATA.is_file():
        sys.exit(f"needs {DATA}")
    rows = sorted(read_interactions(DATA), key=lambda r: r[2] or 0.0)
    full = build_log(rows, min_interactions=10)
    new_train = temporal_split(full).train  # what the daily job sees (the test tail stays for evaluation)
    old_seqs = [s[: len(s) - max(1, round(0.05 * len(s)))] for s in new_train.sequences]  # live missed 5%
    old_train = new_train.with_sequences(old_seqs)
    perturbed = perturb(new_train, PerturbationConfig(ratio=0.001, seed=args.seed)).log
    print(
        f"foursquare: {full.n_users} users, {full.n_items} items; live trained on {old_train.n_interactions} "
        f"interactions, the new data has {perturbed.n_interactions} (0.1% deleted)",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="canary-showcase-"))
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    seed_everything(args.seed)
    live = build_model("sasrec", full.n_items, MODEL)
    train(live, old_train, TrainConfig(epochs=args.live_epochs, seed=args.seed))
    timings["live"] = time.perf_counter() - t0
    candidates: dict[str, SequentialModel] = {}

    t0 = time.perf_counter()
    seed_everything(args.seed + 1)
    plain = build_model("sasrec", full.n_items, MODEL)
    train(plain, perturbed, TrainConfig(epochs=args.live_epochs, seed=args.seed + 1))
    candidates["plain"], timings["plain"] = plain, time.perf_counter() - t0
    for name, method in (("finest", "finest"), ("continued", "continue")):
        t0 = time.perf_counter()
        model = copy.deepcopy(live)
        finest_finetune(model, perturbed, live, make_method_config(method, {"epochs": args.tune_epochs}))
        candidates[name], timings[name] = model, time.perf_counter() - t0

    live_art = load_version("live", export(live, full, work / "live"))
    histories: dict[str, list[str]] = {}
    for user, item, _ in rows:  # the replay: most recently active users, full histories in dataset ids
        histories.setdefault(user, []).append(item)
        histories[user] = histories.pop(user)
    replay = list(histories.values())[-args.samples :][::-1]
    policy = CanaryPolicy()
    results = []
    for name, model in candidates.items():
        art = load_version(name, export(model, full, work / name))
        verdict = gate(live_art, art, replay, policy)
        overall = verdict["figures"]["groups"]["all"]
        accuracy = verdict["figures"]["accuracy"]
        print(f"\n== candidate {name}: {'PASS' if verdict['passed'] else 'FAIL'} ({timings[name]:.0f}s to build)")
        for failure in verdict["failures"]:
            print(f"   - {failure}")
        print(
            f"   rbo mean {overall['rbo']['mean']:.4f} p10 {overall['rbo']['p10']:.4f}; jaccard@10 mean "
            f"{overall['jaccard']['mean']:.4f}; ndcg@10 {accuracy['ndcg@10_candidate']:.4f} "
            f"(live {accuracy['ndcg@10_live']:.4f})",
            flush=True,
        )
        results.append(
            {
                "candidate": name,
                "passed": verdict["passed"],
                "rbo": round(overall["rbo"]["mean"], 4),
                "rbo_p10": round(overall["rbo"]["p10"], 4),
                "jaccard@10": round(overall["jaccard"]["mean"], 4),
                "ndcg@10": round(accuracy["ndcg@10_candidate"], 4),
                "live_ndcg@10": round(accuracy["ndcg@10_live"], 4),
                "failures": "; ".join(verdict["failures"]),
                "build_s": round(timings[name], 1),
            }
        )
    write_results(
        "showcase",
        results,
        notes=f"Default policy: {policy.model_dump()}. Live trained in "
        f"{timings['live']:.0f}s ({args.live_epochs} epochs); FINEST and continued: {args.tune_epochs} "
        f"epochs from the live weights; plain: {args.live_epochs} epochs from a new initialisation.",
    )


if __name__ == "__main__":
    main()
