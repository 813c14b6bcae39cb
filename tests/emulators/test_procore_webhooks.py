"""Procore webhooks over real HTTP: hooks and triggers as the published schemas describe them, events
delivered to a real receiver on every applied write (API and out-of-band), Procore's retries and
12-hour discard, its validation errors, and the delivery faults of ``/_control``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulators.common import parse_timestamp
from emulators.procore import DEFAULT_CLIENT_ID
from emulators.procore_hooks import UI_USER_ID
from platforms.procore import demo_data, openapi
from platforms.procore.webhooks import parse
from tests.emulators.receiver import Receiver, wait_for
from tests.fixtures.emulators import procore_headers

API = "/rest/v1.0"
HOOKS = f"{API}/webhooks/hooks"
COMPANY = demo_data.COMPANY_ID
LUSAIL = 341276
PAYMENT = 1823456  # a contract payment of Lusail
OTHER_PAYMENT = 1823483  # one of project 341279
SECRET = "Bearer sk_live_hook_secret_12345"


def settings(client: httpx.Client, **webhooks: Any) -> None:
    response = client.patch("/_control/settings", json={"webhooks": webhooks})
    assert response.status_code == 200, response.text


def fast_retries(client: httpx.Client) -> None:
    # Procore's backoff starts at 1 s; the setting scales it so the tests need not wait.
    settings(client, backoff_initial_seconds=0.05, backoff_max_seconds=0.2)


def make_hook(
    client: httpx.Client, headers: dict[str, str], url: str, *, scope: dict[str, int] | None = None, version: str = "v2.0"
) -> dict[str, Any]:
    body = {
        **(scope or {"company_id": COMPANY}),
        "hook": {
            "api_version": version,
            "namespace": "structural-sync",
            "destination_url": url,
            "destination_headers": {"Authorization": SECRET},
        },
    }
    response = client.post(HOOKS, headers=headers, json=body)
    assert response.status_code == 201, response.text
    hook: dict[str, Any] = response.json()
    return hook


def make_trigger(
    client: httpx.Client,
    headers: dict[str, str],
    hook_id: int,
    resource: str = "Contract Payments",
    *,
    scope: dict[str, int] | None = None,
) -> httpx.Response:
    body = {**(scope or {"company_id": COMPANY}), "api_version": "v2", "trigger": {"resource_name": resource, "event_type": "update"}}
    return client.post(f"{HOOKS}/{hook_id}/triggers", headers=headers, json=body)


def subscribed(client: httpx.Client, url: str, *, version: str = "v2.0", resource: str = "Contract Payments") -> int:
    """A company hook to ``url`` with one update trigger; its id."""
    headers = procore_headers(client)
    hook = make_hook(client, headers, url, version=version)
    assert make_trigger(client, headers, hook["id"], resource).status_code == 201
    return int(hook["id"])


def edit_payment(client: httpx.Client, payment: int = PAYMENT, **fields: Any) -> None:
    response = client.patch(f"/_control/records/payment/{payment}", json={"fields": fields or {"notes": "edited"}})
    assert response.status_code == 200, response.text


def api_edit_payment(client: httpx.Client, notes: str) -> None:
    body = {"project_id": LUSAIL, "contract_id": 1945782, "contract_payment": {"notes": notes}}
    response = client.patch(f"{API}/contract_payments/{PAYMENT}", headers=procore_headers(client), json=body)
    assert response.status_code == 200, response.text


def log(client: httpx.Client, **filters: str) -> list[dict[str, Any]]:
    response = client.get("/_control/deliveries", params=filters)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["deliveries"]
    return rows


def flush(client: httpx.Client, *, release: bool = False) -> dict[str, Any]:
    response = client.post("/_control/webhooks/flush", json={"timeout": 10, "release": release})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# ------------------------------------------------------------------------------- hooks and triggers


def test_hooks_and_triggers_follow_the_published_schemas(procore: httpx.Client, receiver: Receiver) -> None:
    headers = procore_headers(procore)
    hook = make_hook(procore, headers, f"{receiver.url}/procore", version="v2")
    # Exactly the attributes of RestV10WebhooksHooksPost's response; the token masked to 5 characters.
    assert set(hook) == set(openapi.endpoint("POST", HOOKS).response)
    assert hook["destination_headers"] == {"Authorization": "*" * (len(SECRET) - 5) + SECRET[-5:]}
    assert hook["api_version"] == "v2.0" and hook["namespace"] == "structural-sync"
    assert hook["owned_by_company_id"] == COMPANY and hook["owned_by_project_id"] is None

    trigger = make_trigger(procore, headers, hook["id"])
    assert trigger.status_code == 201, trigger.text
    shown = trigger.json()
    assert set(shown) == set(openapi.endpoint("POST", f"{HOOKS}/{{hook_id}}/triggers").response)
    assert shown["webhook_hook_id"] == hook["id"] and shown["resource_name"] == "Contract Payments"
    assert shown["event_type"] == "UPDATE"  # the schema's enum spelling

    listed = procore.get(HOOKS, headers=headers, params={"company_id": COMPANY})
    assert [h["id"] for h in listed.json()] == [hook["id"]]
    # A hook belongs to its scope: a project's list does not show the company's hooks.
    assert procore.get(HOOKS, headers=headers, params={"project_id": LUSAIL}).json() == []
    assert procore.get(HOOKS, headers=headers, params={"company_id": COMPANY, "namespace": "other"}).json() == []
    triggers = procore.get(f"{HOOKS}/{hook['id']}/triggers", headers=headers, params={"company_id": COMPANY})
    assert [t["id"] for t in triggers.json()] == [shown["id"]]

    patched = procore.patch(
        f"{HOOKS}/{hook['id']}",
        headers=headers,
        json={"company_id": COMPANY, "hook": {"destination_url": f"{receiver.url}/moved"}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["destination_url"] == f"{receiver.url}/moved" and patched.json()["namespace"] == "structural-sync"

    gone = procore.delete(f"{HOOKS}/{hook['id']}/triggers/{shown['id']}", headers=headers, params={"company_id": COMPANY})
    assert gone.status_code == 200
    assert procore.get(f"{HOOKS}/{hook['id']}/triggers", headers=headers, params={"company_id": COMPANY}).json() == []
    assert procore.delete(f"{HOOKS}/{hook['id']}", headers=headers, params={"company_id": COMPANY}).status_code == 200
    assert procore.get(HOOKS, headers=headers, params={"company_id": COMPANY}).json() == []

    resources = procore.get(f"{API}/webhooks/resources", headers=headers, params={"project_id": LUSAIL})
    assert resources.status_code == 200
    assert all(set(r) == set(openapi.endpoint("GET", f"{API}/webhooks/resources").response) for r in resources.json())


def test_requests_are_checked_as_procore_checks_them(procore: httpx.Client, receiver: Receiver) -> None:
    headers = procore_headers(procore)
    good = {"api_version": "v2.0", "namespace": "structural", "destination_url": receiver.url}

    def create(body: dict[str, Any], with_headers: dict[str, str] = headers) -> httpx.Response:
        return procore.post(HOOKS, headers=with_headers, json=body)

    assert procore.post(HOOKS, json={"company_id": COMPANY, "hook": good}).status_code == 401
    no_company = create({"company_id": COMPANY, "hook": good}, {"Authorization": headers["Authorization"]})
    assert no_company.status_code == 400 and no_company.text == "Missing Procore-Company-Id header!"
    # Either company_id or project_id (the schemas mark both required; their text says either).
    assert create({"hook": good}).json() == {"error": "company_id is missing"}
    assert create({"company_id": 1, "hook": good}).status_code == 403
    assert create({"project_id": 999, "hook": good}).status_code == 404
    assert create({"company_id": COMPANY}).json() == {"error": "param is missing or the value is empty: hook"}
    invalid = create({"company_id": COMPANY, "hook": {**good, "namespace": "Not Valid!", "api_version": "v9"}})
    assert invalid.status_code == 422
    assert invalid.json() == {"errors": {"namespace": ["is invalid"], "api_version": ["is not included in the list"]}}
    blank = create({"company_id": COMPANY, "hook": {"namespace": "x"}})
    assert blank.json()["errors"] == {"api_version": ["can't be blank"], "destination_url": ["can't be blank"]}
    assert create({"company_id": COMPANY, "hook": {**good, "destination_url": "not a url"}}).status_code == 422

    hook = make_hook(procore, headers, receiver.url)
    unknown = make_trigger(procore, headers, hook["id"], "Submittals Of Nothing")
    assert unknown.status_code == 422 and unknown.json() == {"errors": {"resource_name": ["is not included in the list"]}}
    no_version = procore.post(
        f"{HOOKS}/{hook['id']}/triggers",
        headers=headers,
        json={"company_id": COMPANY, "trigger": {"resource_name": "Projects", "event_type": "update"}},
    )
    assert no_version.json() == {"error": "api_version is missing"}
    bad_event = procore.post(
        f"{HOOKS}/{hook['id']}/triggers",
        headers=headers,
        json={"company_id": COMPANY, "api_version": "v2", "trigger": {"resource_name": "Projects", "event_type": "upsert"}},
    )
    assert bad_event.json() == {"errors": {"event_type": ["is not included in the list"]}}
    # The company directory is a company-level resource: a project hook cannot have it.
    project_hook = make_hook(procore, headers, receiver.url, scope={"project_id": LUSAIL})
    vendors = make_trigger(procore, headers, project_hook["id"], "Company Vendors", scope={"project_id": LUSAIL})
    assert vendors.status_code == 422
    # Another scope's hook is not found.
    other_scope = make_trigger(procore, headers, project_hook["id"], "Projects")
    assert other_scope.status_code == 404 and other_scope.json()["message"] == "Not Found"
    assert procore.get(f"{HOOKS}/999/triggers", headers=headers, params={"company_id": COMPANY}).status_code == 404


# --------------------------------------------------------------------------------------- deliveries


def test_api_and_ui_edits_are_delivered_with_the_destination_headers(procore: httpx.Client, receiver: Receiver) -> None:
    subscribed(procore, f"{receiver.url}/api/v1/webhooks/procore")
    api_edit_payment(procore, "changed over the API")
    wait_for(lambda: len(receiver.deliveries()) == 1, what="the API edit's event")
    edit_payment(procore, notes="changed in Procore's UI")
    wait_for(lambda: len(receiver.deliveries()) == 2, what="the UI edit's event")

    first, second = receiver.deliveries()
    assert first.method == "POST" and first.path == "/api/v1/webhooks/procore"
    assert first.headers["authorization"] == SECRET and first.headers["content-type"] == "application/json"
    api_event, ui_event = first.json(), second.json()
    assert set(api_event) == {
        "id", "ulid", "timestamp", "metadata", "user_id", "company_id", "project_id", "api_version",
        "event_type", "resource_name", "resource_id",
    }  # fmt: skip
    assert api_event["resource_name"] == "Contract Payments" and api_event["resource_id"] == PAYMENT
    assert api_event["event_type"] == "update" and api_event["api_version"] == "v2.0"
    assert api_event["company_id"] == COMPANY and api_event["project_id"] == LUSAIL
    assert len(api_event["ulid"]) == 26 and api_event["ulid"] != ui_event["ulid"]
    # The application that made the change is named (so an integration can skip its own writes).
    assert api_event["metadata"]["source_application_id"] == DEFAULT_CLIENT_ID
    assert ui_event["metadata"]["source_application_id"] is None and ui_event["user_id"] == UI_USER_ID
    # What the engine's parser reads from it.
    parsed = parse(api_event, "key")
    assert [(e.entity_type, e.platform_id, e.delivery_key) for e in parsed.events] == [
        ("payment", str(PAYMENT), api_event["ulid"])
    ]


def test_payload_versions(procore: httpx.Client, receiver: Receiver) -> None:
    for version in ("v3.0", "v4.0"):
        subscribed(procore, f"{receiver.url}/{version}", version=version)
    edit_payment(procore)
    wait_for(lambda: len(receiver.deliveries()) == 2)
    bodies = {r.path: r.json() for r in receiver.deliveries()}
    v3, v4 = bodies["/v3.0"], bodies["/v4.0"]
    assert v3["api_version"] == "v3.0" and v3["related_resources"] == []
    assert v4 == {
        "id": v4["id"],
        "timestamp": v4["timestamp"],
        "reason": "update",
        "company_id": str(COMPANY),
        "project_id": str(LUSAIL),
        "user_id": str(UI_USER_ID),
        "resource_type": "Contract Payments",
        "resource_id": str(PAYMENT),
    }
    assert len(v4["id"]) == 26
    for body in (v3, v4):
        assert [e.platform_id for e in parse(body, "key").events] == [str(PAYMENT)]


def test_a_project_hook_hears_its_project_only(procore: httpx.Client, receiver: Receiver) -> None:
    headers = procore_headers(procore)
    hook = make_hook(procore, headers, receiver.url, scope={"project_id": LUSAIL})
    assert make_trigger(procore, headers, hook["id"], scope={"project_id": LUSAIL}).status_code == 201
    company_hook = subscribed(procore, f"{receiver.url}/company", resource="Company Vendors")
    edit_payment(procore, OTHER_PAYMENT)  # another project: not for the project hook
    edit_payment(procore, PAYMENT)
    procore.patch("/_control/records/customer/501004", json={"fields": {"name": "Renamed vendor"}})
    assert flush(procore)["idle"]
    got = sorted((r.path, r.json()["resource_id"]) for r in receiver.deliveries())
    assert got == [("/", PAYMENT), ("/company", 501004)]
    vendor = next(r.json() for r in receiver.deliveries() if r.path == "/company")
    assert vendor["resource_name"] == "Company Vendors" and vendor["project_id"] is None
    assert log(procore, lane=f"hook:{company_hook}")[0]["context"]["hook_id"] == company_hook


def test_a_failed_delivery_is_retried_until_it_is_taken(procore: httpx.Client, receiver: Receiver) -> None:
    fast_retries(procore)
    hook_id = subscribed(procore, receiver.url)
    receiver.answer(500, 503)
    edit_payment(procore)
    wait_for(lambda: len(receiver.deliveries()) == 3, what="two retries")
    assert flush(procore)["idle"]
    bodies = receiver.bodies()
    assert bodies[0] == bodies[1] == bodies[2]  # the same event, at least once
    assert [(r["attempt"], r["status"], r["outcome"]) for r in log(procore)] == [
        (1, 500, "retrying"),
        (2, 503, "retrying"),
        (3, 200, "delivered"),
    ]
    headers = procore_headers(procore)
    deliveries = procore.get(f"{HOOKS}/{hook_id}/deliveries", headers=headers, params={"company_id": COMPANY})
    assert [d["outcome"] for d in deliveries.json()] == ["retried", "retried", "ok"]
    assert set(deliveries.json()[0]) == set(openapi.endpoint("GET", f"{HOOKS}/{{hook_id}}/deliveries").response)
    failing = procore.get(
        f"{HOOKS}/{hook_id}/deliveries", headers=headers, params={"company_id": COMPANY, "filters[status]": "failing"}
    )
    assert [d["response_status"] for d in failing.json()] == [500, 503]


def test_a_slow_receiver_times_out_and_is_retried(procore: httpx.Client, receiver: Receiver) -> None:
    fast_retries(procore)
    settings(procore, timeout_seconds=0.2)
    subscribed(procore, receiver.url)
    receiver.pause = 1.0
    edit_payment(procore)
    wait_for(lambda: any(r["outcome"] == "retrying" for r in log(procore)), what="a timed-out attempt")
    timed_out = log(procore)[0]
    assert timed_out["status"] is None and "Timeout" in timed_out["error"]
    receiver.pause = 0.0
    assert flush(procore)["idle"]
    assert log(procore)[-1]["outcome"] == "delivered"


def test_after_twelve_hours_of_failures_the_queue_is_discarded(procore: httpx.Client, receiver: Receiver) -> None:
    fast_retries(procore)
    hook_id = subscribed(procore, receiver.url)
    receiver.status = 500
    edit_payment(procore, notes="first")
    edit_payment(procore, notes="second")  # queued behind the failing first
    wait_for(lambda: len(receiver.deliveries()) >= 2, what="retries of the first event")
    # Head-of-line: the queue pauses on a failure, so the second event has not been tried yet.
    assert {r.json()["id"] for r in receiver.deliveries()} == {receiver.bodies()[0]["id"]}
    procore.post("/_control/clock", json={"seconds": 12 * 3600})
    wait_for(lambda: flush(procore)["pending"] == 0, what="the discard")
    outcomes = [r["outcome"] for r in log(procore)]
    assert outcomes[-2:] == ["discarded", "discarded"] and set(outcomes[:-2]) == {"retrying"}
    discarded = procore.get(
        f"{HOOKS}/{hook_id}/deliveries",
        headers=procore_headers(procore),
        params={"company_id": COMPANY, "filter[status]": "discarded"},
    )
    assert len(discarded.json()) == 2


def test_reset_forgets_hooks_queues_and_the_log(procore: httpx.Client, receiver: Receiver) -> None:
    fast_retries(procore)
    subscribed(procore, receiver.url)
    receiver.status = 500
    edit_payment(procore)
    wait_for(lambda: bool(log(procore)))
    assert procore.post("/_control/reset").status_code == 200
    assert procore.get("/_control/deliveries").json() == {"pending": 0, "deliveries": []}
    headers = procore_headers(procore)
    assert procore.get(HOOKS, headers=headers, params={"company_id": COMPANY}).json() == []
    edit_payment(procore)
    assert flush(procore)["idle"] and log(procore) == []


# ------------------------------------------------------------------------------------------- faults


def test_dropped_deliveries_never_arrive(procore: httpx.Client, receiver: Receiver) -> None:
    subscribed(procore, receiver.url)
    settings(procore, faults={"drop": 1.0})
    edit_payment(procore)
    assert flush(procore)["idle"]
    assert receiver.deliveries() == []
    [dropped] = log(procore)
    assert dropped["outcome"] == "dropped" and dropped["faults"] == ["drop"] and dropped["status"] is None


def test_failed_attempts_are_logged_retried_and_shown_by_the_deliveries_endpoint(
    procore: httpx.Client, receiver: Receiver
) -> None:
    """Fault ``fail``: the attempt is lost in transit (the receiver never hears of it), and unlike a
    drop Procore knows: it logs the failure, retries by its backoff, and lists it at
    ``/deliveries`` in event order, where a reader of the log finds the change."""
    hook_id = subscribed(procore, receiver.url)
    fast_retries(procore)
    settings(procore, faults={"fail": 1.0})
    edit_payment(procore, PAYMENT)
    edit_payment(procore, OTHER_PAYMENT)
    wait_for(lambda: len(log(procore, outcome="retrying")) >= 2, what="two failed attempts")
    assert receiver.deliveries() == []
    failed = log(procore, outcome="retrying")[0]
    assert failed["faults"] == ["fail"] and failed["status"] is None and "connection refused" in failed["error"]
    headers = procore_headers(procore)
    shown = procore.get(
        f"{HOOKS}/{hook_id}/deliveries", headers=headers, params={"company_id": COMPANY, "filters[status]": "failing"}
    )
    assert shown.status_code == 200, shown.text
    rows = shown.json()
    assert rows and all(r["outcome"] == "retried" for r in rows)
    assert [r["event_id"] for r in rows] == sorted(r["event_id"] for r in rows)
    assert rows[0]["event"]["resource_id"] == PAYMENT
    # The receiver back: the retry gets through (the head of the hook's queue first).
    settings(procore, faults={"fail": 0.0})
    wait_for(lambda: len(receiver.deliveries()) == 2, what="the retried events")
    assert [b["resource_id"] for b in receiver.bodies()] == [PAYMENT, OTHER_PAYMENT]


def test_duplicated_deliveries_arrive_twice(procore: httpx.Client, receiver: Receiver) -> None:
    subscribed(procore, receiver.url)
    settings(procore, faults={"duplicate": 1.0})
    edit_payment(procore)
    assert flush(procore)["idle"]
    first, second = receiver.bodies()
    assert first == second  # same event id and ULID: the receiver must dedupe
    assert [r["faults"] for r in log(procore)] == [[], ["duplicate"]]


def test_delayed_deliveries_wait(procore: httpx.Client, receiver: Receiver) -> None:
    subscribed(procore, receiver.url)
    settings(procore, faults={"delay_seconds": 0.4, "delay_max_seconds": 0.6, "seed": 3})
    edit_payment(procore)
    assert flush(procore)["pending"] == 0
    [attempt] = log(procore)
    assert attempt["faults"] == ["delay"] and attempt["outcome"] == "delivered"
    write_at = procore.get("/_control/writes").json()["writes"][0]["at"]
    waited = (parse_timestamp(attempt["started_at"]) - parse_timestamp(write_at)).total_seconds()
    assert 0.35 <= waited < 2.0


PAYMENTS = [1823456, 1823461, 1823467, 1823472, 1823478]


def test_reordered_deliveries_arrive_shuffled(procore: httpx.Client, receiver: Receiver) -> None:
    subscribed(procore, receiver.url)
    settings(procore, faults={"reorder_window_seconds": 0.3, "seed": 11})
    for payment in PAYMENTS:
        edit_payment(procore, payment)
    assert flush(procore)["idle"]
    arrived = [body["resource_id"] for body in receiver.bodies()]
    assert sorted(arrived) == sorted(PAYMENTS) and arrived != PAYMENTS
    assert all(r["faults"] == ["reorder"] for r in log(procore))


@pytest.mark.parametrize("seed", [5, 6])
def test_a_seed_repeats_the_same_faults(procore: httpx.Client, receiver: Receiver, seed: int) -> None:
    def run() -> list[int]:
        procore.post("/_control/reset")
        subscribed(procore, receiver.url)
        settings(procore, faults={"drop": 0.5, "seed": seed})
        for payment in PAYMENTS * 2:
            edit_payment(procore, payment)
        assert flush(procore)["idle"]
        # Event ids restart with the reset: the same changes get the same ids.
        return sorted(r["body"]["id"] for r in log(procore) if r["outcome"] == "dropped")

    first = run()
    assert 0 < len(first) < len(PAYMENTS) * 2
    assert run() == first


def test_the_delivery_log_is_bounded(procore: httpx.Client, receiver: Receiver) -> None:
    subscribed(procore, receiver.url)
    settings(procore, log_limit=2, faults={"drop": 1.0})
    for payment in PAYMENTS:
        edit_payment(procore, payment)
    rows = log(procore)
    # The oldest lines go first, trimmed in chunks (at most a tenth over the limit, at least one).
    assert len(rows) <= 3 and rows[-1]["seq"] == len(PAYMENTS)
