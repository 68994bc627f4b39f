"""ONNX export of a trained model, checked twice: ``onnx.checker`` and ONNX Runtime parity with PyTorch.

The graph takes ``history`` (int64, (batch, max_len), left-padded with 0; the batch axis is dynamic)
and returns ``scores`` (float32, (batch, n_items); column j is internal item j + 1). A time-aware model
(``uses_time``) takes a second input, ``timestamps`` (int64 whole seconds, the history's shape, 0 at
padding); its intervals are computed inside the graph. Causal models compute the last position's state
alone (``encode(..., last_only=True)``).

:class:`ExportOptions` adds, for serving (``training.onnx_graph``): the top-K inside the graph, and int8
item scoring, which is measured on the test split against the float graph and refused when it costs more
than :data:`INT8_MAX_RELATIVE_DROP` of NDCG@10.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from steadyrec.core.manifest import ExportOptions, GraphInfo
from training.data.batches import Batch
from training.data.splits import EvalSet
from training.evaluation.ranking import evaluate
from training.models import SequentialModel
from training.onnx_graph import EXCLUDE, TOP_ITEMS, TOP_K, TOP_K_IO, TOP_SCORES, add_top_k, quantize_item_scoring

__all__ = [
    "INPUT",
    "INT8_MAX_RELATIVE_DROP",
    "OUTPUT",
    "PARITY_TOLERANCE",
    "TIMES",
    "ExportError",
    "ExportOptions",
    "Exported",
    "Int8Refused",
    "OnnxScorer",
    "export_onnx",
    "parity_check",
]

log = logging.getLogger(__name__)

INPUT, OUTPUT, TIMES = "history", "scores", "timestamps"
PARITY_TOLERANCE = 1e-4  # max abs difference allowed between ONNX Runtime and PyTorch scores
OPSET = 17
INT8_MAX_RELATIVE_DROP = 0.01  # int8 may cost at most 1% of the float graph's test NDCG@10 (relative)
INT8_METRIC = "ndcg@10"


class ExportError(RuntimeError):
    """The exported graph failed the checker, disagreed with PyTorch, or int8 cost too much accuracy."""


class Int8Refused(ExportError, ValueError):
    """int8 item scoring would cost more accuracy than the bound allows, or cannot be measured: a choice the
    user fixes (export without int8)."""


@dataclass(frozen=True)
class Exported:
    """What ``export_onnx`` wrote: the graph's tensor names (``manifest.onnx_io``) and how it was built."""

    io: dict[str, str]
    graph: GraphInfo = field(default_factory=GraphInfo)


class OnnxScorer(SequentialModel):
    """An exported graph behind the model contract's ``scores``, so evaluation ranks with it as with the model."""

    kind = "onnx"

    def __init__(self, path: Path, like: SequentialModel) -> None:
        super().__init__(like.n_items, like.config)
        self.uses_time = like.uses_time  # type: ignore[misc]  # the instance follows the model it was exported from
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.with_top_k = any(i.name == TOP_K for i in self.session.get_inputs())  # fed, but only scores are read

    def loss(self, batch: Batch) -> torch.Tensor:
        raise TypeError("an exported graph is evaluated, not trained: fine-tune the model it came from")

    def scores(self, history: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        feed: dict[str, Any] = {INPUT: history.cpu().numpy()}
        if self.uses_time and times is not None:
            feed[TIMES] = times.cpu().numpy()
        if self.with_top_k:
            feed |= {TOP_K: np.ones(1, np.int64), EXCLUDE: np.zeros((len(history), 1), np.int64)}
        (scores,) = self.session.run([OUTPUT], feed)
        return torch.from_numpy(scores)  # (B, N)


def _sample_histories(model: SequentialModel, batch: int, seed: int) -> torch.Tensor:
    """Histories of varied lengths (including one fully padded row) to trace and test with."""
    g = torch.Generator().manual_seed(seed)
    items = torch.randint(1, model.n_items + 1, (batch, model.max_len), generator=g)  # (B, L)
    lengths = torch.randint(0, model.max_len + 1, (batch,), generator=g)
    lengths[0], lengths[-1] = model.max_len, 0
    keep = torch.arange(model.max_len)[None, :] >= (model.max_len - lengths)[:, None]
    return items * keep


def _sample_times(histories: torch.Tensor, seed: int) -> torch.Tensor:
    """Increasing timestamps (seconds, from 2020 on, gaps of 0 s to 3 days) at the real positions, 0 at padding."""
    g = torch.Generator().manual_seed(seed)
    gaps = torch.randint(0, 3 * 86_400, histories.shape, generator=g)  # (B, L)
    gaps[gaps < 86_400 // 2] = 0  # a sixth of the steps at the same second: zero intervals occur
    return (1_577_836_800 + gaps.cumsum(dim=1)) * (histories > 0)


def _inputs(model: SequentialModel, histories: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    """The graph's inputs by name: the histories, and their timestamps for a time-aware model."""
    if model.uses_time:
        return {INPUT: histories, TIMES: _sample_times(histories, seed)}
    return {INPUT: histories}


def export_onnx(
    model: SequentialModel,
    path: Path,
    options: ExportOptions | None = None,
    test: EvalSet | None = None,
    exclude_history: bool = True,
) -> Exported:
    """Export ``model`` to ``path``, run the checker and the parity check, then apply ``options``.

    ``test`` (with the ``exclude_history`` protocol of the model's metrics) is the split int8 is measured
    on; ``options.int8`` without it is refused. Nothing is left at ``path`` when the export is refused.
    """
    options = options or ExportOptions()
    if options.int8 and test is None:
        raise Int8Refused("int8 export measures the accuracy change on the test split: none was given")
    model = model.cpu().eval()
    try:
        _export_scores(model, path)
        diff = parity_check(model, path)
        log.info("exported %s (parity max abs diff %.2e)", path, diff)
        graph = GraphInfo(top_k=options.top_k, int8=options.int8)
        if options.int8:
            assert test is not None  # refused above
            graph.int8_check = _quantize_within_bound(model, path, test, exclude_history)
        if options.top_k:
            add_top_k(path, OUTPUT)
            _check(path)
            top_k_parity_check(model, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    io = {"input": INPUT, "output": OUTPUT, **({"times": TIMES} if model.uses_time else {})}
    if options.top_k:
        io |= TOP_K_IO
    return Exported(io, graph)


def _export_scores(model: SequentialModel, path: Path) -> None:
    example = _inputs(model, _sample_histories(model, batch=2, seed=0), seed=0)  # batch >= 2: no axis fixed to 1
    names = list(example)
    # attention runs through training.models.attention (plain SDPA), so no fused MHA kernel needs turning off
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation on every call
        torch.onnx.export(
            model,
            tuple(example.values()),
            str(path),
            input_names=names,
            output_names=[OUTPUT],
            dynamic_axes={**{name: {0: "batch"} for name in names}, OUTPUT: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    _check(path)


def _check(path: Path) -> None:
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as err:
        raise ExportError(f"onnx.checker rejected {path}: {err}") from err


def _quantize_within_bound(
    model: SequentialModel, path: Path, test: EvalSet, exclude_history: bool
) -> dict[str, float]:
    """Replace the graph at ``path`` by its int8 version when its test NDCG@10 is within the bound of the
    float graph's; raise ExportError otherwise. Returns both figures."""
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        int8 = Path(tmp) / "int8.onnx"
        try:
            quantize_item_scoring(path, int8, model.n_items)
        except ValueError as err:
            raise Int8Refused(f"int8: {err}") from err
        before = evaluate(OnnxScorer(path, model), test, exclude_history=exclude_history).metrics[INT8_METRIC]
        after = evaluate(OnnxScorer(int8, model), test, exclude_history=exclude_history).metrics[INT8_METRIC]
        drop = (before - after) / before if before > 0 else 0.0
        if drop > INT8_MAX_RELATIVE_DROP:
            raise Int8Refused(
                f"int8 lowers test {INT8_METRIC} from {before:.4f} to {after:.4f} ({drop:.1%}), above the bound of "
                f"{INT8_MAX_RELATIVE_DROP:.0%}: export this model without int8"
            )
        log.info("int8 item scoring: test %s %.4f -> %.4f", INT8_METRIC, before, after)
        int8.replace(path)
    return {f"{INT8_METRIC}_float": before, f"{INT8_METRIC}_int8": after, "users": float(len(test))}


def parity_check(model: SequentialModel, path: Path, batch: int = 16, seed: int = 1) -> float:
    """Max abs difference of ONNX Runtime against PyTorch on random histories; raise above tolerance."""
    inputs = _inputs(model, _sample_histories(model, batch, seed), seed)
    with torch.no_grad():
        expected = model.cpu().eval().scores(inputs[INPUT], inputs.get(TIMES)).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (actual,) = session.run([OUTPUT], {name: value.numpy() for name, value in inputs.items()})
    diff = float(np.max(np.abs(actual - expected)))
    if not diff <= PARITY_TOLERANCE:
        raise ExportError(f"ONNX Runtime differs from PyTorch by {diff:.3e} (> {PARITY_TOLERANCE})")
    return diff


def top_k_parity_check(model: SequentialModel, path: Path, batch: int = 16, seed: int = 2) -> None:
    """The graph's top_items / top_scores against its own scores, masked and cut in numpy (ties to the lower
    id, as ONNX TopK); raise ExportError on any difference."""
    inputs = _inputs(model, _sample_histories(model, batch, seed), seed)
    k = min(10, max(model.n_items - model.max_len, 1))
    exclude = inputs[INPUT].numpy()  # (B, L): the histories themselves, 0 at padding
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {**{name: value.numpy() for name, value in inputs.items()}, TOP_K: np.array([k], np.int64), EXCLUDE: exclude}
    scores, items, best = session.run([OUTPUT, TOP_ITEMS, TOP_SCORES], feed)
    for row in range(batch):
        masked = scores[row].copy()  # (N,): column j is internal id j + 1
        masked[exclude[row][exclude[row] > 0] - 1] = -np.inf
        expected = np.argsort(-masked, kind="stable")[:k]  # ties (all-masked rows too): the lower column first
        if not (np.array_equal(items[row], expected + 1) and np.array_equal(best[row], masked[expected])):
            raise ExportError(f"the graph's top-{k} differs from its scores' top-{k} (row {row})")
