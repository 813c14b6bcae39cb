"""Conflict rules and one-way directions over real HTTP with both emulators: two-sided edits of one
payment, and what each connection rule makes of them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from models.webhook import DeltaResult
from tests.fixtures.api import assert_error
from tests.fixtures.live import canonical_payment, control, edit_in_platform, propagate, silence_webhooks
from tests.fixtures.net import auth
from tests.fixtures.propagate import PAYMENT_DYNAMICS, PAYMENT_PROCORE
from tests.fixtures.sync import settle

pytestmark = pytest.mark.usefixtures("worker")


async def _rules(api: httpx.AsyncClient, key: str, platform: str, **body: Any) -> dict[str, Any]:
    resp = await api.patch(f"/api/v1/connections/{platform}", headers=auth(key), json=body)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()["data"]
    return data


async def _notes(emulators: Any) -> tuple[str, str]:
    procore = (await control(emulators, "procore", "GET", f"/records/payment/{PAYMENT_PROCORE}")).json()
    bc = (await control(emulators, "dynamics", "GET", f"/records/payment/{PAYMENT_DYNAMICS}")).json()
    return str(procore["notes"]), str(bc["description"])


async def _canonical_notes(api: httpx.AsyncClient, key: str) -> str:
    resp = await api.get("/api/v1/objects", headers=auth(key), params={"platform": "procore", "entity_type": "payment"})
    [mine] = [o for o in resp.json()["data"] if o["id"] == PAYMENT_PROCORE]
    return str(mine["data"]["notes"])


async def _delta(api: httpx.AsyncClient, key: str, temporal: Client, platform: str) -> DeltaResult:
    started = await api.post(f"/api/v1/connections/{platform}/sync", headers=auth(key))
    assert started.status_code == 202, started.text
    return await temporal.get_workflow_handle(started.json()["data"]["workflow_id"], result_type=DeltaResult).result()


async def _open_conflicts(api: httpx.AsyncClient, key: str) -> list[Any]:
    found: list[Any] = (await api.get("/api/v1/conflicts", headers=auth(key), params={"status": "open"})).json()["data"]
    return found


async def _two_sided(emulators: Any, first: tuple[str, str], second: tuple[str, str]) -> None:
    """Two people edit the payment's notes, one on each platform, a second apart (no notification
    reaches the engine: the test decides what it reads, and when)."""
    await silence_webhooks(emulators)
    for n, (platform, value) in enumerate((first, second)):
        if n:
            await asyncio.sleep(1.1)  # the platforms' own timestamps order the edits
        record, field = (PAYMENT_PROCORE, "notes") if platform == "procore" else (PAYMENT_DYNAMICS, "description")
        await edit_in_platform(emulators, platform, "payment", record, **{field: value})


async def test_latest_writes_the_later_api_change_over_an_earlier_edit(
    api: httpx.AsyncClient, live: str, emulators: Any
) -> None:
    body = await _rules(api, live, "dynamics", rules={"payment": "latest"})
    assert body["rules"] == {"payment": "latest"}
    await silence_webhooks(emulators)
    await edit_in_platform(emulators, "dynamics", "payment", PAYMENT_DYNAMICS, description="typed in BC")
    await asyncio.sleep(1.1)
    result = await propagate(api, auth(live), await canonical_payment(api, auth(live)), {"notes": "ours, later"})
    assert result["propagated"]["dynamics"]["writeStatus"] == "synced", result
    assert await _notes(emulators) == ("ours, later", "ours, later")
    assert await _open_conflicts(api, live) == []


async def test_latest_takes_the_later_platform_edit_everywhere(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    for platform in ("procore", "dynamics"):
        await _rules(api, live, platform, rules={"payment": "latest"})
    await _two_sided(emulators, ("procore", "earlier, in Procore"), ("dynamics", "later, in BC"))
    await _delta(api, live, temporal_client, "procore")  # the engine learns Procore's (earlier) edit first
    await settle(emulators, temporal_client, customer)
    assert await _notes(emulators) == ("later, in BC", "later, in BC")
    assert await _canonical_notes(api, live) == "later, in BC"
    assert await _open_conflicts(api, live) == []  # the conflict closed itself when BC's change applied


async def test_prefer_dynamics_keeps_business_centrals_value_whatever_the_order(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    for platform in ("procore", "dynamics"):
        await _rules(api, live, platform, rules={"payment": {"notes": "prefer:dynamics", "*": "manual"}})
    await _two_sided(emulators, ("dynamics", "BC's note"), ("procore", "Procore's later note"))
    await _delta(api, live, temporal_client, "procore")
    await settle(emulators, temporal_client, customer)
    assert await _notes(emulators) == ("BC's note", "BC's note")
    assert await _canonical_notes(api, live) == "BC's note"


async def test_manual_queues_the_conflict_and_writes_nothing(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    await _rules(api, live, "dynamics", rules={"payment": "manual"})
    await _two_sided(emulators, ("dynamics", "BC's note"), ("procore", "Procore's note"))
    await _delta(api, live, temporal_client, "procore")
    await settle(emulators, temporal_client, customer)
    assert await _notes(emulators) == ("Procore's note", "BC's note")  # split until a person decides
    [conflict] = await _open_conflicts(api, live)
    assert conflict["platform"] == "dynamics" and conflict["platform_values"] == {"notes": "BC's note"}


async def test_one_way_sync_ignores_the_downstream_platforms_edits(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    body = await _rules(api, live, "dynamics", directions={"payment": "procore_to_dynamics"})
    assert body["directions"] == {"payment": "procore_to_dynamics"}
    before = await _canonical_notes(api, live)
    await silence_webhooks(emulators)
    await edit_in_platform(emulators, "dynamics", "payment", PAYMENT_DYNAMICS, description="typed in BC")
    await _delta(api, live, temporal_client, "dynamics")
    await settle(emulators, temporal_client, customer)
    assert await _canonical_notes(api, live) == before  # ignored
    procore_notes, _ = await _notes(emulators)
    assert procore_notes == before
    # Recorded: the ignored change is a propagation with its reason.
    ignored = [
        w
        async for w in temporal_client.list_workflows(f"CustomerId = '{customer}' AND WorkflowType = 'WebhookWorkflow'")
    ]
    assert ignored, "the change was read"
    assert await _ignored_reasons(api, live, temporal_client, customer) != []
    # Procore's edits still flow, over BC's own edit (BC is downstream).
    await edit_in_platform(emulators, "procore", "payment", PAYMENT_PROCORE, notes="from Procore")
    await _delta(api, live, temporal_client, "procore")
    await settle(emulators, temporal_client, customer)
    assert await _notes(emulators) == ("from Procore", "from Procore")


async def _ignored_reasons(api: httpx.AsyncClient, key: str, temporal: Client, customer: str) -> list[str]:
    """The reasons recorded for ignored changes (GET /propagations/{id} of each webhook propagation)."""
    from models.webhook import WebhookResult

    reasons = []
    async for w in temporal.list_workflows(f"CustomerId = '{customer}' AND WorkflowType = 'WebhookWorkflow'"):
        result = await temporal.get_workflow_handle(w.id, result_type=WebhookResult).result()
        if result.reason.startswith("ignored"):
            reasons.append(result.reason)
    return reasons


async def test_bad_rules_and_directions_are_refused(api: httpx.AsyncClient, live: str) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"rules": {"payment": "newest"}}, "rules.payment"),
        ({"rules": {"payment": {"colour": "latest"}}}, "rules.payment.colour"),
        ({"rules": {"widget": "latest"}}, "rules.widget"),
        ({"rules": {"payment": "prefer:sage"}}, "rules.payment"),
        ({"directions": {"payment": "sideways"}}, "directions.payment"),
        ({"directions": {"payment": "procore_to_procore"}}, "directions.payment"),
        ({}, "nothing to change"),
    ]
    for body, named in cases:
        resp = await api.patch("/api/v1/connections/dynamics", headers=auth(live), json=body)
        assert named in assert_error(resp, 400, "VALIDATION_ERROR")["message"], (body, resp.text)
    listed = (await api.get("/api/v1/connections", headers=auth(live))).json()["data"]["connections"]
    assert all(c["rules"] == {} and c["directions"] == {} for c in listed)


async def test_with_a_rule_edits_of_different_fields_merge(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    """A person changes the payment date in BC while we change the notes: with a rule set, neither
    change is lost, whatever the rule says about fields both sides change."""
    await _rules(api, live, "dynamics", rules={"payment": "prefer:dynamics"})
    await silence_webhooks(emulators)
    await edit_in_platform(emulators, "dynamics", "payment", PAYMENT_DYNAMICS, postingDate="2026-05-05")
    result = await propagate(api, auth(live), await canonical_payment(api, auth(live)), {"notes": "ours"})
    assert result["propagated"]["dynamics"]["writeStatus"] in ("conflict", "synced"), result
    await settle(emulators, temporal_client, customer)
    bc = (await control(emulators, "dynamics", "GET", f"/records/payment/{PAYMENT_DYNAMICS}")).json()
    procore = (await control(emulators, "procore", "GET", f"/records/payment/{PAYMENT_PROCORE}")).json()
    assert (bc["description"], bc["postingDate"]) == ("ours", "2026-05-05")
    assert procore["notes"] == "ours" and str(procore["date"]).startswith("2026-05-05"), procore
    assert await _open_conflicts(api, live) == []
