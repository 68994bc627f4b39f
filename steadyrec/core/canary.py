"""The stability canary: compare a candidate's rank lists with the live model's, and decide.

Both models rank the same requests (a set given by the client, or a replay of recent users from the
event store); their top-K lists, in the dataset's own item ids, are compared with RBO_ext (Webber et
al., p = 0.9 by default) and Jaccard@K, per request and aggregated (mean, p10, p50, histogram), overall
and for users with short and long histories. Accuracy non-inferiority is measured on a held-out replay:
each replayed user's newest item is hidden, both models rank it from the rest of the history, and the
candidate's NDCG@10 must not fall below live's minus ``ndcg_delta`` (with a paired bootstrap interval).
The history is excluded from that ranking or not as the live model's manifest says its own test metrics
were ranked (``heldout_exclude_history`` overrides it): where users repeat items, the hidden item is
often one they had before.

Default thresholds, argued from measured floors (docs/service.md, "Canary, promotion and rollback", "Why these
defaults"): two from-scratch retrains of SASRec on foursquare with different seeds agree only to mean
RBO 0.566 / Jaccard@10 0.384, while the same training on data with 0.1% of interactions deleted agrees
to 0.927 / 0.863. The gate sits between the two, closer to the steady side: mean RBO >= 0.80, mean
Jaccard@10 >= 0.60, p10 RBO >= 0.50.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from steadyrec.core.history import History, as_history
from steadyrec.core.manifest import utc_now
from steadyrec.core.onnx_model import LoadedModel, top_k
from steadyrec.core.similarity import jaccard, rbo_ext

__all__ = [
    "CanaryPolicy",
    "Comparison",
    "Histories",
    "canary_verdict",
    "compare",
    "evaluate_gate",
    "gate",
    "heldout_excludes_history",
    "heldout_ndcg",
    "policy_from",
    "summarise",
    "top_lists",
]

HISTOGRAM_BINS = 10


class CanaryPolicy(BaseModel):
    """The gate, declared as data (request body or settings file); unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(10, ge=1, le=100, description="length of the compared top-K lists (Jaccard@K)")
    p: float = Field(0.9, gt=0.0, lt=1.0, description="RBO persistence (p = 1 is not RBO)")
    min_samples: int = Field(200, ge=1, description="fewer compared requests: the gate fails")
    min_mean_rbo: float = Field(0.80, ge=0.0, le=1.0, description="between the 0.57 seed floor and 0.93")
    min_mean_jaccard: float = Field(0.60, ge=0.0, le=1.0, description="between the 0.38 seed floor and 0.86")
    min_p10_rbo: float = Field(0.50, ge=0.0, le=1.0, description="the unluckiest tenth of users stays steady")
    ndcg_delta: float = Field(0.01, ge=0.0, le=1.0, description="candidate NDCG@10 >= live - delta")
    bootstrap: int = Field(1000, ge=0, le=20_000, description="paired bootstrap resamples (0: none)")
    noise_floor_version: str | None = Field(
        None, max_length=64, description="an A/A model (live retrained with another seed) to measure the floor"
    )
    noise_floor_margin: float = Field(0.0, ge=0.0, le=1.0, description="candidate mean RBO >= floor + margin")
    long_history: int = Field(20, ge=1, description="histories at least this long form the 'long' group")
    heldout_exclude_history: bool | None = Field(
        None,
        description="rank the held-out item with the user's history excluded; null: as the live model's "
        "manifest says its test metrics were ranked (keep history where users repeat items: check-ins, plays)",
    )
    dry_run: bool = Field(False, description="compute and report, but store nothing")


@dataclass(frozen=True)
class Comparison:
    rbo: np.ndarray  # (N,)
    jaccard: np.ndarray  # (N,)
    history_lengths: np.ndarray  # (N,)


Histories = Sequence[History | Sequence[str]]  # a plain list of item ids is a history without times


def top_lists(model: LoadedModel, histories: Histories, k: int, exclude_seen: bool) -> list[list[str]]:
    """Top-k dataset ids of each history under ``model`` (blocking; batched ONNX Runtime calls). A
    time-aware model needs each history's times (:class:`TimestampsMissing` otherwise)."""
    out: list[list[str]] = []
    batch = 256
    for start in range(0, len(histories), batch):
        inputs = [model.model_input(as_history(h)) for h in histories[start : start + batch]]
        scores = model.score_inputs(inputs)  # (B, N)
        for r, one in enumerate(inputs):
            row = scores[r].copy()
            if exclude_seen and len(one.known):
                row[one.known - 1] = -np.inf
            out.append([model.item_ids[j] for j in top_k(row, k)])
    return out


def _as_matrix(lists: list[list[str]], index: dict[str, int], k: int) -> np.ndarray:
    """Dataset-id lists -> (N, k) ints in one shared space; a short list is padded with unique fillers."""
    out = np.empty((len(lists), k), dtype=np.int64)
    for r, items in enumerate(lists):
        ids = [index.setdefault(i, len(index)) for i in items[:k]]
        out[r] = ids + [-(r * k + j + 1) for j in range(k - len(ids))]  # fillers never match anything
    return out


def compare(live: LoadedModel, candidate: LoadedModel, histories: Histories, k: int, p: float) -> Comparison:
    """Per-request RBO_ext and Jaccard@k of the two models' top-k lists (blocking)."""
    a, b = top_lists(live, histories, k, True), top_lists(candidate, histories, k, True)
    index: dict[str, int] = {}
    ma, mb = _as_matrix(a, index, k), _as_matrix(b, index, k)
    lengths = np.array([len(h) for h in histories], dtype=np.int64)
    if not histories:
        return Comparison(np.zeros(0), np.zeros(0), lengths)
    return Comparison(rbo_ext(ma, mb, p), jaccard(ma, mb), lengths)


def _stats(values: np.ndarray) -> dict[str, Any]:
    if values.size == 0:
        return {"n": 0, "mean": None, "p10": None, "p50": None, "histogram": [0] * HISTOGRAM_BINS}
    hist, _ = np.histogram(values, bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    return {
        "n": int(values.size),
        "mean": float(values.mean()),
        "p10": float(np.quantile(values, 0.1)),
        "p50": float(np.quantile(values, 0.5)),
        "histogram": hist.tolist(),
    }


def summarise(comparison: Comparison, long_history: int) -> dict[str, Any]:
    """Aggregates overall and for short / long histories: {group: {rbo: stats, jaccard: stats}}."""
    groups = {
        "all": np.ones(len(comparison.rbo), dtype=bool),
        "short_history": comparison.history_lengths < long_history,
        "long_history": comparison.history_lengths >= long_history,
    }
    return {
        name: {"rbo": _stats(comparison.rbo[mask]), "jaccard": _stats(comparison.jaccard[mask])}
        for name, mask in groups.items()
    }


def heldout_ndcg(model: LoadedModel, histories: Histories, exclude_history: bool = True) -> np.ndarray:
    """NDCG@10 of each history's newest item ranked from the items before it (full ranking; the earlier
    items excluded from the ranking or not)."""
    full = [as_history(h) for h in histories]
    ranked = top_lists(model, [h.head(-1) for h in full], 10, exclude_history)
    newest = [h.items[-1] for h in full]
    return np.array([1.0 / math.log2(r.index(n) + 2) if n in r else 0.0 for r, n in zip(ranked, newest, strict=True)])


def _bootstrap_ci(diff: np.ndarray, resamples: int, seed: int = 0) -> tuple[float, float] | None:
    if resamples == 0 or diff.size == 0:
        return None
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, (resamples, diff.size))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def evaluate_gate(
    policy: CanaryPolicy,
    comparison: Comparison,
    ndcg_live: np.ndarray,
    ndcg_candidate: np.ndarray,
    floor: Comparison | None,
) -> dict[str, Any]:
    """Every figure and every failed condition, in words."""
    figures: dict[str, Any] = {"groups": summarise(comparison, policy.long_history)}
    overall = figures["groups"]["all"]
    failures: list[str] = []
    n = overall["rbo"]["n"]
    if n < policy.min_samples:
        failures.append(f"only {n} requests compared; the policy needs at least {policy.min_samples}")
    checks = [
        ("mean RBO", overall["rbo"]["mean"], policy.min_mean_rbo),
        (f"mean Jaccard@{policy.k}", overall["jaccard"]["mean"], policy.min_mean_jaccard),
        ("p10 RBO", overall["rbo"]["p10"], policy.min_p10_rbo),
    ]
    for name, value, threshold in checks:
        if value is not None and value < threshold:
            failures.append(f"{name} {value:.4f} is below the threshold {threshold:.4f}")
    if ndcg_live.size:
        live_mean, cand_mean = float(ndcg_live.mean()), float(ndcg_candidate.mean())
        figures["accuracy"] = {
            "heldout_users": int(ndcg_live.size),
            "ndcg@10_live": live_mean,
            "ndcg@10_candidate": cand_mean,
            "ndcg@10_difference_ci95": _bootstrap_ci(ndcg_candidate - ndcg_live, policy.bootstrap),
        }
        if cand_mean < live_mean - policy.ndcg_delta:
            failures.append(
                f"candidate NDCG@10 {cand_mean:.4f} is below live {live_mean:.4f} minus {policy.ndcg_delta:.4f}"
            )
    else:
        failures.append("no held-out replay users (histories of 2+ items) to check accuracy on")
    figures["rbo_mean_ci95"] = _bootstrap_ci(comparison.rbo, policy.bootstrap)
    if floor is not None:
        floor_mean = float(floor.rbo.mean()) if floor.rbo.size else 0.0
        figures["noise_floor"] = {
            "version": policy.noise_floor_version,
            "mean_rbo": floor_mean,
            "mean_jaccard": float(floor.jaccard.mean()) if floor.jaccard.size else 0.0,
        }
        mean_rbo = overall["rbo"]["mean"] or 0.0
        if mean_rbo < floor_mean + policy.noise_floor_margin:
            failures.append(
                f"mean RBO {mean_rbo:.4f} is not above the A/A noise floor {floor_mean:.4f} "
                f"plus margin {policy.noise_floor_margin:.4f}"
            )
    return {"passed": not failures, "failures": failures, "figures": figures}


def gate(
    live: LoadedModel,
    candidate: LoadedModel,
    replay: Histories,
    policy: CanaryPolicy,
    floor_model: LoadedModel | None = None,
) -> dict[str, Any]:
    """The whole canary on a replay of histories (blocking): compare, held-out accuracy, floor, gate."""
    comparison = compare(live, candidate, replay, policy.k, policy.p)
    floor = compare(live, floor_model, replay, policy.k, policy.p) if floor_model is not None else None
    heldout = [h for h in replay if len(h) >= 2]
    exclude = heldout_excludes_history(policy, live)
    ndcg_live = heldout_ndcg(live, heldout, exclude) if heldout else np.zeros(0)
    ndcg_candidate = heldout_ndcg(candidate, heldout, exclude) if heldout else np.zeros(0)
    outcome = evaluate_gate(policy, comparison, ndcg_live, ndcg_candidate, floor)
    if "accuracy" in outcome["figures"]:
        outcome["figures"]["accuracy"]["history_excluded"] = exclude
    return outcome


def policy_from(values: dict[str, Any]) -> CanaryPolicy:
    """A policy from plain data; ValueError naming every bad field."""
    try:
        return CanaryPolicy.model_validate(values)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'policy'}: {e['msg']}" for e in err.errors())
        raise ValueError(f"invalid canary policy: {problems}") from None


def heldout_excludes_history(policy: CanaryPolicy, live: LoadedModel) -> bool:
    """The policy's choice, or the protocol of the live model's own test metrics."""
    if policy.heldout_exclude_history is not None:
        return policy.heldout_exclude_history
    return live.manifest.metrics_exclude_history


def canary_verdict(
    live: LoadedModel,
    candidate: LoadedModel,
    replay: Histories,
    policy: CanaryPolicy,
    floor_model: LoadedModel | None = None,
    *,
    names: tuple[str, str] | None = None,
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The verdict the service stores, a job records and the CLI prints (blocking): the two models' names
    (``names``, default their versions), when, how many histories were compared and where they came from
    (``source``, default a replay of recent users), the policy and the gate's outcome."""
    outcome = gate(live, candidate, replay, policy, floor_model)
    live_name, candidate_name = names or (live.version, candidate.version)
    return {
        "candidate": candidate_name,
        "live": live_name,
        "created_at": utc_now(),
        "samples": len(replay),
        "source": source or {"kind": "replay", "users": len(replay)},
        "policy": policy.model_dump(),
        **outcome,
    }
