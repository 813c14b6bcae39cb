"""Business Central record creates and deletes over real HTTP: POST with ``$metadata`` types,
read-only properties and number series, customer and journal references, business-key lookups by
``$filter``, DELETE with ``If-Match`` and BC's refusals, out-of-band creates/deletes, a lost create
response, and the ``created``/``deleted`` notifications they raise."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulators.dynamics import COMPANY_ID
from platforms.dynamics import demo_data, metadata
from tests.emulators.receiver import Receiver
from tests.emulators.test_dynamics_emulator import assert_bc_error
from tests.emulators.test_dynamics_webhooks import flush, quick, subscribed
from tests.fixtures.emulators import BC_COMPANY, add_fault, bc_headers, writes

JOURNAL_ID = demo_data.payment_journals()[0]["id"]
CUSTOMER = demo_data.demo_records()["customer"][0]  # C00010: posted invoices, open orders
POSTED_INVOICE = demo_data.demo_records()["invoice"][0]
DRAFT_INVOICE = next(i for i in demo_data.demo_records()["invoice"] if i["status"] == "Draft")


def post(client: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(f"{BC_COMPANY}/{path}", headers=bc_headers(client), json=body)


def created(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = post(client, path, body)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def delete(client: httpx.Client, path: str, etag: str | None = "*") -> httpx.Response:
    headers = {**bc_headers(client), **({"If-Match": etag} if etag else {})}
    return client.delete(f"{BC_COMPANY}/{path}", headers=headers)


def lookup(client: httpx.Client, path: str, odata_filter: str) -> list[dict[str, Any]]:
    response = client.get(f"{BC_COMPANY}/{path}", headers=bc_headers(client), params={"$filter": odata_filter})
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["value"]
    return rows


# ---------------------------------------------------------------------------------------------- creates


def test_a_customer_is_created_whole_with_a_number_from_its_series(bc: httpx.Client) -> None:
    response = post(
        bc, "customers", {"displayName": "Gulf Glazing LLC", "email": "ap@gulfglazing.ae", "@odata.type": "x"}
    )
    assert response.status_code == 201, response.text
    customer = response.json()
    assert response.headers["location"].endswith(f"/companies({COMPANY_ID})/customers({customer['id']})")
    assert response.headers["etag"] == customer["@odata.etag"] and response.headers["odata-version"] == "4.0"
    assert customer["@odata.context"].endswith(f"$metadata#companies({COMPANY_ID})/customers/$entity")
    # Every $metadata property, in order, BC's blanks where nothing was given.
    assert list(customer)[2:] == list(metadata.schema().properties("customer"))
    assert customer["number"] == "C00050" and customer["blocked"] == "_x0020_" and customer["balanceDue"] == 0
    assert created(bc, "customers", {"displayName": "Second"})["number"] == "C00060"
    assert created(bc, "projects", {"displayName": "Facade works"})["number"] == "J00010"
    shown = bc.get(f"{BC_COMPANY}/customers({customer['id']})", headers=bc_headers(bc))
    assert shown.json() == customer
    [found] = lookup(bc, "customers", "displayName eq 'Gulf Glazing LLC'")
    assert found["id"] == customer["id"]
    assert [c["id"] for c in lookup(bc, "customers", "number eq 'C00050'")] == [customer["id"]]
    entries = writes(bc, source="api")
    assert [(w["method"], w["operation"], w["entity_type"]) for w in entries] == [
        ("POST", "create", "customer"),
        ("POST", "create", "customer"),
        ("POST", "create", "project"),
    ]
    assert entries[0]["version"] == customer["@odata.etag"]


def test_documents_are_drafts_linked_to_their_customer_and_found_by_external_document_number(bc: httpx.Client) -> None:
    order = created(bc, "salesOrders", {"customerNumber": "C00020", "externalDocumentNumber": "C-LEX-020"})
    assert order["number"] == "SO-1013" and order["status"] == "Draft"
    customer = next(c for c in demo_data.demo_records()["customer"] if c["number"] == "C00020")
    assert order["customerId"] == customer["id"] and order["customerName"] == customer["displayName"]
    assert order["billToCustomerNumber"] == "C00020" and order["currencyCode"] == customer["currencyCode"]
    assert order["totalAmountIncludingTax"] == 0 and order["orderDate"] == order["postingDate"] != "0001-01-01"
    [found] = lookup(bc, "salesOrders", "externalDocumentNumber eq 'C-LEX-020'")
    assert found["id"] == order["id"]

    invoice = created(bc, "salesInvoices", {"customerId": customer["id"], "externalDocumentNumber": "INV-2026-0100",
                                            "invoiceDate": "2026-03-01"})  # fmt: skip
    assert (
        invoice["number"] == "S-INV100215" and invoice["status"] == "Draft" and invoice["invoiceDate"] == "2026-03-01"
    )
    assert [i["number"] for i in lookup(bc, "salesInvoices", "externalDocumentNumber eq 'INV-2026-0100'")] == [
        "S-INV100215"
    ]


def test_a_payment_goes_in_a_journal(bc: httpx.Client) -> None:
    body = {"customerNumber": "C00010", "amount": 1500.25, "externalDocumentNumber": "INV-2026-0100"}
    flat = post(bc, "customerPayments", body)
    assert_bc_error(flat, 400, "Application_DialogException", "You must specify a journal batch ID")

    payment = created(bc, "customerPayments", {**body, "journalId": JOURNAL_ID})
    assert payment["journalId"] == JOURNAL_ID and payment["journalDisplayName"] == "CASHRCPT"
    lines = [p["lineNumber"] for p in demo_data.demo_records()["payment"]]
    assert payment["lineNumber"] == max(lines) + 10000 and str(payment["amount"]) == "1500.25"
    assert payment["customerId"] == CUSTOMER["id"]

    nested = post(
        bc, f"customerPaymentJournals({JOURNAL_ID})/customerPayments", {"customerId": CUSTOMER["id"], "amount": 1}
    )
    assert nested.status_code == 201, nested.text
    assert nested.headers["location"].endswith(
        f"/customerPaymentJournals({JOURNAL_ID})/customerPayments({nested.json()['id']})"
    )
    assert nested.json()["lineNumber"] == payment["lineNumber"] + 10000
    found = lookup(bc, "customerPayments", f"journalId eq {JOURNAL_ID} and externalDocumentNumber eq 'INV-2026-0100'")
    assert [p["id"] for p in found] == [payment["id"]]

    unknown = post(bc, "customerPayments", {**body, "journalId": "00000000-0000-0000-0000-000000000001"})
    assert_bc_error(unknown, 400, "Application_DialogException", 'The "journalId" does not match')


@pytest.mark.parametrize(
    ("path", "body", "code", "message"),
    [
        ("customers", {"number": "C99999"}, "Application_DialogException", "You may not enter numbers manually."),
        ("projects", {"number": "P-1"}, "Application_DialogException", "You may not enter numbers manually."),
        (
            "salesOrders",
            {"customerNumber": "C00010", "number": "SO-9"},
            "BadRequest_InvalidOperation",
            "Control 'number' is read-only.",
        ),
        (
            "salesInvoices",
            {"customerNumber": "C00010", "status": "Open"},
            "BadRequest_InvalidOperation",
            "Control 'status' is read-only.",
        ),
        (
            "salesInvoices",
            {"customerNumber": "C00010", "totalAmountIncludingTax": 5},
            "BadRequest_InvalidOperation",
            "Control 'totalAmountIncludingTax' is read-only.",
        ),
        (
            "customers",
            {"id": "6c7d1f0e-0000-4000-8000-000000000000"},
            "BadRequest_InvalidOperation",
            "Control 'id' is read-only.",
        ),
        ("customers", {"colour": "red"}, "BadRequest", "Could not find a property named 'colour'"),
        (
            "customers",
            {"creditLimit": "12.50"},
            "BadRequest",
            "Cannot convert the literal '12.50' to the expected type 'Edm.Decimal'.",
        ),
        ("customers", {"blocked": "Everything"}, "BadRequest", "Cannot convert the literal 'Everything'"),
        (
            "customers",
            {"displayName": "x" * 101},
            "Application_StringExceededLength",
            "The length of the string is 101",
        ),
        (
            "salesOrders",
            {"externalDocumentNumber": "X"},
            "Application_DialogException",
            'The "customerNumber" or "customerId" must be specified',
        ),
        (
            "salesOrders",
            {"customerNumber": "C09999"},
            "Application_DialogException",
            'The "customerNumber" does not match to a Customer.',
        ),
        (
            "salesInvoices",
            {"customerId": "6c7d1f0e-0000-4000-8000-000000000000"},
            "Application_DialogException",
            'The "customerId" does not match to a Customer.',
        ),
    ],
)
def test_a_create_is_refused_as_bc_refuses_it(
    bc: httpx.Client, path: str, body: dict[str, Any], code: str, message: str
) -> None:
    assert_bc_error(post(bc, path, body), 400, code, message)
    assert writes(bc) == []


def test_creates_that_are_not_allowed(bc: httpx.Client) -> None:
    entity = post(bc, f"customers({CUSTOMER['id']})", {"displayName": "x"})
    assert_bc_error(entity, 405, "BadRequest_MethodNotAllowed")
    journal = post(bc, "customerPaymentJournals", {"code": "NEW"})
    assert_bc_error(journal, 405, "BadRequest_MethodNotAllowed")


def test_a_create_whose_response_is_lost_is_applied_once(bc: httpx.Client) -> None:
    add_fault(bc, kind="drop_after_apply", method="POST", path_prefix=f"{BC_COMPANY}/salesInvoices")
    body = {"customerNumber": "C00030", "externalDocumentNumber": "INV-LOST-1"}
    assert post(bc, "salesInvoices", body).status_code == 504
    [entry] = writes(bc, source="api")
    assert entry["method"] == "POST" and entry["operation"] == "create"
    # The client's retry looks its marker up first and finds the one invoice.
    assert [i["id"] for i in lookup(bc, "salesInvoices", "externalDocumentNumber eq 'INV-LOST-1'")] == [
        entry["record_id"]
    ]


# ---------------------------------------------------------------------------------------------- deletes


def test_unposted_documents_and_journal_lines_are_deleted_with_if_match(bc: httpx.Client) -> None:
    customer = created(bc, "customers", {"displayName": "Short-lived"})
    order = created(bc, "salesOrders", {"customerId": customer["id"]})
    invoice = created(bc, "salesInvoices", {"customerId": customer["id"]})
    payment = created(bc, "customerPayments", {"journalId": JOURNAL_ID, "customerId": customer["id"], "amount": 10})

    assert_bc_error(delete(bc, f"salesOrders({order['id']})", None), 400, "BadRequest_InvalidToken")
    stale = 'W/"JzQ0O2JvZ3VzOzAwOyc="'
    assert_bc_error(delete(bc, f"salesOrders({order['id']})", stale), 409, "Request_EntityChanged")
    assert_bc_error(
        delete(bc, f"customers({customer['id']})"),
        400,
        "Application_DialogException",
        f"You cannot delete Customer {customer['number']} because there is at least one outstanding Sales Order for "
        "this customer.",
    )
    gone = delete(bc, f"salesOrders({order['id']})", order["@odata.etag"])
    assert gone.status_code == 204 and gone.content == b""
    assert delete(bc, f"salesInvoices({invoice['id']})", invoice["@odata.etag"]).status_code == 204
    nested = f"customerPaymentJournals({JOURNAL_ID})/customerPayments({payment['id']})"
    assert delete(bc, nested, payment["@odata.etag"]).status_code == 204
    assert delete(bc, f"customers({customer['id']})").status_code == 204
    missing = bc.get(f"{BC_COMPANY}/salesOrders({order['id']})", headers=bc_headers(bc))
    assert_bc_error(missing, 404, "BadRequest_ResourceNotFound")
    assert_bc_error(delete(bc, f"salesOrders({order['id']})"), 404, "BadRequest_ResourceNotFound")
    deletes = [(w["entity_type"], w["operation"]) for w in writes(bc, source="api") if w["method"] == "DELETE"]
    assert deletes == [("contract", "delete"), ("invoice", "delete"), ("payment", "delete"), ("customer", "delete")]
    assert delete(bc, f"salesInvoices({DRAFT_INVOICE['id']})").status_code == 204
    assert delete(bc, f"projects({demo_data.demo_records()['project'][0]['id']})").status_code == 204


def test_posted_invoices_invoiced_orders_and_customers_with_entries_are_kept(bc: httpx.Client) -> None:
    posted = delete(bc, f"salesInvoices({POSTED_INVOICE['id']})")
    assert_bc_error(
        posted,
        400,
        "Application_DialogException",
        "You cannot delete posted sales documents that are posted after 01/01/20. The date is defined by the Allow "
        "Document Deletion Before field in the Sales & Receivables Setup window.",
    )
    order = next(o for o in demo_data.demo_records()["contract"] if o["id"] == POSTED_INVOICE["orderId"])
    assert_bc_error(delete(bc, f"salesOrders({order['id']})"), 400, "Application_DialogException", "You cannot delete")
    assert_bc_error(
        delete(bc, f"customers({CUSTOMER['id']})"),
        400,
        "Application_DialogException",
        "You cannot delete Customer C00010 because it has ledger entries in a fiscal year that has not been closed yet.",
    )
    assert_bc_error(delete(bc, "customerPaymentJournals(" + JOURNAL_ID + ")"), 405, "BadRequest_MethodNotAllowed")
    assert_bc_error(delete(bc, "customers"), 405, "BadRequest_MethodNotAllowed")
    assert writes(bc) == []


def test_out_of_band_creates_and_deletes(bc: httpx.Client) -> None:
    made = bc.post("/_control/records/invoice", json={"fields": {"status": "Open", "customerNumber": "C00010"}})
    assert made.status_code == 201, made.text
    record, entry = made.json()["record"], made.json()["write"]
    assert record["number"] == "S-INV100215" and record["@odata.etag"] == entry["version"]
    assert entry["source"] == "control" and entry["operation"] == "create"
    shown = bc.get(f"{BC_COMPANY}/salesInvoices({record['id']})", headers=bc_headers(bc))
    assert shown.status_code == 200 and shown.json()["status"] == "Open"
    assert bc.post("/_control/records/invoice", json={"fields": {"colour": "red"}}).status_code == 400
    assert bc.post("/_control/records/journal", json={"fields": {}}).status_code == 400
    # A person may delete what the API may not.
    removed = bc.delete(f"/_control/records/invoice/{POSTED_INVOICE['id']}")
    assert removed.status_code == 200 and removed.json()["write"]["operation"] == "delete"
    assert bc.get(f"/_control/records/invoice/{POSTED_INVOICE['id']}").status_code == 404


# ---------------------------------------------------------------------------------------------- webhooks


def test_creates_and_deletes_are_notified_as_created_and_deleted(bc: httpx.Client, receiver: Receiver) -> None:
    quick(bc)
    resource = f"api/v2.0/companies({COMPANY_ID})/salesInvoices"
    sub = subscribed(bc, receiver.url, resource)
    # One window: a create, an update of it, and a delete of another record.
    invoice = created(bc, "salesInvoices", {"customerNumber": "C00010"})
    headers = {**bc_headers(bc), "If-Match": invoice["@odata.etag"]}
    patched = bc.patch(
        f"{BC_COMPANY}/salesInvoices({invoice['id']})", headers=headers, json={"externalDocumentNumber": "A"}
    )
    assert patched.status_code == 200, patched.text
    assert delete(bc, f"salesInvoices({DRAFT_INVOICE['id']})").status_code == 204
    assert flush(bc)["idle"]
    [batch] = receiver.deliveries()
    notes = batch.json()["value"]
    assert [(n["changeType"], n["resource"]) for n in notes] == [
        ("created", f"{resource}({invoice['id']})"),
        ("updated", f"{resource}({invoice['id']})"),
        ("deleted", f"{resource}({DRAFT_INVOICE['id']})"),
    ]
    assert all(n["subscriptionId"] == sub["subscriptionId"] for n in notes)
    assert notes[1]["lastModifiedDateTime"] == patched.json()["lastModifiedDateTime"]


def test_out_of_band_creates_and_deletes_are_notified(bc: httpx.Client, receiver: Receiver) -> None:
    quick(bc)
    subscribed(bc, receiver.url)  # customers
    made = bc.post("/_control/records/customer", json={"fields": {"displayName": "UI customer"}}).json()["record"]
    assert flush(bc)["idle"]
    assert bc.delete(f"/_control/records/customer/{made['id']}").status_code == 200
    assert flush(bc)["idle"]
    changes = [[n["changeType"] for n in r.json()["value"]] for r in receiver.deliveries()]
    assert changes == [["created"], ["deleted"]]
