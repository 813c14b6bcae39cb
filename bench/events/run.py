"""bench/events: how fast the engine delivers events to webhook endpoints, and how soon after the
state change they arrive.

Starts a throw-away stack (embedded PostgreSQL, Temporal dev server, the production worker as its own
process) and a receiver process (``bench/events/receiver.py``: answers 204, records order and delay).

1. **Throughput.** ``--endpoints`` N endpoints of one customer, created disabled; ``--events`` E events
   recorded (one state change per transaction, as the engine records them); then the endpoints are
   enabled and the time until the receiver has all N x E deliveries is measured (signed, in order per
   endpoint, each attempt logged and the cursor moved in the database).
   Baseline, same run: the same N x E bodies POSTed from this one process, N concurrent streams each
   sending its E in order (httpx, one keep-alive connection per stream), no signing, no database.
   Goal: >= 0.5x the baseline's deliveries per second.
2. **Delay.** With the endpoints enabled, ``--rate`` events a second for ``--seconds``: the delay from
   each event's commit (its timestamp) to its arrival at the receiver, p50 and p99. Goal: p50 <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common import (
    ROOT,
    embedded_database,
    start_worker,
    stop_process,
    temporal_address,
    temporal_dev_server,
    wait_for_poller,
)
from events import service
from settings import Settings
from store import events as q
from store.customers import create_customer
from store.engine import make_engine, make_sessionmaker
from workflows.events import events_queue

THROUGHPUT_GOAL = 0.5
DELAY_P50_GOAL = 1.0


def percentile(values: list[float], q_: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q_ / 100 * (len(ordered) - 1)))]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _stats(http: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await http.get("/_stats")).json()
    return body


async def _wait_count(http: httpx.AsyncClient, count: int, within: float) -> float:
    """Seconds until the receiver has ``count`` deliveries."""
    started = time.perf_counter()
    while (await _stats(http))["count"] < count:
        if time.perf_counter() - started > within:
            raise RuntimeError(f"the receiver got {(await _stats(http))['count']} of {count} in {within:.0f} s")
        await asyncio.sleep(0.02)
    return time.perf_counter() - started


async def baseline(url: str, endpoints: int, events: int) -> float:
    """N streams of E plain POSTs each, in order: deliveries per second."""
    bodies = [
        orjson.dumps({"id": f"evt_{n}", "type": "sync.paused", "timestamp": None, "data": {"n": n}})
        for n in range(events)
    ]

    async def stream(i: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for body in bodies:
                (
                    await http.post(f"/baseline/{i}", content=body, headers={"content-type": "application/json"})
                ).raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(stream(i) for i in range(endpoints)))
    return endpoints * events / (time.perf_counter() - started)


def _start_receiver(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.events.receiver", "--port", str(port)], cwd=ROOT, stderr=subprocess.DEVNULL
    )


async def run(args: argparse.Namespace) -> bool:
    port = _free_port()
    receiver = _start_receiver(port)
    url = f"http://127.0.0.1:{port}"
    ok = True
    try:
        with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp, embedded_database(Path(tmp), "bench") as db:
            async with temporal_dev_server() as client, httpx.AsyncClient(base_url=url, timeout=30) as http:
                for _ in range(200):
                    try:
                        await http.get("/_stats")
                        break
                    except httpx.HTTPError:
                        await asyncio.sleep(0.05)
                queue = f"bench-events-{uuid.uuid4().hex[:6]}"
                # The receiver is on this machine: a development host (the worker inherits it too).
                os.environ["WEBHOOK_ALLOWED_HOSTS"] = "127.0.0.1"
                settings = Settings(
                    database_url=db.url,
                    temporal_address=temporal_address(client),
                    task_queue=queue,
                    webhook_allowed_hosts="127.0.0.1",
                )
                worker = start_worker(db.url, temporal_address(client), queue, Path(tmp) / "worker.log")
                engine = make_engine(db.url)
                try:
                    await wait_for_poller(client, events_queue(queue))
                    async with make_sessionmaker(engine)() as session:
                        customer = (await create_customer(session, name="bench-events", environment="demo")).customer_id
                        await session.commit()
                    n, e = args.endpoints, args.events

                    print(f"baseline: {n} streams x {e} plain POSTs ...", flush=True)
                    base = await baseline(url, n, e)
                    await http.post("/_reset")

                    print(f"ours: {n} endpoints, {e} events recorded, then the endpoints enabled ...", flush=True)
                    made = [
                        await service.create_endpoint(
                            engine,
                            client,
                            settings,
                            customer,
                            url=f"{url}/endpoint/{i}",
                            description=None,
                            event_types=None,
                            enabled=False,
                        )
                        for i in range(n)
                    ]
                    for i in range(e):
                        async with engine.begin() as conn:
                            await q.emit(conn, customer, "sync.paused", {"n": i}, key=f"throughput-{i}")
                    started = time.perf_counter()
                    for endpoint in made:
                        await service.update_endpoint(
                            engine, client, settings, customer, endpoint["id"], {"enabled": True}
                        )
                    await _wait_count(http, n * e, within=max(120.0, n * e / 20))
                    ours = n * e / (time.perf_counter() - started)
                    stats = await _stats(http)
                    ratio = ours / base
                    ok &= ratio >= THROUGHPUT_GOAL and stats["ordered"]
                    print(
                        f"  throughput: ours {ours:,.0f} deliveries/s, baseline {base:,.0f}/s = {ratio:.2f}x "
                        f"(goal >= {THROUGHPUT_GOAL}x: {'met' if ratio >= THROUGHPUT_GOAL else 'NOT met'}); "
                        f"in order per endpoint: {stats['ordered']}",
                        flush=True,
                    )

                    await http.post("/_reset")
                    total = int(args.rate * args.seconds)
                    print(f"delay: {args.rate:g} events/s for {args.seconds:g} s to {n} endpoints ...", flush=True)
                    clock = time.perf_counter()
                    for i in range(total):
                        async with engine.begin() as conn:
                            await q.emit(conn, customer, "sync.paused", {"n": e + i}, key=f"delay-{i}")
                        await asyncio.sleep(max(0.0, clock + (i + 1) / args.rate - time.perf_counter()))
                    await _wait_count(http, n * total, within=120)
                    delays = (await _stats(http))["delays"]
                    p50, p99 = percentile(delays, 50), percentile(delays, 99)
                    ok &= p50 <= DELAY_P50_GOAL
                    print(
                        f"  delay from commit to arrival: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
                        f"(goal p50 <= {DELAY_P50_GOAL:g} s: {'met' if p50 <= DELAY_P50_GOAL else 'NOT met'})",
                        flush=True,
                    )
                finally:
                    await engine.dispose()
                    stop_process(worker)
    finally:
        stop_process(receiver)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.events", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--endpoints", type=int, default=4, help="webhook endpoints (default 4)")
    parser.add_argument("--events", type=int, default=1000, help="events per endpoint in the throughput part (1000)")
    parser.add_argument("--rate", type=float, default=20.0, help="events per second in the delay part (20)")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the delay part (15)")
    args = parser.parse_args()
    asyncio.run(run(args))  # goals met or not, the output says; like the other benchmarks, exit 0
