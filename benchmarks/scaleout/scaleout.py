"""Two API replicas, two workers with beat, PostgreSQL and Redis on one machine, under load (issue #31).

    .venv/bin/python -m benchmarks.scaleout.scaleout

Everything is a real process on 127.0.0.1: two ``steadyrec serve`` replicas (own processes and ports) over
one model registry folder, PostgreSQL (events), Redis (histories, jobs, schedules, alias announcements)
and two Celery workers, each with the scheduler's beat, as two machines would run them.

1. **load**: a schedule (``after_events``) is declared; then ``--requests`` ``/recommend`` requests
   (``user_id``, round robin over the replicas, ``--concurrency`` at once) run while events stream in
   through both replicas. The events fire the schedule; its job fine-tunes the live model, its canary
   passes and it promotes the candidate; once both replicas serve it, an operator rolls it back through
   the other replica (``POST /models/rollback``). The load goes on until both happened.
   - ``cross_replica_visibility_ms``: a probe posts one event for a new user to one replica and times,
     from the acknowledgement, until the other replica answers that user (a 200 from its stored history;
     the answer is then checked against the same history sent as ``items``).
   - ``alias_propagation_ms``: from the announcement of a ``live`` change on Redis (a subscriber in this
     process) until each replica's ``/recommend`` answers with the new version.
   - ``duplicate_scheduled_jobs``: job starts beyond one per claimed slot, counted in both workers' logs.
2. **throughput**: ``user_id`` requests from ``wrk`` against one replica and against two, alternating
   rounds, with the CPU the replicas and the whole machine used.
3. **faults**: replica A SIGKILLed mid-load (the load balancer's part, failing over to B, is played by
   the client; the live alias changes while A is down; A restarts); PostgreSQL stopped and started
   mid-ingest; Redis flushed (histories rebuilt from the database, every answer compared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis

from benchmarks.common.results_io import results_dir, write_results
from benchmarks.common.world import ADMIN, build_world
from benchmarks.common.wrk import recommend_script, wrk
from service.redis_histories import PREFIX, SEEDED
from steadyrec.core.event_log import open_event_log
from steadyrec.core.registry import ALIAS_CHANNEL
from steadyrec.testing.harness import (
    TOKEN,
    PostgresServer,
    RedisServer,
    ServiceProcess,
    start_worker,
    stop_worker,
)

AUTH = {"Authorization": f"Bearer {TOKEN}"}
ITEMS = [f"i{j}" for j in range(300)]  # the world's catalog (benchmarks.common.world)
USERS = [f"u{j}" for j in range(600)]
SCHEDULE = "scale-out-daily"


@dataclass
class Load:
    """What a stretch of /recommend traffic saw."""

    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failed_over: int = 0  # connection refused by a dead replica, answered by the other one
    wall_s: float = 0.0

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)


@dataclass
class Stream:
    """Events sent in batches; acknowledged means the batch got a 200."""

    acknowledged: list[tuple[str, str, float]] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    sent: int = 0


class Deployment:
    def __init__(self, root: Path, args: argparse.Namespace) -> None:
        self.root = root
        self.redis = RedisServer(appendonly=True)
        self.postgres = PostgresServer()
        self.settings = build_world(root)
        self.settings = self.settings.model_copy(
            update={"redis_url": self.redis.url, "database_url": self.postgres.url}
        )
        self.replicas = [ServiceProcess(self.settings), ServiceProcess(self.settings)]
        self.workers: list[Any] = []
        self.args = args
        self.clock = 1.7e9  # event timestamps: unique and increasing

    def start(self) -> None:
        self.redis.start()
        self.postgres.start()
        for replica in self.replicas:
            replica.start()
        for name in ("machine-a", "machine-b"):  # two beats, as two machines would run them
            self.workers.append(
                start_worker(self.root, self.redis.url, beat_every_s=1.0, database_url=self.postgres.url, name=name)
            )

    def stop(self) -> None:
        for worker in self.workers:
            stop_worker(worker)
        for replica in self.replicas:
            replica.stop()
        self.redis.stop()
        self.postgres.stop()
        self.postgres.remove()

    def events(self, users: list[str], n: int) -> list[tuple[str, str, float]]:
        batch = []
        for _ in range(n):
            self.clock += 1.0
            batch.append((random.choice(users), random.choice(ITEMS), self.clock))
        return batch


async def post_events(client: httpx.AsyncClient, batch: list[tuple[str, str, float]], stream: Stream) -> int:
    body = {"events": [{"user": u, "item": i, "timestamp": t} for u, i, t in batch]}
    stream.sent += len(batch)
    try:
        response = await client.post("/events", json=body, headers=AUTH)
    except httpx.TransportError:
        stream.statuses[0] += 1
        return 0
    stream.statuses[response.status_code] += 1
    if response.status_code == 200:
        stream.acknowledged.extend(batch)
    return response.status_code


async def recommend_load(
    clients: list[httpx.AsyncClient],
    requests: int,
    concurrency: int,
    until: asyncio.Event | None = None,
    dead: set[int] | None = None,
) -> Load:
    """Round robin over ``clients``; runs ``requests`` requests, and on until ``until`` is set when given.
    A request to a replica in ``dead`` that cannot connect goes to the next one (a load balancer's part)."""
    load = Load()
    dead = dead if dead is not None else set()
    counter = iter(range(10**9))

    async def one(i: int) -> None:
        target = i % len(clients)
        body = {"user_id": USERS[i * 7919 % len(USERS)], "k": 10}
        for attempt in range(len(clients)):
            try:
                response = await clients[(target + attempt) % len(clients)].post("/recommend", json=body)
            except httpx.TransportError:
                if (target + attempt) % len(clients) not in dead:
                    load.statuses[0] += 1
                    return
                load.failed_over += 1
                continue
            load.statuses[response.status_code] += 1
            return
        load.statuses[0] += 1

    async def worker() -> None:
        while True:
            i = next(counter)
            if i >= requests and (until is None or until.is_set()):
                return
            load.sent += 1
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    load.wall_s = time.perf_counter() - started
    return load


async def served_version(client: httpx.AsyncClient) -> str | None:
    try:
        response = await client.post("/recommend", json={"items": ["i1", "i2"], "k": 1})
    except httpx.TransportError:
        return None
    return str(response.json()["model_version"]) if response.status_code == 200 else None


class AliasWatch:
    """Subscribes to the alias announcements and times each replica's switch to the announced live version."""

    def __init__(self, url: str, clients: list[httpx.AsyncClient], loop: asyncio.AbstractEventLoop) -> None:
        self.clients, self.loop = clients, loop
        self.queue: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.propagation_ms: list[float] = []
        self.changes: list[dict[str, Any]] = []
        self.served: dict[str, asyncio.Event] = {}
        self._client = redis.Redis.from_url(url)
        self._pubsub = self._client.pubsub()
        self._pubsub.subscribe(ALIAS_CHANNEL)
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        try:
            for message in self._pubsub.listen():
                if message.get("type") == "message":
                    change = json.loads(message["data"])
                    self.loop.call_soon_threadsafe(self.queue.put_nowait, (time.perf_counter(), change))
        except redis.ConnectionError:  # the benchmark stopped Redis: nothing more to time
            return

    def served_everywhere(self, version: str) -> asyncio.Event:
        return self.served.setdefault(version, asyncio.Event())

    async def run(self) -> None:
        while True:
            announced, change = await self.queue.get()
            if change["alias"] != "live":
                continue
            self.changes.append(change)
            pending = set(range(len(self.clients)))
            while pending:
                for r in list(pending):
                    if await served_version(self.clients[r]) == change["to"]:
                        self.propagation_ms.append((time.perf_counter() - announced) * 1000)
                        pending.discard(r)
                await asyncio.sleep(0.005)
            self.served_everywhere(change["to"]).set()


async def visibility_probes(
    clients: list[httpx.AsyncClient], stream: Stream, stop: asyncio.Event, every_s: float
) -> tuple[list[float], int]:
    """Event to one replica, answer from the other: milliseconds from the acknowledgement to the answer."""
    times, mismatches, n = [], 0, 0
    while not stop.is_set():
        source, target = clients[n % 2], clients[(n + 1) % 2]
        user, item = f"probe{n}", random.choice(ITEMS)
        n += 1
        batch = [(user, item, time.time())]
        if await post_events(source, batch, stream) != 200:
            await asyncio.sleep(every_s)
            continue
        acknowledged = time.perf_counter()
        while True:
            answer = await target.post("/recommend", json={"user_id": user, "k": 10})
            if answer.status_code == 200:
                times.append((time.perf_counter() - acknowledged) * 1000)
                break
            await asyncio.sleep(0.001)
        same = await target.post("/recommend", json={"items": [item], "k": 10})
        first, second = answer.json(), same.json()
        if first["model_version"] == second["model_version"] and first["items"] != second["items"]:
            mismatches += 1
        await asyncio.sleep(every_s)
    return times, mismatches


def job_starts(root: Path) -> Counter[str]:
    """Task receipts per job id over both workers' logs (Celery logs every task it receives)."""
    starts: Counter[str] = Counter()
    for name in ("machine-a", "machine-b"):
        for line in (root / f"{name}.log").read_text(errors="replace").splitlines():
            found = re.search(r"Task steadyrec\.finetune\[([^\]]+)\] received", line)
            if found:
                starts[found.group(1)] += 1
    return starts


def lost(settings: Any, acknowledged: list[tuple[str, str, float]]) -> tuple[int, int]:
    log = open_event_log(settings)
    try:
        stored = {(e.user, e.item, e.timestamp) for e in log.read()}
    finally:
        log.close()
    return sum(1 for e in acknowledged if e not in stored), len(stored)


async def main_run(d: Deployment, args: argparse.Namespace) -> dict[str, Any]:
    a, b = (httpx.AsyncClient(base_url=r.url, timeout=60) for r in d.replicas)
    clients = [a, b]
    schedule = {
        "name": SCHEDULE,
        "job": {
            "method": "finest",
            "params": {"epochs": args.job_epochs},
            "run_canary": True,
            # the world's base is trained for two epochs only, so a fine-tune moves its lists more than a
            # converged model's (mean RBO about 0.73): a gate this world's candidates can pass
            "canary_policy": {"min_mean_rbo": 0.6, "min_mean_jaccard": 0.5, "min_p10_rbo": 0.4},
            "promote_if_passed": True,
        },
        "trigger": {"after_events": args.after_events},
    }
    response = await a.post("/schedules", json=schedule, headers=AUTH)
    assert response.status_code == 201, response.text
    watch = AliasWatch(d.redis.url, clients, asyncio.get_running_loop())
    watcher = asyncio.create_task(watch.run())
    stream, done, rolled_back = Stream(), asyncio.Event(), {}

    async def stream_events() -> None:
        n = 0
        while not done.is_set() and stream.sent < args.events:
            await post_events(clients[n % 2], d.events(USERS, args.event_batch), stream)
            n += 1
            await asyncio.sleep(args.event_every_s)

    async def promote_then_roll_back() -> None:
        deadline = time.monotonic() + args.max_minutes * 60
        while not watch.changes:
            if time.monotonic() > deadline:
                raise TimeoutError("the scheduled job promoted nothing in time; see machine-*.log")
            await asyncio.sleep(0.2)
        promoted = watch.changes[0]["to"]
        await watch.served_everywhere(promoted).wait()
        await asyncio.sleep(2.0)
        answer = await b.post("/models/rollback", headers=AUTH)
        rolled_back.update(answer.json())
        await watch.served_everywhere(answer.json()["live"]).wait()
        done.set()

    probe_stop = asyncio.Event()
    tasks = [
        asyncio.create_task(stream_events()),
        asyncio.create_task(promote_then_roll_back()),
        asyncio.create_task(visibility_probes(clients, stream, probe_stop, args.probe_every_s)),
    ]
    load = await recommend_load(clients, args.requests, args.concurrency, until=done)
    await tasks[1]
    probe_stop.set()
    await tasks[0]
    visibility, mismatches = await tasks[2]
    watcher.cancel()
    # the schedule goes, and its jobs end, before the next runs: their events must not start more jobs
    assert (await a.delete(f"/schedules/{SCHEDULE}", headers=AUTH)).status_code == 200
    while True:
        jobs = (await a.get("/jobs", headers=AUTH)).json()["jobs"]
        if all(j["finished_at"] is not None for j in jobs):
            break
        await asyncio.sleep(0.5)
    scheduled = [j for j in jobs if j.get("schedule") == SCHEDULE]
    starts = job_starts(d.root)
    duplicates = sum(n - 1 for n in starts.values() if n > 1) + max(
        0, len(scheduled) - len({j["id"] for j in scheduled})
    )
    missing, _ = lost(d.settings, stream.acknowledged)
    row = {
        "benchmark": "scale-out",
        "run": "load",
        "replicas": 2,
        "requests": load.sent,
        "concurrency": args.concurrency,
        "non_2xx": load.non_2xx + sum(n for s, n in stream.statuses.items() if s != 200),
        "users_per_s": round(load.sent / load.wall_s, 1),
        "events_acknowledged": len(stream.acknowledged),
        "events_lost": missing,
        "cross_replica_visibility_ms_p50": round(float(np.percentile(visibility, 50)), 1),
        "cross_replica_visibility_ms_max": round(float(max(visibility)), 1),
        "visibility_probes": len(visibility),
        "visibility_mismatches": mismatches,
        "alias_propagation_ms": round(float(max(watch.propagation_ms)), 1),
        "alias_changes": len(watch.changes),
        "scheduled_jobs": len(scheduled),
        "scheduled_job_states": ",".join(sorted(j["state"] for j in scheduled)),
        "duplicate_scheduled_jobs": duplicates,
        "promoted": watch.changes[0]["to"],
        "rolled_back_to": rolled_back.get("live"),
    }
    print(
        f"load: {load.sent} requests in {load.wall_s:.1f} s ({row['users_per_s']}/s), non-2xx {row['non_2xx']}; "
        f"events acknowledged {len(stream.acknowledged)}, lost {missing}; visibility p50 "
        f"{row['cross_replica_visibility_ms_p50']} ms max {row['cross_replica_visibility_ms_max']} ms "
        f"({len(visibility)} probes, {mismatches} mismatches); alias changes {[c['to'] for c in watch.changes]}, "
        f"propagation max {row['alias_propagation_ms']} ms; scheduled jobs {len(scheduled)} "
        f"({row['scheduled_job_states']}), duplicates {duplicates}",
        flush=True,
    )
    await a.aclose()
    await b.aclose()
    return row


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_seconds() -> float:
    """CPU seconds the whole machine spent outside idle and iowait so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def throughput(d: Deployment, args: argparse.Namespace) -> list[dict[str, Any]]:
    """One replica against two under wrk (one wrk of 16 connections, or one of 8 per replica), alternating
    rounds so that machine drift falls on both alike; with each round's CPU use, to say where it went."""
    script = d.root / "load.lua"
    script.write_text(recommend_script(0, 599, prefix="u", seed=7))
    pids = [r.process.pid for r in d.replicas if r.process is not None]
    rounds: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    for _ in range(args.rounds):
        for replicas in (1, 2):
            targets = d.replicas[:replicas]
            cpu, busy, started = [cpu_seconds(p) for p in pids], busy_seconds(), time.perf_counter()
            connections = args.concurrency // replicas
            with ThreadPoolExecutor(replicas) as pool:
                runs = [pool.submit(wrk, r.url, connections, args.seconds, script) for r in targets]
                results = [run.result() for run in runs]
            wall = time.perf_counter() - started
            assert all(r["non_2xx"] == 0 for r in results), results
            rounds[replicas].append(
                {
                    "rps": sum(r["rps"] for r in results),
                    "p99_ms": max(r["p99_ms"] for r in results),
                    "replica_cores": sum(cpu_seconds(p) - c for p, c in zip(pids, cpu, strict=True)) / wall,
                    "machine_cores": (busy_seconds() - busy) / wall,
                }
            )
    rows = []
    one = float(np.median([r["rps"] for r in rounds[1]]))
    for replicas, measured in rounds.items():
        rps = float(np.median([r["rps"] for r in measured]))
        rows.append(
            {
                "benchmark": "scale-out",
                "run": "throughput",
                "replicas": replicas,
                "concurrency": args.concurrency,
                "seconds": args.seconds * args.rounds,
                "users_per_s": round(rps, 1),
                "users_per_s_rounds": ",".join(f"{r['rps']:.0f}" for r in measured),
                "vs_one_replica": round(rps / one, 3),
                "p99_ms": round(float(np.median([r["p99_ms"] for r in measured])), 1),
                "replica_cpu_cores": round(float(np.median([r["replica_cores"] for r in measured])), 2),
                "machine_cpu_cores": round(float(np.median([r["machine_cores"] for r in measured])), 2),
            }
        )
        print(
            f"throughput, {replicas} replica(s): median {rps:.0f}/s over rounds "
            f"{[round(r['rps']) for r in measured]}; replicas used {rows[-1]['replica_cpu_cores']} cores, the "
            f"machine {rows[-1]['machine_cpu_cores']} of {os.cpu_count()}",
            flush=True,
        )
    return rows


def fault_row(fault: str, lost_: int, non_2xx: int, detail: str, **extra: Any) -> dict[str, Any]:
    print(f"fault {fault}: lost {lost_}, non-2xx {non_2xx}; {detail}", flush=True)
    return {
        "benchmark": "scale-out",
        "run": f"fault-{fault}",
        "lost": lost_,
        "non_2xx": non_2xx,
        "detail": detail,
        **extra,
    }


async def replica_sigkill(d: Deployment, args: argparse.Namespace) -> dict[str, Any]:
    """A dies mid-load; B serves everything; live changes while A is down; A comes back serving it."""
    a, b = (httpx.AsyncClient(base_url=r.url, timeout=60) for r in d.replicas)
    stream, dead, over = Stream(), set[int](), asyncio.Event()

    async def chaos() -> str:
        await asyncio.sleep(3.0)
        for _ in range(5):
            await post_events(a, d.events(USERS, 20), stream)
        d.replicas[0].kill()
        dead.add(0)
        await b.put("/models/aliases/candidate", json={"version": "v2"}, headers=AUTH)
        promoted = await b.post(
            "/models/v2/promote",
            json={"force": True, "reason": "while A is down"},
            headers={**AUTH, "X-Admin-Token": ADMIN},
        )
        assert promoted.status_code == 200, promoted.text
        await asyncio.sleep(3.0)
        await asyncio.to_thread(d.replicas[0].start)
        dead.clear()
        await asyncio.sleep(1.0)
        over.set()
        return "v2"

    task = asyncio.create_task(chaos())
    load = await recommend_load([a, b], args.fault_requests, args.concurrency, until=over, dead=dead)
    await task
    a_serves, b_serves = await served_version(a), await served_version(b)
    missing, _ = lost(d.settings, stream.acknowledged)
    await a.aclose()
    await b.aclose()
    return fault_row(
        "replica-sigkill",
        missing,
        load.non_2xx,
        f"{load.sent} requests, {load.failed_over} sent to the dead A and answered by B; "
        f"{len(stream.acknowledged)} events acknowledged by A before the kill, {missing} lost; live made v2 "
        f"while A was down; A restarted serving {a_serves} (B {b_serves})",
        events_acknowledged=len(stream.acknowledged),
        right_live_after_restart=a_serves == b_serves == "v2",
    )


async def postgres_restart(d: Deployment, args: argparse.Namespace) -> dict[str, Any]:
    """PostgreSQL stopped and started while events stream into both replicas; /recommend goes on."""
    a, b = (httpx.AsyncClient(base_url=r.url, timeout=60) for r in d.replicas)
    stream, batches, recovered_after = Stream(), 90, None
    reads = Load()
    down_at = None
    for n in range(batches):
        if n == 30:
            await asyncio.to_thread(d.postgres.stop)
            down_at = time.perf_counter()
        if n == 50:
            await asyncio.to_thread(d.postgres.start)
        status = await post_events((a, b)[n % 2], d.events(USERS, 50), stream)
        if n >= 50 and status == 200 and recovered_after is None and down_at is not None:
            recovered_after = n
        answer = await (a, b)[n % 2].post("/recommend", json={"user_id": USERS[n], "k": 10})
        reads.sent += 1
        reads.statuses[answer.status_code] += 1
        await asyncio.sleep(0.1)
    missing, _ = lost(d.settings, stream.acknowledged)
    await a.aclose()
    await b.aclose()
    refused = {str(s): n for s, n in stream.statuses.items() if s != 200}
    return fault_row(
        "postgres-restart",
        missing,
        reads.non_2xx,
        f"{batches} batches of 50 events, PostgreSQL down for batches 30-49: acknowledged "
        f"{len(stream.acknowledged)}, refused batches by status {refused}, {missing} acknowledged events "
        f"missing; first 200 again at batch {recovered_after}; /recommend during the outage: {dict(reads.statuses)}",
        events_acknowledged=len(stream.acknowledged),
    )


async def redis_flush(d: Deployment, args: argparse.Namespace) -> dict[str, Any]:
    """FLUSHALL; the replicas refill the histories from the database; every answer must be the same."""
    a, b = (httpx.AsyncClient(base_url=r.url, timeout=60) for r in d.replicas)
    users = USERS[:200] + [f"probe{n}" for n in range(20)]

    async def answers(client: httpx.AsyncClient) -> dict[str, Any]:
        out = {}
        for user in users:
            response = await client.post("/recommend", json={"user_id": user, "k": 10})
            out[user] = (response.status_code, response.json().get("items"))
        return out

    server = redis.Redis.from_url(d.redis.url)

    def histories() -> dict[str, list[bytes]]:
        return {user: server.lrange(f"{PREFIX}u:{user}", 0, -1) for user in users}

    live = await served_version(a), await served_version(b)
    before = [await answers(a), await answers(b)]
    stored_before = histories()
    server.flushall()
    flushed = time.perf_counter()
    while not server.exists(SEEDED):  # set by the replica that refilled the histories, once done
        await asyncio.sleep(0.01)
    rebuilt_ms = (time.perf_counter() - flushed) * 1000
    after = [await answers(a), await answers(b)]
    stored_after = histories()
    assert (await served_version(a), await served_version(b)) == live, "the live model changed during the check"
    different = sum(before[r][u] != after[r][u] for r in (0, 1) for u in users)
    histories_differ = [u for u in users if stored_before[u] != stored_after[u]]
    for user in histories_differ[:3]:
        print(f"  {user}: before {stored_before[user][-6:]}, after {stored_after[user][-6:]}", flush=True)
    await a.aclose()
    await b.aclose()
    return fault_row(
        "redis-flush",
        different,
        0,
        f"{len(users)} users' answers on both replicas before FLUSHALL and after the refill ({rebuilt_ms:.0f} ms "
        f"until the refill was done): {different} differ; stored histories differ for "
        f"{len(histories_differ)} users. A flush also empties what only Redis holds: "
        f"job and schedule records, the Celery queue, hit-rate counts",
        rebuilt_ms=round(rebuilt_ms, 1),
    )


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    root = Path(tempfile.mkdtemp(prefix="scale-out-"))
    d = Deployment(root, args)
    d.start()
    try:
        rows = [await main_run(d, args)]
        rows += await asyncio.to_thread(throughput, d, args)
        rows.append(await replica_sigkill(d, args))
        rows.append(await postgres_restart(d, args))
        rows.append(await redis_flush(d, args))
    finally:
        d.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    if shutil.which("wrk") is None:
        sys.exit("needs wrk for the throughput rounds (apt-get install -y wrk)")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--events", type=int, default=1_500, help="events streamed during the load")
    parser.add_argument("--event-batch", type=int, default=10)
    parser.add_argument("--event-every-s", type=float, default=0.2)
    parser.add_argument("--after-events", type=int, default=1_000, help="the schedule's trigger")
    parser.add_argument("--job-epochs", type=int, default=3)
    parser.add_argument("--probe-every-s", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="wrk's duration per throughput round")
    parser.add_argument("--fault-requests", type=int, default=3_000)
    parser.add_argument("--max-minutes", type=float, default=10.0)
    args = parser.parse_args()
    rows = asyncio.run(run(args))
    write_results(
        "scale-out",
        rows,
        notes="All on this 2-core machine: two `steadyrec serve` replicas, two Celery workers each with the "
        "scheduler's beat, PostgreSQL and Redis, and the load generator (one asyncio process). "
        "Command: `.venv/bin/python -m benchmarks.scaleout.scaleout`.",
        folder=results_dir(__file__),
    )


if __name__ == "__main__":
    main()
