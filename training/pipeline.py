"""End-to-end steps behind the CLI (and later the worker): train -> checkpoint, evaluate, export."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console

from steadyrec.core.formats import LogFormat
from steadyrec.core.interactions import InteractionLog, reindex
from steadyrec.core.manifest import Manifest, read_manifest
from training.artifact import data_info, load_model, popular_items, write_artifact
from training.data.matrix import user_item_matrix
from training.data.splits import Split
from training.datasets import LoadedData, SplitKind, load_data, make_split
from training.evaluation.ranking import evaluate
from training.models import SequentialModel, build_model, make_config
from training.models.ease import EASE, fit_ease
from training.onnx_export import ExportOptions, export_onnx
from training.progress import progress_bar
from training.trainer import EpochReport, TrainConfig, seed_everything, train

__all__ = ["TrainRequest", "export_checkpoint", "run_evaluation", "run_training"]

log = logging.getLogger(__name__)

EASE_C_GRID = (3e-5, 1e-4, 3e-4, 1e-3, 3e-3)  # the grid of benchmarks/rlarm (Steck's C of Eq. 7)


@dataclass(frozen=True)
class TrainRequest:
    data: str  # dataset path or "synthetic"
    fmt: str | None = None
    min_interactions: int = 1
    split: str = "leave-one-out"
    model: str = "sasrec"
    model_config: dict[str, Any] = field(default_factory=dict)
    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    eval_every: int = 5
    max_minutes: float | None = None
    export: bool = False
    exclude_history: bool = True  # test ranking without the user's history (False where users repeat items)
    graph: ExportOptions = field(default_factory=ExportOptions)  # what the exported graph adds for serving


def _protocol(split: str, exclude_history: bool) -> str:
    where = "excluding each user's history (target kept)" if exclude_history else "over all items"
    return f"{split} test split, full ranking {where}"


def run_training(request: TrainRequest, out: Path, console: Console | None = None) -> Manifest:
    """Load data, split, train with validation, evaluate on test, write a checkpoint (and ONNX)."""
    if Path(out).exists():
        raise FileExistsError(f"{out} already exists; choose another --out")
    loaded = load_data(request.data, request.fmt, request.min_interactions)  # type: ignore[arg-type]
    split = make_split(loaded.log, request.split)  # type: ignore[arg-type]
    make_config(request.model, request.model_config)  # refuse bad config keys before training
    config = TrainConfig(
        epochs=request.epochs,
        batch_size=request.batch_size,
        lr=request.lr,
        seed=request.seed,
        eval_every=request.eval_every,
        max_seconds=request.max_minutes * 60 if request.max_minutes else None,
    )
    seed_everything(request.seed)
    model = build_model(request.model, loaded.log.n_items, request.model_config)
    valid = split.valid if split.valid is not None and len(split.valid) else None
    if isinstance(model, EASE):  # closed form, no gradient steps: C picked on validation
        model, training = _fit_ease(model, split.train, valid, request.exclude_history)
        test = evaluate(model, split.test, exclude_history=request.exclude_history).metrics
        return _write(request, out, model, loaded, split, training, test)
    with progress_bar(console) as progress:
        task = progress.add_task("train", total=config.epochs, info="")

        def on_epoch(report: EpochReport) -> None:
            info = f"loss {report.loss:.4f}"
            if report.valid:
                info += f"  valid ndcg@10 {report.valid['ndcg@10']:.4f}"
            progress.update(task, advance=1, info=info)

        result = train(model, split.train, config, valid=valid, on_epoch=on_epoch)
        exclude = request.exclude_history
        test = evaluate(model, split.test, exclude_history=exclude).metrics
    training = {
        "train_config": asdict(config),
        "epochs_run": len(result.epochs),
        "best_epoch": result.best_epoch,
        "best_valid": result.best_valid,
        "wall_s": round(result.wall_s, 2),
        "loss_curve": [round(e.loss, 5) for e in result.epochs],
    }
    return _write(request, out, model, loaded, split, training, test)


def _fit_ease(model: EASE, train_log: InteractionLog, valid: Any, exclude: bool) -> tuple[EASE, dict[str, Any]]:
    """EASE's closed form (Steck) at each C of EASE_C_GRID; the best validation NDCG@10 wins (the last C
    without validation data)."""
    x = user_item_matrix(train_log.sequences, train_log.n_items)
    best: tuple[float, float, EASE] | None = None
    for c in EASE_C_GRID:
        fitted = EASE.from_weights(fit_ease(x, c), replace(model.config, c=c))
        score = evaluate(fitted, valid, exclude_history=exclude).metrics["ndcg@10"] if valid is not None else 0.0
        if best is None or score > best[0]:
            best = (score, c, fitted)
    assert best is not None
    return best[2], {"c_grid": list(EASE_C_GRID), "c": best[1], "best_valid": best[0]}


def _write(
    request: TrainRequest,
    out: Path,
    model: SequentialModel,
    loaded: LoadedData,
    split: Split,
    training: dict[str, Any],
    test: dict[str, float],
) -> Manifest:
    exclude = request.exclude_history
    return write_artifact(
        out,
        model,
        item_ids=loaded.log.item_ids,
        popular=popular_items(split.train),
        data=data_info(
            loaded.log,
            source=loaded.source,
            fmt=loaded.fmt,
            split=split.name,
            min_interactions=loaded.min_interactions,
        ),
        training=training,
        metrics=test,
        metrics_protocol=_protocol(split.name, exclude),
        metrics_exclude_history=exclude,
        export_onnx=partial(export_onnx, options=request.graph, test=split.test, exclude_history=exclude)
        if request.export
        else None,
    )


def export_checkpoint(
    checkpoint: Path, out: Path, options: ExportOptions | None = None, data: str | None = None
) -> Manifest:
    """Re-write a checkpoint as a complete artifact with a parity-checked model.onnx.

    ``options.int8`` measures the change on the test split of the checkpoint's own data and split (its
    manifest's), read from ``data`` when given, else from the source the manifest names."""
    model, manifest, items = load_model(checkpoint)
    options = options or ExportOptions()
    test = None
    if options.int8:
        loaded = load_data(data or manifest.data.source, manifest.data.format, manifest.data.min_interactions)  # type: ignore[arg-type]
        test = make_split(reindex(loaded.log, items)[0], manifest.data.split).test  # type: ignore[arg-type]
    return write_artifact(
        out,
        model,
        item_ids=items,
        popular=manifest.popular_items,
        data=manifest.data,
        training=manifest.training,
        metrics=manifest.metrics,
        metrics_protocol=manifest.metrics_protocol,
        metrics_exclude_history=manifest.metrics_exclude_history,
        parent=manifest.parent,
        export_onnx=partial(export_onnx, options=options, test=test, exclude_history=manifest.metrics_exclude_history),
    )


def run_evaluation(
    artifact: Path,
    data: str,
    *,
    fmt: LogFormat | str | None = None,
    min_interactions: int = 1,
    split: SplitKind | str = "leave-one-out",
    exclude_history: bool = True,
    ks: tuple[int, ...] = (10,),
    console: Console | None = None,
) -> dict[str, Any]:
    """Evaluate an artifact's model on the test split of ``data`` (items mapped into its index)."""
    read_manifest(artifact)  # fail fast with a clear message on a non-artifact directory
    model, manifest, items = load_model(artifact)
    loaded = load_data(data, fmt, min_interactions)  # type: ignore[arg-type]
    mapped, dropped = reindex(loaded.log, items)
    test = make_split(mapped, split).test  # type: ignore[arg-type]
    with progress_bar(console) as progress:
        task = progress.add_task("evaluate", total=len(test), info="")
        result = evaluate(
            model, test, exclude_history=exclude_history, ks=ks, on_batch=lambda n: progress.update(task, advance=n)
        )
    return {
        "artifact": str(artifact),
        "protocol": _protocol(str(split), exclude_history),
        "instances": len(test),
        "dropped_unknown_interactions": dropped,
        "same_data_as_training": mapped.fingerprint() == manifest.data.fingerprint,
        **result.metrics,
    }
