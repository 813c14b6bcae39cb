"""Continuous sync, the engine's side: stale reads never win, pause holds what arrives and resume
applies it, GET /connections shows the sync state (over real HTTP, Temporal and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from models.propagate import PropagateInput
from propagation.logic import NativeChange, propagate_input
from scheduling.sync import sync_status
from settings import Settings
from store import propagate as q
from store.customers import find_key_owner
from tests.events.conftest import feed
from tests.fixtures.api import assert_error
from tests.fixtures.live import control, edit_in_platform, silence_webhooks, webhook_secret
from tests.fixtures.net import auth, wait_for
from tests.fixtures.propagate import PAYMENT_DYNAMICS, PAYMENT_PROCORE
from tests.fixtures.sync import settle
from workflows.propagate import PropagateWorkflow, propagate_workflow_id

pytestmark = pytest.mark.usefixtures("worker")


async def _customer(sessionmaker: async_sessionmaker[AsyncSession], key: str) -> uuid.UUID:
    async with sessionmaker() as s:
        owner = await find_key_owner(s, key)
    assert owner is not None
    return owner.customer_id


async def _bc_description(emulators: Any) -> str:
    record = (await control(emulators, "dynamics", "GET", f"/records/payment/{PAYMENT_DYNAMICS}")).json()
    return str(record["description"])


async def test_a_change_read_from_an_older_version_never_overwrites_a_newer_one(
    live: str,
    emulators: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
    settings: Settings,
) -> None:
    """Two reads of one Procore record handed on out of order (a late notification, a delta pass
    racing a webhook): the one read from the older version changes nothing, anywhere."""
    customer = await _customer(sessionmaker, live)
    async with sessionmaker() as s:
        record = await q.resolve_platform_record(s, customer, "procore", PAYMENT_PROCORE, "payment")
        entity = await q.load_canonical(s, customer, record.canonical_id)

    def read_at(notes: str, stamp: str) -> PropagateInput:
        params = propagate_input(
            propagation_id=f"prop_{uuid.uuid4().hex[:24]}",
            customer_id=str(customer),
            canonical_id=record.canonical_id,
            entity_type="payment",
            current=entity.data,
            change=NativeChange("procore", PAYMENT_PROCORE, record.native, {"notes": notes}),
            request={"test": "stale read"},
        )
        return params.model_copy(update={"source_version": {"updated_at": stamp}})

    async def run(params: PropagateInput) -> Any:
        return await temporal_client.execute_workflow(
            PropagateWorkflow.run,
            params,
            id=propagate_workflow_id(str(customer), params.propagation_id),
            task_queue=settings.task_queue,
        )

    newer = await run(read_at("read second", "2031-01-01T00:00:02Z"))
    assert newer.canonical["data"]["notes"] == "read second"
    older = await run(read_at("read first", "2031-01-01T00:00:01Z"))
    assert older.status == "noop" and older.canonical["updated_fields"] == [], older
    assert older.canonical["data"]["notes"] == "read second"
    assert await _bc_description(emulators) == "read second"
    async with sessionmaker() as s:
        again = await q.resolve_platform_record(s, customer, "procore", PAYMENT_PROCORE, "payment")
    # The source record holds the newer read (its stamp too: the next write's concurrency check).
    assert again.native["notes"] == "read second" and again.native["updated_at"] == "2031-01-01T00:00:02Z"


async def test_pause_holds_announced_changes_and_resume_applies_them(
    api: httpx.AsyncClient,
    live: str,
    emulators: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    secret = await webhook_secret(sessionmaker, settings, live, "procore")
    paused = await api.post("/api/v1/connections/procore/pause", headers=auth(live))
    assert paused.status_code == 200 and paused.json()["data"] == {
        "platform": "procore",
        "paused": True,
        "workflow_id": None,
    }
    # While paused: an on-demand pass is refused, and a notification is acknowledged but held.
    assert_error(await api.post("/api/v1/connections/procore/sync", headers=auth(live)), 409, "CONFLICT_ERROR")
    await silence_webhooks(emulators)  # this test hands on the notifications itself
    await edit_in_platform(emulators, "procore", "payment", PAYMENT_PROCORE, notes="edited while paused")
    event = {
        "resource_type": "Contract Payments",
        "resource_id": PAYMENT_PROCORE,
        "reason": "update",
        "id": f"01J{uuid.uuid4().hex[:23].upper()}",
        "company_id": "4271100",
    }
    taken = await api.post("/api/v1/webhooks/procore", json=event, headers=auth(secret))
    assert taken.status_code == 202 and taken.json()["data"]["accepted"] == 1
    connection = await _connection(api, live, "procore")
    assert connection["sync"]["paused"] is True and connection["sync"]["held"] == 1
    assert await _bc_description(emulators) != "edited while paused"

    resumed = await api.post("/api/v1/connections/procore/resume", headers=auth(live))
    assert resumed.status_code == 200 and resumed.json()["data"]["workflow_id"].startswith("resume-")

    async def arrived() -> bool:
        return await _bc_description(emulators) == "edited while paused"

    await wait_for(arrived, within=30)
    connection = await _connection(api, live, "procore")
    assert connection["sync"]["paused"] is False and connection["sync"]["held"] == 0
    assert connection["sync"]["changes_applied"] >= 1
    control_events = await feed(api, auth(live), types=["sync.paused", "sync.resumed"])
    assert [(e["type"], e["data"]["platform"]) for e in control_events] == [
        ("sync.paused", "procore"),
        ("sync.resumed", "procore"),
    ]
    # A repeat of the held delivery is a duplicate, not a second change.
    again = await api.post("/api/v1/webhooks/procore", json=event, headers=auth(secret))
    assert again.json()["data"]["duplicates"] == 1


async def _connection(api: httpx.AsyncClient, key: str, platform: str) -> dict[str, Any]:
    resp = await api.get("/api/v1/connections", headers=auth(key))
    assert resp.status_code == 200, resp.text
    found: dict[str, Any] = next(c for c in resp.json()["data"]["connections"] if c["platform"] == platform)
    return found


async def test_pause_and_resume_need_a_live_connection(api: httpx.AsyncClient, demo_key: str) -> None:
    for verb in ("pause", "resume"):
        assert_error(await api.post(f"/api/v1/connections/procore/{verb}", headers=auth(demo_key)), 404, "NOT_FOUND")
    assert (await api.post("/api/v1/connect", json={"platform": "procore"}, headers=auth(demo_key))).status_code == 200
    assert_error(await api.post("/api/v1/connections/procore/pause", headers=auth(demo_key)), 409, "CONFLICT_ERROR")
    sandbox = await _connection(api, demo_key, "procore")
    assert sandbox["sync"] is None  # a sandbox has nothing to sync from


async def test_a_delta_pass_is_shown_with_its_lag() -> None:
    row = {
        "sync": {
            "last_pass": {
                "started_at": "2026-12-03T10:00:00Z",
                "finished_at": "2026-12-03T10:00:04Z",
                "read": 3,
                "changed": 1,
            },
            "applied": 7,
            "paused": False,
            "subscriptions": [{"resource": "Projects update", "status": "active", "id": "1/2"}],
        },
        "held": 0,
    }
    state = sync_status(row, now=datetime(2026, 12, 3, 10, 5, 0, tzinfo=UTC))
    assert state["lag_seconds"] == 300 and state["changes_applied"] == 7
    assert state["subscriptions"][0]["status"] == "active"
    assert sync_status({"sync": None, "held": 2})["lag_seconds"] is None


async def test_our_own_write_coming_back_late_never_brings_an_older_value_back(
    api: httpx.AsyncClient,
    live: str,
    emulators: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
    settings: Settings,
) -> None:
    """BC applies our write of "v1" but its answer is lost, and BC then refuses for a while, so the
    fan-out is still retrying when canonical moves on to "v2" and BC's notification of our "v1"
    arrives: read fresh, it holds "v1", newer than our stored copy. It is our own write, not a
    person's edit: canonical stays "v2" and every platform ends on "v2"."""
    await silence_webhooks(emulators)  # this test hands on the notification itself
    customer = await _customer(sessionmaker, live)
    async with sessionmaker() as s:
        record = await q.resolve_platform_record(s, customer, "dynamics", PAYMENT_DYNAMICS, "payment")
    cid = record.canonical_id
    await control(emulators, "dynamics", "POST", "/faults", json={"kind": "drop_after_apply", "count": 1, "method": "PATCH"})
    await control(
        emulators, "dynamics", "POST", "/faults", json={"kind": "unavailable", "count": 1000, "method": "PATCH", "retry_after": 1}
    )
    h = auth(live)
    for notes in ("v1", "v2"):
        resp = await api.post(
            "/api/v1/propagate", headers=h, json={"canonical_id": cid, "entity_type": "payment", "data": {"notes": notes}}
        )
        assert resp.status_code in (200, 502), resp.text
    assert await _bc_description(emulators) == "v1"  # applied, answer lost; "v2" waits behind the outage
    secret = await webhook_secret(sessionmaker, settings, live, "dynamics")
    note = {
        "subscriptionId": "s-echo",
        "clientState": secret,
        "changeType": "updated",
        "resource": f"api/v2.0/companies(00000000-0000-0000-0000-000000000001)/customerPayments({PAYMENT_DYNAMICS})",
        "lastModifiedDateTime": datetime.now(UTC).isoformat(),
    }
    delivered = await api.post("/api/v1/webhooks/dynamics", json={"value": [note]})
    assert delivered.status_code == 202 and delivered.json()["data"]["accepted"] == 1, delivered.text

    async def handled() -> bool:
        done = [
            w
            async for w in temporal_client.list_workflows(
                f"CustomerId = '{customer}' AND WorkflowType = 'WebhookWorkflow' AND ExecutionStatus = 'Completed'"
            )
        ]
        return bool(done)

    await wait_for(handled, within=30)
    assert await _bc_description(emulators) == "v1"  # the outage still holds "v2" back
    await control(emulators, "dynamics", "DELETE", "/faults")  # BC is back

    async def settled() -> bool:
        procore = (await control(emulators, "procore", "GET", f"/records/payment/{PAYMENT_PROCORE}")).json()
        return await _bc_description(emulators) == "v2" and procore["notes"] == "v2"

    await wait_for(settled, within=60)
    await settle(emulators, temporal_client, str(customer), rounds=240)  # every retry has run out
    assert await _bc_description(emulators) == "v2"
    objects = await api.get("/api/v1/objects", headers=h, params={"platform": "dynamics", "entity_type": "payment"})
    [mine] = [o for o in objects.json()["data"] if o["id"] == PAYMENT_DYNAMICS]
    assert mine["data"]["notes"] == "v2"
    procore_writes = (await control(emulators, "procore", "GET", "/writes", params={"source": "api"})).json()["writes"]
    values = [w["changes"]["notes"]["new"] for w in procore_writes if "notes" in w["changes"]]
    assert values == ["v1", "v2"], values  # "v1" never came back to Procore
