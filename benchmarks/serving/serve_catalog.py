"""Serving at catalog scale: SASRec (hidden 64) over 100k and 1M items, full scores against the graph's top-K,
float against int8 item scoring.

    .venv/bin/python -m benchmarks.serving.serve_catalog [--items 100000 1000000] [--seconds 10]

The weights are synthetic (seed 0, untrained): latency does not depend on accuracy, so the int8 graphs here
carry no accuracy check (the product's export measures it on the test split). Users: ``--users`` synthetic
histories of 10-50 random items in the service's seed log. For every configuration, one row:

- raw ONNX Runtime p50 / p99 of a batch of 1 and of 8 (c = 1 and c = 8 without the HTTP layer): the graph
  alone, its scores or its top 10 with the history masked;
- HTTP ``POST /recommend`` (``user_id``, k 10) on the real service with ``wrk``, c = 1 and 8;
- ``rss_mb``: the service process's resident memory after the load; ``onnx_mb``: the graph file.

Target: at 1M items, HTTP c = 1 p50 under 15 ms on these 2 cores.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.results_io import results_dir, write_results
from benchmarks.common.wrk import recommend_script, wrk
from service.settings import Settings
from steadyrec.testing.harness import ServiceProcess

RESULTS = results_dir(__file__)
HIDDEN, MAX_LEN, K = 64, 50, 10
TARGET_MS = 15.0


def seed_log(path: Path, n_items: int, users: int) -> None:
    """``users`` synthetic histories of 10-50 random items (ids ``i<n>``), one event per second."""
    rng = np.random.default_rng(0)
    lines, t = [], 1_600_000_000
    for user in range(1, users + 1):
        for item in rng.integers(1, n_items + 1, int(rng.integers(10, 51))):
            t += 1
            lines.append(f"{user}\ti{item}\t{t}\n")
    path.write_text("".join(lines), encoding="utf-8")


def artifacts(n_items: int, work: Path) -> dict[tuple[str, bool], Path]:
    """The four artifacts of one catalog, one model: (path, int8) -> directory."""
    from steadyrec.core.manifest import DataInfo, GraphInfo
    from training.artifact import write_artifact
    from training.models import build_model
    from training.onnx_export import Exported, export_onnx, top_k_parity_check
    from training.onnx_graph import EXCLUDE, TOP_ITEMS, TOP_K, TOP_SCORES, add_top_k, quantize_item_scoring
    from training.trainer import seed_everything

    seed_everything(0)
    model = build_model("sasrec", n_items, {"hidden": HIDDEN, "max_len": MAX_LEN}).eval()
    graphs = work / "graphs"
    graphs.mkdir()
    float_full, int8_full = graphs / "float.onnx", graphs / "int8.onnx"
    io = export_onnx(model, float_full).io  # parity-checked against PyTorch
    quantize_item_scoring(float_full, int8_full, n_items)
    top_io = {**io, "k": TOP_K, "exclude": EXCLUDE, "top_items": TOP_ITEMS, "top_scores": TOP_SCORES}
    for source in (float_full, int8_full):
        shutil.copyfile(source, source.with_suffix(".topk.onnx"))
        add_top_k(source.with_suffix(".topk.onnx"), "scores")
        top_k_parity_check(model, source.with_suffix(".topk.onnx"))
    items = [f"i{i}" for i in range(1, n_items + 1)]
    info = DataInfo(
        source="synthetic weights", fingerprint="-", split="none", n_users=0, n_items=n_items, n_interactions=0
    )
    out = {}
    for (path, int8), graph in {
        ("full", False): float_full,
        ("full", True): int8_full,
        ("topk", False): float_full.with_suffix(".topk.onnx"),
        ("topk", True): int8_full.with_suffix(".topk.onnx"),
    }.items():
        exported = Exported(top_io if path == "topk" else io, GraphInfo(top_k=path == "topk", int8=int8))

        def copy(_model: Any, target: Path, graph: Path = graph, exported: Exported = exported) -> Exported:
            shutil.copyfile(graph, target)
            return exported

        out[(path, int8)] = work / f"{path}-{'int8' if int8 else 'float'}"
        write_artifact(out[(path, int8)], model, item_ids=items, popular=items[:100], data=info, export_onnx=copy)
    return out


def raw_figures(graph: Path, top_k: bool, n_items: int, calls: int) -> dict[str, float]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    outputs = ["top_items", "top_scores"] if top_k else ["scores"]
    figures = {}
    for batch in (1, 8):
        histories = rng.integers(1, n_items + 1, (batch, MAX_LEN)).astype(np.int64)
        feed = {"history": histories}
        if top_k:
            feed |= {"k": np.array([K], np.int64), "exclude": histories}
        for _ in range(5):
            session.run(outputs, feed)
        samples = []
        for _ in range(calls):
            t0 = time.perf_counter()
            session.run(outputs, feed)
            samples.append((time.perf_counter() - t0) * 1000.0)
        figures[f"raw_c{batch}_p50_ms"] = float(np.percentile(samples, 50))
        figures[f"raw_c{batch}_p99_ms"] = float(np.percentile(samples, 99))
    return figures


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


def measure(artifact: Path, path: str, int8: bool, n_items: int, args: argparse.Namespace, work: Path) -> dict:
    from steadyrec.core.registry import RegistryStore

    row: dict[str, Any] = {"n_items": n_items, "path": path, "int8": int8}
    row |= raw_figures(artifact / "model.onnx", path == "topk", n_items, args.calls)
    models = work / f"models-{path}-{int8}"
    store = RegistryStore(models)
    store.register(artifact, "bench")
    store.set_alias("live", "bench")
    settings = Settings(
        models_dir=models,
        token="b" * 32,
        seed_log=work / "events.tsv",
        events_path=work / f"events-{path}-{int8}.jsonl",
        state_dir=work / f"state-{path}-{int8}",
        data_dir=work,
        redis_url=None,
    )
    script = work / "recommend.lua"
    script.write_text(recommend_script(1, args.users))
    service = ServiceProcess(settings)
    try:
        service.start(timeout=600)
        wrk(service.url, 8, 3, script)  # warm-up
        for c in (1, 8):
            for key, value in wrk(service.url, c, args.seconds, script).items():
                row[f"http_c{c}_{key}"] = value
        assert service.process is not None
        row["rss_mb"] = rss_mb(service.process.pid)
    finally:
        service.stop()
        shutil.rmtree(models, ignore_errors=True)
    row["onnx_mb"] = (artifact / "model.onnx").stat().st_size / 2**20
    print(
        f"  {n_items} items, {path}, int8 {int8}: raw c1 p50 {row['raw_c1_p50_ms']:.2f} ms, http c1 p50 "
        f"{row['http_c1_p50_ms']:.2f} ms, c8 p99 {row['http_c8_p99_ms']:.2f} ms, rss {row['rss_mb']:.0f} MB",
        flush=True,
    )
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("needs wrk (apt-get install -y wrk)")
    rows = []
    for n_items in args.items:
        work = Path(tempfile.mkdtemp(prefix=f"serve-catalog-{n_items}-"))
        try:
            print(f"{n_items} items: exporting the four graphs ...", flush=True)
            built = artifacts(n_items, work)
            seed_log(work / "events.tsv", n_items, args.users)
            for (path, int8), artifact in built.items():
                rows.append(measure(artifact, path, int8, n_items, args, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    write_results(
        "serve-catalog",
        rows,
        notes=f"SASRec hidden {HIDDEN}, max length {MAX_LEN}, synthetic weights; k {K}, `user_id` requests over "
        f"{args.users} stored users. path: `full` = every item's score cut in the service, `topk` = the graph's "
        f"own top-K. Target: 1M items, http_c1_p50_ms < {TARGET_MS:g}. The load generator (wrk, one thread) "
        "runs on the same 2 cores as the service.",
        folder=RESULTS,
    )


if __name__ == "__main__":
    main()
