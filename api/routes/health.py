"""GET /health: liveness of the API and its dependencies (no auth)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import Response
from temporalio.client import Client

from api.deps import SettingsDep
from api.errors import json_response
from api.schemas import HealthEnvelope
from canonical.timefmt import iso_millis
from scheduling.health import HEARTBEAT_FRESH, live_pollers
from store.engine import ping
from store.workers import live_workers

router = APIRouter(tags=["Health"])
log = logging.getLogger(__name__)


async def _database_ok(engine: AsyncEngine) -> bool:
    return await ping(engine)


async def _temporal_ok(client: Client) -> bool:
    return await client.service_client.check_health()


async def _workers_ok(client: Client, task_queue: str, found: dict[str, int]) -> bool:
    found.update(await live_pollers(client, task_queue))
    return all(found.values())


async def _alive(engine: AsyncEngine, task_queue: str, found: dict[str, int]) -> bool:
    async with engine.connect() as conn:
        found["alive"] = await live_workers(conn, task_queue, HEARTBEAT_FRESH)
    return found["alive"] > 0


async def _probe(name: str, coro: Any, limit: float) -> str:
    try:
        ok = await asyncio.wait_for(coro, limit)
    except Exception as exc:  # any failure of a dependency is "error", never a 500
        log.warning("health check %s failed: %s", name, exc)
        return "error"
    return "ok" if ok else "error"


@router.get(
    "/health",
    response_model=HealthEnvelope,
    responses={
        503: {
            "model": HealthEnvelope,
            "description": "A dependency is down, or no worker polls a task queue (`status: degraded`)",
        }
    },
    summary="Service health",
)
async def health(request: Request, settings: SettingsDep) -> Response:
    timeout = settings.health_timeout_seconds
    pollers: dict[str, int] = {}
    alive: dict[str, int] = {}
    database, temporal, polling, beating = await asyncio.gather(
        _probe("database", _database_ok(request.app.state.engine), timeout),
        _probe("temporal", _temporal_ok(request.app.state.temporal), timeout),
        _probe("pollers", _workers_ok(request.app.state.temporal, settings.task_queue, pollers), timeout),
        _probe("heartbeats", _alive(request.app.state.engine, settings.task_queue, alive), timeout),
    )
    # A worker counts when it beats (alive now: Temporal lists a dead one's pollers for a minute)
    # and every queue has a poller (it serves them all).
    workers = "ok" if polling == "ok" and beating == "ok" else "error"
    healthy = database == "ok" and temporal == "ok" and workers == "ok"
    body = {
        "data": {
            "status": "ok" if healthy else "degraded",
            "timestamp": iso_millis(),
            "checks": {"database": database, "temporal": temporal, "workers": workers},
            "pollers": pollers,
            "workers_alive": alive.get("alive", 0),
        }
    }
    return json_response(body, status=200 if healthy else 503)
