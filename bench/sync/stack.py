"""The throw-away stack of the sync soak: embedded PostgreSQL, a Temporal dev server, the API and the
worker as their own processes (the worker is the bench's to SIGKILL), and platform emulators as
their own processes (``bench.sync.emulator``). Every port is a free one and every file lives in a
temporary directory, so a test suite or ``make run`` on the same machine is never touched."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from bench.common import ROOT, Database, embedded_database, stop_process, temporal_address, temporal_dev_server
from emulators.dynamics import DEFAULT_CLIENT_ID as BC_ID
from emulators.dynamics import DEFAULT_CLIENT_SECRET as BC_SECRET
from emulators.dynamics import DEFAULT_TENANT
from emulators.procore import COMPANY_ID
from emulators.procore import DEFAULT_CLIENT_ID as PC_ID
from emulators.procore import DEFAULT_CLIENT_SECRET as PC_SECRET
from platforms.dynamics.demo_data import COMPANY_ID as BC_COMPANY
from store.customers import create_customer
from store.engine import make_engine, make_sessionmaker

PLATFORMS = ("procore", "dynamics")


class BenchError(Exception):
    """The benchmark cannot go on (a process did not start, a setup step failed)."""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def print_logs(tmp: Path) -> None:
    """The last lines of every process log (on a failure, before the directory goes)."""
    for log in sorted(tmp.glob("*.log")):
        print(f"--- {log.name} (last lines) ---\n{log_tail(log)}", file=sys.stderr)


def log_tail(log: Path, lines: int = 25) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no log)"


@dataclass
class Emulator:
    platform: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    async def control(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call to the emulator's ``/_control`` interface; its JSON (None for an empty answer)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as http:
            resp = await http.request(method, f"/_control{path}", **kwargs)
        if resp.status_code >= 400:
            raise BenchError(f"{self.platform} {method} /_control{path}: {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content else None

    async def requests(self) -> dict[str, Any]:
        """Platform requests served since the last ``reset_requests`` (``bench.sync.emulator``)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as http:
            body: dict[str, Any] = (await http.get("/_bench/requests")).json()
        return body

    async def reset_requests(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as http:
            await http.delete("/_bench/requests")

    async def set_faults(self, **faults: Any) -> None:
        await self.control("PATCH", "/settings", json={"webhooks": {"faults": faults}})

    def live_settings(self) -> dict[str, Any]:
        """What POST /connect takes to connect this emulator live."""
        if self.platform == "procore":
            return {"base_url": self.url, "client_id": PC_ID, "client_secret": PC_SECRET, "company_id": str(COMPANY_ID)}
        return {
            "base_url": self.url,
            "client_id": BC_ID,
            "client_secret": BC_SECRET,
            "tenant": DEFAULT_TENANT,
            "environment": "production",
            "company_id": BC_COMPANY,
        }

    def stop(self) -> None:
        stop_process(self.proc)


@dataclass(frozen=True)
class Customer:
    customer_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@dataclass
class Stack:
    tmp: Path
    db: Database
    temporal: Client
    env: dict[str, str]
    api_url: str
    emulator_ports: dict[str, int]
    api_proc: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    emulators: dict[str, Emulator] = field(default_factory=dict)

    @property
    def task_queue(self) -> str:
        return self.env["TASK_QUEUE"]

    def _spawn(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        out = open(log, "ab")  # noqa: SIM115 - lives as long as the child
        return subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    # -- emulators

    async def start_emulator(self, name: str, platform: str, payments: int | None, within: float = 600) -> Emulator:
        """``bench.sync.emulator`` on its reserved port (``name`` picks it: ``procore``,
        ``dynamics``, ``procore-delta``...), ready when its control interface answers."""
        port = self.emulator_ports[name]
        log = self.tmp / f"emulator-{name}.log"
        args = [sys.executable, "-m", "bench.sync.emulator", platform, "--port", str(port)]
        if payments is not None:
            args += ["--payments", str(payments)]
        emulator = Emulator(platform, f"http://127.0.0.1:{port}", self._spawn(args, log), log)
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=5) as http:
            while True:
                if emulator.proc.poll() is not None:
                    raise BenchError(f"emulator {name} exited ({emulator.proc.returncode}):\n{log_tail(log)}")
                try:
                    if (await http.get(f"{emulator.url}/_bench/requests")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    emulator.stop()
                    raise BenchError(f"emulator {name} did not start within {within:.0f} s:\n{log_tail(log)}")
                await asyncio.sleep(0.2)
        self.emulators[name] = emulator
        return emulator

    def stop_emulator(self, name: str) -> None:
        emulator = self.emulators.pop(name, None)
        if emulator is not None:
            emulator.stop()

    # -- API and worker

    async def start_api(self) -> None:
        port = self.api_url.rsplit(":", 1)[1]
        log = self.tmp / "api.log"
        args = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1"]
        args += ["--port", port, "--log-level", "warning", "--no-access-log"]
        self.api_proc = self._spawn(args, log)
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient(timeout=5) as http:
            while True:
                if self.api_proc.poll() is not None:
                    raise BenchError(f"the API exited ({self.api_proc.returncode}):\n{log_tail(log)}")
                try:
                    # Up: its database and Temporal answer (workers may start after it: /health is
                    # then 503 for the pollers only).
                    checks = (await http.get(f"{self.api_url}/api/v1/health")).json()["data"]["checks"]
                    if checks["database"] == "ok" and checks["temporal"] == "ok":
                        return
                except (httpx.TransportError, ValueError, KeyError):
                    pass
                if time.monotonic() > deadline:
                    raise BenchError(f"the API did not become healthy within 90 s:\n{log_tail(log)}")
                await asyncio.sleep(0.3)

    async def start_worker(self, within: float = 90) -> float:
        """``python -m worker``, ready when this very process polls its task queue (a killed worker
        stays listed as a poller for a while); the seconds it took."""
        started = time.monotonic()
        log = self.tmp / "worker.log"
        self.worker = self._spawn([sys.executable, "-m", "worker"], log)
        identity = f"{self.worker.pid}@"
        request = DescribeTaskQueueRequest(
            namespace=self.temporal.namespace,
            task_queue=TaskQueue(name=self.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
        while True:
            pollers = (await self.temporal.workflow_service.describe_task_queue(request)).pollers
            if any(p.identity.startswith(identity) for p in pollers):
                return time.monotonic() - started
            if self.worker.poll() is not None:
                raise BenchError(f"the worker exited ({self.worker.returncode}):\n{log_tail(log)}")
            if time.monotonic() - started > within:
                raise BenchError(f"the worker did not poll {self.task_queue} within {within:.0f} s:\n{log_tail(log)}")
            await asyncio.sleep(0.2)

    def kill_worker(self) -> None:
        """SIGKILL: no shutdown, no heartbeat, activities in flight simply stop."""
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait(10)

    # -- customers

    async def new_customer(self, name: str) -> Customer:
        """A ``test`` customer (live connections need test or live keys), created in the store."""
        engine = make_engine(self.db.url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                created = await create_customer(session, name=name, environment="test")
                await session.commit()
        finally:
            await engine.dispose()
        return Customer(str(created.customer_id), created.api_key)

    def api(self, timeout: float = 60) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.api_url, timeout=timeout)

    def close(self) -> None:
        for name in list(self.emulators):
            self.stop_emulator(name)
        for proc in (self.worker, self.api_proc):
            if proc is not None:
                stop_process(proc)


@asynccontextmanager
async def running_stack(tmp: Path, *, interval: int, emulators: list[str]) -> AsyncIterator[Stack]:
    """PostgreSQL, Temporal, the API and a worker, configured for live connections to emulators on
    the ports reserved for ``emulators`` (started later with ``Stack.start_emulator``)."""
    async with AsyncExitStack() as stack:
        db = stack.enter_context(embedded_database(tmp, "bench_sync"))
        temporal = await stack.enter_async_context(temporal_dev_server())
        ports = {name: free_port() for name in emulators}
        api_url = f"http://127.0.0.1:{free_port()}"
        env = {
            **os.environ,
            "DATABASE_URL": db.url,
            "TEMPORAL_ADDRESS": temporal_address(temporal),
            "TASK_QUEUE": f"bench-sync-{uuid.uuid4().hex[:8]}",
            "CREDENTIALS_KEY": Fernet.generate_key().decode(),
            "LIVE_BASE_URL_ALLOWLIST": ",".join(f"http://127.0.0.1:{p}" for p in ports.values()),
            # Where the emulators deliver their notifications: this stack's API, never a `make run`'s.
            "PUBLIC_BASE_URL": api_url,
            "DELTA_SYNC_INTERVAL_SECONDS": str(interval),
            # The soak's deletes whose notification was dropped are found by the deletion sweep: every
            # pass here (the default is hourly). The delta part puts the default back (run.py).
            "DELETE_SWEEP_INTERVAL_SECONDS": str(interval),
            "CONNECT_WAIT_SECONDS": "3600",
            "DATA_DIR": str(tmp / "data"),
            "LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1",
        }
        bench = Stack(tmp=tmp, db=db, temporal=temporal, env=env, api_url=api_url, emulator_ports=ports)
        stack.callback(bench.close)
        try:
            await bench.start_api()
            await bench.start_worker()
            yield bench
        except BaseException:
            print_logs(tmp)
            raise
