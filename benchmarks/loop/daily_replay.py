"""The daily loop replayed on a timestamped log: does the product's default keep lists steady and accurate?

The first 70% of the timeline (by event count) trains live v0 (SASRec). The rest is cut into ``days + 1``
chunks of equal event counts. On day d (0 .. days - 1) chunk d is ingested (appended to the policy's event
log, as ``POST /events`` does), the policy updates the model, and the live model is measured on chunk
d + 1. Fine-tune policies run through the job path of ``POST /jobs/finetune`` (``prepare_job`` and
``worker.jobs.run_job``, the canary and automatic promotion included); retrains train from scratch on
everything seen so far with the pipeline of ``steadyrec train``.

Policies: ``frozen`` (never updated), ``retrain`` (from scratch daily, always promoted), ``retrain-gated``
(promoted when the canary passes), ``continue`` and ``finest`` (fine-tunes, gated, no growth) and
``finest-growth`` (FINEST with catalog growth, gated, auto-promoted: the product default).

Per policy and day: ``ndcg@10`` / ``hr@10`` of each next-day event ranked by the live model from the user's
history up to it (full ranking; history excluded or not as ``--exclude-history`` says); ``rbo`` /
``jaccard@10`` of live against yesterday's live on the top-10 lists served by default (seen items
excluded) for a fixed panel of users with their histories frozen at day 0, and ``rbo_current`` /
``jaccard@10_current`` with current histories; ``new_item_hr@10`` on next-day events whose item was first
seen in the last 3 days and ``new_item_coverage`` (the share of those items in any panel list);
``promoted``, ``gate_failures``, ``compute_s``.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.results_io import results_dir, write_results
from steadyrec.core.canary import canary_verdict, compare, policy_from, top_lists
from steadyrec.core.event_log import Event, open_event_log
from steadyrec.core.formats import read_interactions
from steadyrec.core.history import History
from steadyrec.core.interactions import RawInteraction
from steadyrec.core.job_spec import MIN_ITEM_INTERACTIONS, FinetuneJobRequest, JobData
from steadyrec.core.jobs import SQLiteJobStore
from steadyrec.core.onnx_model import LoadedModel, load_version
from steadyrec.core.registry import RegistryStore
from steadyrec.core.replay import histories_by_recency, most_recent
from steadyrec.core.settings import SharedSettings
from steadyrec.core.submission import prepare_job
from training.pipeline import TrainRequest, run_training
from worker.jobs import run_job

DATASETS = {
    "ml-100k": ("ml-100k/ml-100k.inter", True),  # a movie is rated once: history excluded
    "foursquare": ("foursquare/foursquare.tsv", False),  # check-ins repeat: history kept
}
POLICIES = ("frozen", "retrain", "retrain-gated", "continue", "finest", "finest-growth")
NEW_WINDOW = 3  # days an item counts as new


@dataclass
class Policy:
    name: str
    root: Path
    settings: SharedSettings
    registry: RegistryStore
    live: LoadedModel
    days: list[dict[str, Any]] = field(default_factory=list)


def _timeline(path: Path) -> list[RawInteraction]:
    rows = list(read_interactions(path))
    rows.sort(key=lambda r: r[2] or 0.0)  # stable: ties keep file order
    return rows


def _write_tsv(rows: Sequence[RawInteraction], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for user, item, stamp in rows:
            handle.write(f"{user}\t{item}\t{stamp}\n")


def _train(rows: Sequence[RawInteraction], out: Path, args: argparse.Namespace, exclude: bool) -> None:
    _write_tsv(rows, out.parent / f"{out.name}.tsv")
    request = TrainRequest(
        data=str(out.parent / f"{out.name}.tsv"),
        fmt="tsv",
        model=args.model,
        model_config={"hidden": args.hidden, "max_len": args.max_len},
        epochs=args.epochs,
        eval_every=args.epochs,  # no early stopping: the same schedule every day
        seed=0,
        export=True,
        exclude_history=exclude,
    )
    run_training(request, out)


def _evaluate(model: LoadedModel, histories: dict[str, History], chunk: Sequence[RawInteraction], exclude: bool):
    """Rank each event's item from its user's history up to it (items and times); returns (ndcg@10, hit@10)
    per event (N,)."""
    pairs: list[tuple[History, str]] = []
    running = {u: (list(h.items), list(h.times or [])) for u, h in histories.items()}
    for user, item, stamp in chunk:
        items, times = running.setdefault(user, ([], []))
        timed = len(times) == len(items) and stamp is not None
        pairs.append((History(list(items), list(times) if timed else None), item))
        items.append(item)
        times.append(float(stamp or 0.0))
    ndcg, hit = np.zeros(len(pairs)), np.zeros(len(pairs))
    for start in range(0, len(pairs), 256):
        batch = pairs[start : start + 256]
        inputs = [model.model_input(h) for h, _ in batch]
        scores = model.score_inputs(inputs)  # (B, N)
        known = [i.known.tolist() for i in inputs]
        for r, ((_, item), ids) in enumerate(zip(batch, known, strict=True)):
            target = model.item_index.get(item)
            if target is None:
                continue  # an item the model does not know: a miss
            row = scores[r]
            if exclude and ids:
                seen = np.asarray([i for i in ids if i != target], dtype=np.int64)
                row = row.copy()
                row[seen - 1] = -np.inf
            rank = int((row > row[target - 1]).sum())
            if rank < 10:
                ndcg[start + r], hit[start + r] = 1.0 / math.log2(rank + 2), 1.0
    return ndcg, hit


def _gate(policy: Policy, version: str, data_rows: Sequence[RawInteraction], samples: int) -> dict[str, Any]:
    """The canary of ``version`` against live, on the most recent users of the data (as a job's gate)."""
    candidate = load_version(version, policy.registry.path(version))
    replay = [h for _, h in most_recent(histories_by_recency(data_rows), samples)]
    verdict = canary_verdict(policy.live, candidate, replay, policy_from({}))
    policy.registry.write_verdict(version, verdict)
    return verdict


def _update(policy: Policy, day: int, seen: Sequence[RawInteraction], args: argparse.Namespace, exclude: bool):
    """The policy's update for ``day``: (promoted, gate failures, compute seconds)."""
    started = time.perf_counter()
    if policy.name == "frozen":
        return 0, 0, 0.0
    if policy.name.startswith("retrain"):
        version = f"day{day}"
        build = policy.root / "build" / version
        _train(seen, build, args, exclude)
        policy.registry.register(build, version)
        failures = []
        if policy.name == "retrain-gated":
            failures = _gate(policy, version, seen, args.canary_samples)["failures"]
        if not failures:
            policy.registry.set_alias("live", version, reason=f"{policy.name} day {day}")
        return int(not failures), len(failures), time.perf_counter() - started
    method = "continue" if policy.name == "continue" else "finest"
    growth = args.min_item_interactions if policy.name == "finest-growth" else None
    spec = FinetuneJobRequest(
        method=method,
        params={"epochs": args.finetune_epochs},
        data=JobData(min_item_interactions=growth, holdout=args.holdout),
        run_canary=True,
        canary_samples=args.canary_samples,
        promote_if_passed=True,
    )
    store = SQLiteJobStore(policy.settings.state_dir / "jobs.sqlite")
    record = prepare_job(spec, policy.settings)
    store.create(record)
    result = run_job(record.id, policy.settings, store) or {}
    canary = result.get("canary") or {"failures": ["the job failed"]}
    promoted = int(bool((result.get("promotion") or {}).get("promoted")))
    return promoted, len(canary["failures"]), time.perf_counter() - started


def _panel_metrics(old: LoadedModel, new: LoadedModel, frozen: list[History], current: list[History]):
    churn, now = compare(old, new, frozen, 10, 0.9), compare(old, new, current, 10, 0.9)
    return {
        "rbo": float(churn.rbo.mean()),
        "jaccard@10": float(churn.jaccard.mean()),
        "rbo_current": float(now.rbo.mean()),
        "jaccard@10_current": float(now.jaccard.mean()),
    }


def run_dataset(name: str, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    relative, exclude = DATASETS[name]
    timeline = _timeline(args.data_root / relative)
    cut = int(0.7 * len(timeline))
    base, rest = timeline[:cut], timeline[cut:]
    bounds = np.linspace(0, len(rest), args.days + 2).astype(int)
    chunks = [rest[bounds[i] : bounds[i + 1]] for i in range(args.days + 1)]
    print(f"{name}: {len(base)} events train v0, {len(rest)} in {len(chunks)} chunks of ~{len(chunks[0])}")
    data_dir = work / "data"
    v0 = work / "v0"
    t0 = time.perf_counter()
    _train(base, v0, args, exclude)
    print(f"  v0 trained in {time.perf_counter() - t0:.0f} s")
    first_seen: dict[str, int] = {}
    for _, item, _ in base:
        first_seen.setdefault(item, -(10**6))
    rng = np.random.default_rng(0)
    base_histories = histories_by_recency(base)
    panel_users = sorted(rng.choice(sorted(base_histories), min(args.panel, len(base_histories)), replace=False))
    frozen_panel = [base_histories[u] for u in panel_users]
    policies = []
    for policy_name in args.policies:
        root = work / policy_name
        settings = SharedSettings(
            models_dir=root / "models",
            events_path=root / "events.jsonl",
            state_dir=root / "state",
            data_dir=data_dir,
            redis_url=None,
        )
        registry = RegistryStore(settings.models_dir)
        registry.register(v0, "v0")
        registry.set_alias("live", "v0", reason="day 0")
        live = load_version("v0", registry.path("v0"))
        policies.append(Policy(policy_name, root, settings, registry, live))
    seen = list(base)
    rows: list[dict[str, Any]] = []
    for day in range(args.days):
        today, tomorrow = chunks[day], chunks[day + 1]
        for _, item, _ in today:
            first_seen.setdefault(item, day)
        seen.extend(today)
        current = histories_by_recency(seen)
        current_panel = [current[u] for u in panel_users]
        new_items = {i for i, d in first_seen.items() if day - NEW_WINDOW < d <= day}
        for policy in policies:
            open_event_log(policy.settings).append([Event(u, i, float(t or 0.0)) for u, i, t in today])
            promoted, failures, compute_s = _update(policy, day, seen, args, exclude)
            live_version = policy.registry.aliases()["live"]
            old = policy.live
            if live_version != old.version:
                policy.live = load_version(live_version, policy.registry.path(live_version))
            ndcg, hit = _evaluate(policy.live, current, tomorrow, exclude)
            is_new = np.array([item in new_items for _, item, _ in tomorrow])
            lists = top_lists(policy.live, current_panel, 10, True)
            covered = {i for lst in lists for i in lst} & new_items
            row = {
                "benchmark": "daily-replay",
                "dataset": name,
                "policy": policy.name,
                "day": day,
                "live": live_version,
                "ndcg@10": float(ndcg.mean()),
                "hr@10": float(hit.mean()),
                **_panel_metrics(old, policy.live, frozen_panel, current_panel),
                "new_item_hr@10": float(hit[is_new].mean()) if is_new.any() else None,
                "new_item_events": int(is_new.sum()),
                "new_item_coverage": len(covered) / len(new_items) if new_items else None,
                "promoted": promoted,
                "gate_failures": failures,
                "compute_s": round(compute_s, 2),
                "history_excluded": exclude,
            }
            print(
                f"  day {day:2d} {policy.name:14s} ndcg {row['ndcg@10']:.4f} rbo {row['rbo']:.3f} "
                f"new-hr {row['new_item_hr@10']} promoted {promoted} ({compute_s:.0f} s)",
                flush=True,
            )
            rows.append(row)
    return rows + _means(rows)


def _means(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    keys = ("ndcg@10", "hr@10", "rbo", "jaccard@10", "rbo_current", "jaccard@10_current", "new_item_hr@10")
    for dataset, policy in dict.fromkeys((r["dataset"], r["policy"]) for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset and r["policy"] == policy]
        mean: dict[str, Any] = {"benchmark": "daily-replay", "dataset": dataset, "policy": policy, "day": "mean"}
        for key in keys:
            values = [r[key] for r in mine if r[key] is not None]
            mean[key] = float(np.mean(values)) if values else None
        coverage = [r["new_item_coverage"] for r in mine if r["new_item_coverage"] is not None]
        mean["new_item_coverage"] = float(np.mean(coverage)) if coverage else None
        mean["promoted"] = sum(r["promoted"] for r in mine)
        mean["gate_failures"] = sum(r["gate_failures"] for r in mine)
        mean["compute_s"] = round(sum(r["compute_s"] for r in mine), 1)
        out.append(mean)
    return out


def _plot(rows: list[dict[str, Any]], folder: Path, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        fig, axes = plt.subplots(1, 3, figsize=(15, 4))
        for ax, key in zip(axes, ("ndcg@10", "rbo", "new_item_hr@10"), strict=True):
            for policy in dict.fromkeys(r["policy"] for r in rows):
                days = [r for r in rows if r["dataset"] == dataset and r["policy"] == policy and r["day"] != "mean"]
                ax.plot(
                    [r["day"] for r in days], [r[key] if r[key] is not None else np.nan for r in days], label=policy
                )
            ax.set_title(f"{dataset}: {key}")
            ax.set_xlabel("day")
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(folder / f"{name}-{dataset}.png", dpi=90)
        plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=list(POLICIES))
    parser.add_argument("--data-root", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--epochs", type=int, default=30, help="v0 and every retrain")
    parser.add_argument("--finetune-epochs", type=int, default=2, help="FINEST's and continue's daily epochs")
    parser.add_argument("--model", default="sasrec", help="model kind of v0 and every retrain (tisasrec reads times)")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--panel", type=int, default=500, help="users whose lists measure churn")
    parser.add_argument("--canary-samples", type=int, default=1000)
    parser.add_argument(
        "--min-item-interactions", type=int, default=MIN_ITEM_INTERACTIONS, help="finest-growth's threshold"
    )
    parser.add_argument("--holdout", default="test", choices=["split", "test", "none"], help="fine-tunes' holdout")
    parser.add_argument("--name", default="daily-replay")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for dataset in args.datasets:
        work = Path(tempfile.mkdtemp(prefix=f"replay-{dataset}-"))
        started = time.perf_counter()
        try:
            rows += run_dataset(dataset, args, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(f"{dataset}: {time.perf_counter() - started:.0f} s wall")
    folder = results_dir(__file__)
    notes = (
        f"{args.days} days of equal event counts after the first 70% of the timeline (v0). {args.model} hidden "
        f"{args.hidden}, max_len {args.max_len}; v0 and retrains {args.epochs} epochs; fine-tunes "
        f"{args.finetune_epochs} epochs through the job path with the default canary (replaying the "
        f"{args.canary_samples} most recent users) and automatic promotion; finest-growth adds items with "
        f">= {args.min_item_interactions} interactions (rows warmed up on their windows); fine-tunes hold out "
        f"'{args.holdout}'. Panel: {args.panel} users of v0's data. Full ranking; "
        "history excluded on ml-100k, kept on foursquare (`history_excluded`). `day` 'mean': means over days "
        "(promoted, gate_failures, compute_s summed)."
    )
    write_results(args.name, rows, notes, folder=folder)
    _plot(rows, folder, args.name)


if __name__ == "__main__":
    main()
