"""The Procore emulator over real HTTP: auth, company header, paging, filters, writes, locks,
rate limits, every fault kind and the control interface."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from emulators import create_procore_app
from emulators.procore import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ProcoreRateLimit
from platforms.procore import demo_data
from tests.fixtures.emulators import add_fault, procore_headers, writes

Serve = Callable[[FastAPI], httpx.Client]
API = "/rest/v1.0"
PAYMENT = f"{API}/contract_payments/1823456"
LUSAIL = 341276
# What Procore requires beside a record's id (platforms/procore/schemas/): a payment's project and
# contract (query of a show, body of a PATCH); a requisition's project and commitment; a project's company.
SCOPE = {"project_id": LUSAIL, "contract_id": 1945782}
COMPANY_SCOPE = {"company_id": demo_data.COMPANY_ID}
REQUISITION_SCOPE = {"project_id": LUSAIL, "commitment_id": 1945782}
PROJECTS = f"{API}/projects?company_id={demo_data.COMPANY_ID}"
CREDENTIALS = {
    "grant_type": "client_credentials",
    "client_id": DEFAULT_CLIENT_ID,
    "client_secret": DEFAULT_CLIENT_SECRET,
}
COMPANY = {"Procore-Company-Id": str(demo_data.COMPANY_ID)}


def links(response: httpx.Response) -> dict[str, dict[str, str]]:
    """The ``Link`` header as rel -> query parameters of its URL."""
    found = {}
    for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers.get("link", "")):
        found[rel] = dict(httpx.URL(url).params)
    return found


# ------------------------------------------------------------------------------------------------ auth


def test_token_by_form_json_and_basic_auth(procore: httpx.Client) -> None:
    form = procore.post("/oauth/token", data=CREDENTIALS)
    assert form.status_code == 200, form.text
    body = form.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "created_at"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 5400
    assert isinstance(body["created_at"], int)

    assert procore.post("/oauth/token", json=CREDENTIALS).status_code == 200

    basic = base64.b64encode(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()).decode()
    by_basic = procore.post(
        "/oauth/token",
        content="grant_type=client_credentials",
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert by_basic.status_code == 200, by_basic.text

    wrong = procore.post("/oauth/token", data={**CREDENTIALS, "client_secret": "guess"})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"


def test_token_errors(procore: httpx.Client) -> None:
    unsupported = procore.post("/oauth/token", data={"grant_type": "password", "client_id": "a"})
    assert unsupported.status_code == 400
    assert unsupported.json()["error"] == "unsupported_grant_type"
    missing = procore.post("/oauth/token", data={})
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"


def test_missing_and_invalid_token_are_401(procore: httpx.Client) -> None:
    for headers in (COMPANY, {**COMPANY, "Authorization": "Bearer nope"}):
        response = procore.get(PROJECTS, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="Doorkeeper"')


def test_token_expires_after_its_ttl(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    assert procore.get(PROJECTS, headers=headers).status_code == 200
    procore.post("/_control/clock", json={"seconds": 5399})
    assert procore.get(PROJECTS, headers=headers).status_code == 200
    procore.post("/_control/clock", json={"seconds": 2})
    expired = procore.get(PROJECTS, headers=headers)
    assert expired.status_code == 401
    assert expired.json() == {"error": "invalid_token", "error_description": "The access token expired"}
    # A new token works again.
    assert procore.get(PROJECTS, headers=procore_headers(procore)).status_code == 200


def test_short_token_ttl_from_the_factory(serve: Serve) -> None:
    client = serve(create_procore_app(token_ttl_seconds=60))
    token = client.post("/oauth/token", data=CREDENTIALS).json()
    assert token["expires_in"] == 60
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    info = client.get("/oauth/token/info", headers=bearer)
    assert info.status_code == 200
    assert info.json()["application"] == {"uid": DEFAULT_CLIENT_ID}
    assert 58 <= info.json()["expires_in"] <= 60
    client.post("/_control/clock", json={"seconds": 61})
    assert client.get("/oauth/token/info", headers=bearer).status_code == 401


def test_revoked_token_is_rejected(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    token = headers["Authorization"].split()[1]
    assert procore.post("/oauth/revoke", data={"token": token}).status_code == 200
    assert procore.post("/oauth/revoke", data={"token": "unknown"}).status_code == 200
    assert procore.get(PROJECTS, headers=headers).status_code == 401


def test_company_header_is_required(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    del headers["Procore-Company-Id"]
    missing = procore.get(PROJECTS, headers=headers)
    assert missing.status_code == 400
    assert missing.text == "Missing Procore-Company-Id header!"
    assert missing.headers["content-type"].startswith("text/plain")
    wrong = procore.get(PROJECTS, headers={**headers, "Procore-Company-Id": "1"})
    assert wrong.status_code == 403
    assert wrong.json() == {"error": "App is not connected to this company"}


# ------------------------------------------------------------------------------------------------ reads


def test_pagination_headers_and_links(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    expected = sorted(c["id"] for c in demo_data.demo_records()["contract"])
    seen: list[int] = []
    page = 1
    while True:
        response = procore.get(
            f"{API}/commitments", headers=headers, params={"project_id": LUSAIL, "page": page, "per_page": 2}
        )
        assert response.status_code == 200
        assert response.headers["Total"] == "4"
        assert response.headers["Per-Page"] == "2"
        rels = links(response)
        if page == 1:
            assert set(rels) == {"next", "last"}
        else:
            assert rels["first"]["page"] == "1"
            assert rels["prev"]["page"] == str(page - 1)
        seen += [record["id"] for record in response.json()]
        if "next" not in rels:
            assert set(rels) == {"first", "prev"}
            break
        assert rels["last"] == {"project_id": str(LUSAIL), "page": "2", "per_page": "2"}
        page = int(rels["next"]["page"])
    lusail = [c["id"] for c in demo_data.demo_records()["contract"] if c["project"]["id"] == LUSAIL]
    assert seen == sorted(lusail)
    assert set(seen) <= set(expected)


def test_single_page_has_no_link_and_past_the_end_is_empty(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    whole = procore.get(PROJECTS, headers=headers)
    assert "link" not in whole.headers
    assert whole.headers["Total"] == "5"
    assert whole.headers["Per-Page"] == "100"
    past = procore.get(PROJECTS, headers=headers, params={**COMPANY_SCOPE, "page": 9, "per_page": 2})
    assert past.json() == []
    assert set(links(past)) == {"first", "prev"}
    assert links(past)["prev"]["page"] == "3"


def test_commitment_resources_split_by_type(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    nested = procore.get(f"{API}/projects/{LUSAIL}/work_order_contracts", headers=headers).json()
    flat = procore.get(f"{API}/work_order_contracts", headers=headers, params={"project_id": LUSAIL}).json()
    assert nested == flat
    assert [c["number"] for c in nested] == ["C-LEX-001", "C-LEX-002", "C-LEX-003"]
    assert {c["type"] for c in nested} == {"WorkOrderContract"}
    orders = procore.get(f"{API}/projects/{LUSAIL}/purchase_order_contracts", headers=headers).json()
    assert [c["number"] for c in orders] == ["C-LEX-004"]
    # A purchase order is not found through the work order resource.
    assert (
        procore.get(f"{API}/work_order_contracts/1945815", headers=headers, params={"project_id": LUSAIL}).status_code
        == 404
    )
    order = procore.get(
        f"{API}/purchase_order_contracts/1945815", headers=headers, params={"project_id": LUSAIL}
    ).json()
    assert order["title"] == "Structural Steel Supply - Podium"


def test_project_scoped_lists_need_an_existing_project(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    missing = procore.get(f"{API}/requisitions", headers=headers)
    assert missing.status_code == 400
    assert missing.json() == {"error": "project_id is missing"}
    unknown = procore.get(f"{API}/requisitions", headers=headers, params={"project_id": 1})
    assert unknown.status_code == 404
    assert unknown.json() == {"message": "Not Found", "error": "Couldn't find Project with 'id'=1"}
    assert procore.get(f"{API}/nonsense", headers=headers).status_code == 404


def test_vendors_and_companies(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    vendors = procore.get(f"{API}/vendors", headers=headers, params=COMPANY_SCOPE).json()
    assert [v["id"] for v in vendors] == [501004, 501007, 501009, 501012]
    scoped = procore.get(f"{API}/companies/{demo_data.COMPANY_ID}/vendors", headers=headers).json()
    assert scoped == vendors
    assert procore.get(f"{API}/companies/1/vendors", headers=headers).status_code == 403
    companies = procore.get(f"{API}/companies", headers=headers).json()
    assert companies[0]["id"] == demo_data.COMPANY_ID


def test_payments_requisitions_and_filters(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    by_contract = procore.get(
        f"{API}/contract_payments", headers=headers, params={"project_id": LUSAIL, "contract_id": 1945782}
    ).json()
    assert [p["check_number"] for p in by_contract] == ["CHK-2026-0101", "CHK-2026-0103", "CHK-2026-0104"]
    pending = procore.get(
        f"{API}/projects/{LUSAIL}/contract_payments",
        headers=headers,
        params={"contract_id": 1945782, "filters[status]": "pending"},
    ).json()
    assert pending and {p["status"] for p in pending} == {"pending"}
    # Procore requires the contract to list its payments (RestV10ContractPaymentsGet).
    missing = procore.get(f"{API}/contract_payments", headers=headers, params={"project_id": LUSAIL})
    assert missing.status_code == 400 and missing.json() == {"error": "contract_id is missing"}
    statuses = procore.get(
        f"{API}/requisitions",
        headers=headers,
        params=[("project_id", "341288"), ("filters[status][]", "under_review"), ("filters[status][]", "draft")],
    ).json()
    assert [r["invoice_number"] for r in statuses] == ["INV-2026-0008"]
    by_vendor = procore.get(
        f"{API}/work_order_contracts", headers=headers, params={"project_id": LUSAIL, "filters[vendor_id]": 501004}
    ).json()
    assert len(by_vendor) == 3


def test_updated_at_range_filter_sees_new_writes(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    procore.patch(PAYMENT, headers=headers, json={**SCOPE, "contract_payment": {"notes": "edited"}})
    stamp = procore.get(PAYMENT, params=SCOPE, headers=headers).json()["updated_at"]
    changed = procore.get(
        f"{API}/contract_payments",
        headers=headers,
        params={"project_id": LUSAIL, "contract_id": 1945782, "filters[updated_at]": f"{stamp}...2100-01-01T00:00:00Z"},
    ).json()
    assert [p["id"] for p in changed] == [1823456]
    origin = procore.get(
        f"{API}/contract_payments",
        headers=headers,
        params={"project_id": LUSAIL, "contract_id": 1945782, "filters[origin_id]": "X"},
    )
    assert origin.json() == []


# ----------------------------------------------------------------------------------------------- writes


def test_patch_is_last_writer_wins_and_moves_updated_at(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    before = procore.get(PAYMENT, params=SCOPE, headers=headers).json()
    first = procore.patch(PAYMENT, headers=headers, json={**SCOPE, "contract_payment": {"amount": "1750000.00"}})
    assert first.status_code == 200
    second = procore.patch(PAYMENT, headers=headers, json={**SCOPE, "contract_payment": {"amount": "1800000.0"}})
    assert second.status_code == 200
    assert second.json()["amount"] == "1800000.0"
    # Even two writes within one second get distinct, increasing updated_at values.
    stamps = [before["updated_at"], first.json()["updated_at"], second.json()["updated_at"]]
    assert stamps == sorted(set(stamps))
    log = writes(procore, source="api")
    assert [w["changes"] for w in log] == [
        {"amount": {"old": "1700000.00", "new": "1750000.00"}},
        {"amount": {"old": "1750000.00", "new": "1800000.0"}},
    ]
    assert [w["version"] for w in log] == stamps[1:]
    assert log[0]["record_id"] == "1823456" and log[0]["entity_type"] == "payment" and log[0]["method"] == "PATCH"


def test_noop_patch_is_not_a_write(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    before = procore.get(PAYMENT, params=SCOPE, headers=headers).json()
    same = procore.patch(
        PAYMENT, headers=headers, json={**SCOPE, "contract_payment": {"amount": "1700000.00", "bogus": 1}}
    )
    assert same.status_code == 200
    assert same.json() == before
    assert writes(procore) == []


def test_json_number_amounts_are_stored_as_decimal_text(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    response = procore.patch(
        PAYMENT,
        headers=headers,
        content=b'{"project_id": 341276, "contract_id": 1945782, "contract_payment": {"amount": 1750000.10}}',
    )
    assert response.json()["amount"] == "1750000.10"
    whole = procore.patch(PAYMENT, headers=headers, json={**SCOPE, "contract_payment": {"amount": 1750000}})
    assert whole.json()["amount"] == "1750000.0"
    number = procore.patch(
        f"{API}/requisitions/10061", headers=headers, json={**REQUISITION_SCOPE, "requisition": {"invoice_number": 123}}
    )
    assert number.json()["invoice_number"] == "123"


def test_validation_errors_are_rails_shaped(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    bad = procore.patch(
        PAYMENT,
        headers=headers,
        json={
            **SCOPE,
            "contract_payment": {
                "amount": "12,50",
                "date": "2026-02-30",
                "payment_method": "ach",
                "payment_number": "x",
            },
        },
    )
    assert bad.status_code == 422
    assert bad.json() == {
        "errors": {
            "amount": ["is not a number"],
            "date": ["is not a valid date"],
            "payment_method": ["is not included in the list"],
            "payment_number": ["is not a number"],
        }
    }
    assert procore.get(PAYMENT, params=SCOPE, headers=headers).json()["amount"] == "1700000.00"
    unwrapped = procore.patch(PAYMENT, headers=headers, json={**SCOPE, "amount": "1.00"})
    assert unwrapped.status_code == 400
    assert unwrapped.json() == {"error": "param is missing or the value is empty: contract_payment"}
    garbage = procore.patch(PAYMENT, headers=headers, content=b"{not json")
    assert garbage.status_code == 400
    assert writes(procore) == []


def test_derived_fields_follow_writes(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    project = procore.patch(
        f"{API}/projects/{LUSAIL}", headers=headers, json={**COMPANY_SCOPE, "project": {"name": "Lusail Tower"}}
    )
    assert project.json()["display_name"] == "LBT-2401 - Lusail Tower"
    contract = procore.patch(
        f"{API}/work_order_contracts/1945782",
        headers=headers,
        json={"project_id": LUSAIL, "work_order_contract": {"vendor_id": 501009}},
    )
    assert contract.json()["vendor"] == {"id": 501009, "company": "Najd Readymix Concrete Co."}
    missing = procore.patch(
        f"{API}/work_order_contracts/1945782",
        headers=headers,
        json={"project_id": LUSAIL, "work_order_contract": {"vendor_id": 1}},
    )
    assert missing.status_code == 422
    assert missing.json() == {"errors": {"vendor": ["must exist"]}}
    wrong_status = procore.patch(
        f"{API}/purchase_order_contracts/1945815",
        headers=headers,
        json={"project_id": LUSAIL, "purchase_order_contract": {"status": "Void"}},
    )
    assert wrong_status.status_code == 422  # Void is a work order status only
    assert procore.patch(f"{API}/commitments/1945782", headers=headers, json={}).status_code == 404


def test_computed_totals_are_dropped_unless_made_writable(serve: Serve, procore: httpx.Client) -> None:
    # Procore computes grand_total from line items; a write of it is dropped like any unpermitted
    # parameter (Rails strong parameters), the rest of the write applies.
    client = procore
    headers = procore_headers(client)
    response = client.patch(
        f"{API}/work_order_contracts/1945782",
        headers=headers,
        json={"project_id": LUSAIL, "work_order_contract": {"grand_total": "1.00", "title": "Renamed"}},
    )
    assert response.json()["grand_total"] == "8500000.00"  # dropped like any unpermitted parameter
    assert response.json()["title"] == "Renamed"
    lenient = serve(create_procore_app(computed_fields_writable=True))
    written = lenient.patch(
        f"{API}/work_order_contracts/1945782",
        headers=procore_headers(lenient),
        json={"project_id": LUSAIL, "work_order_contract": {"grand_total": "1.00"}},
    )
    assert written.json()["grand_total"] == "1.00"


@pytest.mark.parametrize(
    ("method", "path", "given", "missing"),
    [
        ("GET", PAYMENT, {"project_id": LUSAIL}, "contract_id"),
        ("GET", PAYMENT, {"contract_id": 1945782}, "project_id"),
        ("GET", f"{API}/requisitions/10061", {}, "project_id"),
        ("GET", f"{API}/work_order_contracts/1945782", {}, "project_id"),
        ("GET", f"{API}/projects/{LUSAIL}", {}, "company_id"),
        ("GET", f"{API}/vendors/501004", {}, "company_id"),
        ("GET", f"{API}/projects", {}, "company_id"),
        ("GET", f"{API}/vendors", {}, "company_id"),
        ("PATCH", PAYMENT, {"project_id": LUSAIL}, "contract_id"),
        ("PATCH", f"{API}/requisitions/10061", {"project_id": LUSAIL}, "commitment_id"),
        ("PATCH", f"{API}/work_order_contracts/1945782", {}, "project_id"),
        ("PATCH", f"{API}/projects/{LUSAIL}", {}, "company_id"),
        ("PATCH", f"{API}/vendors/501004", {}, "company_id"),
    ],
)
def test_a_request_without_what_procore_requires_is_refused(
    procore: httpx.Client, method: str, path: str, given: dict[str, int], missing: str
) -> None:
    headers = procore_headers(procore)
    if method == "GET":
        response = procore.get(path, headers=headers, params=given)
    else:
        body_key = {
            "contract_payments": "contract_payment",
            "requisitions": "requisition",
            "projects": "project",
            "vendors": "vendor",
            "work_order_contracts": "work_order_contract",
        }[path.split("/")[3]]
        response = procore.patch(path, headers=headers, json={**given, body_key: {"origin_data": "x"}})
    assert response.status_code == 400
    assert response.json() == {"error": f"{missing} is missing"}
    assert writes(procore) == []


def test_a_record_outside_the_scope_given_is_not_found(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    assert procore.get(PAYMENT, headers=headers, params={**SCOPE, "contract_id": 1945815}).status_code == 404
    assert procore.get(PAYMENT, headers=headers, params={**SCOPE, "project_id": 1}).status_code == 404
    wrong_company = procore.get(f"{API}/vendors/501004", headers=headers, params={"company_id": 1})
    assert wrong_company.status_code == 403
    moved = procore.patch(
        f"{API}/requisitions/10061", headers=headers, json={**REQUISITION_SCOPE, "commitment_id": 1, "requisition": {}}
    )
    assert moved.status_code == 404


def test_responses_carry_exactly_the_published_attributes(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    payment = procore.get(PAYMENT, headers=headers, params=SCOPE).json()
    # Every attribute of the published view, null where the record has no value ...
    assert payment["external_payment_id"] is None and "date_payment_settled" in payment
    # ... and nothing the view does not have: the payment method is write-only.
    assert "payment_method" not in payment
    invoice = procore.get(f"{API}/requisitions/10061", headers=headers, params={"project_id": LUSAIL}).json()
    assert "vendor_id" not in invoice and invoice["vendor_name"]


def test_origin_id_locks_invoices_and_payments(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    # Setting the origin_id is allowed (it is how an ERP sync claims the record) ...
    claimed = procore.patch(PAYMENT, headers=headers, json={**SCOPE, "contract_payment": {"origin_id": "BC-1"}})
    assert claimed.status_code == 200
    # ... and from then on the record is locked.
    locked = procore.patch(PAYMENT, headers=headers, json={**SCOPE, "contract_payment": {"notes": "x"}})
    assert locked.status_code == 422
    assert locked.json() == {"error": "The payment is not editable because it has been synced with ERP"}
    # An origin_id set in Procore by someone else locks a requisition the same way.
    procore.patch("/_control/records/invoice/10061", json={"fields": {"origin_id": "ERP-77"}})
    invoice = procore.patch(
        f"{API}/requisitions/10061", headers=headers, json={**REQUISITION_SCOPE, "requisition": {"status": "approved"}}
    )
    assert invoice.status_code == 422
    assert invoice.json()["error"].startswith("The invoice is not editable")
    # Commitments are not locked by an origin_id.
    contract = procore.patch(
        f"{API}/work_order_contracts/1945782",
        headers=headers,
        json={"project_id": LUSAIL, "work_order_contract": {"origin_id": "SO-1"}},
    )
    assert contract.status_code == 200
    assert (
        procore.patch(
            f"{API}/work_order_contracts/1945782",
            headers=headers,
            json={"project_id": LUSAIL, "work_order_contract": {"title": "T"}},
        ).status_code
        == 200
    )
    assert len(writes(procore, source="api")) == 3


# ------------------------------------------------------------------------------------------ rate limits


def test_every_authenticated_response_carries_rate_limit_headers(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    responses = [
        procore.get(PROJECTS, headers=headers),
        procore.get(f"{API}/projects/1", headers=headers, params=COMPANY_SCOPE),
        procore.get(PROJECTS, headers={"Authorization": headers["Authorization"]}),
    ]
    remaining = [int(r.headers["X-Rate-Limit-Remaining"]) for r in responses]
    assert [r.status_code for r in responses] == [200, 404, 400]
    assert remaining == [99, 98, 97]  # failed calls count too
    assert {r.headers["X-Rate-Limit-Limit"] for r in responses} == {"100"}
    assert all(int(r.headers["X-Rate-Limit-Reset"]) > 1_600_000_000 for r in responses)


def test_spike_window_gives_429_then_resets(serve: Serve) -> None:
    client = serve(create_procore_app(rate_limit=ProcoreRateLimit(hourly=100, spike=3, spike_seconds=10)))
    headers = procore_headers(client)
    ok = [client.get(PROJECTS, headers=headers) for _ in range(3)]
    assert [r.headers["X-Rate-Limit-Remaining"] for r in ok] == ["2", "1", "0"]
    limited = client.get(PROJECTS, headers=headers)
    assert limited.status_code == 429
    assert limited.text.startswith("You have surpassed the max number of requests")
    assert limited.headers["X-Rate-Limit-Limit"] == "3"
    assert limited.headers["X-Rate-Limit-Remaining"] == "0"
    assert 1 <= int(limited.headers["Retry-After"]) <= 10
    client.post("/_control/clock", json={"seconds": 10})
    again = client.get(PROJECTS, headers=headers)
    assert again.status_code == 200
    assert again.headers["X-Rate-Limit-Remaining"] == "2"


def test_hourly_window_is_reported_once_it_is_closer(serve: Serve) -> None:
    client = serve(create_procore_app(rate_limit=ProcoreRateLimit(hourly=4, spike=2)))
    headers = procore_headers(client)
    reported = []
    for _ in range(4):
        response = client.get(PROJECTS, headers=headers)
        reported.append((response.headers["X-Rate-Limit-Limit"], response.headers["X-Rate-Limit-Remaining"]))
        client.post("/_control/clock", json={"seconds": 11})  # a fresh spike window every time
    # The spike window (limit 2) is reported until the hourly one (limit 4) has fewer left.
    assert reported == [("2", "1"), ("2", "1"), ("2", "1"), ("4", "0")]
    over = client.get(PROJECTS, headers=headers)
    assert over.status_code == 429
    assert over.headers["X-Rate-Limit-Limit"] == "4"
    assert int(over.headers["Retry-After"]) > 3000  # the hourly window resets much later


def test_rate_limits_are_per_client_and_settable_at_run_time(serve: Serve) -> None:
    client = serve(create_procore_app(clients={"a": "1", "b": "2"}))
    settings = client.patch("/_control/settings", json={"rate_limit": {"spike": 1}})
    assert settings.json()["rate_limit"]["spike"] == 1
    assert settings.json()["rate_limit"]["hourly"] == 3600

    def headers(client_id: str, secret: str) -> dict[str, str]:
        token = client.post(
            "/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        ).json()["access_token"]
        return {"Authorization": f"Bearer {token}", **COMPANY}

    a, b = headers("a", "1"), headers("b", "2")
    assert client.get(PROJECTS, headers=a).status_code == 200
    assert client.get(PROJECTS, headers=a).status_code == 429
    assert client.get(PROJECTS, headers=b).status_code == 200
    assert client.patch("/_control/settings", json={"rate_limit": {"spike": 0}}).status_code == 422


# ----------------------------------------------------------------------------------------------- faults


def test_error_fault_hits_the_next_n_matching_requests(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    fault = add_fault(procore, kind="error", count=2, method="GET", path_prefix=f"{API}/projects")
    assert fault["remaining"] == 2 and str(fault["id"]).startswith("flt_")
    assert (
        procore.get(f"{API}/vendors", headers=headers, params=COMPANY_SCOPE).status_code == 200
    )  # path does not match
    failed = [procore.get(PROJECTS, headers=headers) for _ in range(2)]
    assert [r.status_code for r in failed] == [500, 500]
    assert failed[0].json() == {"error": "Internal Server Error"}
    assert "X-Rate-Limit-Remaining" in failed[0].headers  # injected failures still count
    assert procore.get(PROJECTS, headers=headers).status_code == 200
    assert procore.get("/_control/faults").json() == {"faults": []}


def test_unavailable_fault_sends_retry_after(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    add_fault(procore, kind="unavailable", retry_after=7)
    response = procore.get(PROJECTS, headers=headers)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    add_fault(procore, kind="unavailable", status=502)
    assert procore.get(PROJECTS, headers=headers).status_code == 502


def test_rate_limit_fault_looks_like_an_exhausted_window(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    add_fault(procore, kind="rate_limit", retry_after=4)
    response = procore.get(PROJECTS, headers=headers)
    assert response.status_code == 429
    assert response.headers["X-Rate-Limit-Remaining"] == "0"
    assert response.headers["Retry-After"] == "4"
    assert int(response.headers["X-Rate-Limit-Reset"]) >= time.time() + 3


def test_faults_can_target_the_token_endpoint(procore: httpx.Client) -> None:
    add_fault(procore, kind="error", status=500, path_prefix="/oauth/token")
    failed = procore.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert failed.status_code == 500
    procore_headers(procore)  # the next token request succeeds


def test_hang_fault_outlasts_the_client_timeout_then_applies(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    add_fault(procore, kind="hang", seconds=1.0, method="PATCH")
    with pytest.raises(httpx.ReadTimeout):
        procore.patch(PAYMENT, headers=headers, json={**SCOPE, "contract_payment": {"notes": "slow"}}, timeout=0.2)
    # The platform was only slow: the write lands once the hang is over.
    deadline = time.monotonic() + 5
    while not writes(procore) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [w["changes"] for w in writes(procore)] == [
        {"notes": {"old": "Substructure progress payment #1", "new": "slow"}}
    ]


def test_drop_after_apply_as_gateway_timeout(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    add_fault(procore, kind="drop_after_apply", method="PATCH")
    response = procore.patch(PAYMENT, headers=headers, json={**SCOPE, "contract_payment": {"amount": "1.00"}})
    assert response.status_code == 504
    # The write was applied although the client saw a failure.
    assert procore.get(PAYMENT, params=SCOPE, headers=headers).json()["amount"] == "1.00"
    assert len(writes(procore)) == 1


def test_drop_after_apply_as_connection_reset(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    add_fault(procore, kind="drop_after_apply", drop="reset", path_prefix=PAYMENT)
    with pytest.raises(httpx.RemoteProtocolError):
        procore.patch(PAYMENT, headers=headers, json={**SCOPE, "contract_payment": {"amount": "2.00"}})
    assert procore.get(PAYMENT, params=SCOPE, headers=headers).json()["amount"] == "2.00"
    assert len(writes(procore)) == 1


def test_drop_after_apply_as_hang(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    add_fault(procore, kind="drop_after_apply", drop="hang", seconds=1.0)
    with pytest.raises(httpx.ReadTimeout):
        procore.patch(PAYMENT, headers=headers, json={**SCOPE, "contract_payment": {"amount": "3.00"}}, timeout=0.3)
    assert procore.get(PAYMENT, params=SCOPE, headers=headers).json()["amount"] == "3.00"


def test_fault_spec_is_validated(procore: httpx.Client) -> None:
    assert procore.post("/_control/faults", json={"kind": "explode"}).status_code == 422
    assert procore.post("/_control/faults", json={"kind": "error", "count": 0}).status_code == 422
    add_fault(procore, kind="error", count=3)
    assert len(procore.get("/_control/faults").json()["faults"]) == 1
    assert procore.delete("/_control/faults").status_code == 204
    assert procore.get("/_control/faults").json() == {"faults": []}


# ------------------------------------------------------------------------------------------ control


def test_out_of_band_edit_changes_the_record_and_its_updated_at(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    seen = procore.get(PAYMENT, params=SCOPE, headers=headers).json()
    edit = procore.patch("/_control/records/payment/1823456", json={"fields": {"notes": "changed by a PM"}})
    assert edit.status_code == 200
    now = procore.get(PAYMENT, params=SCOPE, headers=headers).json()
    assert now["notes"] == "changed by a PM"
    assert now["updated_at"] > seen["updated_at"]  # how a client detects the concurrent edit
    touch = procore.patch("/_control/records/payment/1823456", json={})
    assert touch.json()["record"]["updated_at"] > now["updated_at"]
    log = writes(procore)
    assert [(w["source"], w["changes"]) for w in log] == [
        ("control", {"notes": {"old": "Substructure progress payment #1", "new": "changed by a PM"}}),
        ("control", {}),
    ]
    assert writes(procore, source="api") == []
    assert procore.patch("/_control/records/payment/1", json={}).status_code == 404
    assert procore.patch("/_control/records/payment/1823456", json={"fields": {"id": 5}}).status_code == 400


def test_reset_restores_the_demo_data(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    procore.patch(PAYMENT, headers=headers, json={**SCOPE, "contract_payment": {"amount": "9.00"}})
    add_fault(procore, kind="error")
    reset = procore.post("/_control/reset")
    assert reset.json()["counts"] == {"project": 5, "customer": 4, "contract": 13, "invoice": 8, "payment": 8}
    assert procore.get("/_control/faults").json() == {"faults": []}
    assert writes(procore) == []
    # The token survives a reset; the data does not.
    restored = procore.get(PAYMENT, params=SCOPE, headers=headers).json()
    demo = next(p for p in demo_data.demo_records()["payment"] if p["id"] == 1823456)
    assert {key: restored[key] for key in demo} == demo
    assert procore.get("/_control/records/payment").json()["records"] == demo_data.demo_records()["payment"]


def test_instances_are_isolated(serve: Serve) -> None:
    one, two = serve(create_procore_app()), serve(create_procore_app())
    one.patch(PAYMENT, headers=procore_headers(one), json={**SCOPE, "contract_payment": {"amount": "5.00"}})
    assert two.get(PAYMENT, params=SCOPE, headers=procore_headers(two)).json()["amount"] == "1700000.00"
    assert writes(two) == []


async def test_works_in_process_through_asgi_transport() -> None:
    # Tests that need no real sockets can drive an emulator in-process.
    transport = httpx.ASGITransport(app=create_procore_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://procore") as client:
        token = (await client.post("/oauth/token", data=CREDENTIALS)).json()["access_token"]
        response = await client.get(PROJECTS, headers={"Authorization": f"Bearer {token}", **COMPANY})
    assert response.status_code == 200
    assert response.headers["Total"] == "5"
