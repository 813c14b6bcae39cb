"""Webhook intake: Procore thin events and the BC handshake/batches, fetched and propagated once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from settings import Settings
from tests.fixtures.api import assert_error
from tests.fixtures.live import control, edit_in_platform, silence_webhooks, webhook_secret
from tests.fixtures.net import auth, wait_for
from tests.fixtures.propagate import PAYMENT_DYNAMICS, PAYMENT_PROCORE
from workflows.catch_up import CatchUpWorkflow
from workflows.delta import DeltaSyncWorkflow

pytestmark = pytest.mark.usefixtures("worker")


async def _payment(api: httpx.AsyncClient, key: str, platform: str, native_id: str) -> dict[str, Any]:
    resp = await api.get("/api/v1/objects", params={"platform": platform, "entity_type": "payment"}, headers=auth(key))
    obj: dict[str, Any] = next(o for o in resp.json()["data"] if o["id"] == native_id)
    return obj


async def test_procore_event_is_fetched_and_propagated_once(
    api: httpx.AsyncClient,
    live: str,
    emulators: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    secret = await webhook_secret(sessionmaker, settings, live, "procore")
    # somebody edits the payment in Procore; Procore then sends its thin event
    await silence_webhooks(emulators)  # this test hands on the notifications itself
    await edit_in_platform(emulators, "procore", "payment", PAYMENT_PROCORE, notes="edited in Procore")
    event = {
        "resource_name": "Contract Payments",
        "resource_id": int(PAYMENT_PROCORE),
        "event_type": "update",
        "ulid": f"01J{uuid.uuid4().hex[:20].upper()}",
        "company_id": 4271100,
    }
    # The customer's API key is not a webhook credential.
    assert_error(await api.post("/api/v1/webhooks/procore", json=event, headers=auth(live)), 401, "AUTHENTICATION_ERROR")
    resp = await api.post("/api/v1/webhooks/procore", json=event, headers=auth(secret))
    assert resp.status_code == 202, resp.text
    assert resp.json()["data"]["accepted"] == 1

    async def arrived() -> bool:
        remote = (await control(emulators, "dynamics", "GET", f"/records/payment/{PAYMENT_DYNAMICS}")).json()
        return bool(remote["description"] == "edited in Procore")

    await wait_for(arrived, within=30)
    canonical = await _payment(api, live, "procore", PAYMENT_PROCORE)
    assert canonical["data"]["notes"] == "edited in Procore"
    assert canonical["platform_data"]["notes"] == "edited in Procore"  # source mirror

    again = await api.post("/api/v1/webhooks/procore", json=event, headers=auth(secret))
    assert again.status_code == 202 and again.json()["data"] == {"accepted": 0, "duplicates": 1, "ignored": 0}
    async with sessionmaker() as s:
        count = (
            await s.execute(
                text("SELECT count(*) FROM propagations WHERE canonical_id = :c"), {"c": canonical["canonical_id"]}
            )
        ).scalar_one()
    assert count == 1


async def test_procore_event_needs_the_key(api: httpx.AsyncClient) -> None:
    event = {"resource_name": "Contract Payments", "resource_id": 1, "event_type": "update", "ulid": "x"}
    assert_error(await api.post("/api/v1/webhooks/procore", json=event), 401, "AUTHENTICATION_ERROR")


async def test_dynamics_handshake_and_batch(
    api: httpx.AsyncClient, live: str, emulators: Any, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    secret = await webhook_secret(sessionmaker, settings, live, "dynamics")
    handshake = await api.post("/api/v1/webhooks/dynamics", params={"validationToken": "tok-123"})
    assert handshake.status_code == 200 and handshake.text == "tok-123"
    await silence_webhooks(emulators)  # this test hands on the notifications itself
    await edit_in_platform(emulators, "dynamics", "payment", PAYMENT_DYNAMICS, description="edited in BC")
    batch = {
        "value": [
            {
                "subscriptionId": "s1",
                "clientState": secret,
                "changeType": "updated",
                "resource": f"api/v2.0/companies(00000000-0000-0000-0000-000000000001)/customerPayments({PAYMENT_DYNAMICS})",
                "lastModifiedDateTime": "2026-11-23T10:00:00Z",
            },
            {
                "subscriptionId": "s1",
                "clientState": secret,
                "changeType": "deleted",
                "resource": "api/v2.0/companies(00000000-0000-0000-0000-000000000001)/customers(00000000-0000-0000-0000-000000000002)",
                "lastModifiedDateTime": "2026-11-23T10:00:00Z",
            },
        ]
    }
    resp = await api.post("/api/v1/webhooks/dynamics", json=batch)
    assert resp.status_code == 202, resp.text
    # The deletion of a customer the connection does not know is taken in (its read finds nothing mapped).
    assert resp.json()["data"] == {"accepted": 2, "duplicates": 0, "ignored": 0}

    async def arrived() -> bool:
        remote = (await control(emulators, "procore", "GET", f"/records/payment/{PAYMENT_PROCORE}")).json()
        return bool(remote["notes"] == "edited in BC")

    await wait_for(arrived, within=30)
    # BC deletes a subscription whose notification is answered 4xx (other than 408/429): a
    # notification without a valid clientState, or a body we cannot read, is acknowledged and changes nothing.
    for wrong in ("stx_wh_nope", live, await webhook_secret(sessionmaker, settings, live, "procore")):
        # a made-up secret, the customer's API key, the secret of the customer's other connection
        bad = {"value": [{**batch["value"][0], "clientState": wrong, "subscriptionId": "s2"}]}
        refused = await api.post("/api/v1/webhooks/dynamics", json=bad)
        assert refused.status_code == 202 and refused.json()["data"] == {"accepted": 0, "duplicates": 0, "ignored": 1}
    for garbled in ({"values": "?"}, ["not", "a", "batch"]):
        answer = await api.post("/api/v1/webhooks/dynamics", json=garbled)
        assert answer.status_code == 202 and answer.json()["data"]["accepted"] == 0, answer.text
    # Procore has no such rule: a body it would not send is a 400.
    procore_secret = await webhook_secret(sessionmaker, settings, live, "procore")
    assert_error(
        await api.post("/api/v1/webhooks/procore", json=["x"], headers=auth(procore_secret)), 400, "VALIDATION_ERROR"
    )


async def test_dynamics_collection_notification_catches_up_the_resource(
    api: httpx.AsyncClient,
    live: str,
    emulators: Any,
    temporal_client: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    # More than 1,000 changes in 30 seconds: BC sends one `collection` notification without ids.
    started = datetime.now(UTC).isoformat()
    await silence_webhooks(emulators)  # this test hands on the notifications itself
    await edit_in_platform(emulators, "dynamics", "payment", PAYMENT_DYNAMICS, description="bulk edit in BC")
    note = {
        "subscriptionId": "s-bulk",
        "clientState": await webhook_secret(sessionmaker, settings, live, "dynamics"),
        "changeType": "collection",
        "resource": "api/v2.0/companies(00000000-0000-0000-0000-000000000001)/customerPayments",
        "lastModifiedDateTime": f"2026-11-23T10:{uuid.uuid4().int % 60:02d}:00Z",
    }
    resp = await api.post("/api/v1/webhooks/dynamics", json={"value": [note]})
    assert resp.status_code == 202, resp.text
    assert resp.json()["data"] == {"accepted": 1, "duplicates": 0, "ignored": 0}

    async def arrived() -> bool:
        remote = (await control(emulators, "procore", "GET", f"/records/payment/{PAYMENT_PROCORE}")).json()
        return bool(remote["notes"] == "bulk edit in BC")

    await wait_for(arrived, within=60)
    query = f"WorkflowType = 'CatchUpWorkflow' AND WorkflowId STARTS_WITH 'catch-up-' AND StartTime > '{started}'"

    async def listed() -> bool:
        return bool([w async for w in temporal_client.list_workflows(query)])

    await wait_for(listed, within=10)  # visibility lags the start a little
    catch_ups = [w async for w in temporal_client.list_workflows(query)]
    results = [await temporal_client.get_workflow_handle_for(CatchUpWorkflow.run, w.id).result() for w in catch_ups]
    # Only the edited payment differed from what the connection stored; it was followed once.
    assert any(r.changed == 1 and r.read >= 1 and r.unmapped == 0 for r in results), results


async def test_a_delta_pass_brings_over_a_change_no_webhook_announced(
    api: httpx.AsyncClient, live: str, emulators: Any, temporal_client: Any, demo_key: str
) -> None:
    # An edit in Business Central whose notification never arrives.
    await silence_webhooks(emulators)  # this test hands on the notifications itself
    await edit_in_platform(emulators, "dynamics", "payment", PAYMENT_DYNAMICS, description="missed by webhooks")
    started = await api.post("/api/v1/connections/dynamics/sync", headers=auth(live))
    assert started.status_code == 202, started.text
    workflow_id = started.json()["data"]["workflow_id"]
    result = await temporal_client.get_workflow_handle_for(DeltaSyncWorkflow.run, workflow_id).result()
    by_type = {r.entity_type: r for r in result.types}
    assert by_type["payment"].changed == 1 and by_type["customer"].changed == 0

    async def arrived() -> bool:
        remote = (await control(emulators, "procore", "GET", f"/records/payment/{PAYMENT_PROCORE}")).json()
        return bool(remote["notes"] == "missed by webhooks")

    await wait_for(arrived, within=30)
    # Our own write to Procore is no change to bring back, and the next BC pass reads from its watermark.
    for platform in ("procore", "dynamics"):
        again = await api.post(f"/api/v1/connections/{platform}/sync", headers=auth(live))
        assert again.status_code == 202, again.text
        handle = temporal_client.get_workflow_handle_for(DeltaSyncWorkflow.run, again.json()["data"]["workflow_id"])
        second = (await handle.result()).types
        assert sum(r.changed for r in second) == 0, platform
        if platform == "dynamics":
            # Read from the watermark less the overlap (the connect seeded it): only the payment edited
            # within that overlap, never the data set.
            assert {r.entity_type: r.read for r in second} == {
                r.entity_type: int(r.entity_type == "payment") for r in second
            }, second
    # A sandbox connection has nothing to read changes from.
    assert (await api.post("/api/v1/connect", json={"platform": "procore"}, headers=auth(demo_key))).status_code == 200
    sandbox = await api.post("/api/v1/connections/procore/sync", headers=auth(demo_key))
    assert_error(sandbox, 409, "CONFLICT_ERROR")
