"""GET /health reflects its real dependencies, including a stopped PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import httpx

from api.app import create_app
from devstack.postgres import start_embedded
from settings import Settings
from store.migrate import upgrade
from tests.fixtures.api import assert_headers
from tests.fixtures.net import free_port, make_client


async def test_health_ok(api: httpx.AsyncClient) -> None:
    resp = await api.get("/api/v1/health")
    assert resp.status_code == 200
    body = resp.json()["data"]
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "temporal": "ok"}
    assert body["timestamp"].endswith("Z") and len(body["timestamp"]) == 24


async def test_health_degraded_when_postgres_stops(tmp_root: Path, temporal_address: str) -> None:
    pg = start_embedded(tmp_root / "pg-health", delete_on_stop=True)
    try:
        url = pg.ensure_database("health")
        upgrade(url)
        app = create_app(Settings(database_url=url, temporal_address=temporal_address))
        async with app.router.lifespan_context(app), make_client(app) as client:
            assert (await client.get("/api/v1/health")).status_code == 200
            pg.stop()
            resp = await client.get("/api/v1/health")
            assert resp.status_code == 503
            assert_headers(resp)
            body = resp.json()["data"]
            assert body["status"] == "degraded"
            assert body["checks"] == {"database": "error", "temporal": "ok"}
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
        assert resp.json()["data"]["checks"] == {"database": "ok", "temporal": "error"}
