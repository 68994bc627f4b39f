"""Ingest rate of ``POST /events`` on the embedded SQLite event log and on PostgreSQL (issue #31).

    .venv/bin/python -m benchmarks.scaleout.ingest

One service process (``steadyrec serve``) per store, on this machine; a client sends ``--batches`` batches
of ``--batch-size`` events at ``--concurrency`` concurrent requests. An event counts as acknowledged when
its batch got a 200; afterwards the event log is read back and every acknowledged event must be in it
(``events_lost`` 0). PostgreSQL is a private cluster on 127.0.0.1 (initdb / pg_ctl, fsync on, as shipped).
Both stores commit each batch before answering (SQLite ``synchronous=FULL``, PostgreSQL's default
``synchronous_commit``), so the rate is bounded by one durable commit per batch.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.common.results_io import results_dir, write_results
from benchmarks.common.world import build_world
from steadyrec.core.event_log import open_event_log
from steadyrec.testing.harness import TOKEN, PostgresServer, postgres_bindir, server_process

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _send(
    url: str, batches: int, size: int, concurrency: int
) -> tuple[list[tuple[str, str, float]], list[float], float]:
    acknowledged: list[tuple[str, str, float]] = []
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for b in range(batches):
        queue.put_nowait(b)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            b = queue.get_nowait()
            batch = [(f"ingest{b % 500}", f"i{j % 300}", b * 1000.0 + j) for j in range(size)]
            events = [{"user": u, "item": i, "timestamp": t} for u, i, t in batch]
            started = time.perf_counter()
            response = await client.post("/events", json={"events": events}, headers=AUTH)
            latencies.append(time.perf_counter() - started)
            if response.status_code == 200:
                acknowledged.extend(batch)

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return acknowledged, latencies, wall


def measure(store: str, args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix=f"ingest-{store}-"))
    settings = build_world(root)
    postgres = None
    if store == "postgresql":
        postgres = PostgresServer()
        postgres.start()
        settings = settings.model_copy(update={"database_url": postgres.url})
    try:
        with server_process(settings) as url:
            acknowledged, latencies, wall = asyncio.run(_send(url, args.batches, args.batch_size, args.concurrency))
        log = open_event_log(settings)
        stored = {(e.user, e.item, e.timestamp) for e in log.read()}
        log.close()
    finally:
        if postgres is not None:
            postgres.stop()
            postgres.remove()
    lost = sum(1 for e in acknowledged if e not in stored)
    row = {
        "benchmark": "ingest",
        "store": store,
        "batch_size": args.batch_size,
        "batches": args.batches,
        "concurrency": args.concurrency,
        "events_acknowledged": len(acknowledged),
        "events_lost": lost,
        "events_per_s": round(len(acknowledged) / wall, 1),
        "batch_p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 2),
        "batch_p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 2),
    }
    print(
        f"{store:10s} {row['events_per_s']:9.1f} events/s  batch p50 {row['batch_p50_ms']} ms  "
        f"p99 {row['batch_p99_ms']} ms  acknowledged {len(acknowledged)}  lost {lost}",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    stores = ["sqlite"] + (["postgresql"] if postgres_bindir() is not None else [])
    rows = [measure(store, args) for store in stores]
    write_results(
        "ingest",
        rows,
        notes="One `steadyrec serve` process per store on this machine (2 cores shared by the client, the "
        "service and the database); every batch committed before its 200. PostgreSQL: a private cluster, "
        "fsync on. `events_lost`: acknowledged events missing from the event log afterwards.",
        folder=results_dir(__file__),
    )


if __name__ == "__main__":
    main()
