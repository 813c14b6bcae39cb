"""Continuous sync end to end: the engine's own subscriptions on the emulators, and edits made in one
platform's UI reaching the other by real webhook deliveries (or, when those are lost, by a delta
pass), exactly once and never echoed back. Real HTTP, Temporal and PostgreSQL throughout."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from emulators import procore as procore_emulator
from models.webhook import DeltaResult, SubscriptionInput, SubscriptionResult
from platforms.procore.subscriptions import EVENTS, RESOURCES
from scheduling.disconnect import remove_customer
from settings import Settings
from store.customers import find_key_owner
from tests.fixtures.emulators import BC_API
from tests.fixtures.live import control, edit_in_platform, writes
from tests.fixtures.net import auth, wait_for
from tests.fixtures.propagate import PAYMENT_DYNAMICS, PAYMENT_PROCORE
from tests.fixtures.sync import platform_call, settle
from workflows.sync import SubscriptionsWorkflow, subscriptions_workflow_id

pytestmark = pytest.mark.usefixtures("worker")

HOOKS = "/rest/v1.0/webhooks/hooks"
COMPANY = {"company_id": str(procore_emulator.COMPANY_ID)}
SUBSCRIPTIONS = f"{BC_API}/subscriptions"


async def _hooks(emulators: Any) -> list[dict[str, Any]]:
    resp = await platform_call(emulators, "procore", "GET", HOOKS, params=COMPANY)
    assert resp.status_code == 200, resp.text
    hooks: list[dict[str, Any]] = resp.json()
    return hooks


async def _triggers(emulators: Any, hook_id: Any) -> list[dict[str, Any]]:
    resp = await platform_call(emulators, "procore", "GET", f"{HOOKS}/{hook_id}/triggers", params=COMPANY)
    assert resp.status_code == 200, resp.text
    triggers: list[dict[str, Any]] = resp.json()
    return triggers


async def _subscriptions(emulators: Any) -> list[dict[str, Any]]:
    resp = await platform_call(emulators, "dynamics", "GET", SUBSCRIPTIONS)
    assert resp.status_code == 200, resp.text
    subs: list[dict[str, Any]] = resp.json()["value"]
    return subs


async def _check(temporal: Client, settings: Settings, customer: str, platform: str) -> SubscriptionResult:
    """A subscription check now, as its schedule runs it (joins the one connect started, if running)."""
    return await temporal.execute_workflow(
        SubscriptionsWorkflow.run,
        SubscriptionInput(customer_id=customer, platform=platform),
        id=subscriptions_workflow_id(customer, platform),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def _bc(emulators: Any) -> str:
    return str(
        (await control(emulators, "dynamics", "GET", f"/records/payment/{PAYMENT_DYNAMICS}")).json()["description"]
    )


async def _procore(emulators: Any) -> str:
    return str((await control(emulators, "procore", "GET", f"/records/payment/{PAYMENT_PROCORE}")).json()["notes"])


async def _deliveries(emulators: Any, platform: str, **filters: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (await control(emulators, platform, "GET", "/deliveries", params=filters)).json()[
        "deliveries"
    ]
    return rows


async def _connection(api: httpx.AsyncClient, key: str, platform: str) -> dict[str, Any]:
    resp = await api.get("/api/v1/connections", headers=auth(key))
    assert resp.status_code == 200, resp.text
    found: dict[str, Any] = next(c for c in resp.json()["data"]["connections"] if c["platform"] == platform)
    return found


async def test_connect_registers_the_subscriptions_once(
    api: httpx.AsyncClient,
    live: str,
    emulators: Any,
    customer: str,
    temporal_client: Client,
    settings: Settings,
    public_api: str,
) -> None:
    for _ in range(2):  # the first check registered them; the next ones find them and add nothing
        hooks = await _hooks(emulators)
        assert len(hooks) == 1, hooks
        hook = hooks[0]
        assert hook["destination_url"] == f"{public_api}/api/v1/webhooks/procore"
        assert hook["namespace"] == f"structural-{uuid.UUID(customer).hex[:12]}"
        # The credential is the connection's own secret (masked by Procore), never the API key.
        assert not hook["destination_headers"]["Authorization"].endswith(live[-5:])
        triggers = await _triggers(emulators, hook["id"])
        assert sorted((t["resource_name"], t["event_type"].lower()) for t in triggers) == sorted(
            (r, e) for r in RESOURCES for e in EVENTS
        )
        subs = await _subscriptions(emulators)
        assert sorted(s["resource"].rsplit("/", 1)[1] for s in subs) == sorted(
            ["customers", "customerPayments", "projects", "salesInvoices", "salesOrders"]
        ), subs
        assert {s["notificationUrl"] for s in subs} == {f"{public_api}/api/v1/webhooks/dynamics"}
        assert all(s["clientState"] and s["clientState"] != live for s in subs)
        for platform in ("procore", "dynamics"):
            result = await _check(temporal_client, settings, customer, platform)
            assert result.subscriptions and {s.status for s in result.subscriptions} == {"active"}, result
    shown = await _connection(api, live, "dynamics")
    assert [s["status"] for s in shown["sync"]["subscriptions"]] == ["active"] * len(subs)
    assert shown["sync"]["subscriptions_checked_at"] is not None and shown["sync"]["last_error"] is None


async def test_business_central_subscriptions_are_renewed_and_recreated(
    live: str,
    emulators: Any,
    customer: str,
    temporal_client: Client,
    settings: Settings,
) -> None:
    before = {s["resource"]: s for s in await _subscriptions(emulators)}
    # One lapses (three days without renewal, or BC deleted it after refused notifications).
    lapsed = next(s for s in before.values() if s["resource"].endswith("customerPayments"))
    await control(emulators, "dynamics", "POST", f"/subscriptions/{lapsed['subscriptionId']}/expire")
    # From now on BC grants an hour: less than the day ahead in which the engine renews.
    await control(emulators, "dynamics", "PATCH", "/settings", json={"webhooks": {"subscription_ttl_seconds": 3600}})
    result = await _check(temporal_client, settings, customer, "dynamics")
    after = {s["resource"]: s for s in await _subscriptions(emulators)}
    assert after.keys() == before.keys()
    recreated = after[lapsed["resource"]]
    assert recreated["subscriptionId"] != lapsed["subscriptionId"]
    states = {s.id: s.status for s in result.subscriptions}
    assert states[recreated["subscriptionId"]] == "expiring"
    assert all(states[s["subscriptionId"]] == "active" for r, s in after.items() if r != lapsed["resource"])
    # The next check renews it (PATCH: the same subscription, a later expiry, BC's handshake again).
    handshakes = len(await _deliveries(emulators, "dynamics", kind="handshake"))
    await asyncio.sleep(1.1)
    await _check(temporal_client, settings, customer, "dynamics")
    renewed = {s["resource"]: s for s in await _subscriptions(emulators)}[lapsed["resource"]]
    assert renewed["subscriptionId"] == recreated["subscriptionId"]
    assert renewed["expirationDateTime"] > recreated["expirationDateTime"]
    assert len(await _deliveries(emulators, "dynamics", kind="handshake")) == handshakes + 1
    # And it works: an edit of a payment is announced to us through it and reaches Procore.
    await edit_in_platform(emulators, "dynamics", "payment", PAYMENT_DYNAMICS, description="after renewal")

    async def arrived() -> bool:
        return await _procore(emulators) == "after renewal"

    await wait_for(arrived, within=30)


async def test_an_edit_in_either_platform_reaches_the_other_once_and_is_not_echoed(
    api: httpx.AsyncClient,
    live: str,
    emulators: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    customer: str,
    temporal_client: Client,
) -> None:
    await edit_in_platform(emulators, "procore", "payment", PAYMENT_PROCORE, notes="typed in Procore")

    async def in_bc() -> bool:
        return await _bc(emulators) == "typed in Procore"

    await wait_for(in_bc, within=30)
    await edit_in_platform(emulators, "dynamics", "payment", PAYMENT_DYNAMICS, description="typed in BC")

    async def in_procore() -> bool:
        return await _procore(emulators) == "typed in BC"

    await wait_for(in_procore, within=30)
    await settle(emulators, temporal_client, customer)
    # Each edit made exactly one write on the other platform; our writes came back to us as
    # notifications (delivered, below) and were recognised as ours: no write went back.
    bc_writes = await writes(emulators, "dynamics", PAYMENT_DYNAMICS)
    procore_writes = await writes(emulators, "procore", PAYMENT_PROCORE)
    assert [w["changes"]["description"]["new"] for w in bc_writes] == ["typed in Procore"], bc_writes
    assert [w["changes"]["notes"]["new"] for w in procore_writes] == ["typed in BC"], procore_writes
    assert len(await _deliveries(emulators, "procore", outcome="delivered")) >= 2  # the edit and our write's echo
    assert len(await _deliveries(emulators, "dynamics", outcome="delivered")) >= 2
    resp = await api.get(
        "/api/v1/objects", params={"platform": "dynamics", "entity_type": "payment"}, headers=auth(live)
    )
    canonical = next(o for o in resp.json()["data"] if o["id"] == PAYMENT_DYNAMICS)
    assert canonical["data"]["notes"] == "typed in BC"
    assert (await _connection(api, live, "procore"))["sync"]["changes_applied"] >= 1
    # One propagation per edit: the notifications of our own writes started none (a write back
    # of the same value would be invisible in the write logs, a propagation is not).
    async with sessionmaker() as s:
        sources = (
            (
                await s.execute(
                    text("SELECT source_platform FROM propagations WHERE canonical_id = :c ORDER BY created_at"),
                    {"c": canonical["canonical_id"]},
                )
            )
            .scalars()
            .all()
        )
    assert sources == ["procore", "dynamics"], sources


async def _pass(api: httpx.AsyncClient, key: str, temporal: Client, platform: str, **query: str) -> dict[str, Any]:
    started = await api.post(f"/api/v1/connections/{platform}/sync", headers=auth(key), params=query)
    assert started.status_code == 202, started.text
    handle = temporal.get_workflow_handle(started.json()["data"]["workflow_id"], result_type=DeltaResult)
    result = await handle.result()
    return {"types": {r.entity_type: r for r in result.types}, "result": result}


async def test_a_lost_notification_is_caught_up_by_the_delta_pass(
    api: httpx.AsyncClient,
    live: str,
    emulators: Any,
    customer: str,
    temporal_client: Client,
) -> None:
    await control(emulators, "procore", "PATCH", "/settings", json={"webhooks": {"faults": {"drop": 1.0}}})
    await edit_in_platform(emulators, "procore", "payment", PAYMENT_PROCORE, notes="never announced")
    await settle(emulators, temporal_client, customer)
    assert await _deliveries(emulators, "procore", outcome="dropped")
    assert await _bc(emulators) != "never announced"
    by_type = (await _pass(api, live, temporal_client, "procore"))["types"]
    assert by_type["payment"].changed == 1, by_type
    assert sum(r.changed for r in by_type.values()) == 1

    async def arrived() -> bool:
        return await _bc(emulators) == "never announced"

    await wait_for(arrived, within=30)
    await settle(emulators, temporal_client, customer)
    assert len(await writes(emulators, "dynamics", PAYMENT_DYNAMICS)) == 1
    assert await writes(emulators, "procore", PAYMENT_PROCORE) == []


async def test_procore_passes_read_the_hooks_delivery_journal_and_the_sweep_finds_what_procore_lost(
    api: httpx.AsyncClient,
    live: str,
    emulators: Any,
    customer: str,
    temporal_client: Client,
) -> None:
    """Procore's project-scoped lists cannot be asked what changed (one request per project, per
    contract for payments): after a first pass, a pass reads the hook's delivery log instead, which
    shows deliveries that failed or were given up; what Procore lost without a delivery is found by
    the deletion sweep's full read."""
    await _pass(api, live, temporal_client, "procore")  # lists read; the journal starts here
    # Our receiver unreachable: Procore's attempt fails and, with this emulator's window, is given up.
    await control(
        emulators,
        "procore",
        "PATCH",
        "/settings",
        json={"webhooks": {"faults": {"fail": 1.0}, "discard_after_seconds": 0.001}},
    )
    await edit_in_platform(emulators, "procore", "payment", PAYMENT_PROCORE, notes="delivery given up")
    await settle(emulators, temporal_client, customer)
    assert await _deliveries(emulators, "procore", outcome="discarded")
    assert await _bc(emulators) != "delivery given up"
    journal = await _pass(api, live, temporal_client, "procore")
    # The journal types read the hook's log (a list read of contracts would read none: none changed).
    assert journal["types"]["payment"].changed == 1, journal
    assert journal["types"]["contract"].read == journal["types"]["payment"].read >= 1, journal
    assert journal["types"]["contract"].changed == 0

    async def arrived(value: str) -> bool:
        return await _bc(emulators) == value

    await wait_for(lambda: arrived("delivery given up"), within=30)
    await settle(emulators, temporal_client, customer)
    assert len(await writes(emulators, "dynamics", PAYMENT_DYNAMICS)) == 1

    # Lost inside Procore (no delivery at all): no journal shows it, the sweep's full read does.
    await control(emulators, "procore", "PATCH", "/settings", json={"webhooks": {"faults": {"fail": 0.0, "drop": 1.0}}})
    await edit_in_platform(emulators, "procore", "payment", PAYMENT_PROCORE, notes="lost inside Procore")
    await settle(emulators, temporal_client, customer)
    unseen = await _pass(api, live, temporal_client, "procore")
    assert unseen["types"]["payment"].changed == 0  # the given-up delivery read again is not a new change
    await settle(emulators, temporal_client, customer)
    assert await _bc(emulators) != "lost inside Procore"
    swept = await _pass(api, live, temporal_client, "procore", sweep="true")
    assert swept["result"].swept
    await wait_for(lambda: arrived("lost inside Procore"), within=30)
    await settle(emulators, temporal_client, customer)
    assert len(await writes(emulators, "dynamics", PAYMENT_DYNAMICS)) == 2
    assert await writes(emulators, "procore", PAYMENT_PROCORE) == []


async def test_duplicated_and_reordered_notifications_apply_once_and_end_on_the_latest_value(
    live: str,
    emulators: Any,
    customer: str,
    temporal_client: Client,
) -> None:
    faults = {"duplicate": 1.0, "reorder_window_seconds": 1.0, "seed": 7}
    await control(emulators, "procore", "PATCH", "/settings", json={"webhooks": {"faults": faults}})
    for value in ("first", "second", "third"):
        await edit_in_platform(emulators, "procore", "payment", PAYMENT_PROCORE, notes=value)

    async def arrived() -> bool:
        return await _bc(emulators) == "third"

    await wait_for(arrived, within=30)
    await settle(emulators, temporal_client, customer)
    sent = await _deliveries(emulators, "procore", outcome="delivered")
    assert any("duplicate" in d["faults"] for d in sent) and any("reorder" in d["faults"] for d in sent), sent
    # Every notification read the record fresh: at most one write per edit, none after the latest,
    # and never an older value over a newer one.
    values = [w["changes"]["description"]["new"] for w in await writes(emulators, "dynamics", PAYMENT_DYNAMICS)]
    assert 1 <= len(values) <= 3 and values[-1] == "third", values
    assert values == sorted(values, key=["first", "second", "third"].index), values
    assert await _bc(emulators) == "third"
    assert await writes(emulators, "procore", PAYMENT_PROCORE) == []


async def test_a_delivery_with_a_wrong_secret_changes_nothing_until_the_check_repairs_the_hook(
    live: str,
    emulators: Any,
    customer: str,
    temporal_client: Client,
    settings: Settings,
) -> None:
    await control(
        emulators,
        "procore",
        "PATCH",
        "/settings",
        json={"webhooks": {"backoff_initial_seconds": 0.2, "backoff_max_seconds": 0.5}},
    )
    hook = (await _hooks(emulators))[0]
    # Somebody edits the hook's headers in Procore (or an attacker guesses): deliveries carry another secret.
    tampered = await platform_call(
        emulators,
        "procore",
        "PATCH",
        f"{HOOKS}/{hook['id']}",
        json={**COMPANY, "hook": {"destination_headers": {"Authorization": "Bearer stx_wh_guessed"}}},
    )
    assert tampered.status_code == 200, tampered.text
    await edit_in_platform(emulators, "procore", "payment", PAYMENT_PROCORE, notes="sent with a wrong secret")

    async def refused() -> bool:
        return any(d["status"] == 401 for d in await _deliveries(emulators, "procore", kind="event"))

    await wait_for(refused, within=20)
    assert await _bc(emulators) != "sent with a wrong secret"
    assert await writes(emulators, "dynamics", PAYMENT_DYNAMICS) == []
    # The next check sees the hook lost our secret and puts it back; Procore's retry then gets through.
    result = await _check(temporal_client, settings, customer, "procore")
    assert {s.status for s in result.subscriptions} == {"active"}

    async def arrived() -> bool:
        return await _bc(emulators) == "sent with a wrong secret"

    await wait_for(arrived, within=30)
    assert len(await _hooks(emulators)) == 1


async def test_pause_holds_real_deliveries_and_resume_applies_them(
    api: httpx.AsyncClient,
    live: str,
    emulators: Any,
    customer: str,
    temporal_client: Client,
) -> None:
    assert (await api.post("/api/v1/connections/dynamics/pause", headers=auth(live))).status_code == 200
    await edit_in_platform(emulators, "dynamics", "payment", PAYMENT_DYNAMICS, description="edited while paused")
    await settle(emulators, temporal_client, customer)
    assert await _deliveries(emulators, "dynamics", kind="batch", outcome="delivered")  # acknowledged...
    shown = (await _connection(api, live, "dynamics"))["sync"]
    assert shown["paused"] is True and shown["held"] == 1  # ...and held
    assert await _procore(emulators) != "edited while paused"
    assert (await api.post("/api/v1/connections/dynamics/resume", headers=auth(live))).status_code == 200

    async def arrived() -> bool:
        return await _procore(emulators) == "edited while paused"

    await wait_for(arrived, within=30)
    await settle(emulators, temporal_client, customer)
    assert len(await writes(emulators, "procore", PAYMENT_PROCORE)) == 1
    assert (await _connection(api, live, "dynamics"))["sync"]["held"] == 0


async def test_removing_a_connection_removes_its_subscriptions(
    api: httpx.AsyncClient,
    live: str,
    emulators: Any,
    customer: str,
    temporal_client: Client,
) -> None:
    assert await _hooks(emulators) and await _subscriptions(emulators)
    gone = await api.delete("/api/v1/connections/procore", headers=auth(live))
    assert gone.status_code == 200, gone.text
    assert gone.json()["data"] == {
        "platform": "procore",
        "status": "disconnected",
        "subscriptions_removed": 1,
        "subscriptions_left": None,
    }
    assert await _hooks(emulators) == []
    assert [
        c["platform"] for c in (await api.get("/api/v1/connections", headers=auth(live))).json()["data"]["connections"]
    ] == ["dynamics"]
    # An edit in Procore now reaches nobody; the remaining connection still syncs.
    await edit_in_platform(emulators, "procore", "payment", PAYMENT_PROCORE, notes="after disconnect")
    assert (await api.delete("/api/v1/connections/procore", headers=auth(live))).status_code == 404
    gone = await api.delete("/api/v1/connections/dynamics", headers=auth(live))
    assert gone.status_code == 200 and gone.json()["data"]["subscriptions_removed"] == 5, gone.text
    assert await _subscriptions(emulators) == []
    await settle(emulators, temporal_client, customer)
    assert await writes(emulators, "dynamics", PAYMENT_DYNAMICS) == []
    schedules = [s.id async for s in await temporal_client.list_schedules() if customer in s.id]
    assert schedules == []


async def test_deleting_a_customer_removes_its_subscriptions(
    live: str,
    emulators: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    customer: str,
    temporal_client: Client,
    settings: Settings,
) -> None:
    assert await _hooks(emulators) and await _subscriptions(emulators)
    async with sessionmaker() as s:
        await remove_customer(s, temporal_client, settings, uuid.UUID(customer))  # `structural customers delete`
        await s.commit()
    assert await _hooks(emulators) == [] and await _subscriptions(emulators) == []
    async with sessionmaker() as s:
        assert await find_key_owner(s, live) is None
    schedules = [s.id async for s in await temporal_client.list_schedules() if customer in s.id]
    assert schedules == []


async def test_simultaneous_edits_of_one_field_on_both_platforms_converge(
    api: httpx.AsyncClient,
    live: str,
    emulators: Any,
    customer: str,
    temporal_client: Client,
) -> None:
    """Two people change the same payment's note in Procore and in BC at (nearly) the same moment:
    whatever order the notifications land in, every platform and canonical end on one value, and it
    stays there (no flip-flop)."""
    await asyncio.gather(
        edit_in_platform(emulators, "procore", "payment", PAYMENT_PROCORE, notes="Procore's word"),
        edit_in_platform(emulators, "dynamics", "payment", PAYMENT_DYNAMICS, description="BC's word"),
    )
    await settle(emulators, temporal_client, customer)
    resp = await api.get(
        "/api/v1/objects", params={"platform": "procore", "entity_type": "payment"}, headers=auth(live)
    )
    canonical = next(o for o in resp.json()["data"] if o["id"] == PAYMENT_PROCORE)["data"]["notes"]
    assert canonical in ("Procore's word", "BC's word")
    assert await _procore(emulators) == canonical and await _bc(emulators) == canonical
    # Settled means settled: a delta pass of each platform finds nothing to change.
    for platform in ("procore", "dynamics"):
        started = await api.post(f"/api/v1/connections/{platform}/sync", headers=auth(live))
        handle = temporal_client.get_workflow_handle(started.json()["data"]["workflow_id"], result_type=DeltaResult)
        assert sum(r.changed for r in (await handle.result()).types) == 0, platform
    await settle(emulators, temporal_client, customer)
    assert await _procore(emulators) == canonical and await _bc(emulators) == canonical


async def test_a_project_renamed_in_procore_reaches_business_central(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    """A project's show carries keys its list does not (`is_erp_integrated`): read fresh after a
    webhook, only the keys the engine stores or maps are a change (found by bench/sync)."""
    projects = (await control(emulators, "procore", "GET", "/records/project")).json()["records"]
    project = next(p for p in projects if p["id"] == 341276)
    await edit_in_platform(emulators, "procore", "project", "341276", name="Lusail Boulevard Tower (renamed)")
    await settle(emulators, temporal_client, customer)
    listed = await api.get("/api/v1/objects", headers=auth(live), params={"platform": "procore", "entity_type": "project"})
    [mine] = [o for o in listed.json()["data"] if o["id"] == str(project["id"])]
    assert mine["data"]["name"] == "Lusail Boulevard Tower (renamed)"
    bc_id = next(m["platform_id"] for m in mine["mappings"] if m["platform"] == "dynamics")
    bc = (await control(emulators, "dynamics", "GET", f"/records/project/{bc_id}")).json()
    assert bc["displayName"] == "Lusail Boulevard Tower (renamed)"
