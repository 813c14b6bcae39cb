"""POST /api/v1/objects on sandbox connections: the object is stored once and created on each
connected platform (answer in the propagate result shape); every bad request is a 400 naming the
field, and changes nothing; Idempotency-Key makes a retry return the same object."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.routes.propagate import PropagationEnvelope
from store.customers import create_customer
from tests.fixtures.api import assert_error
from tests.fixtures.net import auth
from tests.fixtures.propagate import connected

pytestmark = pytest.mark.usefixtures("worker")


async def _first(api: httpx.AsyncClient, h: dict[str, str], entity_type: str) -> dict[str, Any]:
    resp = await api.get("/api/v1/objects", params={"platform": "procore", "entity_type": entity_type}, headers=h)
    assert resp.status_code == 200, resp.text
    found: dict[str, Any] = resp.json()["data"][0]
    return found


async def _count(sm: async_sessionmaker[AsyncSession], customer: str) -> tuple[int, int]:
    """(canonical objects, propagations) of the customer."""
    async with sm() as s:
        row = (
            await s.execute(
                text(
                    "SELECT (SELECT count(*) FROM canonical_objects WHERE customer_id = :c), "
                    "(SELECT count(*) FROM propagations WHERE customer_id = :c)"
                ),
                {"c": customer},
            )
        ).one()
    return int(row[0]), int(row[1])


def _invoice(contract_id: str, number: str) -> dict[str, Any]:
    return {
        "entity_type": "invoice",
        "data": {
            "number": number,
            "contract_id": contract_id,
            "amount": {"amount": 1250000, "currency": "USD"},
            "invoice_date": "2026-11-30",
            "status": "draft",
        },
    }


async def test_an_invoice_created_through_the_api_is_created_on_both_platforms(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, h = await connected(api, sessionmaker)
    contract = await _first(api, h, "contract")
    resp = await api.post("/api/v1/objects", headers=h, json=_invoice(contract["canonical_id"], "INV-API-0001"))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    PropagationEnvelope.model_validate(body)
    data = body["data"]
    canonical = data["canonical"]
    assert canonical["id"].startswith("inv_") and canonical["entity_type"] == "invoice"
    assert canonical["data"]["number"] == "INV-API-0001"
    assert canonical["data"]["amount"] == {"amount": 1250000, "currency": "USD"}
    assert set(data["propagated"]) == {"procore", "dynamics"}
    for platform, entry in data["propagated"].items():
        assert entry["writeStatus"] == "synced", (platform, entry)
        assert entry["platform_id"], (platform, entry)
    assert data["status"] == "synced"
    # The contract reference resolved to each platform's contract.
    resolved = {(r["field"], r["platform"]) for r in data["references"]["resolved"]}
    assert ("contract_id", "procore") in resolved and ("contract_id", "dynamics") in resolved
    # /objects lists it on both platforms, linked to the same canonical object.
    for platform in ("procore", "dynamics"):
        listed = await api.get("/api/v1/objects", params={"platform": platform, "entity_type": "invoice"}, headers=h)
        mine = [o for o in listed.json()["data"] if o["canonical_id"] == canonical["id"]]
        assert len(mine) == 1, (platform, mine)
        assert mine[0]["id"] == data["propagated"][platform]["platform_id"]
    # GET /propagations/{id} reports the create.
    got = await api.get(f"/api/v1/propagations/{data['propagation_id']}", headers=h)
    assert got.status_code == 200, got.text
    assert got.json()["data"]["status"] == "synced"


async def test_only_the_platforms_asked_for(api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    _, h = await connected(api, sessionmaker)
    resp = await api.post(
        "/api/v1/objects",
        headers=h,
        json={"entity_type": "customer", "data": {"name": "Gulf Steel Fabricators"}, "platforms": ["dynamics"]},
    )
    assert resp.status_code == 201, resp.text
    assert set(resp.json()["data"]["propagated"]) == {"dynamics"}


async def test_idempotency_key_returns_the_same_object_once(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    customer, h = await connected(api, sessionmaker)
    contract = await _first(api, h, "contract")
    body = _invoice(contract["canonical_id"], "INV-API-0002")
    keyed = {**h, "Idempotency-Key": f"create-{uuid.uuid4()}"}
    first = await api.post("/api/v1/objects", headers=keyed, json=body)
    assert first.status_code == 201, first.text
    before = await _count(sessionmaker, customer)
    again = await api.post("/api/v1/objects", headers=keyed, json=body)
    assert again.status_code == 201, again.text
    assert again.json()["data"]["canonical"]["id"] == first.json()["data"]["canonical"]["id"]
    assert again.json()["data"]["propagated"] == first.json()["data"]["propagated"]
    assert await _count(sessionmaker, customer) == before
    # The same key with another body is refused, nothing written.
    other = await api.post("/api/v1/objects", headers=keyed, json=_invoice(contract["canonical_id"], "INV-API-0003"))
    assert "Idempotency-Key" in assert_error(other, 409, "CONFLICT_ERROR")["message"]
    assert await _count(sessionmaker, customer) == before
    # Without a key, the same body is a second object.
    unkeyed = await api.post("/api/v1/objects", headers=h, json=_invoice(contract["canonical_id"], "INV-API-0004"))
    assert unkeyed.status_code == 201
    assert unkeyed.json()["data"]["canonical"]["id"] != first.json()["data"]["canonical"]["id"]


async def test_every_bad_create_is_a_400_naming_the_field_and_writes_nothing(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    customer, h = await connected(api, sessionmaker, platforms=("procore",))
    contract = await _first(api, h, "contract")
    project = await _first(api, h, "project")
    good = _invoice(contract["canonical_id"], "INV-API-0100")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"data": good["data"]}, "entity_type"),
        ({**good, "entity_type": "employee"}, "entity_type"),
        ({**good, "entity_type": "widget"}, "entity_type"),
        ({"entity_type": "invoice"}, "data"),
        ({**good, "data": "INV-1"}, "data"),
        ({**good, "data": {**good["data"], "id": "inv_0123456789abcdef0123456789"}}, "data.id"),
        ({**good, "data": {**good["data"], "external_ids": {"procore": "1"}}}, "data.external_ids"),
        ({**good, "data": {k: v for k, v in good["data"].items() if k != "number"}}, "data.number"),
        ({**good, "data": {k: v for k, v in good["data"].items() if k != "contract_id"}}, "data.contract_id"),
        ({**good, "data": {**good["data"], "amount": {"amount": 12.5, "currency": "USD"}}}, "data.amount"),
        ({**good, "data": {**good["data"], "amount": 1250000}}, "data.amount"),
        ({**good, "data": {**good["data"], "status": "lost"}}, "data.status"),
        ({**good, "data": {**good["data"], "invoice_date": "30/11/2026"}}, "data.invoice_date"),
        ({**good, "data": {**good["data"], "colour": "red"}}, "data.colour"),
        ({**good, "data": {**good["data"], "contract_id": "cor_00000000000000000000000000"}}, "data.contract_id"),
        ({**good, "data": {**good["data"], "contract_id": project["canonical_id"]}}, "data.contract_id"),
        ({**good, "platforms": ["dynamics"]}, "platforms"),
        ({**good, "platforms": ["sage"]}, "platforms"),
        ({**good, "platforms": []}, "platforms"),
        ({**good, "extra": 1}, "extra"),
        ({"entity_type": "payment", "data": {"amount": {"amount": 100, "currency": "USD"}}}, "data.payment_date"),
        (
            {"entity_type": "payment", "data": {"amount": {"amount": 100, "currency": "USD"}, "payment_date": "2026-12-01"}},
            "data.invoice_id or data.contract_id",
        ),
    ]
    before = await _count(sessionmaker, customer)
    for body, named in cases:
        resp = await api.post("/api/v1/objects", headers=h, json=body)
        assert_error(resp, 400, "VALIDATION_ERROR")
        assert named in resp.json()["error"]["message"], (body, resp.text)
    assert await _count(sessionmaker, customer) == before


async def test_a_create_needs_a_connected_platform_and_a_key(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as s:
        created = await create_customer(s, name=f"o-{uuid.uuid4().hex[:6]}", environment="demo")
        await s.commit()
    body = {"entity_type": "customer", "data": {"name": "Nobody Ltd"}}
    resp = await api.post("/api/v1/objects", headers=auth(created.api_key), json=body)
    assert "connect" in assert_error(resp, 409, "CONFLICT_ERROR")["message"]
    assert await _count(sessionmaker, str(created.customer_id)) == (0, 0)
    assert_error(await api.post("/api/v1/objects", json=body), 401, "AUTHENTICATION_ERROR")


async def test_customers_are_isolated(api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """A reference to another customer's object is not found."""
    _, h1 = await connected(api, sessionmaker, platforms=("procore",))
    _, h2 = await connected(api, sessionmaker, platforms=("procore",))
    theirs = await _first(api, h1, "contract")
    resp = await api.post("/api/v1/objects", headers=h2, json=_invoice(theirs["canonical_id"], "INV-API-0200"))
    assert "data.contract_id" in assert_error(resp, 400, "VALIDATION_ERROR")["message"]
