"""What int8 item scoring costs in accuracy: SASRec on ml-1m, test split, full ranking (history excluded).

    .venv/bin/python -m benchmarks.serving.int8_accuracy

The model is the cascade study's SASRec base with the paper's negatives (``benchmarks/cascade``, reading 6a:
trained there and cached under ``var/cascade-bases``; trained here when the cache is empty, about an hour).
Rows: the float graph, int8 with one scale for the whole item matrix (per-tensor, what the export does) and
int8 with one scale per item (per-channel); NDCG@10 / HR@10 with the relative change against the float
graph and its paired standard error over users, and whether the export's bound (``INT8_MAX_RELATIVE_DROP``)
would accept it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common.results_io import results_dir, write_results

RESULTS = results_dir(__file__)
ROOT = Path(__file__).resolve().parents[2]
ML1M = ROOT.parent / "shared" / "data" / "ml-1m" / "ml-1m.txt"


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    if not ML1M.is_file():
        sys.exit(f"needs {ML1M}")
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from benchmarks.cascade.cascade_table3 import arguments, base_model
    from steadyrec.core.formats import read_log
    from training.data.splits import leave_one_out
    from training.evaluation.ranking import evaluate, ndcg_per_instance
    from training.onnx_export import INT8_MAX_RELATIVE_DROP, OnnxScorer, export_onnx
    from training.onnx_graph import item_scoring_node, quantize_item_scoring

    log = read_log(ML1M)
    split = leave_one_out(log)
    # reading 6a's base: benchmarks/cascade/cascade_readings.py names it with these arguments
    settings = arguments().parse_args(
        ["--loss", "bce", "--datasets", "ml-1m", "--patience", "10", "--negatives", "unseen", "--base-minutes", "70"]
    )
    model = base_model("ml-1m", "sasrec", split, log.n_items, settings)[0].eval()
    work = Path(tempfile.mkdtemp(prefix="int8-accuracy-"))
    graphs = {name: work / f"{i}.onnx" for i, name in enumerate(("float", "int8 per-tensor", "int8 per-channel"))}
    export_onnx(model, graphs["float"])
    quantize_item_scoring(graphs["float"], graphs["int8 per-tensor"], log.n_items)
    node = item_scoring_node(onnx.load(str(graphs["float"])), log.n_items)
    quantize_dynamic(
        str(graphs["float"]), str(graphs["int8 per-channel"]), op_types_to_quantize=["MatMul"],
        nodes_to_quantize=[node], weight_type=QuantType.QInt8, per_channel=True,
    )  # fmt: skip
    rows, base = [], None
    for name, path in graphs.items():
        result = evaluate(OnnxScorer(path, model), split.test, exclude_history=True)
        per_user = ndcg_per_instance(result.ranks, 10)
        base = per_user if base is None else base
        ndcg = float(per_user.mean())
        change = (ndcg - float(base.mean())) / float(base.mean())
        se = float(np.std(per_user - base, ddof=1) / np.sqrt(len(per_user)) / base.mean()) if name != "float" else 0.0
        rows.append(
            {
                "graph": name,
                "ndcg@10": round(ndcg, 5),
                "hr@10": round(result.metrics["hr@10"], 5),
                "relative_change": round(change, 5),
                "relative_change_se": round(se, 5),
                "accepted": -change <= INT8_MAX_RELATIVE_DROP,
                "users": len(per_user),
            }
        )
        print(rows[-1], flush=True)
    write_results(
        "int8-accuracy",
        rows,
        notes=f"SASRec (hidden 64, max length 200, BCE with the paper's negatives) on ml-1m, leave-one-out test, full "
        f"ranking with the history excluded. The export refuses int8 above a relative NDCG@10 drop of "
        f"{INT8_MAX_RELATIVE_DROP:.0%}; relative_change_se is the paired standard error over users.",
        folder=RESULTS,
    )


if __name__ == "__main__":
    main()
