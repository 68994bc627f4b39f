"""Small exported artifacts for tests and benchmarks, built the way the pipeline builds them."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from steadyrec.core.interactions import InteractionLog
from steadyrec.core.manifest import ExportOptions
from training.artifact import data_info, popular_items, write_artifact
from training.data.splits import leave_one_out
from training.models import SequentialModel, build_model
from training.onnx_export import export_onnx
from training.trainer import TrainConfig, seed_everything, train


def tiny_artifact(
    target: Path,
    log: InteractionLog,
    *,
    seed: int = 0,
    epochs: int = 0,
    config: dict[str, Any] | None = None,
    kind: str = "sasrec",
    graph: ExportOptions | None = None,
) -> None:
    """A small ``kind`` model (SASRec by default) on ``log`` (untrained when ``epochs`` is 0), exported with
    ONNX to ``target`` (with ``graph``'s options; int8 is measured on the whole log's leave-one-out test)."""
    seed_everything(seed)
    model = build_model(kind, log.n_items, config or {"hidden": 16, "blocks": 1, "max_len": 12})
    if epochs:
        train(model, log, TrainConfig(epochs=epochs, batch_size=64, seed=seed))
    write_artifact(
        target,
        model,
        item_ids=log.item_ids,
        popular=popular_items(log),
        data=data_info(log, source="synthetic", fmt=None, split="leave-one-out", min_interactions=1),
        metrics={"ndcg@10": 0.5},
        export_onnx=partial(export_onnx, options=graph, test=leave_one_out(log).test if graph and graph.int8 else None),
    )


def trained_sasrec(log: InteractionLog, config: dict[str, Any], epochs: int = 2) -> SequentialModel:
    """A SASRec briefly trained on ``log`` from seed 0 (the base that fine-tuning tests start from)."""
    seed_everything(0)
    model = build_model("sasrec", log.n_items, config)
    train(model, log, TrainConfig(epochs=epochs, batch_size=32, lr=3e-3))
    return model
