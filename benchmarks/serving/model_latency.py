"""Serving latency of a time-aware model next to its plain counterpart: TiSASRec against SASRec (issue #33).

    .venv/bin/python -m benchmarks.serving.model_latency [--rounds 3] [--seconds 10]

Both artifacts are trained here for one epoch on foursquare (FINEST's setting: hidden 128, max length 50;
latency does not depend on accuracy) and exported. Raw: batch-1 p50 of the ONNX Runtime session (TiSASRec's
with its second input, the timestamps). HTTP: the real service (``steadyrec serve``) on loopback, seeded with
foursquare (so ``user_id`` histories carry their times), loaded by ``wrk`` at c=1 with random users. The two
models alternate, round by round (A B A B ...), so the VM's drift falls on both; each figure is the median
over rounds, with its spread (min-max).
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
from benchmarks.common.latency_artifact import latency_artifact
from benchmarks.common.onnx_calls import call_seconds
from benchmarks.common.results_io import results_dir, write_results
from benchmarks.common.wrk import recommend_script, wrk
from steadyrec.testing.harness import server_process

RESULTS = results_dir(__file__)
ROOT = Path(__file__).resolve().parents[2]
FOURSQUARE = ROOT.parent / "shared" / "data" / "foursquare" / "foursquare.tsv"
KINDS = {
    "sasrec": {"hidden": 128, "max_len": 50, "dropout": 0.2},
    "tisasrec": {"hidden": 128, "max_len": 50, "dropout": 0.2, "time_span": 256},
}


def train_artifact(kind: str, target: Path) -> None:
    latency_artifact(target, FOURSQUARE, kind, KINDS[kind], "temporal", min_interactions=10)


def raw_b1_p50_ms(artifact: Path, calls: int) -> float:
    """Median batch-1 ONNX Runtime call on random full histories (with increasing timestamps if asked)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(artifact / "model.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feed = {"history": rng.integers(1, 5000, (1, 50)).astype(np.int64)}
    if "timestamps" in {i.name for i in session.get_inputs()}:
        feed["timestamps"] = np.cumsum(rng.integers(0, 86_400, (1, 50)), axis=1).astype(np.int64)
    return float(np.median(call_seconds(session, None, feed, calls, warmup=20)) * 1000.0)


def http_c1_p50_ms(artifact: Path, work: Path, seconds: int) -> tuple[float, int]:
    settings = live_settings(artifact, work, artifact.name, FOURSQUARE)  # registered once, served every round
    script = work / "recommend.lua"
    script.write_text(recommend_script(0, 2320))
    with server_process(settings) as url:
        wrk(url, 1, 2, script)  # warm-up
        figures = wrk(url, 1, seconds, script)
    return figures["p50_ms"], int(figures["non_2xx"])


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    if not FOURSQUARE.is_file():
        sys.exit(f"needs {FOURSQUARE}")
    if shutil.which("wrk") is None:
        sys.exit("needs wrk (apt-get install -y wrk)")
    work = Path(tempfile.mkdtemp(prefix="model-latency-"))
    raw: dict[str, list[float]] = {kind: [] for kind in KINDS}
    http: dict[str, list[float]] = {kind: [] for kind in KINDS}
    failed: dict[str, int] = dict.fromkeys(KINDS, 0)
    try:
        for kind in KINDS:
            print(f"training a 1-epoch {kind} on foursquare for the artifact ...", flush=True)
            train_artifact(kind, work / kind)
        for r in range(args.rounds):
            for kind in KINDS:
                raw[kind].append(raw_b1_p50_ms(work / kind, args.calls))
                p50, non_2xx = http_c1_p50_ms(work / kind, work, args.seconds)
                http[kind].append(p50)
                failed[kind] += non_2xx
                print(
                    f"  round {r + 1} {kind:9s} raw b1 p50 {raw[kind][-1]:.3f} ms  http c1 p50 {p50:.3f} ms", flush=True
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows: list[dict[str, Any]] = []
    for kind in KINDS:
        r, h = spread(raw[kind]), spread(http[kind])
        rows.append(
            {
                "model": kind,
                "raw_b1_p50_ms": r["median"],
                "raw_b1_p50_min_ms": r["min"],
                "raw_b1_p50_max_ms": r["max"],
                "http_c1_p50_ms": h["median"],
                "http_c1_p50_min_ms": h["min"],
                "http_c1_p50_max_ms": h["max"],
                "non_2xx": failed[kind],
                "rounds": args.rounds,
            }
        )
    write_results(
        "model-latency",
        rows,
        notes="Foursquare, hidden 128, max length 50, one training epoch (latency only). Raw: median batch-1 "
        f"ONNX Runtime call over {args.calls} calls; HTTP: wrk c=1 for {args.seconds} s of user_id requests "
        "(histories and their times from the service's event store). Figures: median over rounds, the models "
        "alternating, with min and max. 2 cores shared by the service and wrk.",
        folder=RESULTS,
    )


if __name__ == "__main__":
    main()
