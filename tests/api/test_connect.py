"""Connect end to end on real PostgreSQL + Temporal: the quickstart, order independence,
destructive re-connects, 409 on concurrency, failure and repair, tenant isolation."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.routes.connections import ObjectsEnvelope
from tests.fixtures.api import assert_error
from tests.fixtures.connect import TYPES, connect, links, objects
from tests.fixtures.net import auth
from tests.fixtures.propagate import PAYMENT_DYNAMICS, PAYMENT_PROCORE

pytestmark = pytest.mark.usefixtures("worker")


async def test_quickstart(api: httpx.AsyncClient, demo_key: str) -> None:
    resp = await connect(api, demo_key, "procore")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "data": {
            "platform": "procore",
            "status": "connected",
            "entities": {"projects": 5, "customers": 4, "contracts": 13, "invoices": 8, "payments": 8},
        }
    }

    resp = await connect(api, demo_key, "dynamics")
    assert resp.status_code == 200, resp.text
    assert sum(resp.json()["data"]["entities"].values()) == 36

    resp = await api.get("/api/v1/connections", headers=auth(demo_key))
    conns = {c["platform"]: c for c in resp.json()["data"]["connections"]}
    assert conns["procore"]["entities_synced"] == 38 and conns["dynamics"]["entities_synced"] == 36
    assert all(c["status"] == "active" and c["connected_at"].endswith("Z") for c in conns.values())

    payments = await objects(api, demo_key, "procore", "payment")
    assert len(payments) == 8
    payment = next(p for p in payments if p["id"] == PAYMENT_PROCORE)
    assert payment["canonical_id"].startswith("pay_") and len(payment["canonical_id"]) == 19
    assert sorted(payment["mappings"], key=lambda m: m["platform"]) == [
        {"platform": "dynamics", "platform_id": PAYMENT_DYNAMICS},
        {"platform": "procore", "platform_id": PAYMENT_PROCORE},
    ]
    assert payment["platform_data"]["check_number"] == "CHK-2026-0101"
    assert payment["data"]["amount"] == {"amount": 170000000, "currency": "USD"}
    assert payment["data"]["check_number"] == "CHK-2026-0101"
    assert payment["data"]["external_ids"] == {"procore": PAYMENT_PROCORE, "dynamics": PAYMENT_DYNAMICS}

    # the same canonical object seen from the Dynamics side, its raw amount a JSON number as BC sends it
    dyn = next(p for p in await objects(api, demo_key, "dynamics", "payment") if p["id"] == PAYMENT_DYNAMICS)
    assert dyn["platform_data"]["amount"] == 6188000 and not isinstance(dyn["platform_data"]["amount"], str)
    assert dyn["canonical_id"] == payment["canonical_id"]
    # references point at the canonical objects the referenced records were linked to
    contracts = {c["id"]: c for c in await objects(api, demo_key, "procore", "contract")}
    assert payment["data"]["contract_id"] == contracts["1945782"]["canonical_id"]


async def test_connect_order_does_not_change_links(
    api: httpx.AsyncClient, demo_key: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other_key = await _new_key(sessionmaker)
    for platform in ("procore", "dynamics"):
        assert (await connect(api, demo_key, platform)).status_code == 200
    for platform in ("dynamics", "procore"):
        assert (await connect(api, other_key, platform)).status_code == 200
    first, second = await links(api, demo_key), await links(api, other_key)
    assert first == second
    assert ("payment", PAYMENT_PROCORE, PAYMENT_DYNAMICS) in first
    assert {t for t, _, _ in first} == set(TYPES)


async def test_reconnect_is_destructive_and_keeps_links(
    api: httpx.AsyncClient, demo_key: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    for platform in ("procore", "dynamics"):
        assert (await connect(api, demo_key, platform)).status_code == 200
    before = await links(api, demo_key)
    payment = next(p for p in await objects(api, demo_key, "procore", "payment") if p["id"] == PAYMENT_PROCORE)
    # a local change (as /propagate would make) is lost by a re-connect of the platform that owns it
    async with sessionmaker() as s:
        await s.execute(
            text("UPDATE canonical_objects SET data = jsonb_set(data, '{notes}', '\"edited\"') WHERE id = :id"),
            {"id": payment["canonical_id"]},
        )
        await s.execute(
            text(
                "UPDATE platform_objects SET data = jsonb_set(data, '{notes}', '\"edited\"') "
                "WHERE platform = 'procore' AND platform_id = :p AND customer_id = "
                "(SELECT customer_id FROM canonical_objects WHERE id = :id)"
            ),
            {"p": PAYMENT_PROCORE, "id": payment["canonical_id"]},
        )
        await s.commit()
    assert (await connect(api, demo_key, "procore")).status_code == 200
    again = next(p for p in await objects(api, demo_key, "procore", "payment") if p["id"] == PAYMENT_PROCORE)
    assert again["data"]["notes"] == "Substructure progress payment #1"
    assert again["platform_data"]["notes"] == "Substructure progress payment #1"
    assert await links(api, demo_key) == before
    # and re-connecting the other platform keeps them too
    assert (await connect(api, demo_key, "dynamics")).status_code == 200
    assert await links(api, demo_key) == before
    await _assert_no_duplicates(sessionmaker)


async def test_concurrent_connect_is_409(api: httpx.AsyncClient, demo_key: str) -> None:
    first = asyncio.create_task(connect(api, demo_key, "procore"))
    await asyncio.sleep(0)  # let the first start its workflow
    results = [await connect(api, demo_key, "procore") for _ in range(3)]
    done = await first
    statuses = sorted([done.status_code, *(r.status_code for r in results)])
    assert 200 in statuses
    conflicts = [r for r in [done, *results] if r.status_code == 409]
    if not conflicts:  # the first connect can finish before the others arrive on a fast machine
        pytest.skip("connect finished before a concurrent request arrived")
    assert_error(conflicts[0], 409, "CONFLICT_ERROR")


async def test_connect_validation(api: httpx.AsyncClient, demo_key: str) -> None:
    assert_error(
        await api.post("/api/v1/connect", json={"platform": "sap"}, headers=auth(demo_key)), 400, "VALIDATION_ERROR"
    )
    assert_error(await api.post("/api/v1/connect", json={}, headers=auth(demo_key)), 400, "VALIDATION_ERROR")
    assert_error(
        await api.post(
            "/api/v1/connect", content=b"{not json", headers={**auth(demo_key), "Content-Type": "application/json"}
        ),
        400,
        "VALIDATION_ERROR",
        "Malformed JSON body",
    )
    assert_error(await api.post("/api/v1/connect", json={"platform": "procore"}), 401, "AUTHENTICATION_ERROR")


async def test_objects_validation_and_pagination(api: httpx.AsyncClient, demo_key: str) -> None:
    for params in ({}, {"platform": "procore"}, {"entity_type": "payment"}):
        resp = await api.get("/api/v1/objects", params=params, headers=auth(demo_key))
        assert_error(resp, 400, "VALIDATION_ERROR", "platform and entity_type query params required")
    assert_error(
        await api.get("/api/v1/objects", params={"platform": "x", "entity_type": "payment"}, headers=auth(demo_key)),
        400,
        "VALIDATION_ERROR",
    )
    assert (await connect(api, demo_key, "procore")).status_code == 200
    everything = await objects(api, demo_key, "procore", "contract")
    assert len(everything) == 13
    seen, cursor = [], None
    while True:
        page_params: dict[str, Any] = {"platform": "procore", "entity_type": "contracts", "limit": 5}
        if cursor:
            page_params["cursor"] = cursor
        body = (await api.get("/api/v1/objects", params=page_params, headers=auth(demo_key))).json()
        ObjectsEnvelope.model_validate(body)  # hand-built for speed (exact decimals); held to its model
        seen += body["data"]
        cursor = body["pagination"]["next_cursor"]
        assert body["pagination"]["has_more"] == (cursor is not None)
        if not cursor:
            break
    assert [o["id"] for o in seen] == [o["id"] for o in everything]
    assert_error(
        await api.get(
            "/api/v1/objects",
            params={"platform": "procore", "entity_type": "payment", "limit": 2, "cursor": "!!"},
            headers=auth(demo_key),
        ),
        400,
        "VALIDATION_ERROR",
    )


async def test_customers_are_isolated(
    api: httpx.AsyncClient, demo_key: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    assert (await connect(api, demo_key, "procore")).status_code == 200
    stranger = await _new_key(sessionmaker)
    assert (await api.get("/api/v1/connections", headers=auth(stranger))).json() == {"data": {"connections": []}}
    assert await objects(api, stranger, "procore", "payment") == []


async def _new_key(sessionmaker: async_sessionmaker[AsyncSession]) -> str:
    from store.customers import create_customer

    async with sessionmaker() as s:
        created = await create_customer(s, name=f"c-{uuid.uuid4().hex[:6]}", environment="demo")
        await s.commit()
    return created.api_key


async def _assert_no_duplicates(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as s:
        dup = (
            await s.execute(
                text(
                    "SELECT count(*) FROM (SELECT customer_id, platform, entity_type, platform_id FROM platform_objects "
                    "GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) d"
                )
            )
        ).scalar_one()
        assert dup == 0
