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

The four configurations of a catalog run side by side (four services, four sessions) in ``--rounds``
alternating rounds, so that the machine's drift between minutes falls on all of them; each figure is the
median over the rounds, with the min and max of the headline ones.

Target: at 1M items, HTTP c = 1 p50 under 15 ms on these 2 cores.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.bench_service import live_settings
from benchmarks.common.onnx_calls import call_seconds, history_feed
from benchmarks.common.results_io import results_dir, write_results
from benchmarks.common.wrk import recommend_script, wrk
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
    from steadyrec.core.manifest import DataInfo, ExportOptions, GraphInfo
    from training.artifact import write_artifact
    from training.models import build_model
    from training.onnx_export import Exported, export_onnx, top_k_parity_check
    from training.onnx_graph import TOP_K_IO, add_top_k, quantize_item_scoring
    from training.trainer import seed_everything

    seed_everything(0)
    model = build_model("sasrec", n_items, {"hidden": HIDDEN, "max_len": MAX_LEN}).eval()
    graphs = work / "graphs"
    graphs.mkdir()
    float_full, int8_full = graphs / "float.onnx", graphs / "int8.onnx"
    io = export_onnx(model, float_full, ExportOptions(top_k=False)).io  # the scores alone, parity-checked
    quantize_item_scoring(float_full, int8_full, n_items)
    top_io = {**io, **TOP_K_IO}
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


def raw_figures(session: Any, top_k: bool, n_items: int, calls: int) -> dict[str, float]:
    """p50 / p99 of ``calls`` batch-1 calls and ``calls // 2`` batch-8 calls of one ONNX Runtime session."""
    rng = np.random.default_rng(1)
    outputs = ["top_items", "top_scores"] if top_k else ["scores"]
    figures = {}
    for batch, n in ((1, calls), (8, calls // 2)):
        histories = rng.integers(1, n_items + 1, (batch, MAX_LEN)).astype(np.int64)
        feed = history_feed(histories, K if top_k else None)
        samples = [s * 1000.0 for s in call_seconds(session, outputs, feed, n, warmup=5)]
        figures[f"raw_c{batch}_p50_ms"] = float(np.percentile(samples, 50))
        figures[f"raw_c{batch}_p99_ms"] = float(np.percentile(samples, 99))
    return figures


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


def service_for(artifact: Path, name: str, work: Path) -> ServiceProcess:
    """The real service with ``artifact`` live, its own registry and state under ``work``."""
    return ServiceProcess(live_settings(artifact, work, name, work / "events.tsv"))


def one_catalog(n_items: int, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    """The four configurations of one catalog in alternating rounds (A B C D, A B C D, ...): every service
    and session stays up, and each round measures each configuration raw, then over HTTP."""
    import onnxruntime as ort

    print(f"{n_items} items: exporting the four graphs ...", flush=True)
    built = artifacts(n_items, work)
    seed_log(work / "events.tsv", n_items, args.users)
    script = work / "recommend.lua"
    script.write_text(recommend_script(1, args.users))
    services = {config: service_for(artifact, f"{config[0]}-{config[1]}", work) for config, artifact in built.items()}
    sessions = {
        config: ort.InferenceSession(str(artifact / "model.onnx"), providers=["CPUExecutionProvider"])
        for config, artifact in built.items()
    }
    samples: dict[tuple[str, bool], list[dict[str, float]]] = {config: [] for config in built}
    memory: dict[tuple[str, bool], float] = {}
    try:
        for service in services.values():
            service.start(timeout=600)
            wrk(service.url, 8, 3, script)  # warm-up
        for r in range(args.rounds):
            for (path, int8), service in services.items():
                figures = raw_figures(sessions[(path, int8)], path == "topk", n_items, args.calls)
                for c in (1, 8):
                    figures |= {f"http_c{c}_{k}": v for k, v in wrk(service.url, c, args.seconds, script).items()}
                samples[(path, int8)].append(figures)
                print(
                    f"  round {r + 1}: {n_items} items, {path}, int8 {int8}: raw c1 p50 {figures['raw_c1_p50_ms']:.2f} "
                    f"ms, http c1 p50 {figures['http_c1_p50_ms']:.2f} ms, c8 p99 {figures['http_c8_p99_ms']:.2f} ms",
                    flush=True,
                )
        for config, service in services.items():
            assert service.process is not None
            memory[config] = rss_mb(service.process.pid)
    finally:
        for service in services.values():
            service.stop()
    rows = []
    for (path, int8), rounds in samples.items():
        row: dict[str, Any] = {"n_items": n_items, "path": path, "int8": int8, "rounds": len(rounds)}
        for key in rounds[0]:
            values = [f[key] for f in rounds]
            row[key] = round(statistics.median(values), 3)
            if key in SPREAD:
                row[f"{key}_min"], row[f"{key}_max"] = round(min(values), 3), round(max(values), 3)
        row["rss_mb"] = round(memory[(path, int8)], 1)
        row["onnx_mb"] = round((built[(path, int8)] / "model.onnx").stat().st_size / 2**20, 1)
        rows.append(row)
    return rows


SPREAD = ("raw_c1_p50_ms", "http_c1_p50_ms", "http_c8_p99_ms")  # figures whose min and max over rounds are kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("needs wrk (apt-get install -y wrk)")
    rows = []
    for n_items in args.items:
        work = Path(tempfile.mkdtemp(prefix=f"serve-catalog-{n_items}-"))
        try:
            rows += one_catalog(n_items, args, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    write_results(
        "serve-catalog",
        rows,
        notes=f"Medians over {args.rounds} alternating rounds (A B C D, A B C D, ...; `_min` / `_max`: the spread). "
        f"SASRec hidden {HIDDEN}, max length {MAX_LEN}, synthetic weights; k {K}, `user_id` requests over "
        f"{args.users} stored users. path: `full` = every item's score cut in the service, `topk` = the graph's "
        f"own top-K. Target: 1M items, http_c1_p50_ms < {TARGET_MS:g}. The load generator (wrk, one thread) "
        "runs on the same 2 cores as the service.",
        folder=RESULTS,
    )


if __name__ == "__main__":
    main()
