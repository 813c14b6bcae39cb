"""Business Central webhook subscriptions over real HTTP: the handshake on create and renewal, the
subscription entity as ``$metadata`` declares it, If-Match, expiry, batched notifications to a real
receiver (merged updates, ``collection``), retries, deletion on a refused notification, validation
and reset."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI

from emulators import create_dynamics_app
from emulators.common import parse_timestamp
from emulators.dynamics import COMPANY_ID
from emulators.dynamics_subscriptions import DynamicsWebhookSettings
from platforms.dynamics import demo_data, metadata
from platforms.dynamics.webhooks import parse
from tests.emulators.receiver import Receiver, wait_for
from tests.emulators.test_dynamics_emulator import assert_bc_error
from tests.fixtures.emulators import BC_API, BC_COMPANY, bc_headers

Serve = Callable[[FastAPI], httpx.Client]
SUBSCRIPTIONS = f"{BC_API}/subscriptions"
CUSTOMERS = [c["id"] for c in demo_data.demo_records()["customer"]]
INVOICE = demo_data.demo_records()["invoice"][0]["id"]
CUSTOMERS_RESOURCE = f"/api/v2.0/companies({COMPANY_ID})/customers"


def settings(client: httpx.Client, **webhooks: Any) -> None:
    response = client.patch("/_control/settings", json={"webhooks": webhooks})
    assert response.status_code == 200, response.text


def quick(client: httpx.Client, **more: Any) -> None:
    # BC waits 30 s before notifying and retries after minutes; the settings shorten both.
    settings(client, batch_window_seconds=0.1, retry_delays_seconds=[0.05, 0.05, 0.05], **more)


def subscribe(
    client: httpx.Client, url: str, resource: str = CUSTOMERS_RESOURCE, client_state: str = "sk_state"
) -> httpx.Response:
    body = {"notificationUrl": url, "resource": resource, "clientState": client_state}
    return client.post(SUBSCRIPTIONS, headers=bc_headers(client), json=body)


def subscribed(client: httpx.Client, url: str, resource: str = CUSTOMERS_RESOURCE) -> dict[str, Any]:
    response = subscribe(client, url, resource)
    assert response.status_code == 201, response.text
    sub: dict[str, Any] = response.json()
    return sub


def edit(client: httpx.Client, entity_type: str, record_id: str, **fields: Any) -> None:
    response = client.patch(f"/_control/records/{entity_type}/{record_id}", json={"fields": fields})
    assert response.status_code == 200, response.text


def flush(client: httpx.Client) -> dict[str, Any]:
    response = client.post("/_control/webhooks/flush", json={"timeout": 10, "release": True})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def log(client: httpx.Client, **filters: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = client.get("/_control/deliveries", params=filters).json()["deliveries"]
    return rows


def listed(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get(SUBSCRIPTIONS, headers=bc_headers(client))
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["value"]
    return rows


# ------------------------------------------------------------------------------------ subscriptions


def test_a_subscription_is_made_by_handshake_and_renewed_by_patch(bc: httpx.Client, receiver: Receiver) -> None:
    created = subscribe(bc, f"{receiver.url}/api/v1/webhooks/dynamics")
    assert created.status_code == 201, created.text
    sub = created.json()
    # Every property of $metadata's `subscriptions` entity type, in order, after the annotations.
    props = list(metadata.schema().properties("subscriptions"))
    assert list(sub) == ["@odata.context", "@odata.etag", *props]
    assert sub["@odata.context"].endswith("/$metadata#subscriptions/$entity")
    assert created.headers["etag"] == sub["@odata.etag"]
    assert created.headers["location"].endswith(f"/subscriptions('{sub['subscriptionId']}')")
    assert len(sub["subscriptionId"]) == 32 and sub["clientState"] == "sk_state"
    assert sub["resource"] == CUSTOMERS_RESOURCE
    lifetime = parse_timestamp(sub["expirationDateTime"]) - parse_timestamp(sub["lastModifiedDateTime"])
    assert lifetime.total_seconds() == 3 * 24 * 3600
    [handshake] = receiver.handshakes()
    assert handshake.method == "POST" and handshake.path == "/api/v1/webhooks/dynamics"
    assert [r["kind"] for r in log(bc)] == ["handshake"]

    entity = f"{SUBSCRIPTIONS}('{sub['subscriptionId']}')"
    headers = bc_headers(bc)
    assert bc.get(entity, headers=headers).json()["subscriptionId"] == sub["subscriptionId"]
    assert [s["subscriptionId"] for s in listed(bc)] == [sub["subscriptionId"]]

    # Renewal: If-Match required and current, a new handshake, three days from now.
    assert_bc_error(bc.patch(entity, headers=headers, json={}), 400, "BadRequest_InvalidToken")
    stale = bc.patch(entity, headers={**headers, "If-Match": 'W/"old"'}, json={})
    assert_bc_error(stale, 409, "Request_EntityChanged")
    bc.post("/_control/clock", json={"seconds": 24 * 3600})
    headers = bc_headers(bc)  # a day later: the old token has expired
    renewed = bc.patch(entity, headers={**headers, "If-Match": sub["@odata.etag"]}, json={"clientState": "rotated"})
    assert renewed.status_code == 200, renewed.text
    moved = parse_timestamp(renewed.json()["expirationDateTime"]) - parse_timestamp(sub["expirationDateTime"])
    assert 24 * 3600 <= moved.total_seconds() < 24 * 3600 + 5
    assert renewed.json()["clientState"] == "rotated" and renewed.json()["@odata.etag"] != sub["@odata.etag"]
    assert len(receiver.handshakes()) == 2

    # Delete: If-Match required too.
    assert_bc_error(bc.delete(entity, headers=headers), 400, "BadRequest_InvalidToken")
    gone = bc.delete(entity, headers={**headers, "If-Match": renewed.json()["@odata.etag"]})
    assert gone.status_code == 204
    assert_bc_error(bc.get(entity, headers=headers), 404, "BadRequest_ResourceNotFound")
    assert listed(bc) == []


def test_a_failed_handshake_makes_no_subscription(bc: httpx.Client, receiver: Receiver) -> None:
    for mode in ("wrong", "fail"):
        receiver.handshake = mode
        assert_bc_error(subscribe(bc, receiver.url), 400, "BadRequest")
    assert listed(bc) == []
    assert [r["outcome"] for r in log(bc, kind="handshake")] == ["failed", "failed"]
    # Nobody listening at all fails the same way.
    assert_bc_error(subscribe(bc, "http://127.0.0.1:9/nobody"), 400, "BadRequest")
    # A renewal whose handshake fails leaves the subscription as it was.
    receiver.handshake = "echo"
    sub = subscribed(bc, receiver.url)
    receiver.handshake = "wrong"
    entity = f"{SUBSCRIPTIONS}('{sub['subscriptionId']}')"
    refused = bc.patch(entity, headers={**bc_headers(bc), "If-Match": sub["@odata.etag"]}, json={})
    assert_bc_error(refused, 400, "BadRequest")
    assert listed(bc)[0]["expirationDateTime"] == sub["expirationDateTime"]


def test_subscription_requests_are_checked(bc: httpx.Client, receiver: Receiver) -> None:
    headers = bc_headers(bc)
    unknown_set = subscribe(bc, receiver.url, f"/api/v2.0/companies({COMPANY_ID})/widgets")
    assert_bc_error(unknown_set, 404, "BadRequest_ResourceNotFound")
    other_company = subscribe(bc, receiver.url, "/api/v2.0/companies(11111111-1111-1111-1111-111111111111)/customers")
    assert_bc_error(other_company, 404, "Internal_CompanyNotFound")
    one_entity = subscribe(bc, receiver.url, f"{CUSTOMERS_RESOURCE}({CUSTOMERS[0]})")
    assert_bc_error(one_entity, 400, "BadRequest")
    assert_bc_error(subscribe(bc, "not a url"), 400, "BadRequest")
    too_long = subscribe(bc, receiver.url, client_state="x" * 2049)  # clientState MaxLength 2048
    assert_bc_error(too_long, 400, "Application_StringExceededLength")
    missing = bc.post(SUBSCRIPTIONS, headers=headers, json={"notificationUrl": receiver.url})
    assert_bc_error(missing, 400, "BadRequest")
    unknown = bc.post(SUBSCRIPTIONS, headers=headers, json={"notificationUrl": receiver.url, "resource": "x", "color": 1})
    assert_bc_error(unknown, 400, "BadRequest", "Could not find a property named 'color'")
    assert_bc_error(bc.get(f"{SUBSCRIPTIONS}(abc)", headers=headers), 400, "BadRequest")
    assert bc.get(SUBSCRIPTIONS).status_code == 401
    # Relative and absolute resources are both taken; the limit on subscriptions holds.
    settings(bc, max_subscriptions=2)
    assert subscribe(bc, receiver.url, f"companies({COMPANY_ID})/salesInvoices").status_code == 201
    absolute = f"https://api.businesscentral.dynamics.com/v2.0/production/api/v2.0/companies({COMPANY_ID})/customers"
    assert subscribe(bc, receiver.url, absolute).status_code == 201
    assert_bc_error(subscribe(bc, receiver.url), 400, "Application_DialogException")


# ------------------------------------------------------------------------------------ notifications


def test_changes_are_batched_per_notification_url(bc: httpx.Client, receiver: Receiver) -> None:
    quick(bc)
    customers = subscribed(bc, receiver.url)
    invoices = subscribed(bc, receiver.url, f"api/v2.0/companies({COMPANY_ID})/salesInvoices")
    # An API write and an edit in BC's UI.
    entity = f"{BC_COMPANY}/customers({CUSTOMERS[0]})"
    headers = bc_headers(bc)
    etag = bc.get(entity, headers=headers).headers["etag"]
    assert bc.patch(entity, headers={**headers, "If-Match": etag}, json={"displayName": "Renamed"}).status_code == 200
    edit(bc, "invoice", INVOICE, customerName="Someone")
    assert flush(bc)["idle"]
    [batch] = receiver.deliveries()
    assert batch.headers["content-type"] == "application/json"
    notes = batch.json()["value"]
    assert [n["subscriptionId"] for n in notes] == [customers["subscriptionId"], invoices["subscriptionId"]]
    for note in notes:
        # A pointer, no record data.
        assert set(note) == {
            "subscriptionId", "clientState", "expirationDateTime", "resource", "changeType", "lastModifiedDateTime",
        }  # fmt: skip
        assert note["changeType"] == "updated" and note["clientState"] == "sk_state"
    assert notes[0]["resource"] == f"{CUSTOMERS_RESOURCE}({CUSTOMERS[0]})"
    assert notes[1]["resource"] == f"api/v2.0/companies({COMPANY_ID})/salesInvoices({INVOICE})"
    record = bc.get("/_control/records/customer/" + CUSTOMERS[0]).json()
    assert notes[0]["lastModifiedDateTime"] == record["lastModifiedDateTime"]
    parsed = parse(batch.json(), None)
    assert [(e.entity_type, e.platform_id, e.api_key) for e in parsed.events] == [
        ("customer", CUSTOMERS[0], "sk_state"),
        ("invoice", INVOICE, "sk_state"),
    ]


def test_repeated_updates_merge_and_many_become_a_collection(bc: httpx.Client, receiver: Receiver) -> None:
    quick(bc, collection_threshold=2)
    subscribed(bc, receiver.url)
    for _ in range(3):
        edit(bc, "customer", CUSTOMERS[0], displayName="again")
    edit(bc, "customer", CUSTOMERS[1], displayName="other")
    assert flush(bc)["idle"]
    [batch] = receiver.bodies()
    assert [(n["resource"], n["changeType"]) for n in batch["value"]] == [
        (f"{CUSTOMERS_RESOURCE}({CUSTOMERS[0]})", "updated"),
        (f"{CUSTOMERS_RESOURCE}({CUSTOMERS[1]})", "updated"),
    ]
    # More than the threshold of records in one window: one collection notification whose
    # resource filters on the time of the first change (less BC's 50 ms).
    for customer in CUSTOMERS[:3]:
        edit(bc, "customer", customer, displayName="bulk")
    assert flush(bc)["idle"]
    [collection] = receiver.bodies()[1]["value"]
    assert collection["changeType"] == "collection"
    prefix = f"{CUSTOMERS_RESOURCE}?$filter=lastModifiedDateTime%20gt%20"
    assert collection["resource"].startswith(prefix)
    since = parse_timestamp(collection["resource"].removeprefix(prefix))
    first = parse_timestamp(bc.get(f"/_control/records/customer/{CUSTOMERS[0]}").json()["lastModifiedDateTime"])
    assert (first - since).total_seconds() == 0.05


def test_an_expired_subscription_stops_and_disappears(bc: httpx.Client, receiver: Receiver) -> None:
    quick(bc)
    sub = subscribed(bc, receiver.url)
    expire = bc.post(f"/_control/subscriptions/{sub['subscriptionId']}/expire")
    assert expire.status_code == 200
    edit(bc, "customer", CUSTOMERS[0], displayName="unheard")
    assert flush(bc)["idle"]
    assert receiver.deliveries() == [] and listed(bc) == []
    # Three days without renewal do the same.
    subscribed(bc, receiver.url)
    bc.post("/_control/clock", json={"seconds": 3 * 24 * 3600 + 1})
    edit(bc, "customer", CUSTOMERS[0], displayName="unheard")
    assert flush(bc)["idle"]
    assert receiver.deliveries() == [] and listed(bc) == []


def test_a_refused_notification_deletes_the_subscription(bc: httpx.Client, receiver: Receiver) -> None:
    quick(bc)
    subscribed(bc, receiver.url)
    subscribed(bc, receiver.url, f"companies({COMPANY_ID})/salesInvoices")  # same URL: deleted too
    receiver.status = 400
    edit(bc, "customer", CUSTOMERS[0], displayName="refused")
    assert flush(bc)["idle"]
    assert [r["outcome"] for r in log(bc, kind="batch")] == ["failed"]
    assert listed(bc) == []
    receiver.status = 200
    edit(bc, "customer", CUSTOMERS[0], displayName="nobody listens")
    assert flush(bc)["idle"]
    assert len(receiver.deliveries()) == 1


def test_busy_answers_are_retried_then_the_subscription_is_given_up(bc: httpx.Client, receiver: Receiver) -> None:
    quick(bc)
    subscribed(bc, receiver.url)
    receiver.answer(503, 429, 408)
    edit(bc, "customer", CUSTOMERS[0], displayName="retried")
    assert flush(bc)["idle"]
    assert [(r["status"], r["outcome"]) for r in log(bc, kind="batch")] == [
        (503, "retrying"),
        (429, "retrying"),
        (408, "retrying"),
        (200, "delivered"),
    ]
    assert len({str(b) for b in receiver.bodies()}) == 1
    # When the retries are used up BC deletes the subscription ("too many failures").
    receiver.status = 500
    edit(bc, "customer", CUSTOMERS[0], displayName="never taken")
    assert flush(bc)["idle"]
    outcomes = [r["outcome"] for r in log(bc, kind="batch")][4:]
    assert outcomes == ["retrying", "retrying", "retrying", "failed"]
    assert listed(bc) == []


def test_the_window_holds_notifications(bc: httpx.Client, receiver: Receiver) -> None:
    settings(bc, batch_window_seconds=0.5)
    subscribed(bc, receiver.url)
    edit(bc, "customer", CUSTOMERS[0], displayName="held")
    assert bc.get("/_control/deliveries", params={"pending": "true"}).json() == {"pending": 1}
    assert receiver.deliveries() == []
    wait_for(lambda: len(receiver.deliveries()) == 1, what="the window to close")
    assert bc.get("/_control/deliveries", params={"pending": "true"}).json() == {"pending": 0}


def test_reset_forgets_subscriptions_and_what_they_were_owed(bc: httpx.Client, receiver: Receiver) -> None:
    settings(bc, batch_window_seconds=5)
    subscribed(bc, receiver.url)
    edit(bc, "customer", CUSTOMERS[0], displayName="pending")
    assert bc.post("/_control/reset").status_code == 200
    assert listed(bc) == []
    assert bc.get("/_control/deliveries").json() == {"pending": 0, "deliveries": []}


def test_delivery_faults_apply_to_batches(bc: httpx.Client, receiver: Receiver) -> None:
    quick(bc, faults={"duplicate": 1.0})
    subscribed(bc, receiver.url)
    edit(bc, "customer", CUSTOMERS[0], displayName="twice")
    assert flush(bc)["idle"]
    first, second = receiver.bodies()
    assert first == second
    assert [r["faults"] for r in log(bc, kind="batch")] == [[], ["duplicate"]]


def test_factory_webhook_settings_are_the_ones_a_reset_returns_to(serve: Serve) -> None:
    client = serve(create_dynamics_app(webhooks=DynamicsWebhookSettings(batch_window_seconds=0.2)))
    settings(client, batch_window_seconds=9)
    client.post("/_control/reset")
    assert client.get("/_control/settings").json()["webhooks"]["batch_window_seconds"] == 0.2
