"""GET /health reflects its real dependencies, including a stopped PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from api.app import create_app
from devstack.postgres import start_embedded
from settings import Settings
from store.migrate import upgrade
from tests.fixtures.api import assert_headers
from tests.fixtures.net import free_port, make_client, wait_for


@pytest.mark.usefixtures("worker")
async def test_health_ok(api: httpx.AsyncClient, settings: Settings) -> None:
    async def polled() -> bool:  # the worker fixture has just started: its pollers connect
        return (await api.get("/api/v1/health")).status_code == 200

    await wait_for(polled)
    resp = await api.get("/api/v1/health")
    assert resp.status_code == 200, resp.text
    body = resp.json()["data"]
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "temporal": "ok", "workers": "ok"}
    assert body["timestamp"].endswith("Z") and len(body["timestamp"]) == 24
    queue = settings.task_queue
    assert set(body["pollers"]) == {
        queue,
        f"{queue}/activities",
        f"{queue}-procore/activities",
        f"{queue}-dynamics/activities",
        f"{queue}-events/activities",
    }
    assert all(n >= 1 for n in body["pollers"].values()), body


async def test_health_degraded_when_no_worker_polls(settings: Settings) -> None:
    """Nothing would ever run: PostgreSQL and Temporal are up, but no worker polls the queues."""
    app = create_app(settings.model_copy(update={"task_queue": "nobody-polls-this"}))
    async with app.router.lifespan_context(app), make_client(app) as client:
        resp = await client.get("/api/v1/health")
    assert resp.status_code == 503, resp.text
    body = resp.json()["data"]
    assert body["status"] == "degraded"
    assert body["checks"] == {"database": "ok", "temporal": "ok", "workers": "error"}
    assert body["pollers"]["nobody-polls-this"] == 0


async def test_health_degraded_when_postgres_stops(tmp_root: Path, temporal_address: str) -> None:
    pg = start_embedded(tmp_root / "pg-health", delete_on_stop=True)
    try:
        url = pg.ensure_database("health")
        upgrade(url)
        app = create_app(Settings(database_url=url, temporal_address=temporal_address))
        async with app.router.lifespan_context(app), make_client(app) as client:
            assert (await client.get("/api/v1/health")).json()["data"]["checks"]["database"] == "ok"
            pg.stop()
            resp = await client.get("/api/v1/health")
            assert resp.status_code == 503
            assert_headers(resp)
            body = resp.json()["data"]
            assert body["status"] == "degraded"
            assert body["checks"] == {"database": "error", "temporal": "ok", "workers": "error"}
            # other endpoints answer with the envelope, never a stack trace
            resp = await client.post("/api/v1/demo/session")
            assert resp.status_code == 502
            assert resp.json()["error"]["type"] == "EXTERNAL_SERVICE_ERROR"
            assert "Traceback" not in resp.text
    finally:
        pg.stop()


async def test_health_degraded_when_temporal_unreachable(database_url: str) -> None:
    app = create_app(
        Settings(database_url=database_url, temporal_address=f"127.0.0.1:{free_port()}", health_timeout_seconds=1.0)
    )
    async with app.router.lifespan_context(app), make_client(app) as client:
        resp = await client.get("/api/v1/health")
        assert resp.status_code == 503
        assert resp.json()["data"]["checks"] == {"database": "ok", "temporal": "error", "workers": "error"}
