"""Serving latency: raw ONNX Runtime against HTTP /recommend, and against a plain FastAPI peer, in A/B rounds.

    .venv/bin/python -m benchmarks.serving.serve_latency [--artifact DIR] [--rounds 3] [--seconds 10]

Artifact: SASRec on ml-1m, hidden 64, max length 200, exported with the graph's own top-K (``--artifact``
must be such an artifact, or one is trained here for one epoch: latency does not depend on accuracy).

Each round measures, one after the other on the same 2 cores, so that drift of the machine between
minutes falls on both sides of every ratio:

- raw ONNX Runtime of the graph before #34 (the last block over all positions, every item's score
  returned) and of the graph served now (last position only, top 10 with the history masked in the graph):
  batch-1 p50 / p99, batch-8 p99 and peak users/s over batch sizes 1-64;
- HTTP ``POST /recommend`` (``user_id``, k 10) on the real service (``steadyrec serve``) with ``wrk`` at
  c = 1, 8, 32, ``--seconds`` each;
- the same load on ``benchmarks/serving/plain_fastapi.py`` (FastAPI, ONNX Runtime in the thread pool, no
  batching, the same artifact and seed log): the peer every user would write first.

The row gives each figure's median over the rounds and each ratio's median with its min and max.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.bench_service import live_settings
from benchmarks.common.latency_artifact import latency_artifact
from benchmarks.common.onnx_calls import call_seconds, history_feed
from benchmarks.common.results_io import results_dir, write_results
from benchmarks.common.wrk import recommend_script, wrk
from steadyrec.testing.harness import ServiceProcess, server_port

RESULTS = results_dir(__file__)

ROOT = Path(__file__).resolve().parents[2]
ML1M = ROOT.parent / "shared" / "data" / "ml-1m" / "ml-1m.txt"
BATCHES = (1, 2, 4, 8, 16, 32, 64)
CONCURRENCY = (1, 8, 32)
K = 10


def percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000.0, q))


def graph_before(artifact: Path, target: Path) -> None:
    """The graph as exported before #34, from the artifact's weights: the last block runs over every
    position and the graph returns every item's score."""
    import warnings

    import torch

    from training.artifact import load_model
    from training.models.base import CausalModel

    model = load_model(artifact)[0].eval()
    assert isinstance(model, CausalModel), "the before-graph is a causal model's"

    class FullEncoding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, history: torch.Tensor) -> torch.Tensor:
            h = self.model.encode(history)[:, -1]  # (B, D) from the (B, L, D) encoding
            return h @ self.model.item_emb.weight[1:].T  # (B, N)

    example = torch.randint(1, model.n_items + 1, (2, model.max_len))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            FullEncoding().eval(),
            (example,),
            str(target),
            input_names=["history"],
            output_names=["scores"],
            dynamic_axes={"history": {0: "batch"}, "scores": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


def raw_figures(path: Path, calls: int, top_k: bool, n_items: int, max_len: int) -> dict[str, float]:
    """Batch-1 and batch-8 call latency and peak users/s of the graph at ``path``; ``top_k``: the served
    graph (fetching its top 10 with each history masked), else every item's score."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    outputs = ["top_items", "top_scores"] if top_k else ["scores"]

    def timings(batch: int, n: int) -> list[float]:
        histories = rng.integers(1, n_items + 1, (batch, max_len)).astype(np.int64)
        return call_seconds(session, outputs, history_feed(histories, K if top_k else None), n)

    one, eight = timings(1, calls), timings(8, calls // 2)
    peak = max(batch / float(np.mean(timings(batch, max(20, calls // batch)))) for batch in BATCHES)
    return {
        "b1_p50_ms": percentile_ms(one, 50),
        "b1_p99_ms": percentile_ms(one, 99),
        "b8_p99_ms": percentile_ms(eight, 99),
        "peak_users_per_s": peak,
    }


class PlainPeer:
    """``plain_fastapi.py`` under uvicorn (access log off, as the service's) on its own port."""

    def __init__(self, artifact: Path, events: Path) -> None:
        self.port = server_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PLAIN_ARTIFACT": str(artifact), "PLAIN_EVENTS": str(events), "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "uvicorn", "--factory", "benchmarks.serving.plain_fastapi:create_app"]
        options = ["--port", str(self.port), "--log-level", "warning", "--no-access-log"]
        self.process = subprocess.Popen([*command, *options], env=env, cwd=ROOT)
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/openapi.json", timeout=1)
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the plain FastAPI peer did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def load(url: str, seconds: int, script: Path, label: str) -> dict[int, dict[str, float]]:
    figures = {}
    for c in CONCURRENCY:
        figures[c] = wrk(url, c, seconds, script)
        f = figures[c]
        print(f"  {label} c={c:2d}: p50 {f['p50_ms']:.2f} ms  p99 {f['p99_ms']:.2f} ms  {f['rps']:.0f} req/s")
    return figures


def one_round(
    before: Path, after: Path, service_url: str, peer_url: str, script: Path, args: argparse.Namespace
) -> dict[str, float]:
    n_items, max_len = args.n_items, args.max_len
    raw_before = raw_figures(before, args.calls, False, n_items, max_len)
    raw = raw_figures(after, args.calls, True, n_items, max_len)
    print(f"  raw peak users/s: before {raw_before['peak_users_per_s']:.0f}, now {raw['peak_users_per_s']:.0f}")
    http = load(service_url, args.seconds, script, "service")
    plain = load(peer_url, args.seconds, script, "plain FastAPI")
    return {
        "raw_peak_users_per_s_before": raw_before["peak_users_per_s"],
        "raw_b1_p50_ms_before": raw_before["b1_p50_ms"],
        **{f"raw_{k}": v for k, v in raw.items()},
        **{f"http_c{c}_{k}": v for c, f in http.items() for k, v in f.items()},
        **{f"plain_c{c}_{k}": v for c, f in plain.items() for k, v in f.items()},
        "overhead_ratio": http[1]["p50_ms"] / raw["b1_p50_ms"],
        "p99_ratio": http[8]["p99_ms"] / raw["b8_p99_ms"],
        "throughput_ratio": http[32]["rps"] / raw["peak_users_per_s"],
        "vs_plain_fastapi_c32": http[32]["rps"] / plain[32]["rps"],
        "raw_speedup": raw["peak_users_per_s"] / raw_before["peak_users_per_s"],
    }


RATIOS = ("overhead_ratio", "p99_ratio", "throughput_ratio", "vs_plain_fastapi_c32", "raw_speedup")


def summary(rounds: list[dict[str, float]]) -> dict[str, Any]:
    """Median of every figure over the rounds; each ratio's min and max beside it."""
    row: dict[str, Any] = {"rounds": len(rounds)}
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        row[key] = round(statistics.median(values), 3)
        if key in RATIOS:
            row[f"{key}_min"], row[f"{key}_max"] = round(min(values), 3), round(max(values), 3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", type=Path, help="an artifact exported with the graph's top-K")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    if not ML1M.is_file():
        sys.exit(f"needs {ML1M}")
    if shutil.which("wrk") is None:
        sys.exit("needs wrk (apt-get install -y wrk)")
    from steadyrec.core.manifest import read_manifest

    work = Path(tempfile.mkdtemp(prefix="serve-latency-"))
    artifact = args.artifact
    if artifact is None:
        artifact = work / "artifact"
        print("training a 1-epoch SASRec on ml-1m (max length 200) for the artifact ...", flush=True)
        latency_artifact(artifact, ML1M, "sasrec", {"hidden": 64, "max_len": 200}, "leave-one-out", top_k=True)
    manifest = read_manifest(artifact)
    if not manifest.graph.top_k:
        sys.exit(f"{artifact} has no top-K graph: export it with --top-k-graph")
    args.n_items, args.max_len = manifest.n_items, manifest.max_len
    graph_before(artifact, work / "before.onnx")
    settings = live_settings(artifact, work, "service", ML1M)
    script = work / "recommend.lua"
    script.write_text(recommend_script(1, 6040))
    service, peer = ServiceProcess(settings), None
    rounds = []
    try:
        service.start(timeout=120)
        peer = PlainPeer(artifact, ML1M)
        wrk(service.url, 8, 3, script)  # warm-up both
        wrk(peer.url, 8, 3, script)
        for r in range(args.rounds):
            print(f"round {r + 1} / {args.rounds}", flush=True)
            rounds.append(one_round(work / "before.onnx", artifact / "model.onnx", service.url, peer.url, script, args))
    finally:
        service.stop()
        if peer is not None:
            peer.stop()
        shutil.rmtree(work, ignore_errors=True)
    write_results(
        "serve-latency",
        [summary(rounds)],
        notes="Targets: overhead_ratio <= 1.5, p99_ratio <= 1.8, throughput_ratio >= 0.7 (against the served "
        "graph's raw figures), vs_plain_fastapi_c32 >= 1.5. Figures are medians over the rounds; _min / _max "
        "give each ratio's spread. `_before`: the graph before #34 (last block over all positions, every score "
        "returned), measured in the same rounds. The load generator (wrk, one thread) runs on the same 2 "
        "cores as the service.",
        folder=RESULTS,
    )


if __name__ == "__main__":
    main()
