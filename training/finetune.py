"""Fine-tuning a trained artifact with a hardening method: the one entry point the CLI and the worker use.

Methods (each validated from a plain dict, unknown keys refused):

| method      | what it does                                                                 |
|-------------|------------------------------------------------------------------------------|
| `finest`    | FINEST rank-preserving fine-tuning against a reference model (default: base) |
| `random-ft` | FINEST's perturbation simulation without the regulariser (paper baseline)    |
| `continue`  | plain continued training on the data (no simulation, no regulariser)         |
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from training.artifact import data_info, load_model, popular_items, write_artifact
from training.data.log import InteractionLog, reindex
from training.datasets import load_data, make_split
from training.evaluation.ranking import evaluate
from training.manifest import Manifest
from training.methods.finest import FinestConfig, FinestEpoch, finest_finetune
from training.onnx_export import export_onnx

__all__ = ["METHODS", "FinetuneRequest", "make_method_config", "run_finetune"]

log = logging.getLogger(__name__)

METHODS: dict[str, dict[str, Any]] = {
    "finest": {},
    "random-ft": {"regularize": False},
    "continue": {"regularize": False, "simulate": False},
}


def make_method_config(method: str, params: dict[str, Any] | None = None) -> FinestConfig:
    """The typed config of ``method`` from user parameters; unknown methods and keys are refused."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    params = dict(params or {})
    fixed = METHODS[method]
    allowed = {f.name for f in fields(FinestConfig)} - set(fixed)
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"unknown {method} parameters {unknown}; allowed: {sorted(allowed)}")
    return FinestConfig(**{**params, **fixed})


@dataclass(frozen=True)
class FinetuneRequest:
    base: Path  # artifact to start from
    method: str = "finest"
    params: dict[str, Any] | None = None
    data: str | None = None  # dataset; default: the base model's own training source
    fmt: str | None = None
    reference: Path | None = None  # reference model for FINEST; default: the base model
    export: bool = True


def _fine_tuning_data(request: FinetuneRequest, manifest: Manifest, items: list[str]) -> tuple[InteractionLog, Any]:
    source = request.data or manifest.data.source
    if source.startswith("synthetic:"):
        source = "synthetic"
    loaded = load_data(source, request.fmt or manifest.data.format, manifest.data.min_interactions)  # type: ignore[arg-type]
    mapped, dropped = reindex(loaded.log, items)
    if dropped:
        log.warning("%d interactions with items the base model does not know were left out", dropped)
    return mapped, make_split(mapped, manifest.data.split)  # type: ignore[arg-type]


def run_finetune(
    request: FinetuneRequest, out: Path, on_epoch: Callable[[FinestEpoch], None] | None = None
) -> Manifest:
    """Fine-tune ``request.base`` with ``request.method`` and write a new artifact (atomically) to ``out``."""
    config = make_method_config(request.method, request.params)
    model, manifest, items = load_model(request.base)
    # The base itself is the default reference: its lists are computed before tuning changes it.
    reference = load_model(request.reference)[0] if request.reference else copy.deepcopy(model)
    mapped, split = _fine_tuning_data(request, manifest, items)
    result = finest_finetune(model, split.train, reference, config, on_epoch=on_epoch)
    test = evaluate(model, split.test, exclude_history=True).metrics
    training = {
        "method": request.method,
        "method_config": asdict(config),
        "epochs_run": len(result.epochs),
        "reference_s": round(result.reference_s, 2),
        "wall_s": round(result.wall_s, 2),
        "loss_curve": [round(e.next_item_loss, 5) for e in result.epochs],
        "regulariser_curve": [round(e.regulariser, 5) for e in result.epochs],
    }
    return write_artifact(
        out,
        model,
        item_ids=items,
        popular=popular_items(split.train),
        data=data_info(
            mapped,
            source=request.data or manifest.data.source,
            fmt=request.fmt or manifest.data.format,
            split=split.name,
            min_interactions=manifest.data.min_interactions,
        ),
        training=training,
        metrics=test,
        metrics_protocol=f"{split.name} test split, full ranking excluding history",
        parent=str(request.base),
        export_onnx=export_onnx if request.export else None,
    )
