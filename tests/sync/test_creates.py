"""Creates across platforms over real HTTP: a record made on one platform after the connect is
linked or created on the other, once, with its references, whatever is lost or retried."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from temporalio.client import Client

from models.webhook import DeltaResult
from tests.fixtures.live import control
from tests.fixtures.net import auth
from tests.fixtures.sync import settle

pytestmark = pytest.mark.usefixtures("worker")

CONTRACT_PROCORE = 1945782  # C-LEX-001, Substructure Package (demo data)
PROJECT_PROCORE = 341276  # LBT-2401


async def _creates(emulators: Any, platform: str, entity_type: str) -> list[dict[str, Any]]:
    """The engine's creates on a platform (API writes with operation create)."""
    body = (
        await control(emulators, platform, "GET", "/writes", params={"entity_type": entity_type, "source": "api"})
    ).json()
    return [w for w in body["writes"] if w["operation"] == "create"]


async def _records(emulators: Any, platform: str, entity_type: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = (await control(emulators, platform, "GET", f"/records/{entity_type}")).json()[
        "records"
    ]
    return records


async def _new_in_procore(emulators: Any, entity_type: str, **fields: Any) -> dict[str, Any]:
    """A record a person enters in Procore (its UI: the emulator's out-of-band create)."""
    resp = await control(emulators, "procore", "POST", f"/records/{entity_type}", json={"fields": fields})
    record: dict[str, Any] = resp.json()["record"]
    return record


async def _delta(api: httpx.AsyncClient, key: str, temporal: Client, platform: str) -> DeltaResult:
    started = await api.post(f"/api/v1/connections/{platform}/sync", headers=auth(key))
    assert started.status_code == 202, started.text
    return await temporal.get_workflow_handle(started.json()["data"]["workflow_id"], result_type=DeltaResult).result()


async def _objects(api: httpx.AsyncClient, key: str, platform: str, entity_type: str) -> list[dict[str, Any]]:
    resp = await api.get(
        "/api/v1/objects", headers=auth(key), params={"platform": platform, "entity_type": entity_type}
    )
    assert resp.status_code == 200, resp.text
    found: list[dict[str, Any]] = resp.json()["data"]
    return found


async def test_an_invoice_entered_in_procore_appears_once_in_business_central(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    before = await _records(emulators, "dynamics", "invoice")
    invoice = await _new_in_procore(
        emulators,
        "invoice",
        project_id=PROJECT_PROCORE,
        commitment_id=CONTRACT_PROCORE,
        invoice_number="INV-2026-0999",
        billing_date="2026-11-30",
        requisition_start="2026-11-01",
        requisition_end="2026-11-30",
        total_claimed_amount="125000.00",
        status="draft",
    )
    await settle(emulators, temporal_client, customer)
    after = await _records(emulators, "dynamics", "invoice")
    created = [r for r in after if r["id"] not in {b["id"] for b in before}]
    assert len(created) == 1, created
    bc = created[0]
    assert bc["externalDocumentNumber"] == "INV-2026-0999"
    assert len(await _creates(emulators, "dynamics", "invoice")) == 1
    # Its references resolved: the contract's customer in BC.
    procore_contract = (await control(emulators, "procore", "GET", f"/records/contract/{CONTRACT_PROCORE}")).json()
    bc_customers = {c["id"]: c for c in await _records(emulators, "dynamics", "customer")}
    assert bc["customerId"] in bc_customers, bc
    assert procore_contract["vendor"]["company"].split()[0] in bc_customers[bc["customerId"]]["displayName"]
    # One canonical object, mapped on both platforms.
    objects = [o for o in await _objects(api, live, "procore", "invoice") if o["data"].get("number") == "INV-2026-0999"]
    assert len(objects) == 1, objects
    assert objects[0]["data"]["external_ids"] == {"procore": str(invoice["id"]), "dynamics": bc["id"]}
    # Nothing more happens: the record the engine made in BC comes back as new and is known as ours.
    for platform in ("procore", "dynamics"):
        result = await _delta(api, live, temporal_client, platform)
        assert sum(r.created for r in result.types) == 0, (platform, result)
    await settle(emulators, temporal_client, customer)
    assert len(await _records(emulators, "dynamics", "invoice")) == len(before) + 1
    assert await _creates(emulators, "procore", "invoice") == []  # nothing echoed back as a create
