"""The Business Central emulator over real HTTP: Entra tokens, OData envelope and paging, query
options, ETag/If-Match concurrency, read-only fields, per-user limits, faults and control."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from emulators import create_dynamics_app, serve_in_thread
from emulators.common import parse_json
from emulators.dynamics import (
    COMPANY_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_TENANT,
    SCOPE,
)
from platforms.dynamics import demo_data
from tests.fixtures.emulators import BC_API, BC_COMPANY, SPEC_PAYMENT, add_fault, bc_headers, writes

Serve = Callable[[FastAPI], httpx.Client]
TOKEN_URL = f"/{DEFAULT_TENANT}/oauth2/v2.0/token"
CREDENTIALS = {
    "grant_type": "client_credentials",
    "client_id": DEFAULT_CLIENT_ID,
    "client_secret": DEFAULT_CLIENT_SECRET,
    "scope": SCOPE,
}
JOURNAL_ID = demo_data.payment_journals()[0]["id"]
INVOICE = next(i for i in demo_data.demo_records()["invoice"] if i["number"] == "PS-INV103001")
INVOICE_URL = f"{BC_COMPANY}/salesInvoices({INVOICE['id']})"
ORDER_URL = f"{BC_COMPANY}/salesOrders({demo_data.demo_records()['contract'][0]['id']})"
CUSTOMER_URL = f"{BC_COMPANY}/customers({demo_data.demo_records()['customer'][0]['id']})"


def assert_bc_error(response: httpx.Response, status: int, code: str, message: str | None = None) -> str:
    """BC's error body: {"error": {"code", "message"}}, the message ending in a CorrelationId."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    text: str = body["error"]["message"]
    assert "CorrelationId:" in text and text.endswith(".")
    if message is not None:
        assert text.startswith(message), text
    return text


def etag_of(client: httpx.Client, url: str, headers: dict[str, str]) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    etag: str = response.json()["@odata.etag"]
    return etag


# ------------------------------------------------------------------------------------------------ auth


def test_token_endpoint(bc: httpx.Client) -> None:
    response = bc.post(TOKEN_URL, data=CREDENTIALS)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599
    assert body["access_token"]


@pytest.mark.parametrize(
    ("url", "change", "status", "error"),
    [
        ("/other-tenant/oauth2/v2.0/token", {}, 400, "invalid_request"),
        (TOKEN_URL, {"grant_type": "password"}, 400, "unsupported_grant_type"),
        (TOKEN_URL, {"client_id": "someone"}, 400, "unauthorized_client"),
        (TOKEN_URL, {"client_secret": "guess"}, 401, "invalid_client"),
        (TOKEN_URL, {"scope": "https://graph.microsoft.com/.default"}, 400, "invalid_scope"),
    ],
)
def test_token_errors(bc: httpx.Client, url: str, change: dict[str, str], status: int, error: str) -> None:
    response = bc.post(url, data={**CREDENTIALS, **change})
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert body["error_description"].startswith("AADSTS")


def test_api_needs_a_valid_unexpired_token_for_this_tenant(bc: httpx.Client) -> None:
    assert_bc_error(bc.get(f"{BC_COMPANY}/customers"), 401, "Authentication_InvalidCredentials")
    headers = bc_headers(bc)
    assert bc.get(f"{BC_COMPANY}/customers", headers=headers).status_code == 200
    other_tenant = BC_COMPANY.replace(DEFAULT_TENANT, "contoso.onmicrosoft.com")
    assert_bc_error(bc.get(other_tenant + "/customers", headers=headers), 401, "Authentication_InvalidCredentials")
    bc.post("/_control/clock", json={"seconds": 3600})
    expired = bc.get(f"{BC_COMPANY}/customers", headers=headers)
    assert_bc_error(expired, 401, "Authentication_InvalidCredentials", "The access token has expired.")
    assert "authorization_uri" in expired.headers["WWW-Authenticate"]


# ------------------------------------------------------------------------------------------------ reads


def test_collection_envelope_and_exact_decimals(bc: httpx.Client) -> None:
    headers = bc_headers(bc)
    response = bc.get(f"{BC_COMPANY}/salesInvoices", headers=headers)
    assert response.headers["OData-Version"] == "4.0"
    assert response.headers["content-type"].startswith("application/json; odata.metadata=minimal")
    body = parse_json(response.content)
    assert body["@odata.context"].endswith(f"/$metadata#companies({COMPANY_ID})/salesInvoices")
    assert "@odata.nextLink" not in body
    expected = {i["id"]: i for i in demo_data.demo_records()["invoice"]}
    assert {r["id"] for r in body["value"]} == set(expected)
    for row in body["value"]:
        assert row["@odata.etag"].startswith('W/"')
        # Money is a JSON number with the demo data's exact decimal value.
        assert row["totalAmountIncludingTax"] == expected[row["id"]]["totalAmountIncludingTax"]
    assert b'"totalAmountIncludingTax":6188000,' in response.content  # a number, printed like BC


def test_server_driven_paging_follows_next_links(bc: httpx.Client) -> None:
    headers = {**bc_headers(bc), "Prefer": "odata.maxpagesize=3"}
    url: str | None = f"{BC_COMPANY}/salesOrders"
    numbers: list[str] = []
    pages = 0
    while url:
        response = bc.get(url, headers=headers)
        assert response.status_code == 200
        assert response.headers["Preference-Applied"] == "odata.maxpagesize=3"
        body = response.json()
        assert len(body["value"]) <= 3
        numbers += [r["number"] for r in body["value"]]
        url = body.get("@odata.nextLink")
        pages += 1
    assert pages == 4
    assert numbers == [o["number"] for o in demo_data.demo_records()["contract"]]


def test_next_link_keeps_the_query(bc: httpx.Client) -> None:
    headers = {**bc_headers(bc), "Prefer": "odata.maxpagesize=2"}
    first = bc.get(
        f"{BC_COMPANY}/salesOrders",
        headers=headers,
        params={"$filter": "customerNumber eq 'C00010'", "$select": "number,customerNumber"},
    ).json()
    assert [r["number"] for r in first["value"]] == ["SO-1001", "SO-1002"]
    second = bc.get(first["@odata.nextLink"], headers=headers).json()
    assert [r["number"] for r in second["value"]] == ["SO-1003", "SO-1010"]
    third = bc.get(second["@odata.nextLink"], headers=headers).json()
    assert [r["number"] for r in third["value"]] == ["SO-1012"]
    assert "@odata.nextLink" not in third
    assert set(third["value"][0]) == {"@odata.etag", "number", "customerNumber"}


def test_top_skip_count_and_orderby(bc: httpx.Client) -> None:
    headers = bc_headers(bc)
    body = bc.get(
        f"{BC_COMPANY}/customers",
        headers=headers,
        params={"$orderby": "number desc", "$top": "2", "$skip": "1", "$count": "true"},
    ).json()
    assert body["@odata.count"] == 4
    assert [c["number"] for c in body["value"]] == ["C00030", "C00020"]


def test_filters(bc: httpx.Client) -> None:
    headers = bc_headers(bc)

    def numbers(entity_set: str, expression: str) -> list[str]:
        response = bc.get(f"{BC_COMPANY}/{entity_set}", headers=headers, params={"$filter": expression})
        assert response.status_code == 200, response.text
        return [r["number"] for r in response.json()["value"]]

    assert numbers("salesInvoices", "status eq 'Draft'") == ["S-INV100214"]
    assert numbers("salesInvoices", "totalAmountIncludingTax gt 5000000 and status eq 'Open'") == [
        "PS-INV103001",
        "PS-INV103002",
    ]
    assert numbers("salesInvoices", "invoiceDate ge 2026-02-20") == ["PS-INV103006", "S-INV100214"]
    customer = demo_data.demo_records()["customer"][1]
    assert numbers("customers", f"id eq {customer['id'].upper()}") == [customer["number"]]
    assert numbers("customers", "displayName eq 'NAJD  READYMIX CONCRETE CO.'") == ["C00030"]
    assert numbers("projects", "lastModifiedDateTime gt 2026-01-01T00:00:00Z") == ["YNB-2502"]


def test_incremental_polling_by_last_modified(bc: httpx.Client) -> None:
    headers = bc_headers(bc)
    since = "2026-06-01T00:00:00Z"
    query = {"$filter": f"lastModifiedDateTime gt {since}"}
    assert bc.get(f"{BC_COMPANY}/customers", headers=headers, params=query).json()["value"] == []
    bc.patch(f"/_control/records/customer/{demo_data.demo_records()['customer'][0]['id']}", json={"fields": {}})
    changed = bc.get(f"{BC_COMPANY}/customers", headers=headers, params=query).json()["value"]
    assert [c["number"] for c in changed] == ["C00010"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"$filter": "contains(displayName,'Doha')"}, "Functions and parentheses"),
        ({"$filter": "number eq 'a' or number eq 'b'"}, "Only 'and'"),
        ({"$filter": "(number eq 'a')"}, "Functions and parentheses"),
        ({"$filter": "'a' eq number"}, "Expected a property name"),
        ({"$filter": "number eq"}, "Incomplete comparison"),
        ({"$filter": "number eq 'open"}, "Unterminated string"),
        ({"$filter": "number like 'a'"}, "Unknown operator"),
        ({"$filter": "nope eq 'a'"}, "Could not find a property named 'nope'"),
        ({"$filter": "number gt 5"}, "A binary operator with incompatible types"),
        ({"$select": "number,nope"}, "Could not find a property named 'nope'"),
        ({"$top": "-1"}, "Invalid value '-1' for $top"),
        ({"$orderby": "number sideways"}, "Invalid sort direction"),
        ({"$expand": "customer"}, "$expand is not supported"),
    ],
)
def test_bad_query_options(bc: httpx.Client, params: dict[str, str], message: str) -> None:
    response = bc.get(f"{BC_COMPANY}/customers", headers=bc_headers(bc), params=params)
    assert_bc_error(response, 400, "BadRequest", message)


def test_single_entity_and_addressing_errors(bc: httpx.Client) -> None:
    headers = bc_headers(bc)
    response = bc.get(INVOICE_URL, headers=headers)
    body = response.json()
    assert body["@odata.context"].endswith("/salesInvoices/$entity")
    assert response.headers["ETag"] == body["@odata.etag"] == INVOICE["@odata.etag"]
    assert body["number"] == "PS-INV103001"
    selected = bc.get(INVOICE_URL, headers=headers, params={"$select": "number"}).json()
    assert set(selected) == {"@odata.context", "@odata.etag", "number"}
    quoted = bc.get(f"{BC_COMPANY}/salesInvoices('{INVOICE['id']}')", headers=headers)
    assert_bc_error(quoted, 400, "BadRequest", "Bad Request - Error in query syntax")
    missing = bc.get(f"{BC_COMPANY}/salesInvoices({demo_data.EMPTY_GUID})", headers=headers)
    assert_bc_error(missing, 404, "BadRequest_ResourceNotFound", "Resource not found for the segment 'salesInvoices'.")
    unknown_set = bc.get(f"{BC_COMPANY}/widgets", headers=headers)
    assert_bc_error(unknown_set, 404, "BadRequest_ResourceNotFound", "Resource not found for the segment 'widgets'.")
    other_company = bc.get(f"{BC_API}/companies({demo_data.EMPTY_GUID})/customers", headers=headers)
    assert_bc_error(other_company, 404, "Internal_CompanyNotFound")
    companies = bc.get(f"{BC_API}/companies", headers=headers).json()
    assert [c["id"] for c in companies["value"]] == [COMPANY_ID]


def test_payments_are_read_through_their_journal(bc: httpx.Client) -> None:
    headers = bc_headers(bc)
    nested = bc.get(f"{BC_COMPANY}/customerPaymentJournals({JOURNAL_ID})/customerPayments", headers=headers)
    assert nested.status_code == 200
    assert len(nested.json()["value"]) == 8
    assert nested.json()["@odata.context"].endswith(f"customerPaymentJournals({JOURNAL_ID})/customerPayments")
    flat = bc.get(f"{BC_COMPANY}/customerPayments", headers=headers)
    assert_bc_error(flat, 400, "Application_DialogException", "You must specify a journal batch ID")
    filtered = bc.get(
        f"{BC_COMPANY}/customerPayments", headers=headers, params={"$filter": f"journalId eq {JOURNAL_ID}"}
    )
    assert filtered.json()["value"] == nested.json()["value"]
    journals = bc.get(f"{BC_COMPANY}/customerPaymentJournals", headers=headers).json()["value"]
    assert [j["code"] for j in journals] == ["CASHRCPT"]
    one = bc.get(
        f"{BC_COMPANY}/customerPaymentJournals({JOURNAL_ID})/customerPayments({demo_data.SPEC_PAYMENT_ID})",
        headers=headers,
    )
    assert one.json()["documentNumber"] == "chk-2026-0101 "
    through_journal = bc.patch(
        f"{BC_COMPANY}/customerPaymentJournals({JOURNAL_ID})/customerPayments({demo_data.SPEC_PAYMENT_ID})",
        headers={**headers, "If-Match": one.json()["@odata.etag"]},
        json={"documentNumber": "CHK-2026-0101"},
    )
    assert through_journal.status_code == 200
    assert through_journal.json()["@odata.context"].endswith(
        f"customerPaymentJournals({JOURNAL_ID})/customerPayments/$entity"
    )
    other_journal = bc.get(
        f"{BC_COMPANY}/customerPaymentJournals({demo_data.EMPTY_GUID})/customerPayments", headers=headers
    )
    assert_bc_error(other_journal, 404, "BadRequest_ResourceNotFound", "Resource not found for the segment")
    assert bc.get(SPEC_PAYMENT, headers=headers).json()["id"] == demo_data.SPEC_PAYMENT_ID


# ----------------------------------------------------------------------------------------- concurrency


def test_patch_requires_if_match(bc: httpx.Client) -> None:
    headers = bc_headers(bc)
    for if_match in (None, "", "not-an-etag"):
        extra = {} if if_match is None else {"If-Match": if_match}
        response = bc.patch(INVOICE_URL, headers={**headers, **extra}, json={"externalDocumentNumber": "X"})
        assert_bc_error(response, 400, "BadRequest_InvalidToken", "Could not validate the client concurrency token")
    assert writes(bc) == []


def test_patch_with_current_etag_returns_the_entity_with_a_new_etag(bc: httpx.Client) -> None:
    headers = bc_headers(bc)
    etag = etag_of(bc, INVOICE_URL, headers)
    response = bc.patch(
        INVOICE_URL, headers={**headers, "If-Match": etag}, json={"externalDocumentNumber": "INV-2025-0061"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["externalDocumentNumber"] == "INV-2025-0061"
    assert body["@odata.etag"] != etag
    assert response.headers["ETag"] == body["@odata.etag"]
    assert body["lastModifiedDateTime"] > INVOICE["lastModifiedDateTime"]
    assert body["@odata.etag"] == demo_data.weak_etag(INVOICE["id"], body["lastModifiedDateTime"])
    # Re-reading gives the same new etag; the old one is now stale.
    assert etag_of(bc, INVOICE_URL, headers) == body["@odata.etag"]
    stale = bc.patch(INVOICE_URL, headers={**headers, "If-Match": etag}, json={"externalDocumentNumber": "Y"})
    assert_bc_error(stale, 409, "Request_EntityChanged", "Another user has already changed the record.")
    [entry] = writes(bc)
    assert entry["changes"] == {"externalDocumentNumber": {"old": "INV 2025-0061", "new": "INV-2025-0061"}}
    assert entry["version"] == body["@odata.etag"]
    assert entry["record_id"] == INVOICE["id"] and entry["entity_type"] == "invoice"


def test_every_write_changes_the_etag(bc: httpx.Client) -> None:
    headers = bc_headers(bc)
    etags = [etag_of(bc, SPEC_PAYMENT, headers)]
    for amount in ("6188000.01", "6188000.02", "6188000.03"):
        response = bc.patch(SPEC_PAYMENT, headers={**headers, "If-Match": etags[-1]}, content=f'{{"amount": {amount}}}')
        assert response.status_code == 200, response.text
        assert parse_json(response.content)["amount"] == Decimal(amount)
        etags.append(response.json()["@odata.etag"])
    assert len(set(etags)) == 4


def test_if_match_star_always_applies(bc: httpx.Client) -> None:
    headers = {**bc_headers(bc), "If-Match": "*"}
    bc.patch(f"/_control/records/payment/{demo_data.SPEC_PAYMENT_ID}", json={"fields": {"comment": "human"}})
    response = bc.patch(SPEC_PAYMENT, headers=headers, json={"comment": "sync"})
    assert response.status_code == 200
    assert response.json()["comment"] == "sync"


def test_conflict_status_412(serve: Serve) -> None:
    client = serve(create_dynamics_app(conflict_status=412))
    headers = bc_headers(client)
    etag = etag_of(client, SPEC_PAYMENT, headers)
    client.patch(f"/_control/records/payment/{demo_data.SPEC_PAYMENT_ID}", json={"fields": {"amount": 1}})
    stale = client.patch(SPEC_PAYMENT, headers={**headers, "If-Match": etag}, json={"amount": 2})
    assert_bc_error(stale, 412, "Request_EntityChanged", "Another user has already changed the record.")
    # The connector's recovery: read the current record (the conflict data) and retry with its etag.
    current = client.get(SPEC_PAYMENT, headers=headers).json()
    assert current["amount"] == 1
    retried = client.patch(SPEC_PAYMENT, headers={**headers, "If-Match": current["@odata.etag"]}, json={"amount": 2})
    assert retried.status_code == 200
    assert [w["source"] for w in writes(client)] == ["control", "api"]


def test_noop_patch_keeps_the_etag(bc: httpx.Client) -> None:
    headers = bc_headers(bc)
    etag = etag_of(bc, INVOICE_URL, headers)
    same = bc.patch(
        INVOICE_URL,
        headers={**headers, "If-Match": etag},
        json={"@odata.etag": etag, "number": "PS-INV103001", "externalDocumentNumber": "INV 2025-0061"},
    )
    assert same.status_code == 200
    assert same.json()["@odata.etag"] == etag
    assert writes(bc) == []


# ----------------------------------------------------------------------------------- field validation


@pytest.mark.parametrize(
    ("url", "body", "code", "message"),
    [
        (INVOICE_URL, {"number": "PS-INV999"}, "BadRequest_InvalidOperation", "Control 'number' is read-only."),
        (INVOICE_URL, {"id": demo_data.EMPTY_GUID}, "BadRequest_InvalidOperation", "Control 'id' is read-only."),
        (INVOICE_URL, {"lastModifiedDateTime": "2030-01-01T00:00:00Z"}, "BadRequest_InvalidOperation", "Control"),
        (INVOICE_URL, {"orderNumber": "SO-1"}, "BadRequest_InvalidOperation", "Control 'orderNumber'"),
        (INVOICE_URL, {"color": "red"}, "BadRequest", "Could not find a property named 'color'"),
        (INVOICE_URL, {"discountAmount": "12.50"}, "BadRequest", "Cannot convert the literal '12.50'"),
        # Totals and status are Editable = false on the API pages (BC computes them).
        (INVOICE_URL, {"totalAmountIncludingTax": 12.5}, "BadRequest_InvalidOperation", "Control 'totalAmount"),
        (INVOICE_URL, {"status": "Paid"}, "BadRequest_InvalidOperation", "Control 'status' is read-only."),
        (ORDER_URL, {"status": "Draft"}, "BadRequest_InvalidOperation", "Control 'status' is read-only."),
        (ORDER_URL, {"totalTaxAmount": 1}, "BadRequest_InvalidOperation", "Control 'totalTaxAmount'"),
        (ORDER_URL, {"billToName": "X"}, "BadRequest_InvalidOperation", "Control 'billToName'"),
        # A payment journal line has no currency.
        (SPEC_PAYMENT, {"currencyCode": "QAR"}, "BadRequest", "Could not find a property named 'currencyCode'"),
        # Text over the $metadata MaxLength (externalDocumentNumber: 35).
        (INVOICE_URL, {"externalDocumentNumber": "X" * 36}, "Application_StringExceededLength",
         "The length of the string is 36, but it must be less than or equal to 35 characters. Value: XXX"),
        (INVOICE_URL, {"invoiceDate": "2026-02-30"}, "BadRequest", "Cannot convert the literal '2026-02-30'"),
        # Enum members are OData names: an unknown one, or the caption instead of the name, is refused.
        (CUSTOMER_URL, {"blocked": "Lost"}, "BadRequest", "Cannot convert the literal 'Lost' to the expected "
         "type 'Microsoft.NAV.customerBlocked'."),
        (CUSTOMER_URL, {"blocked": " "}, "BadRequest", "Cannot convert the literal ' '"),
        (INVOICE_URL, {"customerNumber": "C99999"}, "Application_DialogException", 'The "customerNumber" does not'),
        (
            f"{BC_COMPANY}/customers({demo_data.demo_records()['customer'][0]['id']})",
            {"number": "C99999"},
            "Application_DialogException",
            "You may not enter numbers manually.",
        ),
    ],
)
def test_rejected_patches(bc: httpx.Client, url: str, body: dict[str, Any], code: str, message: str) -> None:
    response = bc.patch(url, headers={**bc_headers(bc), "If-Match": "*"}, json=body)
    assert_bc_error(response, 400, code, message)
    assert writes(bc) == []


def test_customer_reference_is_kept_consistent(bc: httpx.Client) -> None:
    headers = {**bc_headers(bc), "If-Match": "*"}
    order = demo_data.demo_records()["contract"][0]
    url = f"{BC_COMPANY}/salesOrders({order['id']})"
    response = bc.patch(url, headers=headers, json={"customerNumber": "C00020"})
    body = response.json()
    customer = demo_data.demo_records()["customer"][1]
    assert (body["customerId"], body["customerName"]) == (customer["id"], customer["displayName"])
    mismatch = bc.patch(url, headers=headers, json={"customerNumber": "C00010", "customerId": customer["id"]})
    assert_bc_error(mismatch, 400, "Application_DialogException", "The customer values do not match")


def test_enum_members_go_by_their_odata_names(bc: httpx.Client) -> None:
    headers = {**bc_headers(bc), "If-Match": "*"}
    customer = bc.get(CUSTOMER_URL, headers=headers).json()
    assert customer["blocked"] == "_x0020_"  # not blocked: the blank option
    assert bc.patch(CUSTOMER_URL, headers=headers, json={"blocked": "Invoice"}).json()["blocked"] == "Invoice"
    orders = bc.get(f"{BC_COMPANY}/salesOrders", headers=headers).json()["value"]
    assert {o["status"] for o in orders} == {"Open", "In_x0020_Review"}  # no Released member


def test_unsupported_methods(bc: httpx.Client) -> None:
    headers = {**bc_headers(bc), "If-Match": "*"}
    collection = bc.patch(f"{BC_COMPANY}/salesInvoices", headers=headers, json={})
    assert_bc_error(collection, 405, "BadRequest_MethodNotAllowed", "'PATCH' requests for 'salesInvoices'")
    put = bc.put(f"{BC_COMPANY}/salesInvoices", headers=headers, json={})
    assert_bc_error(put, 405, "BadRequest_MethodNotAllowed")
    journal_create = bc.post(f"{BC_COMPANY}/customerPaymentJournals", headers=headers, json={"code": "X"})
    assert_bc_error(journal_create, 405, "BadRequest_MethodNotAllowed")
    journal = bc.patch(f"{BC_COMPANY}/customerPaymentJournals({JOURNAL_ID})", headers=headers, json={})
    assert_bc_error(journal, 405, "BadRequest_MethodNotAllowed")


# ------------------------------------------------------------------------------------------------ limits


def test_requests_per_window_gives_429_until_the_window_slides(serve: Serve) -> None:
    client = serve(create_dynamics_app(requests_per_window=3, window_seconds=60))
    headers = bc_headers(client)
    assert [client.get(f"{BC_COMPANY}/projects", headers=headers).status_code for _ in range(3)] == [200] * 3
    limited = client.get(f"{BC_COMPANY}/projects", headers=headers)
    assert_bc_error(limited, 429, "Application_TooManyRequests")
    assert "Retry-After" not in limited.headers  # BC documents Retry-After for 502/503 only
    client.post("/_control/clock", json={"seconds": 61})
    assert client.get(f"{BC_COMPANY}/projects", headers=headers).status_code == 200


async def test_concurrent_requests_beyond_the_queue_get_429() -> None:
    app = create_dynamics_app(max_concurrent=1, max_queue=1)
    with serve_in_thread(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=5.0) as client:
            token = (await client.post(TOKEN_URL, data=CREDENTIALS)).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            await client.post("/_control/faults", json={"kind": "hang", "seconds": 1.0, "count": 2})
            running = asyncio.create_task(client.get(f"{BC_COMPANY}/projects", headers=headers))
            await asyncio.sleep(0.2)
            queued = asyncio.create_task(client.get(f"{BC_COMPANY}/projects", headers=headers))
            await asyncio.sleep(0.2)
            rejected = await client.get(f"{BC_COMPANY}/projects", headers=headers)
            assert rejected.status_code == 429
            assert [r.status_code for r in await asyncio.gather(running, queued)] == [200, 200]


# ------------------------------------------------------------------------------------------------ faults


@pytest.mark.parametrize(
    ("spec", "status", "code", "retry_after"),
    [
        ({"kind": "error"}, 500, "Internal_ServerError", None),
        ({"kind": "unavailable"}, 503, "ServiceUnavailable", "1"),
        ({"kind": "unavailable", "status": 502, "retry_after": 30}, 502, "BadGateway", "30"),
        ({"kind": "rate_limit"}, 429, "Application_TooManyRequests", None),
        ({"kind": "rate_limit", "retry_after": 5}, 429, "Application_TooManyRequests", "5"),
    ],
)
def test_failure_faults(
    bc: httpx.Client, spec: dict[str, Any], status: int, code: str, retry_after: str | None
) -> None:
    headers = bc_headers(bc)
    add_fault(bc, **spec, path_prefix="/v2.0/")
    response = bc.get(f"{BC_COMPANY}/projects", headers=headers)
    assert_bc_error(response, status, code)
    assert response.headers.get("Retry-After") == retry_after
    assert bc.get(f"{BC_COMPANY}/projects", headers=headers).status_code == 200


def test_fault_filters_by_method(bc: httpx.Client) -> None:
    headers = bc_headers(bc)
    add_fault(bc, kind="error", method="patch", count=1)
    assert bc.get(SPEC_PAYMENT, headers=headers).status_code == 200
    failed = bc.patch(SPEC_PAYMENT, headers={**headers, "If-Match": "*"}, json={"comment": "x"})
    assert failed.status_code == 500
    assert writes(bc) == []  # an injected error applies nothing


def test_hang_fault(bc: httpx.Client) -> None:
    headers = bc_headers(bc)
    add_fault(bc, kind="hang", seconds=1.0)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        bc.get(f"{BC_COMPANY}/projects", headers=headers, timeout=0.3)
    assert time.monotonic() - started < 1.0
    assert bc.get(f"{BC_COMPANY}/projects", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("drop", "outcome"),
    [("gateway_timeout", 504), ("reset", httpx.RemoteProtocolError), ("hang", httpx.ReadTimeout)],
)
def test_drop_after_apply(bc: httpx.Client, drop: str, outcome: int | type[Exception]) -> None:
    headers = bc_headers(bc)
    etag = etag_of(bc, SPEC_PAYMENT, headers)
    add_fault(bc, kind="drop_after_apply", drop=drop, seconds=1.0, method="PATCH")
    request = {"headers": {**headers, "If-Match": etag}, "json": {"amount": 6188001}, "timeout": 0.3}
    if isinstance(outcome, int):
        assert bc.patch(SPEC_PAYMENT, **request).status_code == outcome  # type: ignore[arg-type]
    else:
        with pytest.raises(outcome):
            bc.patch(SPEC_PAYMENT, **request)  # type: ignore[arg-type]
    # The write happened: the amount changed, the etag moved, and a blind retry now conflicts.
    current = bc.get(SPEC_PAYMENT, headers=headers).json()
    assert current["amount"] == 6188001
    assert current["@odata.etag"] != etag
    retry = bc.patch(SPEC_PAYMENT, headers={**headers, "If-Match": etag}, json={"amount": 6188001})
    assert retry.status_code == 409
    assert len(writes(bc)) == 1


# ----------------------------------------------------------------------------------------------- control


def test_out_of_band_edit_makes_the_client_etag_stale(bc: httpx.Client) -> None:
    headers = bc_headers(bc)
    etag = etag_of(bc, INVOICE_URL, headers)
    edit = bc.patch(f"/_control/records/invoice/{INVOICE['id']}", json={"fields": {"dueDate": "2026-03-31"}})
    assert edit.status_code == 200
    entry = edit.json()["write"]
    assert entry["source"] == "control"
    assert entry["changes"] == {"dueDate": {"old": "2026-01-27", "new": "2026-03-31"}}
    assert entry["version"] == edit.json()["record"]["@odata.etag"] != etag
    stale = bc.patch(INVOICE_URL, headers={**headers, "If-Match": etag}, json={"dueDate": "2026-04-30"})
    assert stale.status_code == 409


def test_reset_and_write_log(bc: httpx.Client) -> None:
    headers = {**bc_headers(bc), "If-Match": "*"}
    bc.patch(SPEC_PAYMENT, headers=headers, json={"comment": "one"})
    bc.patch(INVOICE_URL, headers=headers, json={"dueDate": "2026-05-01"})
    assert [w["entity_type"] for w in writes(bc)] == ["payment", "invoice"]
    assert [w["seq"] for w in writes(bc)] == [1, 2]
    assert [w["record_id"] for w in writes(bc, entity_type="invoice")] == [INVOICE["id"]]
    assert bc.delete("/_control/writes").status_code == 204
    assert writes(bc) == []
    bc.patch(SPEC_PAYMENT, headers=headers, json={"comment": "two"})
    counts = bc.post("/_control/reset").json()["counts"]
    assert counts == {"project": 5, "customer": 4, "contract": 12, "invoice": 7, "payment": 8, "journal": 1}
    assert writes(bc) == []
    restored = bc.get(SPEC_PAYMENT, headers=headers).json()
    original = next(p for p in demo_data.demo_records()["payment"] if p["id"] == demo_data.SPEC_PAYMENT_ID)
    assert restored["comment"] == original["comment"]
    assert restored["@odata.etag"] == original["@odata.etag"]


def test_settings_are_readable_and_validated(bc: httpx.Client) -> None:
    settings = bc.get("/_control/settings").json()
    # Request_EntityChanged is a 409 in Microsoft's status table; 412 is the alternative.
    assert settings["conflict_status"] == 409
    assert "computed_fields_writable" not in settings  # BC never lets a client write its totals
    assert settings["max_page_size"] == 20000
    assert bc.patch("/_control/settings", json={"conflict_status": 500}).status_code == 422
    assert bc.patch("/_control/settings", json={"conflict_status": 412}).json()["conflict_status"] == 412
    # A reset restores the factory's settings along with the data.
    bc.post("/_control/reset")
    assert bc.get("/_control/settings").json()["conflict_status"] == 409
