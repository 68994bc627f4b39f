"""10,000 /recommend requests at concurrency 16 while a candidate is promoted and then rolled back.

    .venv/bin/python -m benchmarks.serving.promotion_load [--requests 10000] [--concurrency 16]

The service runs as its own process (`steadyrec serve`) on 127.0.0.1 over a small synthetic world;
the load generator (httpx, this process) shares the 2 cores with it. After a quarter of the requests
the candidate v2 passes a canary (a permissive policy: this measures the swap, not the gate) and is
promoted; after 60% the live model is rolled back. Every response is checked; latency percentiles of
all requests are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from benchmarks.common.results_io import results_dir, write_results
from benchmarks.common.world import build_world
from steadyrec.testing.harness import TOKEN, server_process

RESULTS = results_dir(__file__)

PERMISSIVE = {
    "min_samples": 1,
    "min_mean_rbo": 0,
    "min_mean_jaccard": 0,
    "min_p10_rbo": 0,
    "ndcg_delta": 1,
    "bootstrap": 0,
}


async def load(url: str, total: int, concurrency: int) -> dict[str, object]:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    versions: dict[str, int] = {}
    done = 0
    events: list[str] = []
    limits = httpx.Limits(max_connections=concurrency + 2)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker(offset: int) -> None:
            nonlocal done
            for i in range(offset, total, concurrency):
                body = {"user_id": f"u{i % 600}", "k": 10}
                t0 = time.perf_counter()
                response = await client.post("/recommend", json=body)
                latencies.append(time.perf_counter() - t0)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code == 200:
                    version = response.json()["model_version"]
                    versions[version] = versions.get(version, 0) + 1
                done += 1

        async def operator() -> None:
            while done < total // 4:
                await asyncio.sleep(0.01)
            verdict = await client.post("/models/v2/canary", json={"policy": PERMISSIVE, "samples": 200}, headers=auth)
            promoted = await client.post("/models/v2/promote", json={"reason": "benchmark"}, headers=auth)
            events.append(f"promote at request {done}: canary {verdict.status_code}, promote {promoted.status_code}")
            while done < total * 6 // 10:
                await asyncio.sleep(0.01)
            back = await client.post("/models/rollback", headers=auth)
            events.append(f"rollback at request {done}: {back.status_code} {back.json()}")

        started = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)), operator())
        wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    for line in events:
        print("  " + line, flush=True)
    return {
        "requests": len(latencies),
        "concurrency": concurrency,
        "non_2xx": sum(n for code, n in statuses.items() if not 200 <= code < 300),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
        "requests_per_s": round(len(latencies) / wall, 1),
        "answered_by_v1": versions.get("v1", 0),
        "answered_by_v2": versions.get("v2", 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    settings = build_world(Path(tempfile.mkdtemp(prefix="promotion-load-")))
    with server_process(settings) as url:
        row = asyncio.run(load(url, args.requests, args.concurrency))
    write_results(
        "promotion-load",
        [row],
        notes="Service and load generator share the machine's 2 cores; "
        "a permissive canary policy is used so the benchmark measures the swap, not the gate.",
        folder=RESULTS,
    )
    if row["non_2xx"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
