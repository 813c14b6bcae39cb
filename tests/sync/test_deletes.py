"""Deletes across platforms over real HTTP: a record deleted in one platform's UI is tombstoned and,
where the other connection's policy says so and that platform allows it, deleted there once; what
finance forbids (a posted invoice) is refused with the platform's reason; a deletion no webhook
announced is found by the delta pass's sweep; DELETE /objects applies the policies too."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from temporalio.client import Client

from activities.delete import delete_propagation_id
from models.webhook import DeltaResult
from tests.fixtures.live import control, silence_webhooks
from tests.fixtures.net import auth
from tests.fixtures.sync import settle

pytestmark = pytest.mark.usefixtures("worker")

CONTRACT_PROCORE = 1945782  # C-LEX-001 (demo data)
PROJECT_PROCORE = 341276  # LBT-2401
POSTED = ("Open", "Paid", "Canceled", "Corrective")


async def _records(emulators: Any, platform: str, entity_type: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = (await control(emulators, platform, "GET", f"/records/{entity_type}")).json()[
        "records"
    ]
    return records


async def _api_writes(emulators: Any, platform: str, operation: str) -> list[dict[str, Any]]:
    body = (await control(emulators, platform, "GET", "/writes", params={"source": "api"})).json()
    return [w for w in body["writes"] if w["operation"] == operation]


async def _objects(api: httpx.AsyncClient, key: str, platform: str, entity_type: str, **params: Any) -> list[Any]:
    resp = await api.get(
        "/api/v1/objects", headers=auth(key), params={"platform": platform, "entity_type": entity_type, **params}
    )
    assert resp.status_code == 200, resp.text
    found: list[Any] = resp.json()["data"]
    return found


async def _policy(api: httpx.AsyncClient, key: str, platform: str, policy: str) -> None:
    resp = await api.patch(f"/api/v1/connections/{platform}", headers=auth(key), json={"delete_policy": policy})
    assert resp.status_code == 200, resp.text


async def _propagation(api: httpx.AsyncClient, key: str, customer: str, canonical_id: str) -> dict[str, Any]:
    resp = await api.get(f"/api/v1/propagations/{delete_propagation_id(customer, canonical_id)}", headers=auth(key))
    assert resp.status_code == 200, resp.text
    record: dict[str, Any] = resp.json()["data"]
    return record


async def _draft_invoice_on_both(
    api: httpx.AsyncClient, key: str, emulators: Any, customer: str, temporal: Client, number: str
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A draft pay application entered in Procore, created in BC by the engine: (Procore record, BC
    record, canonical id)."""
    procore = (
        await control(
            emulators,
            "procore",
            "POST",
            "/records/invoice",
            json={
                "fields": {
                    "project_id": PROJECT_PROCORE,
                    "commitment_id": CONTRACT_PROCORE,
                    "invoice_number": number,
                    "billing_date": "2026-11-30",
                    "total_claimed_amount": "1000.00",
                    "status": "draft",
                }
            },
        )
    ).json()["record"]
    await settle(emulators, temporal, customer)
    [bc] = [r for r in await _records(emulators, "dynamics", "invoice") if r.get("externalDocumentNumber") == number]
    [mapped] = [o for o in await _objects(api, key, "procore", "invoice") if o["id"] == str(procore["id"])]
    return procore, bc, mapped["canonical_id"]


async def test_a_draft_invoice_deleted_in_procore_is_deleted_once_in_business_central(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    procore, bc, cid = await _draft_invoice_on_both(api, live, emulators, customer, temporal_client, "INV-2026-0901")
    await _policy(api, live, "dynamics", "propagate")
    await control(emulators, "procore", "DELETE", f"/records/invoice/{procore['id']}")
    await settle(emulators, temporal_client, customer)
    assert bc["id"] not in {r["id"] for r in await _records(emulators, "dynamics", "invoice")}
    deletes = await _api_writes(emulators, "dynamics", "delete")
    assert [str(w["record_id"]) for w in deletes] == [bc["id"]]  # once
    assert await _api_writes(emulators, "procore", "delete") == []  # the source is not touched
    record = await _propagation(api, live, customer, cid)
    assert record["format"] == "delete" and record["source_platform"] == "procore" and record["status"] == "synced"
    assert {t["platform"]: t["status"] for t in record["targets"]} == {"dynamics": "deleted"}
    assert record["response"]["canonical"]["deleted"]["by"] == "procore"
    # Gone everywhere: not listed, even with include_deleted (no platform holds a record of it).
    for platform in ("procore", "dynamics"):
        listed = await _objects(api, live, platform, "invoice", include_deleted="true")
        assert cid not in {o["canonical_id"] for o in listed}, platform


async def test_a_posted_invoice_is_never_deleted_the_refusal_is_recorded(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    await _policy(api, live, "dynamics", "propagate")
    posted = {r["id"]: r for r in await _records(emulators, "dynamics", "invoice") if r.get("status") in POSTED}
    pair = next(
        o
        for o in await _objects(api, live, "procore", "invoice")
        if any(m["platform"] == "dynamics" and m["platform_id"] in posted for m in o["mappings"])
    )
    bc_id = next(m["platform_id"] for m in pair["mappings"] if m["platform"] == "dynamics")
    await control(emulators, "procore", "DELETE", f"/records/invoice/{pair['id']}")
    await settle(emulators, temporal_client, customer)
    assert bc_id in {r["id"] for r in await _records(emulators, "dynamics", "invoice")}
    record = await _propagation(api, live, customer, pair["canonical_id"])
    assert record["status"] == "partial", record
    [target] = record["targets"]
    assert target["platform"] == "dynamics" and target["status"] == "refused", target
    assert "posted" in target["error"], target
    # The BC record stays, listed as deleted in canonical.
    shown = [o for o in await _objects(api, live, "dynamics", "invoice", include_deleted="true") if o["id"] == bc_id]
    assert shown and shown[0]["deleted"]["by"] == "procore"
    assert bc_id not in {o["id"] for o in await _objects(api, live, "dynamics", "invoice")}


async def _delta(api: httpx.AsyncClient, key: str, temporal: Client, platform: str, **params: Any) -> DeltaResult:
    started = await api.post(f"/api/v1/connections/{platform}/sync", headers=auth(key), params=params)
    assert started.status_code == 202, started.text
    return await temporal.get_workflow_handle(started.json()["data"]["workflow_id"], result_type=DeltaResult).result()


async def test_a_deletion_no_webhook_announced_is_found_by_the_sweep_and_kept_by_default(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    await silence_webhooks(emulators)
    payment = next(
        o
        for o in await _objects(api, live, "dynamics", "payment")
        if {m["platform"] for m in o["mappings"]} == {"procore", "dynamics"}
    )
    await control(emulators, "dynamics", "DELETE", f"/records/payment/{payment['id']}")
    # Not due (the connect read every record just now), and the change feed names no deletes.
    quiet = await _delta(api, live, temporal_client, "dynamics")
    assert not quiet.swept and quiet.deleted == 0, quiet
    swept = await _delta(api, live, temporal_client, "dynamics", sweep="true")
    assert swept.swept and swept.deleted == 1, swept
    await settle(emulators, temporal_client, customer)
    record = await _propagation(api, live, customer, payment["canonical_id"])
    assert record["source_platform"] == "dynamics"
    assert {t["platform"]: t["status"] for t in record["targets"]} == {"procore": "kept"}
    assert await _api_writes(emulators, "procore", "delete") == []
    procore_id = next(m["platform_id"] for m in payment["mappings"] if m["platform"] == "procore")
    assert procore_id not in {o["id"] for o in await _objects(api, live, "procore", "payment")}
    [kept] = [o for o in await _objects(api, live, "procore", "payment", include_deleted="true") if o["id"] == procore_id]
    assert kept["deleted"]["by"] == "dynamics"
    # A later sweep finds nothing more.
    again = await _delta(api, live, temporal_client, "dynamics", sweep="true")
    assert again.deleted == 0, again


async def test_delete_through_the_api_deletes_where_each_policy_says(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    procore, bc, cid = await _draft_invoice_on_both(api, live, emulators, customer, temporal_client, "INV-2026-0902")
    await _policy(api, live, "procore", "propagate")  # BC keeps the default, tombstone_only
    resp = await api.delete(f"/api/v1/objects/{cid}", headers=auth(live))
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert {p: e["writeStatus"] for p, e in data["propagated"].items()} == {"procore": "deleted", "dynamics": "kept"}
    await settle(emulators, temporal_client, customer)
    assert procore["id"] not in {r["id"] for r in await _records(emulators, "procore", "invoice")}
    assert bc["id"] in {r["id"] for r in await _records(emulators, "dynamics", "invoice")}
    assert [str(w["record_id"]) for w in await _api_writes(emulators, "procore", "delete")] == [str(procore["id"])]
    assert await _api_writes(emulators, "dynamics", "delete") == []
    # Procore's delete notification comes back: recognised, nothing more happens.
    record = await _propagation(api, live, customer, cid)
    assert record["source_platform"] is None and record["status"] == "synced"


async def test_a_refused_delete_waits_for_a_replay_and_deletes_once_fixed(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    """A platform that refuses a delete (here, once: a fault) leaves the target refused with the
    reason, replayable through POST /propagations/{id}/retry; the replay deletes it, once."""
    procore, bc, cid = await _draft_invoice_on_both(api, live, emulators, customer, temporal_client, "INV-2026-0902")
    await _policy(api, live, "dynamics", "propagate")
    fault = {"kind": "error", "status": 400, "method": "DELETE", "path_prefix": "/"}
    await control(emulators, "dynamics", "POST", "/faults", json=fault)
    await control(emulators, "procore", "DELETE", f"/records/invoice/{procore['id']}")
    await settle(emulators, temporal_client, customer)
    record = await _propagation(api, live, customer, cid)
    assert record["status"] == "partial", record
    [target] = record["targets"]
    assert target["status"] == "refused" and "400" in target["error"], target
    assert bc["id"] in {r["id"] for r in await _records(emulators, "dynamics", "invoice")}
    replay = await api.post(f"/api/v1/propagations/{record['id']}/retry", headers=auth(live))
    assert replay.status_code == 200, replay.text
    body = replay.json()["data"]
    assert body["status"] == "synced" and body["propagated"]["dynamics"]["writeStatus"] == "deleted", body
    assert bc["id"] not in {r["id"] for r in await _records(emulators, "dynamics", "invoice")}
    assert [str(w["record_id"]) for w in await _api_writes(emulators, "dynamics", "delete")] == [bc["id"]]
    again = await api.post(f"/api/v1/propagations/{record['id']}/retry", headers=auth(live))
    assert again.status_code == 409, again.text  # nothing more to replay
