"""Live connect benchmark: records/s of a LIVE Procore connect through the real ConnectWorkflow,
against a plain paginated GET loop over the same emulator in the same run.

Run: ``.venv/bin/python -m bench.live_connect [--records N] [--quick]``

Setup: a Procore emulator as a real HTTP server in its own process (``bench.live_connect.emulator``)
loaded with ``--records`` synthetic payments plus the proportional projects, vendors, contracts and
requisitions (``platforms.synthetic.sizes``), rate limits raised so throttling dominates neither
side; a throw-away embedded PostgreSQL, a Temporal dev server and the production worker
(``python -m worker``) with ``LIVE_BASE_URL_ALLOWLIST`` = the emulator and a fresh ``CREDENTIALS_KEY``.
A ``test`` customer's live connection is stored as ``POST /api/v1/connect`` stores it
(``store.connections.configure`` with Fernet-encrypted client credentials), then
``ConnectWorkflow(mode="live")`` runs on the worker's task queue; its wall time (start to result)
gives records/s.

Baseline: the same records fetched by the same request pattern as ``ProcoreClient.records`` (one
OAuth token, ``Procore-Company-Id`` header, ``per_page`` = ``PER_PAGE``, following ``rel="next"``;
company-level projects and vendors, then per project both commitment kinds, requisitions and
contract payments), one keep-alive ``httpx.AsyncClient``, bodies parsed with orjson, no database.
It runs before and after the connect; the mean is the baseline rate.

Goal (GitHub issue 6): live connect >= 0.8x the plain GET loop's records/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from cryptography.fernet import Fernet

from bench.common import (
    ROOT,
    Database,
    Span,
    Stopwatch,
    activity_spans,
    cpu_seconds,
    embedded_database,
    start_worker,
    stop_process,
    temporal_address,
    temporal_dev_server,
    wait_for_poller,
)
from emulators.procore import COMPANY_ID, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from models.connect import PLURAL, ConnectInput, ConnectResult
from platforms.procore.client import PER_PAGE
from platforms.synthetic import sizes
from settings import Settings
from store.connections import configure
from store.credentials import encrypt
from store.customers import create_customer
from store.engine import make_engine, make_sessionmaker
from workflows.connect import ConnectWorkflow, connect_workflow_id

GOAL = 0.8
DEFAULT_RECORDS = 20_000
QUICK_RECORDS = 4_000
API = "/rest/v1.0"
COMMITMENT_PATHS = ("work_order_contracts", "purchase_order_contracts")


# --- the emulator process -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def emulator_process(payments: int, log_file: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    out = open(log_file, "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.live_connect.emulator", "--port", str(port), "--payments", str(payments)],
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the emulator exited ({proc.returncode}); see {log_file}")
            try:
                httpx.get(f"{base_url}{API}/companies", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the emulator did not start within 60 s") from None
                time.sleep(0.1)
        yield base_url, proc
    finally:
        stop_process(proc)
        out.close()


# --- baseline: a plain paginated GET loop -------------------------------------------------------


@dataclass
class LoopRun:
    seconds: float
    counts: dict[str, int]
    requests: int
    client_cpu: float
    emulator_cpu: float

    @property
    def records(self) -> int:
        return sum(self.counts.values())


async def plain_get_loop(base_url: str, emulator_pid: int) -> LoopRun:
    counts: dict[str, int] = defaultdict(int)
    requests = 0
    cpu0, emu0 = time.process_time(), cpu_seconds(emulator_pid)
    clock = Stopwatch()
    async with httpx.AsyncClient(timeout=30) as http:
        token = await http.post(
            f"{base_url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
            },
        )
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['access_token']}", "Procore-Company-Id": str(COMPANY_ID)}

        async def fetch(path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
            nonlocal requests
            out: list[dict[str, Any]] = []
            page = 1
            while True:
                resp = await http.get(
                    f"{base_url}{API}/{path}", params={**params, "page": page, "per_page": PER_PAGE}, headers=headers
                )
                requests += 1
                resp.raise_for_status()
                out.extend(orjson.loads(resp.content))
                if 'rel="next"' not in resp.headers.get("Link", ""):
                    return out
                page += 1

        company = {"company_id": str(COMPANY_ID)}
        projects = await fetch("projects", company)
        counts["projects"] = len(projects)
        counts["customers"] = len(await fetch("vendors", company))
        contracts: dict[Any, list[Any]] = defaultdict(list)
        for path, plural in ((COMMITMENT_PATHS, "contracts"), (("requisitions",), "invoices")):
            for project in projects:
                for resource in path:
                    records = await fetch(resource, {"project_id": project["id"]})
                    counts[plural] += len(records)
                    if plural == "contracts":
                        contracts[project["id"]] += [c["id"] for c in records]
        # Procore lists contract payments per contract (project_id and contract_id are required).
        for project in projects:
            for contract_id in contracts[project["id"]]:
                params = {"project_id": project["id"], "contract_id": contract_id}
                counts["payments"] += len(await fetch("contract_payments", params))
    return LoopRun(
        seconds=clock.elapsed,
        counts=dict(counts),
        requests=requests,
        client_cpu=time.process_time() - cpu0,
        emulator_cpu=cpu_seconds(emulator_pid) - emu0,
    )


# --- the live connect ---------------------------------------------------------------------------


@dataclass
class ConnectRun:
    seconds: float
    result: ConnectResult
    spans: list[Span]
    worker_cpu: float
    emulator_cpu: float

    @property
    def records(self) -> int:
        return sum(self.result.entities.values())


async def store_live_connection(db: Database, base_url: str, settings: Settings) -> str:
    """A `test` customer whose Procore connection is stored as POST /api/v1/connect stores it."""
    engine = make_engine(db.url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            customer = await create_customer(session, name="bench-live-connect", environment="test")
            live = {"base_url": base_url, "company_id": str(COMPANY_ID), "tenant": None, "environment": None}
            secret = encrypt(settings, {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET})
            await configure(session, customer.customer_id, "procore", mode="live", live=live, credentials=secret)
            await session.commit()
            return str(customer.customer_id)
    finally:
        await engine.dispose()


async def live_connect(base_url: str, emulator_pid: int, logs: Path) -> ConnectRun:
    key = Fernet.generate_key().decode()
    settings = Settings(credentials_key=key, live_base_url_allowlist=base_url)
    # The worker subprocess inherits these (start_worker copies os.environ).
    os.environ["CREDENTIALS_KEY"] = key
    os.environ["LIVE_BASE_URL_ALLOWLIST"] = base_url
    with embedded_database(logs, "bench_live_connect") as db:
        customer = await store_live_connection(db, base_url, settings)
        async with temporal_dev_server() as client:
            queue = f"bench-live-{uuid.uuid4().hex[:8]}"
            worker = start_worker(db.url, temporal_address(client), queue, logs / "worker.log")
            try:
                await wait_for_poller(client, queue)
                cpu0, emu0 = cpu_seconds(worker.pid), cpu_seconds(emulator_pid)
                clock = Stopwatch()
                handle = await client.start_workflow(
                    ConnectWorkflow.run,
                    ConnectInput(customer_id=customer, platform="procore", mode="live"),
                    id=connect_workflow_id(customer, "procore"),
                    task_queue=queue,
                )
                result = await handle.result()
                seconds = clock.elapsed
                worker_cpu, emulator_cpu = cpu_seconds(worker.pid) - cpu0, cpu_seconds(emulator_pid) - emu0
                spans = await activity_spans(handle)
            finally:
                stop_process(worker)
    return ConnectRun(seconds, result, spans, worker_cpu, emulator_cpu)


# --- report -----------------------------------------------------------------------------------


def report(payments: int, loops: list[LoopRun], live: ConnectRun) -> bool:
    expected = {PLURAL[t]: n for t, n in sizes(payments).items()}
    for run in loops:
        if run.counts != expected:
            raise SystemExit(f"plain GET loop fetched {run.counts}, expected {expected}")
    if live.result.entities != expected:
        raise SystemExit(f"live connect seeded {live.result.entities}, expected {expected}")
    total = sum(expected.values())
    loop_seconds = sum(r.seconds for r in loops) / len(loops)
    loop_rate = total / loop_seconds
    live_rate = total / live.seconds
    ratio = live_rate / loop_rate
    print(
        f"data set: {total:,} Procore records ({', '.join(f'{n:,} {k}' for k, n in expected.items())}), "
        f"{loops[0].requests:,} GET requests of per_page={PER_PAGE}"
    )
    print()
    for i, run in enumerate(loops, 1):
        print(
            f"plain GET loop #{i}: {run.seconds:6.2f} s  {run.records / run.seconds:8,.0f} records/s  "
            f"(client CPU {run.client_cpu:.2f} s, emulator CPU {run.emulator_cpu:.2f} s)"
        )
    print(f"plain GET loop mean: {loop_seconds:6.2f} s  {loop_rate:8,.0f} records/s")
    print(
        f"live ConnectWorkflow: {live.seconds:5.2f} s  {live_rate:8,.0f} records/s  "
        f"(worker CPU {live.worker_cpu:.2f} s, emulator CPU {live.emulator_cpu:.2f} s)"
    )
    print()
    by: dict[tuple[str, str | None], float] = defaultdict(float)
    for span in live.spans:
        by[(span.activity, span.entity_type)] += span.seconds
    in_activities = sum(by.values())
    print("live connect, activity time (started -> completed):")
    for (activity, entity_type), seconds in by.items():
        print(f"  {activity:<22} {entity_type or '':<9} {seconds:6.2f} s")
    print(f"  {'workflow/scheduling overhead':<32} {live.seconds - in_activities:6.2f} s")
    seed = sum(s for (activity, _), s in by.items() if activity == "seed_entities")
    reconcile = sum(s for (activity, _), s in by.items() if activity == "reconcile_entities")
    print(
        f"gap to the loop: {live.seconds - loop_seconds:+.2f} s = seed vs loop {seed - loop_seconds:+.2f} s"
        f" + reconcile {reconcile:.2f} s + other {live.seconds - seed - reconcile:.2f} s;"
        f" per GET: loop {1000 * loop_seconds / loops[0].requests:.2f} ms"
        f" (emulator CPU {1000 * loops[0].emulator_cpu / loops[0].requests:.2f} ms),"
        f" live seed {1000 * seed / loops[0].requests:.2f} ms"
    )
    print()
    met = ratio >= GOAL
    print(f"live connect vs plain GET loop: {ratio:.2f}x (goal >= {GOAL}x) — {'met' if met else 'NOT met'}")
    return met


async def run(payments: int) -> bool:
    with tempfile.TemporaryDirectory(prefix="bench-live-connect-") as tmp:
        logs = Path(tmp)
        clock = Stopwatch()
        with emulator_process(payments, logs / "emulator.log") as (base_url, emulator):
            print(f"Procore emulator {base_url} (pid {emulator.pid}) loaded in {clock.elapsed:.1f} s", flush=True)
            loops = [await plain_get_loop(base_url, emulator.pid)]
            print(f"plain GET loop #1 done in {loops[0].seconds:.1f} s; starting the live connect", flush=True)
            live = await live_connect(base_url, emulator.pid, logs)
            print(f"live connect done in {live.seconds:.1f} s", flush=True)
            loops.append(await plain_get_loop(base_url, emulator.pid))
        print(f"(total bench time {clock.elapsed:.0f} s)\n")
        return report(payments, loops, live)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--records",
        type=int,
        default=None,
        help=f"synthetic payments (other types proportional; default {DEFAULT_RECORDS:,})",
    )
    parser.add_argument("--quick", action="store_true", help=f"a smaller run ({QUICK_RECORDS:,} payments)")
    args = parser.parse_args()
    payments = args.records or (QUICK_RECORDS if args.quick else DEFAULT_RECORDS)
    asyncio.run(run(payments))
