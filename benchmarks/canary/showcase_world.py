"""The canary showcase's world, shared by `canary_showcase.py` and `benchmarks/finest/finest_strength.py`.

Live: SASRec (hidden 64, max length 50) trained on foursquare without the newest 5% of each user's
training interactions. Fresh logs: those newest interactions arrive; the new training data is all of
them with 0.1% of its interactions perturbed (random deletion). Candidates are judged by the service's
canary gate on a replay of the most recently active users (full histories, dataset ids).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from steadyrec.core.canary import CanaryPolicy, gate
from steadyrec.core.formats import read_interactions
from steadyrec.core.interactions import InteractionLog, build_log
from steadyrec.core.onnx_model import LoadedModel, load_version
from training.artifact import data_info, popular_items, write_artifact
from training.data.splits import temporal_split
from training.models import SequentialModel, build_model
from training.onnx_export import export_onnx
from training.perturbation import PerturbationConfig, perturb
from training.trainer import TrainConfig, seed_everything, train

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "foursquare" / "foursquare.tsv"
MODEL = {"hidden": 64, "max_len": 50}


@dataclass(frozen=True)
class ShowcaseWorld:
    full: InteractionLog  # everything (the item index of every version)
    old_train: InteractionLog  # what live was trained on
    new_train: InteractionLog  # the fresh training data, 0.1% perturbed
    replay: list[list[str]]  # most recently active users' full histories, newest user first
    source: Path = DATA


def build_world(seed: int, samples: int, data: Path = DATA) -> ShowcaseWorld:
    """The world on foursquare (the showcase's), or on another timestamped log (a second opinion)."""
    if not data.is_file():
        sys.exit(f"needs {data}")
    rows = sorted(read_interactions(data), key=lambda r: r[2] or 0.0)
    full = build_log(rows, min_interactions=10)
    new_train = temporal_split(full).train  # what the daily job sees (the test tail stays for evaluation)
    old_seqs = [s[: len(s) - max(1, round(0.05 * len(s)))] for s in new_train.sequences]  # live missed 5%
    perturbed = perturb(new_train, PerturbationConfig(ratio=0.001, seed=seed)).log
    histories: dict[str, list[str]] = {}
    for user, item, _ in rows:  # the replay: most recently active users, full histories in dataset ids
        histories.setdefault(user, []).append(item)
        histories[user] = histories.pop(user)
    replay = list(histories.values())[-samples:][::-1]
    return ShowcaseWorld(full, new_train.with_sequences(old_seqs), perturbed, replay, data)


def train_sasrec(data: InteractionLog, n_items: int, epochs: int, seed: int, cache: Path | None) -> SequentialModel:
    """A SASRec trained from a fresh initialisation; reloaded from ``cache`` (a state dict) when it exists."""
    seed_everything(seed)
    model = build_model("sasrec", n_items, MODEL)
    if cache is not None and cache.is_file():
        model.load_state_dict(torch.load(cache, weights_only=True))
        return model.eval()
    train(model, data, TrainConfig(epochs=epochs, seed=seed))
    if cache is not None:
        torch.save(model.state_dict(), cache)
    return model.eval()


def train_live(world: ShowcaseWorld, epochs: int, seed: int, cache: Path | None = None) -> SequentialModel:
    """Live: SASRec on the old data."""
    return train_sasrec(world.old_train, world.full.n_items, epochs, seed, cache)


def export(model: SequentialModel, world: ShowcaseWorld, target: Path, name: str) -> LoadedModel:
    info = data_info(world.full, source=str(world.source), fmt=None, split="temporal", min_interactions=10)
    log = world.full
    write_artifact(target, model, item_ids=log.item_ids, popular=popular_items(log), data=info, export_onnx=export_onnx)
    return load_version(name, target)


def judge(live: LoadedModel, candidate: LoadedModel, world: ShowcaseWorld, policy: CanaryPolicy) -> dict[str, Any]:
    """The gate's verdict, flattened to one results row (without the candidate's name)."""
    verdict = gate(live, candidate, world.replay, policy)
    overall = verdict["figures"]["groups"]["all"]
    accuracy = verdict["figures"]["accuracy"]
    return {
        "passed": verdict["passed"],
        "rbo": round(overall["rbo"]["mean"], 4),
        "rbo_p10": round(overall["rbo"]["p10"], 4),
        "jaccard@10": round(overall["jaccard"]["mean"], 4),
        "ndcg@10": round(accuracy["ndcg@10_candidate"], 4),
        "live_ndcg@10": round(accuracy["ndcg@10_live"], 4),
        "failures": "; ".join(verdict["failures"]),
    }
