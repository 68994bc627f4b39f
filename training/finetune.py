"""Fine-tuning a trained artifact with a hardening method: the one entry point the CLI and the worker use.

The methods and their parameters are in :mod:`steadyrec.core.methods`. The data is the base model's
training source (or another dataset) plus optional fresh interactions appended after it, expressed in
the base model's item index (interactions with items it does not know are left out and counted).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np

from steadyrec.core.interactions import InteractionLog, RawInteraction
from steadyrec.core.job_spec import MIN_ITEM_INTERACTIONS
from steadyrec.core.manifest import Manifest
from steadyrec.core.methods import (
    METHODS,
    AcaeConfig,
    AptConfig,
    CascadeConfig,
    RlarmConfig,
    SaoConfig,
    make_method_config,
)
from training.artifact import data_info, load_model, popular_items, write_artifact
from training.data.splits import Split
from training.datasets import load_data, make_split
from training.evaluation.ranking import evaluate
from training.growth import (
    CatalogGrowth,
    NewItemWarmUp,
    cooccurrence_weights,
    grow_catalog,
    grow_model,
    warm_up_new_items,
)
from training.methods.acae import acae_finetune
from training.methods.adversarial import AdversarialEpoch
from training.methods.apt import apt_finetune
from training.methods.cascade_at import cascade_finetune
from training.methods.finest import FinestEpoch, finest_finetune
from training.methods.rlarm import rlarm_finetune
from training.methods.sao import sao_finetune
from training.models.base import SequentialModel
from training.models.ease import EASE
from training.onnx_export import ExportOptions, export_onnx

__all__ = ["METHODS", "FinetuneOutcome", "FinetuneRequest", "make_method_config", "run_finetune"]

Holdout = Literal["split", "test", "none"]
HOLDOUTS: dict[str, str] = {
    "split": "the base's split: validation and test interactions stay out of training",
    "test": "only the test interactions (each user's newest: what the canary hides) stay out of training",
    "none": "every interaction trains, the freshest included; the reported metrics are in-sample",
}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneRequest:
    base: Path  # artifact to start from
    method: str = "finest"
    params: dict[str, Any] | None = None
    data: str | None = None  # dataset; default: the base model's own training source
    fmt: str | None = None
    reference: Path | None = None  # reference model for FINEST; default: the base model
    export: bool = True
    events: Sequence[RawInteraction] = ()  # fresh interactions appended after the data
    parent: str | None = None  # what the new manifest names as its parent; default: the base path
    # new items with at least this many interactions in the data join the model (training.growth);
    # None: the catalog stays the base's and interactions with unknown items are left out
    min_item_interactions: int | None = MIN_ITEM_INTERACTIONS
    # what stays out of training to measure the candidate (training.finetune.HOLDOUTS)
    holdout: Holdout = "test"


@dataclass(frozen=True)
class FinetuneOutcome:
    manifest: Manifest
    stages: dict[str, float]  # seconds per stage: load, reference_lists, finetune, evaluate, export
    dropped_interactions: int  # interactions with unknown items that did not join the catalog
    added_items: tuple[str, ...] = ()  # items the model learnt (dataset ids), after the base's


def _fine_tuning_data(
    request: FinetuneRequest, manifest: Manifest, items: list[str]
) -> tuple[CatalogGrowth, Split, str]:
    loaded = load_data(
        request.data or manifest.data.source,
        request.fmt or manifest.data.format,  # type: ignore[arg-type]
        manifest.data.min_interactions,
        extra=request.events,
    )
    growth = grow_catalog(loaded.log, items, request.min_item_interactions)
    if growth.added:
        log.info("%d new items join the catalog", len(growth.added))
    if growth.dropped:
        log.warning("%d interactions with items the model does not know were left out", growth.dropped)
    split = make_split(growth.log, manifest.data.split)  # type: ignore[arg-type]
    return growth, held_out(split, growth.log, request.holdout), loaded.source


def held_out(split: Split, log: InteractionLog, holdout: Holdout) -> Split:
    """``split`` with its training part chosen by ``holdout`` (HOLDOUTS): 'split' keeps it; 'test' trains on
    everything but the test instances (each user's tail); 'none' trains on every interaction."""
    if holdout == "split":
        return split
    if holdout == "none":
        return Split(split.name, log, split.valid, split.test)
    tail = np.bincount(split.test.users, minlength=len(log.sequences))  # (U,) test instances per user
    return Split(
        split.name,
        log.truncated([len(seq) - int(n) for seq, n in zip(log.sequences, tail, strict=True)]),
        None,
        split.test,
    )


def _grown(model: SequentialModel, growth: CatalogGrowth, train: InteractionLog) -> SequentialModel:
    """``model`` with the growth's new items: their rows started from the items they co-occur with, then
    fitted alone on the training windows that hold them."""
    if not growth.added:
        return model
    n_old = model.n_items
    grown = grow_model(model, cooccurrence_weights(growth.log, n_old))
    warm_up_new_items(grown, train, n_old, NewItemWarmUp())
    return grown


def _adversarial(
    model: SequentialModel,
    split: Split,
    config: CascadeConfig | SaoConfig | AcaeConfig,
    on_epoch: Callable[[FinestEpoch], None] | None,
) -> dict[str, Any]:
    """Cascade-guided AT, SAO or ACAE on the training split; epochs reported in the FINEST shape (clean loss as
    ``next_item_loss``, the weighted adversarial terms as ``regulariser``) so progress reads the same."""

    def report(epoch: AdversarialEpoch) -> None:
        if on_epoch is not None:
            adversarial = sum(v for k, v in epoch.parts.items() if k != "clean")
            on_epoch(FinestEpoch(epoch.epoch, epoch.parts.get("clean", epoch.loss), adversarial, 0, epoch.seconds))

    if isinstance(config, CascadeConfig):
        result, epochs = cascade_finetune(model, split.train, config, on_epoch=report)
    elif isinstance(config, SaoConfig):
        result, epochs = sao_finetune(model, split.train, config, on_epoch=report)
    else:
        result, epochs = acae_finetune(model, split.train, config, on_epoch=report)
    return {
        "epochs_run": len(epochs),
        "wall_s": round(result.wall_s, 2),
        "loss_curve": [round(e.parts.get("clean", e.loss), 5) for e in epochs],
        "adversarial_curve": [round(e.loss - e.parts.get("clean", 0.0), 5) for e in epochs],
    }


def run_finetune(
    request: FinetuneRequest, out: Path, on_epoch: Callable[[FinestEpoch], None] | None = None
) -> FinetuneOutcome:
    """Fine-tune ``request.base`` with ``request.method`` and write a new artifact (atomically) to ``out``."""
    config = make_method_config(request.method, request.params)
    t0 = time.perf_counter()
    model, manifest, items = load_model(request.base)
    if manifest.model_kind == EASE.kind:
        raise ValueError("an EASE model is fitted in closed form (steadyrec train --model ease), not fine-tuned")
    if isinstance(config, CascadeConfig | SaoConfig | AcaeConfig):
        growth, split, source = _fine_tuning_data(request, manifest, items)
        model = _grown(model, growth, split.train)
        stages = {"load": time.perf_counter() - t0}
        summary = _adversarial(model, split, config, on_epoch)
        stages["finetune"] = summary["wall_s"]
    else:
        # The base itself is the default reference: its lists are computed before tuning changes it, over
        # the items it knows (new items read as absent).
        reference = load_model(request.reference)[0] if request.reference else copy.deepcopy(model)
        growth, split, source = _fine_tuning_data(request, manifest, items)
        model = _grown(model, growth, split.train)
        stages = {"load": time.perf_counter() - t0}
        if isinstance(config, RlarmConfig):
            result = rlarm_finetune(model, split.train, reference, config, on_epoch=on_epoch)[0]
        elif isinstance(config, AptConfig):
            result = apt_finetune(model, split.train, config, on_epoch=on_epoch)
        else:
            result = finest_finetune(model, split.train, reference, config, on_epoch=on_epoch)
        stages["reference_lists"] = result.reference_s
        stages["finetune"] = result.wall_s - result.reference_s
        summary = {
            "epochs_run": len(result.epochs),
            "reference_s": round(result.reference_s, 2),
            "wall_s": round(result.wall_s, 2),
            "loss_curve": [round(e.next_item_loss, 5) for e in result.epochs],
            "regulariser_curve": [round(e.regulariser, 5) for e in result.epochs],
        }
    t0 = time.perf_counter()
    exclude = manifest.metrics_exclude_history  # the base's own protocol, so the two compare
    test = evaluate(model, split.test, exclude_history=exclude).metrics
    stages["evaluate"] = time.perf_counter() - t0
    training = {
        "method": request.method,
        "method_config": asdict(config),
        "fresh_events": len(request.events),
        "dropped_unknown_interactions": growth.dropped,
        "min_item_interactions": request.min_item_interactions,
        "added_items": len(growth.added),
        "holdout": request.holdout,
        **summary,
    }
    t0 = time.perf_counter()
    new = write_artifact(
        out,
        model,
        item_ids=growth.item_ids,
        popular=popular_items(split.train),
        data=data_info(
            growth.log,
            source=source,
            fmt=request.fmt or manifest.data.format,
            split=split.name,
            min_interactions=manifest.data.min_interactions,
        ),
        training=training,
        metrics=test,
        metrics_protocol=f"{split.name} test split{' (in-sample: trained on)' if request.holdout == 'none' else ''}, "
        f"full ranking {'excluding' if exclude else 'including'} history",
        metrics_exclude_history=exclude,
        parent=request.parent or str(request.base),
        # the base's serving graph (top-K, int8) carries over, so promoting the candidate changes no serving path
        export_onnx=partial(
            export_onnx, options=ExportOptions.of(manifest.graph), test=split.test, exclude_history=exclude
        )
        if request.export
        else None,
    )
    stages["export"] = time.perf_counter() - t0
    return FinetuneOutcome(new, {k: round(v, 3) for k, v in stages.items()}, growth.dropped, growth.added)
