"""Re-seed schedules: real Temporal Schedules that fire and re-seed, owned by the customer."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError

from tests.fixtures.api import assert_error
from tests.fixtures.net import auth, make_client, wait_for

pytestmark = pytest.mark.usefixtures("worker")


async def _generation(sm: async_sessionmaker[AsyncSession], key_customer: str) -> int:
    async with sm() as s:
        return int(
            (
                await s.execute(
                    text(
                        "SELECT generation FROM connections WHERE customer_id = :c "
                        "AND platform = 'procore' AND status = 'active'"
                    ),
                    {"c": key_customer},
                )
            ).scalar_one_or_none()
            or 0
        )


async def test_schedule_fires_and_reseeds(
    api: httpx.AsyncClient, demo_key: str, temporal_client: Client, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    h = auth(demo_key)
    resp = await api.post("/api/v1/schedules", json={"platform": "procore", "interval_seconds": 2}, headers=h)
    assert_error(resp, 409, "CONFLICT_ERROR")  # not connected yet
    assert (await api.post("/api/v1/connect", json={"platform": "procore"}, headers=h)).status_code == 200
    async with sessionmaker() as s:
        customer = str(
            (
                await s.execute(
                    text(
                        "SELECT customer_id FROM connections WHERE platform = 'procore' "
                        "ORDER BY connected_at DESC LIMIT 1"
                    )
                )
            ).scalar_one()
        )
        # an edit the scheduled re-seed must reset
        await s.execute(
            text(
                "UPDATE platform_objects SET data = jsonb_set(data, '{notes}', '\"edited\"') "
                "WHERE customer_id = :c AND platform_id = '1823456'"
            ),
            {"c": customer},
        )
        await s.commit()
    first = await _generation(sessionmaker, customer)

    resp = await api.post("/api/v1/schedules", json={"platform": "procore", "interval_seconds": 2}, headers=h)
    assert resp.status_code == 201, resp.text
    created = resp.json()["data"]
    assert created["platform"] == "procore" and created["interval_seconds"] == 2
    sid = created["schedule_id"]
    desc = await temporal_client.get_schedule_handle(sid).describe()
    assert desc.schedule.policy.overlap.name == "SKIP"
    assert_error(
        await api.post("/api/v1/schedules", json={"platform": "procore", "interval_seconds": 2}, headers=h),
        409,
        "CONFLICT_ERROR",
    )

    async def reseeded() -> bool:
        return await _generation(sessionmaker, customer) > first

    await wait_for(reseeded, within=30)
    payment = next(
        o
        for o in (
            await api.get("/api/v1/objects", params={"platform": "procore", "entity_type": "payment"}, headers=h)
        ).json()["data"]
        if o["id"] == "1823456"
    )
    assert payment["platform_data"]["notes"] == "Substructure progress payment #1"

    listed = (await api.get("/api/v1/schedules", headers=h)).json()["data"]["schedules"]
    assert [s["schedule_id"] for s in listed] == [sid]

    assert (await api.delete("/api/v1/schedules/procore", headers=h)).status_code == 204
    with pytest.raises(RPCError):
        await temporal_client.get_schedule_handle(sid).describe()
    assert_error(await api.delete("/api/v1/schedules/procore", headers=h), 404, "NOT_FOUND")


async def test_interval_validation(api: httpx.AsyncClient, demo_key: str) -> None:
    resp = await api.post(
        "/api/v1/schedules", json={"platform": "procore", "interval_seconds": 0}, headers=auth(demo_key)
    )
    assert_error(resp, 400, "VALIDATION_ERROR")


async def test_deleting_the_customer_deletes_its_schedules(
    app: object, api: httpx.AsyncClient, temporal_client: Client
) -> None:
    async with make_client(app, ip="10.77.0.1") as fresh_ip:
        session = (await fresh_ip.post("/api/v1/demo/session")).json()["data"]
    h = auth(session["api_key"])
    assert (await api.post("/api/v1/connect", json={"platform": "procore"}, headers=h)).status_code == 200
    sid = (
        await api.post("/api/v1/schedules", json={"platform": "procore", "interval_seconds": 3600}, headers=h)
    ).json()["data"]["schedule_id"]
    await temporal_client.get_schedule_handle(sid).describe()
    assert (await api.delete("/api/v1/demo/session", headers=h)).status_code == 204
    with pytest.raises(RPCError):
        await temporal_client.get_schedule_handle(sid).describe()
