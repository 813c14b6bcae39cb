"""Shared fixtures: a real PostgreSQL and a real Temporal dev server, both from wheels.

With DATABASE_URL / TEMPORAL_ADDRESS set, the suite uses those servers instead (e.g. in CI
against managed services). Nothing here mocks the database, Temporal or HTTP.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from devstack.postgres import EmbeddedPostgres, start_embedded
from devstack.temporal import temporal_binary
from emulators.dynamics import create_dynamics_app
from emulators.procore import create_procore_app
from emulators.runner import serve_in_thread
from platforms.live import Connectors
from settings import Settings
from store.customers import create_customer
from store.engine import make_engine, make_sessionmaker
from store.migrate import upgrade
from tests.fixtures.api_process import api_process
from tests.fixtures.net import free_port, make_client
from worker import build_workers, heartbeat
from workflows.names import ALL_SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parent.parent
# Fixtures shared across test packages (plain helpers are imported from tests.fixtures directly).
pytest_plugins = ["tests.fixtures.ledger", "tests.fixtures.live"]


@pytest.fixture(scope="session")
def tmp_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="structural-test-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def embedded_pg(tmp_root: Path) -> Iterator[EmbeddedPostgres | None]:
    if os.environ.get("DATABASE_URL"):
        yield None
        return
    pg = start_embedded(tmp_root / "pg", delete_on_stop=True)
    yield pg
    pg.stop()


@pytest.fixture(scope="session")
def database_url(embedded_pg: EmbeddedPostgres | None) -> str:
    url = os.environ.get("DATABASE_URL") or embedded_pg.ensure_database("structural_test")  # type: ignore[union-attr]
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def temporal_ui_port() -> int:
    """The dev server's Web UI (the browser tests follow the runbook in it)."""
    return free_port()


@pytest.fixture(scope="session")
async def temporal_env(temporal_ui_port: int) -> AsyncIterator[WorkflowEnvironment]:
    address = os.environ.get("TEMPORAL_ADDRESS")
    if address:
        client = await Client.connect(address, data_converter=pydantic_data_converter)
        yield WorkflowEnvironment.from_client(client)
        return
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        search_attributes=list(ALL_SEARCH_ATTRIBUTES),
        dev_server_log_level="error",
        ui=True,
        ui_port=temporal_ui_port,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture(scope="session")
def temporal_address(temporal_client: Client) -> str:
    return temporal_client.service_client.config.target_host


@dataclass
class Emulators:
    procore_url: str
    dynamics_url: str
    procore: Any  # the FastAPI apps, for their state in assertions
    dynamics: Any


@pytest.fixture(scope="session")
def emulators() -> Iterator[Emulators]:
    """Both platform emulators over real HTTP (uvicorn threads), seeded with the demo data."""
    procore, dynamics = create_procore_app(), create_dynamics_app()
    with serve_in_thread(procore) as purl, serve_in_thread(dynamics) as durl:
        yield Emulators(purl, durl, procore, dynamics)


@pytest.fixture(scope="session")
def public_port() -> int:
    """The port of the API as the platforms call it (``public_api``); chosen before the settings."""
    return free_port()


@pytest.fixture(scope="session")
def settings(
    database_url: str, temporal_address: str, tmp_root: Path, emulators: Emulators, public_port: int
) -> Settings:
    return Settings(
        database_url=database_url,
        temporal_address=temporal_address,
        data_dir=tmp_root / "data",
        task_queue=f"test-main-{uuid.uuid4().hex[:8]}",
        reseed_min_interval_seconds=1,
        # No background delta passes between tests (they would follow each test's emulator resets);
        # tests start passes themselves.
        delta_sync_interval_seconds=0,
        live_base_url_allowlist=f"{emulators.procore_url},{emulators.dynamics_url}",
        # Never the default (the local API on 8000: a developer's own `make run` would get the
        # emulators' notifications).
        public_base_url=f"http://127.0.0.1:{public_port}",
        credentials_key=Fernet.generate_key().decode(),
        # Event deliveries: retries in a second, not minutes; a receiver that hangs fails fast.
        webhook_retry_schedule="0.3,0.6,1",
        webhook_allowed_hosts="localhost,127.0.0.1",
        webhook_timeout_seconds=1.5,
    )


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(database_url)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


@pytest.fixture(scope="session")
async def worker(temporal_client: Client, engine: AsyncEngine, settings: Settings) -> AsyncIterator[None]:
    """The production worker wiring (worker.build_workers), running in this process."""
    connectors = Connectors(settings)
    workers = build_workers(temporal_client, engine, settings, connectors)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    beating = asyncio.create_task(heartbeat(engine, settings.task_queue))
    yield
    beating.cancel()
    for w in workers:
        await w.shutdown()
    await asyncio.gather(*tasks, beating, return_exceptions=True)
    await connectors.close()


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def public_api(app: Any, public_port: int) -> AsyncIterator[str]:
    """The same API app over real HTTP, for the emulators' webhook deliveries (PUBLIC_BASE_URL).

    Served on the tests' own event loop: the app's database engine and Temporal client live there."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=public_port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError(f"the public API did not start on port {public_port}")
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{public_port}"
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
async def api(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app) as client:
        yield client


@pytest.fixture
async def demo_key(sessionmaker: async_sessionmaker[AsyncSession]) -> str:
    """A fresh sandbox customer's key, created directly (the endpoint has a per-IP limit)."""
    async with sessionmaker() as session:
        created = await create_customer(session, name=f"test-{uuid.uuid4().hex[:6]}", environment="demo")
        await session.commit()
    return created.api_key


@pytest.fixture(scope="session")
def live_server(settings: Settings) -> Iterator[str]:
    """The API as a real uvicorn process over real HTTP (used by schemathesis and smoke tests).

    It shares the test settings' task queue, so workflows it starts run on the `worker` fixture."""
    with api_process(settings) as (base, _):
        yield base
