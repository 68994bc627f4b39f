"""Serving latency: raw ONNX Runtime against HTTP /recommend, same machine, same artifact.

    .venv/bin/python -m benchmarks.serving.serve_latency [--artifact DIR] [--seconds 10]

Artifact: SASRec on ml-1m with max length 200 (``--artifact``, or one trained here for one epoch:
latency does not depend on accuracy). Raw: batch-1 p50/p99 and batch-8 call p99 of the ONNX Runtime
session, and peak users/s over batch sizes. HTTP: the real service (``steadyrec serve``) on loopback,
loaded with ``wrk`` (Debian package) for ``--seconds`` per concurrency, POSTing ``user_id`` requests for
random ml-1m users (history looked up in the service). wrk shares the 2 cores with the service.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common.latency_artifact import latency_artifact
from benchmarks.common.results_io import results_dir, write_results
from benchmarks.common.wrk import recommend_script, wrk
from service.settings import Settings
from steadyrec.testing.harness import server_process

RESULTS = results_dir(__file__)

ROOT = Path(__file__).resolve().parents[2]
ML1M = ROOT.parent / "shared" / "data" / "ml-1m" / "ml-1m.txt"


def train_artifact(target: Path) -> None:
    latency_artifact(target, ML1M, "sasrec", {"hidden": 64, "max_len": 200}, "leave-one-out")


def percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000.0, q))


def raw_figures(artifact: Path, calls: int) -> dict[str, float]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(artifact / "model.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)

    def timings(batch: int, n: int) -> list[float]:
        histories = rng.integers(1, 3000, (batch, 200)).astype(np.int64)
        for _ in range(10):
            session.run(None, {"history": histories})
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            session.run(None, {"history": histories})
            out.append(time.perf_counter() - t0)
        return out

    one, eight = timings(1, calls), timings(8, calls // 2)
    figures = {
        "raw_b1_p50_ms": percentile_ms(one, 50),
        "raw_b1_p99_ms": percentile_ms(one, 99),
        "raw_b8_p50_ms": percentile_ms(eight, 50),
        "raw_b8_p99_ms": percentile_ms(eight, 99),
    }
    peak, best = 0.0, 1
    for batch in (1, 2, 4, 8, 16, 32, 64):
        users_per_s = batch / float(np.mean(timings(batch, max(20, calls // batch))))
        print(f"  raw batch {batch:3d}: {users_per_s:8.0f} users/s", flush=True)
        if users_per_s > peak:
            peak, best = users_per_s, batch
    figures["raw_peak_users_per_s"], figures["raw_peak_batch"] = peak, best
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", type=Path)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    if not ML1M.is_file():
        sys.exit(f"needs {ML1M}")
    if shutil.which("wrk") is None:
        sys.exit("needs wrk (apt-get install -y wrk)")
    work = Path(tempfile.mkdtemp(prefix="serve-latency-"))
    artifact = args.artifact
    if artifact is None:
        artifact = work / "artifact"
        print("training a 1-epoch SASRec on ml-1m (max length 200) for the artifact ...", flush=True)
        train_artifact(artifact)
    from steadyrec.core.registry import RegistryStore

    store = RegistryStore(work / "models")
    store.register(artifact, "bench")
    store.set_alias("live", "bench")
    print("raw ONNX Runtime ...", flush=True)
    raw = raw_figures(artifact, args.calls)
    settings = Settings(
        models_dir=work / "models",
        token="b" * 32,
        seed_log=ML1M,
        events_path=work / "events.jsonl",
        state_dir=work / "state",
        data_dir=work,
        redis_url=None,
    )
    script = work / "recommend.lua"
    script.write_text(recommend_script(1, 6040))
    http = {}
    try:
        with server_process(settings) as url:
            wrk(url, 8, 3, script)  # warm-up
            for c in (1, 8, 32):
                http[c] = wrk(url, c, args.seconds, script)
                print(
                    f"  http c={c:2d}: p50 {http[c]['p50_ms']:.2f} ms  p99 {http[c]['p99_ms']:.2f} ms  "
                    f"{http[c]['rps']:.0f} req/s  non-2xx {http[c]['non_2xx']}",
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    row = {
        **{k: round(v, 3) for k, v in raw.items()},
        **{f"http_c{c}_{k}": round(v, 3) for c, fig in http.items() for k, v in fig.items()},
        "overhead_ratio": round(http[1]["p50_ms"] / raw["raw_b1_p50_ms"], 3),
        "p99_ratio": round(http[8]["p99_ms"] / raw["raw_b8_p99_ms"], 3),
        "throughput_ratio": round(http[32]["rps"] / raw["raw_peak_users_per_s"], 3),
    }
    write_results(
        "serve-latency",
        [row],
        notes="Targets: overhead_ratio <= 1.6, p99_ratio <= 2.0, throughput_ratio >= 0.6. The load generator "
        "(wrk, one thread) runs on the same 2 cores as the service.",
        folder=RESULTS,
    )


if __name__ == "__main__":
    main()
