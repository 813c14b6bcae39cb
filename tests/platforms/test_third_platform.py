"""A third platform defined only in the tests (tests/fixtures/ledger.py) works through the registry:
connect seeds and reconciles it against Procore, propagate fans out to it and from it, /transform
translates to it, and the API documents and validates it, all through the code the real
platforms use."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from platforms.descriptor import Platform
from settings import Settings
from tests.fixtures.api import assert_error
from tests.fixtures.ledger import (
    CONTRACT_ID,
    CUSTOMER_ID,
    LEDGER_CONTRACT_ID,
    PROJECT_ID,
    UNMATCHED_PROJECT_ID,
    by_id,
)
from tests.fixtures.propagate import connected

pytestmark = pytest.mark.usefixtures("worker")

PROCORE_PROJECT = "341276"  # LBT-2401, Lusail Boulevard Tower
PROCORE_VENDOR = "501004"  # tax id 5000317214
PROCORE_CONTRACT = "1945782"  # C-LEX-001


async def _objects(api: httpx.AsyncClient, h: dict[str, str], platform: str, entity_type: str) -> list[dict[str, Any]]:
    resp = await api.get("/api/v1/objects", params={"platform": platform, "entity_type": entity_type}, headers=h)
    assert resp.status_code == 200, resp.text
    data: list[dict[str, Any]] = resp.json()["data"]
    return data


async def test_connect_reconciles_the_third_platform_against_procore(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], ledger: Platform
) -> None:
    _, h = await connected(api, sessionmaker, ("procore",))
    resp = await api.post("/api/v1/connect", json={"platform": "ledger"}, headers=h)
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["entities"] == {
        "projects": 2, "customers": 1, "contracts": 2, "invoices": 0, "payments": 0,
    }
    connections = (await api.get("/api/v1/connections", headers=h)).json()["data"]["connections"]
    assert {c["platform"] for c in connections} == {"procore", "ledger"}

    projects = by_id(await _objects(api, h, "ledger", "projects"))
    linked = projects[PROJECT_ID]
    assert {m["platform"]: m["platform_id"] for m in linked["mappings"]} == {"ledger": PROJECT_ID, "procore": PROCORE_PROJECT}
    # The canonical object is Procore's (connected first): the ledger record joined it.
    procore_project = by_id(await _objects(api, h, "procore", "projects"))[PROCORE_PROJECT]
    assert linked["canonical_id"] == procore_project["canonical_id"]
    assert linked["platform_data"]["memo"] == "kept"
    unmatched = projects[UNMATCHED_PROJECT_ID]
    assert [m["platform"] for m in unmatched["mappings"]] == ["ledger"]
    assert unmatched["data"]["number"] == "LED-9"

    customer = by_id(await _objects(api, h, "ledger", "customers"))[CUSTOMER_ID]
    assert {m["platform"] for m in customer["mappings"]} == {"ledger", "procore"}
    vendor = by_id(await _objects(api, h, "procore", "customers"))[PROCORE_VENDOR]
    assert customer["canonical_id"] == vendor["canonical_id"]

    contracts = by_id(await _objects(api, h, "ledger", "contracts"))
    assert {m["platform"]: m["platform_id"] for m in contracts[CONTRACT_ID]["mappings"]} == {
        "ledger": CONTRACT_ID, "procore": PROCORE_CONTRACT,
    }
    # A contract only the ledger has is its own canonical object: it names its project by code,
    # resolved through the ledger's project number field (its descriptor's) to the canonical project
    # the ledger's project is linked to, Procore's.
    own = contracts[LEDGER_CONTRACT_ID]
    assert [m["platform"] for m in own["mappings"]] == ["ledger"]
    assert own["data"]["project_id"] == procore_project["canonical_id"]
    assert own["data"]["project_number"] == "lbt 2401"
    assert own["data"]["customer_id"] == vendor["canonical_id"]


async def test_propagate_fans_out_to_and_from_the_third_platform(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], ledger: Platform
) -> None:
    _, h = await connected(api, sessionmaker, ("procore",))
    assert (await api.post("/api/v1/connect", json={"platform": "ledger"}, headers=h)).status_code == 200
    canonical_id = by_id(await _objects(api, h, "ledger", "projects"))[PROJECT_ID]["canonical_id"]

    # Canonical mode: both platforms get the change, each in its own shape.
    resp = await api.post(
        "/api/v1/propagate",
        json={"entity_type": "project", "canonical_id": canonical_id, "data": {"name": "Lusail Tower Phase 2"}},
        headers=h,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()["data"]
    assert body["status"] == "synced" and set(body["propagated"]) == {"procore", "ledger"}
    assert body["propagated"]["ledger"]["data"]["title"] == "Lusail Tower Phase 2"
    assert body["propagated"]["ledger"]["data"]["memo"] == "kept"  # its unmapped field survives
    assert body["propagated"]["procore"]["data"]["name"] == "Lusail Tower Phase 2"
    ledger_record = by_id(await _objects(api, h, "ledger", "projects"))[PROJECT_ID]
    assert ledger_record["platform_data"]["title"] == "Lusail Tower Phase 2"

    # Platform mode from the ledger: mirrored on it, fanned out to Procore only.
    resp = await api.post(
        "/api/v1/propagate",
        json={
            "entity_type": "project", "format": "platform", "platform": "ledger", "platform_id": PROJECT_ID,
            "data": {"title": "Lusail Tower (renamed in the ledger)"},
        },
        headers=h,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()["data"]
    assert body["status"] == "synced" and set(body["propagated"]) == {"procore"}
    assert body["canonical"]["updated_fields"] == ["name"]
    procore_project = by_id(await _objects(api, h, "procore", "projects"))[PROCORE_PROJECT]
    assert procore_project["platform_data"]["name"] == "Lusail Tower (renamed in the ledger)"

    # A contract fanned out to the ledger names its project by the number the ledger keeps it under.
    contract_id = by_id(await _objects(api, h, "ledger", "contracts"))[CONTRACT_ID]["canonical_id"]
    resp = await api.post(
        "/api/v1/propagate",
        json={"entity_type": "contract", "canonical_id": contract_id, "data": {"title": "Substructure works"}},
        headers=h,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()["data"]
    assert body["status"] == "synced" and body["propagated"]["ledger"]["data"]["title"] == "Substructure works"
    resolved = {(r["platform"], r["field"]): r["platform_id"] for r in body["references"]["resolved"]}
    assert resolved[("ledger", "project_id")] == "lbt 2401"
    assert resolved[("ledger", "customer_id")] == CUSTOMER_ID

    # Its read-only fields are refused like any platform's.
    resp = await api.post(
        "/api/v1/propagate",
        json={
            "entity_type": "project", "format": "platform", "platform": "ledger", "platform_id": PROJECT_ID,
            "data": {"revision": 7},
        },
        headers=h,
    )
    assert_error(resp, 400, "VALIDATION_ERROR", "read-only ledger fields cannot be propagated: revision")


async def test_transform_and_openapi_know_the_third_platform(
    api: httpx.AsyncClient, demo_key: str, settings: Settings, ledger: Platform
) -> None:
    h = {"Authorization": f"Bearer {demo_key}"}
    project = {"id": 341276, "name": "Lusail Boulevard Tower", "project_number": "LBT-2401"}
    resp = await api.post(
        "/api/v1/transform",
        json={"source": "procore", "target": "ledger", "entity_type": "project", "data": project},
        headers=h,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"] == {"title": "Lusail Boulevard Tower", "code": "LBT-2401"}
    # A fresh app's document (the session's app may have cached its own before the ledger existed).
    schema = create_app(settings).openapi()["components"]["schemas"]
    assert "ledger" in schema["ConnectRequest"]["properties"]["platform"]["enum"]
    resp = await api.post("/api/v1/connect", json={"platform": "quickbooks"}, headers=h)
    assert_error(resp, 400, "VALIDATION_ERROR")
    assert "'ledger'" in resp.json()["error"]["message"]
