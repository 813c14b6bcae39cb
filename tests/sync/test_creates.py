"""Creates across platforms over real HTTP: a record made on one platform after the connect is
linked or created on the other, once, with its references, whatever is lost or retried."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from temporalio.client import Client

from activities.create import create_propagation_id
from models.webhook import DeltaResult
from tests.fixtures.emulators import BC_COMPANY
from tests.fixtures.live import control
from tests.fixtures.net import auth, wait_for
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


async def _new_in_bc(emulators: Any, entity_type: str, **fields: Any) -> dict[str, Any]:
    """A record a person enters in Business Central (the emulator's out-of-band create)."""
    resp = await control(emulators, "dynamics", "POST", f"/records/{entity_type}", json={"fields": fields})
    record: dict[str, Any] = resp.json()["record"]
    return record


async def _invoice_in_procore(emulators: Any, number: str) -> dict[str, Any]:
    return await _new_in_procore(
        emulators,
        "invoice",
        project_id=PROJECT_PROCORE,
        commitment_id=CONTRACT_PROCORE,
        invoice_number=number,
        billing_date="2026-11-30",
        total_claimed_amount="1000.00",
        status="draft",
    )


async def wait_for_create(
    api: httpx.AsyncClient, key: str, customer: str, platform: str, entity_type: str, platform_id: str
) -> dict[str, Any]:
    """The create propagation of a platform record, once it has a first outcome."""

    found: dict[str, Any] = {}

    async def recorded() -> bool:
        mapped = [o for o in await _objects(api, key, platform, entity_type) if o["id"] == platform_id]
        if not mapped:
            return False
        resp = await api.get(
            f"/api/v1/propagations/{create_propagation_id(customer, mapped[0]['canonical_id'])}", headers=auth(key)
        )
        if resp.status_code == 200:
            found.update(resp.json()["data"])
        return bool(found)

    await wait_for(recorded, within=30)
    return found


def _named(records: list[dict[str, Any]], field: str, value: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get(field) == value]


async def test_a_customer_added_in_business_central_is_created_once_in_procore(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    bc = await _new_in_bc(emulators, "customer", displayName="Al Wakra Steel Fabricators W.L.L.", city="Al Wakra")
    await settle(emulators, temporal_client, customer)
    vendors = _named(await _records(emulators, "procore", "customer"), "name", "Al Wakra Steel Fabricators W.L.L.")
    assert len(vendors) == 1, vendors
    assert len(await _creates(emulators, "procore", "customer")) == 1
    [mapped] = [o for o in await _objects(api, live, "dynamics", "customer") if o["id"] == bc["id"]]
    assert mapped["data"]["external_ids"] == {"dynamics": bc["id"], "procore": str(vendors[0]["id"])}
    # Procore keeps the engine's id for the vendor (a trace for people reading it).
    assert vendors[0]["origin_id"] == f"structural:{mapped['canonical_id']}"
    assert await _creates(emulators, "dynamics", "customer") == []


async def test_the_same_record_keyed_in_on_both_platforms_is_linked_not_duplicated(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    procore = await _invoice_in_procore(emulators, "INV-2026-0777")
    bc_customer = next(
        c for c in await _records(emulators, "dynamics", "customer") if c["displayName"].startswith("Doha Infra")
    )
    bc = await _new_in_bc(
        emulators,
        "invoice",
        customerId=bc_customer["id"],
        customerNumber=bc_customer["number"],
        externalDocumentNumber="INV-2026-0777",
        invoiceDate="2026-11-30",
    )
    await settle(emulators, temporal_client, customer)
    for platform in ("procore", "dynamics"):
        assert await _creates(emulators, platform, "invoice") == [], platform
    found = [o for o in await _objects(api, live, "procore", "invoice") if o["id"] == str(procore["id"])]
    assert found and found[0]["data"]["external_ids"] == {"procore": str(procore["id"]), "dynamics": bc["id"]}
    linked = [o for o in await _objects(api, live, "dynamics", "invoice") if o["id"] == bc["id"]]
    assert [o["canonical_id"] for o in linked] == [found[0]["canonical_id"]]


async def test_a_create_whose_response_was_lost_is_found_again_not_repeated(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    await control(
        emulators,
        "dynamics",
        "POST",
        "/faults",
        json={"kind": "drop_after_apply", "method": "POST", "path_prefix": f"{BC_COMPANY}/salesInvoices"},
    )
    await _invoice_in_procore(emulators, "INV-2026-0888")
    await settle(emulators, temporal_client, customer)
    assert (await control(emulators, "dynamics", "GET", "/faults")).json() == {"faults": []}  # it struck
    made = _named(await _records(emulators, "dynamics", "invoice"), "externalDocumentNumber", "INV-2026-0888")
    assert len(made) == 1, made
    assert len(await _creates(emulators, "dynamics", "invoice")) == 1  # the lost one, found, never repeated
    [mapped] = [o for o in await _objects(api, live, "dynamics", "invoice") if o["id"] == made[0]["id"]]
    assert set(mapped["data"]["external_ids"]) == {"procore", "dynamics"}


async def test_a_refused_create_is_recorded_failed_with_the_reason_and_replays(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    await control(
        emulators,
        "dynamics",
        "POST",
        "/faults",
        json={"kind": "error", "status": 400, "method": "POST", "path_prefix": f"{BC_COMPANY}/salesInvoices"},
    )
    procore = await _invoice_in_procore(emulators, "INV-2026-0555")
    record = await wait_for_create(api, live, customer, "procore", "invoice", str(procore["id"]))
    assert record["status"] == "partial", record
    assert record["format"] == "create" and record["source_platform"] == "procore"
    [target] = record["targets"]
    assert target["platform"] == "dynamics" and target["status"] == "failed" and "400" in target["error"]
    assert _named(await _records(emulators, "dynamics", "invoice"), "externalDocumentNumber", "INV-2026-0555") == []
    # The workflow waits for a replay, visible as partial in the Temporal UI.
    query = f"CustomerId = '{customer}' AND WorkflowType = 'CreateWorkflow' AND Outcome = 'partial'"

    async def listed() -> bool:
        return len([w async for w in temporal_client.list_workflows(query)]) == 1

    await wait_for(listed)
    replay = await api.post(f"/api/v1/propagations/{record['id']}/retry", headers=auth(live))
    assert replay.status_code == 200, replay.text
    body = replay.json()["data"]
    assert body["status"] == "synced" and body["propagated"]["dynamics"]["writeStatus"] == "synced", body
    made = _named(await _records(emulators, "dynamics", "invoice"), "externalDocumentNumber", "INV-2026-0555")
    assert len(made) == 1 and body["propagated"]["dynamics"]["platform_id"] == made[0]["id"]
    again = await api.get(f"/api/v1/propagations/{record['id']}", headers=auth(live))
    assert again.json()["data"]["status"] == "synced"


async def test_an_invoice_posted_to_the_api_is_created_once_on_each_platform(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    """POST /objects on live connections: one record per platform (write log), found by its number,
    linked to the new canonical object; a retry with the same Idempotency-Key creates nothing more,
    and the records coming back as notifications start nothing."""
    [contract] = [o for o in await _objects(api, live, "procore", "contract") if o["id"] == str(CONTRACT_PROCORE)]
    body = {
        "entity_type": "invoice",
        "data": {
            "number": "INV-2026-0444",
            "contract_id": contract["canonical_id"],
            "amount": {"amount": 4400000, "currency": "USD"},
            "invoice_date": "2026-11-30",
            "period_start": "2026-11-01",
            "period_end": "2026-11-30",
            "status": "draft",
        },
    }
    headers = {**auth(live), "Idempotency-Key": "invoice-0444"}
    resp = await api.post("/api/v1/objects", headers=headers, json=body)
    assert resp.status_code == 201, resp.text
    data = resp.json()["data"]
    assert data["status"] == "synced", data
    again = await api.post("/api/v1/objects", headers=headers, json=body)
    assert again.status_code == 201 and again.json()["data"]["canonical"]["id"] == data["canonical"]["id"]
    await settle(emulators, temporal_client, customer)
    bc = _named(await _records(emulators, "dynamics", "invoice"), "externalDocumentNumber", "INV-2026-0444")
    procore = _named(await _records(emulators, "procore", "invoice"), "invoice_number", "INV-2026-0444")
    assert len(bc) == 1 and len(procore) == 1, (bc, procore)
    assert len(await _creates(emulators, "dynamics", "invoice")) == 1
    assert len(await _creates(emulators, "procore", "invoice")) == 1
    assert data["propagated"]["dynamics"]["platform_id"] == bc[0]["id"]
    assert data["propagated"]["procore"]["platform_id"] == str(procore[0]["id"])
    assert procore[0]["commitment_id"] == CONTRACT_PROCORE
    for platform in ("procore", "dynamics"):
        result = await _delta(api, live, temporal_client, platform)
        assert sum(r.created for r in result.types) == 0, (platform, result)


async def test_a_payment_entered_in_procore_is_booked_in_business_central_in_its_customers_currency(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    """A BC payment journal line carries no currency: the create takes its customer's (BC's own
    customer record), not a guess, and names the customer and the invoice it applies to."""
    invoice = await _invoice_in_procore(emulators, "INV-2026-0666")
    await settle(emulators, temporal_client, customer)
    payment = await _new_in_procore(
        emulators,
        "payment",
        project_id=PROJECT_PROCORE,
        contract_id=CONTRACT_PROCORE,
        requisition_id=invoice["id"],
        amount="1000.00",
        date="2026-12-01",
        check_number="CHK-2026-0666",
        invoice_number="INV-2026-0666",
    )
    record = await wait_for_create(api, live, customer, "procore", "payment", str(payment["id"]))
    assert record["status"] == "synced", [t.get("error") for t in record["targets"]]
    await settle(emulators, temporal_client, customer)
    made = _named(await _records(emulators, "dynamics", "payment"), "documentNumber", "CHK-2026-0666")
    assert len(made) == 1, made
    assert len(await _creates(emulators, "dynamics", "payment")) == 1
    [bc_invoice] = _named(await _records(emulators, "dynamics", "invoice"), "externalDocumentNumber", "INV-2026-0666")
    assert made[0]["customerId"] == bc_invoice["customerId"]
    assert made[0]["appliesToInvoiceId"] == bc_invoice["id"]
    [mapped] = [o for o in await _objects(api, live, "dynamics", "payment") if o["id"] == made[0]["id"]]
    assert mapped["data"]["external_ids"] == {"procore": str(payment["id"]), "dynamics": made[0]["id"]}


async def test_a_sales_order_entered_in_business_central_becomes_a_procore_contract_once(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    bc_customer = next(
        c for c in await _records(emulators, "dynamics", "customer") if c["displayName"].startswith("Doha Infra")
    )
    order = await _new_in_bc(
        emulators,
        "contract",
        customerId=bc_customer["id"],
        customerNumber=bc_customer["number"],
        externalDocumentNumber="C-LEX-099",
        orderDate="2026-12-01",
        shortcutDimension1Code="LBT-2401",  # the JOB dimension: Procore commitments belong to a project
    )
    record = await wait_for_create(api, live, customer, "dynamics", "contract", order["id"])
    assert record["status"] == "synced", [t.get("error") for t in record["targets"]]
    await settle(emulators, temporal_client, customer)
    made = _named(await _records(emulators, "procore", "contract"), "number", "C-LEX-099")
    assert len(made) == 1, made
    assert made[0]["type"] == "WorkOrderContract" and made[0]["project"]["id"] == PROJECT_PROCORE, made[0]
    assert len(await _creates(emulators, "procore", "contract")) == 1
