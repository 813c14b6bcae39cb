"""Propagate benchmark: end-to-end latency and throughput of POST /api/v1/propagate.

Run: ``.venv/bin/python -m bench.propagate [--requests N] [--concurrency C] [--quick]``

Starts a throw-away embedded PostgreSQL and a Temporal dev server, the production worker
(``python -m worker``) and the API (``uvicorn api.app:create_app --factory``) as subprocesses on
loopback, creates demo customers (rate limit lifted), connects Procore then Business Central for
each through the API, and sends N canonical-mode changes of the payments linked on both platforms
(each fans out to two platforms) from C concurrent httpx clients. Every client owns its own
entities, so no two requests wait on one row lock.

Baselines, in the same run:

* bare workflow: PropagateWorkflow's shape (1 activity, 2 in parallel, 1) with no-op activities
  (bench/propagate/bare.py), started the same way (update-with-start, answered after the fan-out)
  with the same concurrency, its worker in its own process (``--bare-in-process``: in this one);
  the two alternate in rounds so drift (other load, the dev server's growing state) hits both;
* raw database: the SQL statements of one propagation executed directly in one loop
  (bench/propagate/rawdb.py).

Server-side durations (WorkflowExecutionStarted -> update completed) come from the histories of a
sample of the benchmark's workflows. Goals (GitHub issue 5): throughput >= 0.7x the bare workflow's,
end-to-end p50 <= 1.5x the PropagateWorkflow's server-side p50.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import FailureError

from bench.common import (
    ROOT,
    Database,
    embedded_database,
    start_worker,
    stop_process,
    temporal_address,
    temporal_dev_server,
)
from bench.propagate import bare, bare_worker, history, rawdb
from bench.propagate.procs import OTHER, CpuMeter, find_children
from store.customers import KEY_PREFIX_LENGTH, generate_key, hash_key
from workflows.connect import connect_workflow_id
from workflows.propagate import propagate_workflow_id

GOAL_THROUGHPUT_VS_BARE = 0.7
GOAL_E2E_VS_SERVER = 1.5
LINKED_PER_CUSTOMER = 6  # demo data: 6 of the 8 Procore payments are linked to Business Central
RATE_LIMIT = 1_000_000


class BenchError(Exception):
    """The benchmark cannot go on (stack did not start, a setup step failed)."""


@dataclass(frozen=True)
class Config:
    requests: int
    concurrency: int
    customers: int
    history_sample: int
    raw_loops: int
    rounds: int
    bare_in_process: bool


@dataclass
class Call:
    entity: str  # canonical id (or bare id)
    sent: float  # epoch seconds (same clock as the server's event times: one machine)
    received: float
    latency: float  # perf_counter seconds
    status: int
    workflow_id: str | None
    ok: bool
    detail: str = ""  # why it is not ok


@dataclass
class Phase:
    name: str
    calls: list[Call] = field(default_factory=list)
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    lines: list[history.Timeline] = field(default_factory=list)

    @property
    def ok(self) -> list[Call]:
        return [c for c in self.calls if c.ok]

    @property
    def throughput(self) -> float:
        return len(self.ok) / self.wall

    def latency(self, q: float) -> float:
        return history.percentile([c.latency for c in self.ok], q)

    def server(self, q: float) -> float:
        return history.percentile([line.duration for line in self.lines], q)


# --- the stack --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_api(db: Database, address: str, queue: str, port: int, log_file: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": db.url,
        "TEMPORAL_ADDRESS": address,
        "TASK_QUEUE": queue,
        "LOG_LEVEL": "warning",
    }
    out = open(log_file, "ab")  # noqa: SIM115 - lives as long as the child
    cmd = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, log: Path, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if await check():
                return
        except (httpx.TransportError, OSError):
            pass
        await asyncio.sleep(0.2)
    raise BenchError(f"{what} within {within:.0f} s; {log.name}:\n{log_tail(log)}")


def log_tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


async def wait_for_poller(client: Client, queue: str, log: Path) -> None:
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    )

    async def polled() -> bool:
        return bool((await client.workflow_service.describe_task_queue(request)).pollers)

    await wait_until(polled, f"no worker polled {queue}", log)


@asynccontextmanager
async def process(proc: subprocess.Popen[bytes]) -> AsyncIterator[subprocess.Popen[bytes]]:
    try:
        yield proc
    finally:
        stop_process(proc)


# --- customers and entities -------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    customer_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def create_customers(db: Database, n: int) -> list[Customer]:
    """Demo customers with a key each (hashed as store.customers does), propagate rate limit lifted."""
    out = []
    with psycopg.connect(db.dsn) as conn:
        for i in range(n):
            customer, key = uuid.uuid4(), generate_key("demo")
            conn.execute(
                "INSERT INTO customers (id, name, environment, propagate_rate_limit) VALUES (%s, %s, 'demo', %s)",
                (customer, f"bench-propagate-{i}", RATE_LIMIT),
            )
            conn.execute(
                "INSERT INTO api_keys (id, customer_id, key_hash, prefix, mode) VALUES (%s, %s, %s, %s, 'demo')",
                (uuid.uuid4(), customer, hash_key(key), key[:KEY_PREFIX_LENGTH]),
            )
            out.append(Customer(str(customer), key))
    return out


async def connect_all(api: httpx.AsyncClient, client: Client, customers: list[Customer], attempts: int = 3) -> None:
    """POST /connect Procore then Business Central for every customer (setup, not measured). A failed
    connect is repeated (the API's advice: "connect again to repair it") and its cause printed."""

    async def one(c: Customer) -> None:
        for platform in ("procore", "dynamics"):
            for attempt in range(1, attempts + 1):
                resp = await api.post("/api/v1/connect", json={"platform": platform}, headers=c.headers, timeout=300)
                if resp.status_code == 200:
                    break
                cause = await workflow_failure(client, connect_workflow_id(c.customer_id, platform))
                message = f"connect {platform} of {c.customer_id} (attempt {attempt}): HTTP {resp.status_code}: {cause}"
                if attempt == attempts:
                    raise BenchError(message)
                print(f"  {message}; connecting again", flush=True)

    # A few at a time.
    sem = asyncio.Semaphore(4)

    async def bounded(c: Customer) -> None:
        async with sem:
            await one(c)

    await asyncio.gather(*(bounded(c) for c in customers))


async def workflow_failure(client: Client, workflow_id: str) -> str:
    """The failure chain of a failed workflow (what the API does not tell its callers)."""
    try:
        await client.get_workflow_handle(workflow_id).result()
    except WorkflowFailureError as err:
        chain: list[str] = []
        cause: BaseException | None = err.cause
        while cause is not None:
            chain.append(f"{type(cause).__name__}: {cause}")
            cause = cause.cause if isinstance(cause, FailureError) else None
        return " <- ".join(chain) or str(err)
    except Exception as err:
        return f"(no workflow failure: {type(err).__name__}: {err})"
    return "(the workflow completed)"


async def linked_payments(api: httpx.AsyncClient, customers: list[Customer]) -> list[rawdb.Entity]:
    entities = []
    for c in customers:
        resp = await api.get(
            "/api/v1/objects", params={"platform": "procore", "entity_type": "payment"}, headers=c.headers
        )
        resp.raise_for_status()
        for obj in resp.json()["data"]:
            if {m["platform"] for m in obj["mappings"]} == {"procore", "dynamics"}:
                entities.append(rawdb.Entity(c.customer_id, c.api_key, obj["canonical_id"]))
    return entities


# --- load -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    workflow_id: str | None
    ok: bool
    detail: str = ""


Send = Callable[[rawdb.Entity, int], Awaitable[Answer]]


async def drive(name: str, send: Send, entities: list[rawdb.Entity], requests: int, concurrency: int) -> Phase:
    """`requests` sends from `concurrency` clients; client i owns entities[i::concurrency]."""
    if len(entities) < concurrency:
        raise BenchError(f"{len(entities)} entities for {concurrency} clients: add customers")
    phase = Phase(name)
    todo = iter(range(requests))

    async def client(mine: list[rawdb.Entity]) -> None:
        for k in todo:
            entity = mine[k % len(mine)]
            sent, t0 = time.time(), time.perf_counter()
            answer = await send(entity, k)
            latency = time.perf_counter() - t0
            phase.calls.append(
                Call(
                    entity.canonical_id,
                    sent,
                    time.time(),
                    latency,
                    answer.status,
                    answer.workflow_id,
                    answer.ok,
                    answer.detail,
                )
            )

    started = time.perf_counter()
    await asyncio.gather(*(client(entities[i::concurrency]) for i in range(concurrency)))
    phase.wall = time.perf_counter() - started
    return phase


def propagate_sender(api: httpx.AsyncClient, tag: str) -> Send:
    serial = itertools.count()  # every change differs from the entity's current notes (never a noop)

    async def send(entity: rawdb.Entity, k: int) -> Answer:
        notes = f"{tag} {next(serial)}"
        resp = await api.post(
            "/api/v1/propagate",
            json={"canonical_id": entity.canonical_id, "entity_type": "payment", "data": {"notes": notes}},
            headers={"Authorization": f"Bearer {entity.api_key}"},
        )
        if resp.status_code != 200:
            return Answer(resp.status_code, None, False, resp.text[:300])
        data = resp.json()["data"]
        workflow_id = propagate_workflow_id(entity.customer_id, data["propagation_id"])
        if data["status"] != "synced" or set(data["propagated"]) != {"procore", "dynamics"}:
            detail = f"status {data['status']}, propagated {sorted(data['propagated'])}, failed {data.get('failed')}"
            return Answer(200, workflow_id, False, detail)
        return Answer(200, workflow_id, True)

    return send


def bare_sender(client: Client, queue: str) -> Send:
    async def send(entity: rawdb.Entity, k: int) -> Answer:
        bare_id = uuid.uuid4().hex
        response = await bare.start_bare(client, bare_id, entity.customer_id, queue)
        return Answer(200, bare.bare_workflow_id(bare_id), len(response.steps) == 4, f"steps {response.steps}")

    return send


async def measured(
    senders: dict[str, Send], entities: list[rawdb.Entity], cfg: Config, meter: CpuMeter
) -> dict[str, Phase]:
    """Each sender warmed up, then `cfg.rounds` rounds of requests/rounds each, alternating which
    goes first, so drift (other load on the machine, the dev server's growing state) hits both."""
    for name, send in senders.items():
        await drive(f"{name} warm-up", send, entities, 2 * cfg.concurrency, cfg.concurrency)
    phases = {name: Phase(name) for name in senders}
    sizes = [cfg.requests // cfg.rounds + (1 if r < cfg.requests % cfg.rounds else 0) for r in range(cfg.rounds)]
    for r, size in enumerate(sizes):
        order = list(senders) if r % 2 == 0 else list(reversed(senders))
        for name in order:
            before = meter.snapshot()
            part = await drive(name, senders[name], entities, size, cfg.concurrency)
            used = CpuMeter.delta(before, meter.snapshot())
            phase = phases[name]
            phase.calls += part.calls
            phase.wall += part.wall
            phase.cpu = {k: phase.cpu.get(k, 0.0) + used[k] for k in used}
    return phases


async def read_histories(client: Client, phase: Phase, sample: int) -> None:
    ids = [c.workflow_id for c in phase.ok if c.workflow_id]
    chosen = random.Random(5).sample(ids, min(sample, len(ids)))
    sem = asyncio.Semaphore(16)

    async def one(workflow_id: str) -> history.Timeline:
        async with sem:
            return await history.timeline(client, workflow_id)

    phase.lines = list(await asyncio.gather(*(one(w) for w in chosen)))


def some_result(db: Database) -> dict[str, Any]:
    """A real propagation response, the payload record_outcome stores."""
    with psycopg.connect(db.dsn) as conn:
        row = conn.execute("SELECT result FROM propagations WHERE result IS NOT NULL LIMIT 1").fetchone()
    assert row is not None
    result = row[0]
    return dict(result.obj if isinstance(result, Jsonb) else result)


# --- report -----------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def outside(phase: Phase) -> tuple[list[float], list[float]]:
    """Per sampled request: client send -> workflow started, update completed -> client received."""
    by_id = {c.workflow_id: c for c in phase.ok}
    pre, post = [], []
    for line in phase.lines:
        call = by_id.get(line.workflow_id)
        if call is not None:
            pre.append(line.started - call.sent)
            post.append(call.received - line.answered)
    return pre, post


def report(cfg: Config, prop: Phase, bare_phase: Phase, raw: list[rawdb.RawResult], rtt: float, entities: int) -> None:
    print()
    print(f"== Structural propagate benchmark: {cfg.requests} requests, concurrency {cfg.concurrency} ==")
    print(
        f"   {cfg.customers} demo customers, {entities} payments linked on both platforms (each client owns its own);"
        f" machine: {os.cpu_count()} CPUs shared by PostgreSQL, Temporal, worker, API and the load generator"
    )
    failed = len(prop.calls) - len(prop.ok)
    print()
    print("POST /api/v1/propagate (end to end, HTTP)")
    print(f"  requests          {len(prop.calls)} ({failed} not 200/synced to both platforms)")
    for detail in sorted({f"HTTP {c.status}: {c.detail}" for c in prop.calls if not c.ok})[:5]:
        print(f"    {detail}")
    print(f"  latency           p50 {ms(prop.latency(50))}   p99 {ms(prop.latency(99))}   max {ms(prop.latency(100))}")
    print(f"  throughput        {prop.throughput:7.1f} propagations/s  ({prop.wall:.2f} s in {cfg.rounds} rounds)")
    print(
        f"  server-side       p50 {ms(prop.server(50))}   p99 {ms(prop.server(99))}"
        f"   (PropagateWorkflow histories, sample of {len(prop.lines)})"
    )
    print()
    print("bare workflow (no-op activities, same shape, update-with-start, same concurrency)")
    print(f"  latency           p50 {ms(bare_phase.latency(50))}   p99 {ms(bare_phase.latency(99))}   (client side)")
    print(f"  throughput        {bare_phase.throughput:7.1f} workflows/s     ({bare_phase.wall:.2f} s)")
    print(
        f"  server-side       p50 {ms(bare_phase.server(50))}   p99 {ms(bare_phase.server(99))}"
        f"   (sample of {len(bare_phase.lines)})"
    )
    print()
    head = raw[0]
    print(
        f"raw database baseline (the SQL of one propagation: {head.transactions} transactions, "
        f"{head.statements} statements, no Temporal, no HTTP)"
    )
    for r in raw:
        line = f"  {r.label:<42} p50 {ms(history.percentile(r.per_propagation, 50))} per propagation"
        if r.concurrency == 1:
            api, wf = r.api_part / r.propagations, r.workflow_part / r.propagations
            line += f"  (mean: API part {ms(api).strip()} + activities part {ms(wf).strip()})"
        else:
            line += f"  {r.propagations / r.seconds:7.1f} propagations/s"
        print(line)
        print(f"  {'':<42} CPU per propagation: Python client {ms(r.client_cpu)}, PostgreSQL {ms(r.server_cpu)}")
    print(f"  one SELECT 1 round trip (what each pool_pre_ping checkout adds): {ms(rtt).strip()}")
    print(f"  statements of the sequential loop ({head.label}), by total time per propagation:")
    rows = sorted(head.by_statement.items(), key=lambda kv: -sum(kv[1]))
    for name, times in rows:
        per = sum(times) / head.propagations
        print(f"    {name:<52}{len(times) / head.propagations:4.1f}x  p50 {ms(history.p50(times))}  = {ms(per)}")
    in_statements = sum(sum(t) for t in head.by_statement.values()) / head.propagations
    rest = sum(head.per_propagation) / head.propagations - in_statements
    print(f"    {'BEGIN/COMMIT, pool checkouts, Python':<52}{'':>25}{ms(rest)}")
    print()
    ratio_tp = prop.throughput / bare_phase.throughput
    ratio_lat = prop.latency(50) / prop.server(50)
    print("goals")
    print(
        f"  throughput / bare workflow      {ratio_tp:5.2f}x   (goal >= {GOAL_THROUGHPUT_VS_BARE}x)  "
        f"{verdict(ratio_tp >= GOAL_THROUGHPUT_VS_BARE)}"
    )
    print(
        f"    (bare / propagate CPU per request: {stack_cpu(bare_phase) / stack_cpu(prop):.2f}x, what the ratio "
        "tends to when the machine is the limit; less sensitive to other load than the throughputs)"
    )
    print(
        f"  p50 end-to-end / server-side    {ratio_lat:5.2f}x   (goal <= {GOAL_E2E_VS_SERVER}x)  "
        f"{verdict(ratio_lat <= GOAL_E2E_VS_SERVER)}"
    )
    print(
        f"  raw-DB per propagation          {ms(history.percentile(head.per_propagation, 50)).strip()} "
        f"(p50, sequential) = {raw_share(prop, head):.0%} of the end-to-end p50"
    )
    print()
    print("where the time goes (p50 of each critical-path segment, sampled histories)")
    print(f"  {'segment':<52}{'propagate':>12}{'bare':>12}")
    pre_p, post_p = outside(prop)
    pre_b, post_b = outside(bare_phase)
    print(f"  {'client send -> WorkflowExecutionStarted':<52}{ms(history.p50(pre_p)):>12}{ms(history.p50(pre_b)):>12}")
    seg_p, seg_b = history.segment_medians(prop.lines), history.segment_medians(bare_phase.lines)
    for name in seg_p:
        other = next((v for k, v in seg_b.items() if _generic(k) == _generic(name)), float("nan"))
        print(f"  {name:<52}{ms(seg_p[name]):>12}{ms(other):>12}")
    print(f"  {'update completed -> client received':<52}{ms(history.p50(post_p)):>12}{ms(history.p50(post_b)):>12}")
    print(f"  {'history size (p50): events / KB':<52}{history_size(prop):>12}{history_size(bare_phase):>12}")
    retried = sum(1 for line in prop.lines if line.retried)
    if retried:
        print(f"  ({retried} sampled propagations retried an activity)")
    print()
    print("CPU seconds per request during the measured phase (all components share the machine)")
    names = sorted((set(prop.cpu) | set(bare_phase.cpu)) - {OTHER})
    print(f"  {'component':<20}{'propagate':>12}{'bare':>12}")
    for name in names:
        p = prop.cpu.get(name, 0.0) / max(1, len(prop.calls))
        b = bare_phase.cpu.get(name, 0.0) / max(1, len(bare_phase.calls))
        print(f"  {name:<20}{ms(p):>12}{ms(b):>12}")
    tp, tb = stack_cpu(prop), stack_cpu(bare_phase)
    print(f"  {'total':<20}{ms(tp):>12}{ms(tb):>12}")
    cpus = os.cpu_count() or 1
    print(f"  CPU-bound ceiling at {cpus} CPUs: propagate {cpus / tp:.0f}/s, bare {cpus / tb:.0f}/s")
    other_p, other_b = prop.cpu.get(OTHER, 0.0) / prop.wall, bare_phase.cpu.get(OTHER, 0.0) / bare_phase.wall
    print(
        f"  other processes on the machine used {other_p:.2f} CPUs during the propagate phase, "
        f"{other_b:.2f} during the bare phase (of {cpus}; > 0.1 means the figures are disturbed)"
    )


def stack_cpu(phase: Phase) -> float:
    """CPU seconds the whole stack (not other processes) spent per request."""
    return sum(v for k, v in phase.cpu.items() if k != OTHER) / max(1, len(phase.calls))


def history_size(phase: Phase) -> str:
    events = history.p50([float(line.events) for line in phase.lines])
    kb = history.p50([line.history_bytes / 1024 for line in phase.lines])
    return f"{events:.0f} / {kb:.1f}"


def _generic(segment: str) -> str:
    """Segment name without the activity names, to pair propagate's with the bare workflow's."""
    head, _, tail = segment.partition(":")
    return head.split(" (")[0] + ":" + tail


def raw_share(prop: Phase, raw: rawdb.RawResult) -> float:
    return history.percentile(raw.per_propagation, 50) / prop.latency(50)


# --- main -------------------------------------------------------------------------------


async def bench(cfg: Config) -> None:
    with tempfile.TemporaryDirectory(prefix="structural-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        print(f"starting embedded PostgreSQL and the Temporal dev server in {tmp} ...", flush=True)
        with embedded_database(tmp, "structural_bench") as db:
            async with temporal_dev_server() as client, AsyncExitStack() as stack:
                address = temporal_address(client)
                queue = f"bench-propagate-{uuid.uuid4().hex[:8]}"
                bare_queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
                port = free_port()
                worker = await stack.enter_async_context(
                    process(start_worker(db.url, address, queue, tmp / "worker.log"))
                )
                api_proc = await stack.enter_async_context(
                    process(start_api(db, address, queue, port, tmp / "api.log"))
                )
                roots = {"worker": worker.pid, "api (uvicorn)": api_proc.pid, "bench (client)": os.getpid()}
                postmaster = int((tmp / "pg" / "postmaster.pid").read_text().split()[0])
                roots["postgresql"] = postmaster
                for pid in find_children(os.getpid(), "temporal"):
                    roots["temporal server"] = pid
                if cfg.bare_in_process:
                    await stack.enter_async_context(bare_worker.in_process(client, bare_queue))
                else:
                    bare_proc = await stack.enter_async_context(
                        process(bare_worker.start_process(address, bare_queue, tmp / "bare.log"))
                    )
                    roots["bare worker"] = bare_proc.pid
                meter = CpuMeter(roots)
                limits = httpx.Limits(
                    max_connections=cfg.concurrency + 4, max_keepalive_connections=cfg.concurrency + 4
                )
                api = await stack.enter_async_context(
                    httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60)
                )

                async def healthy() -> bool:  # the API is up (the pollers are waited for below)
                    checks = (await api.get("/api/v1/health")).json()["data"]["checks"]
                    return bool(checks["database"] == "ok" and checks["temporal"] == "ok")

                await wait_until(healthy, "the API did not become healthy", tmp / "api.log")
                await wait_for_poller(client, queue, tmp / "worker.log")
                await wait_for_poller(client, bare_queue, tmp / "bare.log")

                customers = create_customers(db, cfg.customers)
                print(f"connecting {len(customers)} demo customers (Procore, then Business Central) ...", flush=True)
                await connect_all(api, client, customers)
                entities = await linked_payments(api, customers)
                print(
                    f"{cfg.requests} propagate requests and {cfg.requests} bare workflows, concurrency "
                    f"{cfg.concurrency}, in {cfg.rounds} alternating rounds ...",
                    flush=True,
                )
                senders = {"propagate": propagate_sender(api, "bench"), "bare": bare_sender(client, bare_queue)}
                phases = await measured(senders, entities, cfg, meter)
                prop, bare_phase = phases["propagate"], phases["bare"]
                print(f"reading {cfg.history_sample} + {cfg.history_sample} workflow histories ...", flush=True)
                await read_histories(client, prop, cfg.history_sample)
                await read_histories(client, bare_phase, cfg.history_sample)

            print(f"raw database baseline: {cfg.raw_loops} propagations per variant ...", flush=True)
            result = some_result(db)
            pg = CpuMeter({"postgresql": postmaster})

            def pg_cpu() -> float:
                return pg.snapshot()["postgresql"]

            raw = [
                await rawdb.raw_loop(db.url, entities, result, cfg.raw_loops, pre_ping=False, server_cpu=pg_cpu),
                await rawdb.raw_loop(db.url, entities, result, cfg.raw_loops, pre_ping=True, server_cpu=pg_cpu),
                await rawdb.raw_loop(
                    db.url,
                    entities,
                    result,
                    cfg.raw_loops,
                    pre_ping=False,
                    concurrency=cfg.concurrency,
                    server_cpu=pg_cpu,
                ),
            ]
            rtt = await rawdb.round_trip(db.url)
        report(cfg, prop, bare_phase, raw, rtt, len(entities))


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.propagate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per phase (default 1000)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--customers", type=int, help="demo customers (default: enough for one entity per client)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 requests")
    parser.add_argument(
        "--bare-in-process", action="store_true", help="run the bare workflow's worker inside the bench process"
    )
    args = parser.parse_args()
    requests = 100 if args.quick else args.requests
    customers = args.customers or max(2, math.ceil(args.concurrency / LINKED_PER_CUSTOMER))
    cfg = Config(
        requests=requests,
        concurrency=args.concurrency,
        customers=customers,
        history_sample=min(requests, 50 if args.quick else 200),
        raw_loops=50 if args.quick else 300,
        rounds=2 if args.quick else 4,
        bare_in_process=args.bare_in_process,
    )
    try:
        asyncio.run(bench(cfg))
    except BenchError as err:
        print(f"bench failed: {err}", file=sys.stderr)
        raise SystemExit(1) from None
