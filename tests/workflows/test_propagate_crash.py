"""Crash test: 200 propagations while the worker is SIGKILLed three times. Every propagation
completes, is applied to the canonical object exactly once and written to each platform at most
once, and every platform ends with the canonical final value."""

from __future__ import annotations

import asyncio
import signal
import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.app import create_app
from models.connect import ConnectInput
from settings import Settings
from store.customers import create_customer
from tests.fixtures.net import auth, make_client
from tests.fixtures.workers import start_worker
from workflows.connect import ConnectWorkflow, connect_workflow_id

PROPAGATIONS = 200
KILLS = 3


async def test_propagations_survive_worker_kills(
    temporal_client: Client, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    worker = start_worker(settings, queue)
    local = settings.model_copy(update={"task_queue": queue, "propagate_wait_seconds": 2.0})
    app = create_app(local)
    async with sessionmaker() as s:
        created = await create_customer(s, name="crash", environment="demo")
        await s.execute(
            text("UPDATE customers SET propagate_rate_limit = 100000 WHERE id = :c"), {"c": created.customer_id}
        )
        await s.commit()
    customer, h = str(created.customer_id), auth(created.api_key)
    try:
        for platform in ("procore", "dynamics"):
            await temporal_client.execute_workflow(
                ConnectWorkflow.run,
                ConnectInput(customer_id=customer, platform=platform),
                id=connect_workflow_id(customer, platform),
                task_queue=queue,
            )
        async with app.router.lifespan_context(app), make_client(app) as api:
            payments = (
                await api.get("/api/v1/objects", params={"platform": "procore", "entity_type": "payment"}, headers=h)
            ).json()["data"]
            linked = [p["canonical_id"] for p in payments if len(p["mappings"]) == 2]
            assert len(linked) >= 5
            queue_of_work: asyncio.Queue[int] = asyncio.Queue()
            for i in range(PROPAGATIONS):
                queue_of_work.put_nowait(i)
            statuses: list[int] = []

            async def client_loop(entity: str) -> None:
                while not queue_of_work.empty():
                    i = queue_of_work.get_nowait()
                    resp = await api.post(
                        "/api/v1/propagate",
                        headers={**h, "Idempotency-Key": f"crash-{i}"},
                        json={"canonical_id": entity, "entity_type": "payment", "data": {"notes": f"change {i}"}},
                    )
                    # 502 = acknowledged but not finished within the wait (worker dead): it must still complete.
                    statuses.append(resp.status_code)

            async def killer() -> None:
                nonlocal worker
                for _ in range(KILLS):
                    await asyncio.sleep(1.5)
                    worker.send_signal(signal.SIGKILL)
                    worker.wait(10)
                    await asyncio.sleep(0.5)
                    worker = start_worker(settings, queue)

            await asyncio.gather(killer(), *(client_loop(e) for e in linked))
            assert set(statuses) <= {200, 502} and len(statuses) == PROPAGATIONS

            async def all_done() -> bool:
                async with sessionmaker() as s:
                    n = (
                        await s.execute(
                            text("SELECT count(*) FROM propagations WHERE customer_id = :c AND status = 'synced'"),
                            {"c": customer},
                        )
                    ).scalar_one()
                return int(n) == PROPAGATIONS

            for _ in range(1200):
                if await all_done():
                    break
                await asyncio.sleep(0.1)
            assert await all_done(), "not every propagation completed"
            await _check_exactly_once(sessionmaker, customer, api, h, linked)
    finally:
        worker.kill()
        worker.wait(10)


async def _check_exactly_once(
    sm: async_sessionmaker[AsyncSession], customer: str, api: httpx.AsyncClient, h: dict[str, str], linked: list[str]
) -> None:
    async with sm() as s:
        per_entity: dict[str, int] = dict(
            (
                await s.execute(
                    text("SELECT canonical_id, count(*) FROM propagations WHERE customer_id = :c GROUP BY 1"),
                    {"c": customer},
                )
            ).all()
        )
        versions: dict[str, int] = dict(
            (
                await s.execute(
                    text("SELECT id, version FROM canonical_objects WHERE customer_id = :c AND id = ANY(:ids)"),
                    {"c": customer, "ids": linked},
                )
            ).all()
        )
        duplicate_writes = (
            await s.execute(
                text(
                    "SELECT count(*) FROM (SELECT propagation_id, platform FROM platform_writes WHERE customer_id = :c "
                    "GROUP BY 1, 2 HAVING count(*) > 1) d"
                ),
                {"c": customer},
            )
        ).scalar_one()
        writes = (
            await s.execute(text("SELECT count(*) FROM platform_writes WHERE customer_id = :c"), {"c": customer})
        ).scalar_one()
        superseded = (
            await s.execute(
                text(
                    "SELECT count(*) FROM propagation_targets t JOIN propagations p ON p.id = t.propagation_id "
                    "WHERE p.customer_id = :c AND t.error LIKE 'superseded%'"
                ),
                {"c": customer},
            )
        ).scalar_one()
        unsynced = (
            await s.execute(
                text(
                    "SELECT count(*) FROM propagation_targets t JOIN propagations p ON p.id = t.propagation_id "
                    "WHERE p.customer_id = :c AND t.status <> 'synced'"
                ),
                {"c": customer},
            )
        ).scalar_one()
    # every propagation was applied to its canonical object exactly once (each changed the notes)
    for entity, count in per_entity.items():
        assert versions[entity] == 1 + count, (entity, versions[entity], count)
    assert duplicate_writes == 0 and unsynced == 0
    # each propagation reached both platforms: written once, or found already superseded by a newer one
    assert writes + superseded == 2 * PROPAGATIONS
    canonical: dict[str, Any] = {}
    for platform, field in (("procore", "notes"), ("dynamics", "description")):
        objs = (
            await api.get("/api/v1/objects", params={"platform": platform, "entity_type": "payment"}, headers=h)
        ).json()["data"]
        for obj in objs:
            if obj["canonical_id"] in versions:
                canonical.setdefault(obj["canonical_id"], obj["data"]["notes"])
                assert obj["platform_data"][field] == obj["data"]["notes"], (platform, obj["id"])
