"""Edits of an exported scoring graph for serving: top-K inside the graph, int8 item scoring.

Both work on the ONNX file, so they apply to every model whose graph ends in ``scores`` (B, n_items):

- :func:`add_top_k` appends the mask (one ``ScatterElements``) and ``TopK``: inputs ``k`` (int64 (1,))
  and ``exclude`` (int64 (B, E), internal ids to leave out, 0 = none); outputs ``top_items`` (int64 (B, k),
  internal ids, best first) and ``top_scores`` (float32 (B, k)). A masked item scores -inf (it is returned
  only when fewer than k are left, and the caller drops it, as :func:`steadyrec.core.onnx_model.top_k`
  does); ties go to the lower id (ONNX ``TopK``). NaN scores (a broken model) are not cleaned in the
  graph: an ``IsNaN`` / ``Where`` pair measured 21 ms on a (8, 1M) score matrix, more than the rest of the
  top-K together; the caller drops any non-finite score it gets back. ``scores`` stays an output for
  requests that filter otherwise.
- :func:`quantize_item_scoring` stores the item-scoring matrix (the ``MatMul`` whose constant right-hand
  side has one column per item) as int8 and quantizes the state to uint8 per call
  (``onnxruntime.quantization.quantize_dynamic``); nothing else in the graph changes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = [
    "EXCLUDE",
    "TOP_ITEMS",
    "TOP_K",
    "TOP_K_IO",
    "TOP_SCORES",
    "add_top_k",
    "item_scoring_node",
    "quantize_item_scoring",
]

TOP_K, EXCLUDE, TOP_ITEMS, TOP_SCORES = "k", "exclude", "top_items", "top_scores"
TOP_K_IO = {"k": TOP_K, "exclude": EXCLUDE, "top_items": TOP_ITEMS, "top_scores": TOP_SCORES}  # manifest.onnx_io


def add_top_k(path: Path, scores: str) -> None:
    """Append the in-graph top-K to the graph at ``path`` (rewritten in place) after its ``scores`` output."""
    model = onnx.load(str(path))
    graph = model.graph
    graph.input.extend(
        [
            helper.make_tensor_value_info(TOP_K, TensorProto.INT64, [1]),
            helper.make_tensor_value_info(EXCLUDE, TensorProto.INT64, ["batch", "n_exclude"]),
        ]
    )
    constants: dict[str, np.ndarray] = {
        "topk/minus_inf": np.array(-np.inf, dtype=np.float32),
        "topk/zero": np.array(0.0, dtype=np.float32),
        "topk/zero_id": np.array(0, dtype=np.int64),
        "topk/one_id": np.array(1, dtype=np.int64),
    }
    graph.initializer.extend(numpy_helper.from_array(value, name) for name, value in constants.items())
    graph.node.extend(
        [
            # exclude (B, E) -> columns (id - 1; padding's 0 -> column 0) and what to add there: -inf for an id,
            # 0 for padding; with reduction "add" a column named twice, or by padding too, still ends at -inf,
            # and no (B, N + 1) copy of the scores is needed for a padding column
            helper.make_node("Greater", [EXCLUDE, "topk/zero_id"], ["topk/real"]),
            helper.make_node("Sub", [EXCLUDE, "topk/one_id"], ["topk/shifted"]),
            helper.make_node("Max", ["topk/shifted", "topk/zero_id"], ["topk/columns"]),  # (B, E)
            helper.make_node("Where", ["topk/real", "topk/minus_inf", "topk/zero"], ["topk/added"]),  # (B, E)
            helper.make_node(
                "ScatterElements", [scores, "topk/columns", "topk/added"], ["topk/masked"], axis=1, reduction="add"
            ),  # (B, N)
            helper.make_node("TopK", ["topk/masked", TOP_K], [TOP_SCORES, "topk/best"], axis=-1, largest=1, sorted=1),
            helper.make_node("Add", ["topk/best", "topk/one_id"], [TOP_ITEMS]),  # column j is internal id j + 1
        ]
    )
    graph.output.extend(
        [
            helper.make_tensor_value_info(TOP_ITEMS, TensorProto.INT64, ["batch", "k"]),
            helper.make_tensor_value_info(TOP_SCORES, TensorProto.FLOAT, ["batch", "k"]),
        ]
    )
    onnx.save(model, str(path))


def item_scoring_node(model: onnx.ModelProto, n_items: int) -> str:
    """The name of the ``MatMul`` that scores the items: its right-hand side is a constant with n_items
    columns. Raises ValueError when there is not exactly one."""
    constants = {init.name: tuple(init.dims) for init in model.graph.initializer}
    found = [
        node
        for node in model.graph.node
        if node.op_type == "MatMul"
        and len(node.input) == 2
        and len(dims := constants.get(node.input[1], ())) == 2
        and dims[1] == n_items
    ]
    if len(found) != 1:
        raise ValueError(f"expected one MatMul scoring {n_items} items against a constant matrix, found {len(found)}")
    if not found[0].name:
        found[0].name = "item_scoring"
    return found[0].name


class _Quiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


@contextmanager
def _without_preprocessing_advice() -> Iterator[None]:
    """quantize_dynamic advises pre-processing on the root logger at every call; our graph needs none."""
    quiet = _Quiet()
    root = logging.getLogger()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


def quantize_item_scoring(source: Path, target: Path, n_items: int) -> None:
    """Write to ``target`` the graph at ``source`` with its item-scoring MatMul in int8 (per-tensor weights)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic  # loads its own graph tools: import on use

    model = onnx.load(str(source))
    node = item_scoring_node(model, n_items)
    onnx.save(model, str(source))  # the node may have been given its name just now
    with _without_preprocessing_advice():
        quantize_dynamic(
            str(source),
            str(target),
            op_types_to_quantize=["MatMul"],
            nodes_to_quantize=[node],
            weight_type=QuantType.QInt8,
            per_channel=False,  # per-tensor: per-channel measured slower on 1M items and lower NDCG@10 on ml-1m
        )
