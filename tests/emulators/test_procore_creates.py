"""Procore record creates and deletes over real HTTP: the published ``...Post``/``...IdDelete``
schemas' required parameters and wrappers, refused attributes, references, ``origin_id`` lookups,
delete rules and the recycle bin, the write log, out-of-band creates/deletes, lost responses and the
webhook events they raise."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from platforms.procore import demo_data
from tests.emulators.receiver import Receiver, wait_for
from tests.emulators.test_procore_webhooks import COMPANY, HOOKS, make_hook
from tests.fixtures.emulators import add_fault, procore_headers, writes

API = "/rest/v1.0"
LUSAIL = 341276
OTHER_PROJECT = 341279
VENDOR = 501004
APPROVED_COMMITMENT = 1945782  # an approved work order of Lusail with invoices and payments
DRAFT_INVOICE = next(r["id"] for r in demo_data.demo_records()["invoice"] if r["status"] != "approved")


def post(client: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(f"{API}/{path}", headers=procore_headers(client), json=body)


def created(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = post(client, path, body)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def work_order(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    wrapper = {"title": "Facade package", "vendor_id": VENDOR, **fields}
    return created(client, "work_order_contracts", {"project_id": LUSAIL, "work_order_contract": wrapper})


def requisition(client: httpx.Client, commitment_id: int, **fields: Any) -> dict[str, Any]:
    body = {"project_id": LUSAIL, "commitment_id": commitment_id, "requisition": {"invoice_number": "INV-1", **fields}}
    return created(client, "requisitions", body)


def payment(client: httpx.Client, contract_id: int, **fields: Any) -> dict[str, Any]:
    wrapper = {"amount": "1500.00", "date": "2026-03-01", **fields}
    return created(
        client, "contract_payments", {"project_id": LUSAIL, "contract_id": contract_id, "contract_payment": wrapper}
    )


def delete(client: httpx.Client, path: str, record_id: int, **scope: Any) -> httpx.Response:
    return client.delete(f"{API}/{path}/{record_id}", headers=procore_headers(client), params=scope)


# ---------------------------------------------------------------------------------------------- creates


def test_a_vendor_is_created_as_the_get_shows_it_and_found_by_origin_id(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    body = {
        "company_id": COMPANY,
        "vendor": {"name": "Gulf Glazing LLC", "origin_id": "bc:C00050", "origin_data": "{\"etag\": 1}",
                   "legal_name": "read-only", "balance": "10"},
    }  # fmt: skip
    response = procore.post(f"{API}/vendors", headers=headers, json=body)
    assert response.status_code == 201, response.text
    vendor = response.json()
    assert vendor["name"] == "Gulf Glazing LLC" and vendor["is_active"] is True
    assert vendor["origin_id"] == "bc:C00050" and vendor["origin_data"] == '{"etag": 1}'
    # Strong parameters: what the write schema does not take is dropped, as on PATCH.
    assert vendor["legal_name"] is None and "balance" not in vendor
    assert vendor["created_at"] == vendor["updated_at"] and vendor["id"] > max(
        v["id"] for v in demo_data.demo_records()["customer"]
    )
    shown = procore.get(f"{API}/vendors/{vendor['id']}", headers=headers, params={"company_id": COMPANY})
    assert shown.json() == vendor
    found = procore.get(
        f"{API}/vendors", headers=headers, params={"company_id": COMPANY, "filters[origin_id]": "bc:C00050"}
    )
    assert [v["id"] for v in found.json()] == [vendor["id"]]
    [entry] = writes(procore, source="api")
    assert (entry["method"], entry["operation"], entry["entity_type"]) == ("POST", "create", "customer")
    changes: Any = entry["changes"]
    assert entry["record_id"] == str(vendor["id"]) and changes["name"] == {"old": None, "new": "Gulf Glazing LLC"}


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("vendors", {"vendor": {"name": "X"}}, 400, {"error": "company_id is missing"}),
        ("vendors", {"company_id": COMPANY}, 400, {"error": "param is missing or the value is empty: vendor"}),
        (
            "vendors",
            {"company_id": 99, "vendor": {"name": "X"}},
            403,
            {"error": "App is not connected to this company"},
        ),
        ("vendors", {"company_id": COMPANY, "vendor": {"city": "Doha"}}, 422, {"errors": {"name": ["can't be blank"]}}),
        ("work_order_contracts", {"work_order_contract": {"title": "X"}}, 400, {"error": "project_id is missing"}),
        (
            "work_order_contracts",
            {"project_id": 1, "work_order_contract": {"title": "X"}},
            404,
            {"message": "Not Found", "error": "Couldn't find Project with 'id'=1"},
        ),
        (
            "work_order_contracts",
            {"project_id": LUSAIL, "work_order_contract": {"vendor_id": 1}},
            422,
            {"errors": {"vendor": ["must exist"]}},
        ),
        (
            "purchase_order_contracts",
            {"project_id": LUSAIL, "purchase_order_contract": {"status": "Out For Bid", "contract_date": "2026-02-30"}},
            422,
            {"errors": {"status": ["is not included in the list"], "contract_date": ["is not a valid date"]}},
        ),
        ("requisitions", {"project_id": LUSAIL, "requisition": {}}, 400, {"error": "commitment_id is missing"}),
        (
            "requisitions",
            {"project_id": LUSAIL, "commitment_id": 7, "requisition": {"invoice_number": "1"}},
            404,
            {"message": "Not Found", "error": "Couldn't find Commitment with 'id'=7"},
        ),
        (
            "requisitions",
            {"project_id": OTHER_PROJECT, "commitment_id": APPROVED_COMMITMENT, "requisition": {"invoice_number": "1"}},
            404,
            {"message": "Not Found", "error": f"Couldn't find Commitment with 'id'={APPROVED_COMMITMENT}"},
        ),
        ("contract_payments", {"project_id": LUSAIL, "contract_payment": {}}, 400, {"error": "contract_id is missing"}),
        (
            "contract_payments",
            {"project_id": LUSAIL, "contract_id": APPROVED_COMMITMENT, "contract_payment": {"notes": "x"}},
            422,
            {"errors": {"amount": ["can't be blank"], "date": ["can't be blank"]}},
        ),
        (
            "contract_payments",
            {
                "project_id": LUSAIL,
                "contract_id": APPROVED_COMMITMENT,
                "contract_payment": {"amount": "12,5", "date": "2026-03-01", "payment_method": "cash"},
            },
            422,
            {"errors": {"amount": ["is not a number"], "payment_method": ["is not included in the list"]}},
        ),
        (
            "contract_payments",
            {
                "project_id": LUSAIL,
                "contract_id": APPROVED_COMMITMENT,
                "contract_payment": {"amount": "1", "date": "2026-03-01", "requisition_id": DRAFT_INVOICE + 999},
            },
            422,
            {"errors": {"requisition": ["must exist"]}},
        ),
    ],
)
def test_a_create_is_refused_as_procore_refuses_it(
    procore: httpx.Client, path: str, body: dict[str, Any], status: int, error: dict[str, Any]
) -> None:
    response = post(procore, path, body)
    assert response.status_code == status, response.text
    assert response.json() == error
    assert writes(procore) == []


def test_resources_without_a_published_create_have_no_route(procore: httpx.Client) -> None:
    # The vendored schemas publish no project or commitments-union create.
    for path in ("projects", "commitments"):
        response = post(procore, path, {"company_id": COMPANY, "project_id": LUSAIL, "project": {"name": "X"}})
        assert response.status_code == 404 and response.json()["error"] == f"No route matches [POST] {API}/{path}"


def test_a_commitment_its_invoice_and_payment_are_created_in_their_scope(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    contract = work_order(procore, origin_id="bc:SO-1013", number="C-LEX-020", grand_total="99")
    assert contract["status"] == "Draft" and contract["grand_total"] == "0.0"  # a total is computed
    assert contract["vendor"] == {"id": VENDOR, "company": "Doha Infrastructure Partners WLL"}
    assert contract["project"] == {"id": LUSAIL, "name": "Lusail Boulevard Tower"}
    listed = procore.get(
        f"{API}/work_order_contracts",
        headers=headers,
        params={"project_id": LUSAIL, "filters[origin_id]": "bc:SO-1013"},
    )
    assert [c["id"] for c in listed.json()] == [contract["id"]]
    # Only under its own kind.
    other = procore.get(f"{API}/purchase_order_contracts", headers=headers, params={"project_id": LUSAIL})
    assert contract["id"] not in [c["id"] for c in other.json()]

    invoice = requisition(procore, contract["id"], invoice_number=42, origin_id="bc:S-INV100215")
    assert invoice["invoice_number"] == "42" and invoice["status"] == "draft" and invoice["number"] == 1
    assert invoice["commitment_id"] == contract["id"] and invoice["contract_name"] == "Facade package"
    assert requisition(procore, contract["id"])["number"] == 2
    found = procore.get(
        f"{API}/requisitions", headers=headers, params={"project_id": LUSAIL, "filters[origin_id]": "bc:S-INV100215"}
    )
    assert [r["id"] for r in found.json()] == [invoice["id"]]

    paid = payment(procore, contract["id"], amount=1500, requisition_id=invoice["id"], payment_method="check")
    assert paid["amount"] == "1500.0" and paid["contract_id"] == contract["id"] and paid["project_id"] == LUSAIL
    assert "payment_method" not in paid  # write-only, as on PATCH
    shown = procore.get(
        f"{API}/contract_payments/{paid['id']}",
        headers=headers,
        params={"project_id": LUSAIL, "contract_id": contract["id"]},
    )
    assert shown.json() == paid
    assert [w["entity_type"] for w in writes(procore, source="api")] == ["contract", "invoice", "invoice", "payment"]


def test_a_create_whose_response_is_lost_is_applied_once(procore: httpx.Client) -> None:
    add_fault(procore, kind="drop_after_apply", method="POST", path_prefix=f"{API}/vendors")
    lost = post(procore, "vendors", {"company_id": COMPANY, "vendor": {"name": "Lost Reply WLL", "origin_id": "k-1"}})
    assert lost.status_code == 504
    [entry] = writes(procore, source="api")
    assert entry["method"] == "POST" and entry["operation"] == "create"
    # The client's retry looks the marker up first, and finds the one record.
    found = procore.get(
        f"{API}/vendors", headers=procore_headers(procore), params={"company_id": COMPANY, "filters[origin_id]": "k-1"}
    )
    assert [v["name"] for v in found.json()] == ["Lost Reply WLL"]


# ---------------------------------------------------------------------------------------------- deletes


def test_deletes_need_the_published_scope(procore: httpx.Client) -> None:
    contract = work_order(procore)
    missing = delete(procore, "work_order_contracts", contract["id"])
    assert missing.status_code == 400 and missing.json() == {"error": "project_id is missing"}
    paid = payment(procore, contract["id"])
    no_contract = delete(procore, "contract_payments", paid["id"], project_id=LUSAIL)
    assert no_contract.json() == {"error": "contract_id is missing"}
    elsewhere = delete(procore, "contract_payments", paid["id"], project_id=LUSAIL, contract_id=APPROVED_COMMITMENT)
    assert elsewhere.status_code == 404
    # Vendors and projects publish no delete.
    assert delete(procore, "vendors", VENDOR, company_id=COMPANY).status_code == 404
    assert all(w["operation"] != "delete" for w in writes(procore))


def test_commitment_delete_rules_and_the_recycle_bin(procore: httpx.Client) -> None:
    headers = procore_headers(procore)
    approved = delete(procore, "work_order_contracts", APPROVED_COMMITMENT, project_id=LUSAIL)
    assert approved.status_code == 422
    assert approved.json() == {"errors": {"base": ["Only a commitment in Draft status can be deleted"]}}

    contract = work_order(procore, origin_id="bc:SO-1099")
    invoice = requisition(procore, contract["id"])
    in_use = delete(procore, "work_order_contracts", contract["id"], project_id=LUSAIL)
    assert in_use.json() == {"errors": {"base": ["A commitment with invoices or payments cannot be deleted"]}}
    assert delete(procore, "requisitions", invoice["id"], project_id=LUSAIL).status_code == 200

    gone = delete(procore, "work_order_contracts", contract["id"], project_id=LUSAIL)
    assert gone.status_code == 200 and gone.content == b""
    scope = {"project_id": LUSAIL}
    assert procore.get(f"{API}/work_order_contracts/{contract['id']}", headers=headers, params=scope).status_code == 404
    listed = procore.get(
        f"{API}/work_order_contracts", headers=headers, params={**scope, "filters[origin_id]": "bc:SO-1099"}
    )
    assert listed.json() == []
    binned = procore.get(
        f"{API}/work_order_contracts",
        headers=headers,
        params={**scope, "filters[origin_id]": "bc:SO-1099", "filters[include_deleted]": "true"},
    )
    [kept] = binned.json()
    assert kept["id"] == contract["id"] and kept["deleted_at"] is not None
    assert delete(procore, "work_order_contracts", contract["id"], project_id=LUSAIL).status_code == 404
    deletes = [w for w in writes(procore, source="api") if w["method"] == "DELETE"]
    assert [(w["entity_type"], w["operation"]) for w in deletes] == [("invoice", "delete"), ("contract", "delete")]


def test_invoice_and_payment_delete_rules(procore: httpx.Client) -> None:
    approved = next(r for r in demo_data.demo_records()["invoice"] if r["status"] == "approved")
    refused = delete(procore, "requisitions", approved["id"], project_id=approved["project_id"])
    assert refused.status_code == 422 and refused.json() == {
        "errors": {"base": ["Only a draft invoice can be deleted"]}
    }

    contract = work_order(procore)
    invoice = requisition(procore, contract["id"])
    paid = payment(procore, contract["id"], requisition_id=invoice["id"])
    assert delete(procore, "requisitions", invoice["id"], project_id=LUSAIL).json() == {
        "errors": {"base": ["An invoice with payments cannot be deleted"]}
    }
    synced = payment(procore, contract["id"], origin_id="bc:payment-1")
    locked = delete(procore, "contract_payments", synced["id"], project_id=LUSAIL, contract_id=contract["id"])
    assert locked.status_code == 422
    assert locked.json() == {"error": "The payment is not deletable because it has been synced with ERP"}
    assert (
        delete(procore, "contract_payments", paid["id"], project_id=LUSAIL, contract_id=contract["id"]).status_code
        == 200
    )
    assert delete(procore, "requisitions", invoice["id"], project_id=LUSAIL).status_code == 200


def test_out_of_band_creates_and_deletes(procore: httpx.Client) -> None:
    made = procore.post("/_control/records/contract", json={"fields": {"type": "PurchaseOrderContract",
                                                                       "project_id": LUSAIL, "status": "Approved"}})  # fmt: skip
    assert made.status_code == 201, made.text
    record, entry = made.json()["record"], made.json()["write"]
    assert entry["source"] == "control" and entry["method"] == "POST" and entry["operation"] == "create"
    assert record["project"] == {"id": LUSAIL, "name": "Lusail Boulevard Tower"} and record["updated_at"]
    headers = procore_headers(procore)
    shown = procore.get(
        f"{API}/purchase_order_contracts/{record['id']}", headers=headers, params={"project_id": LUSAIL}
    )
    assert shown.status_code == 200 and shown.json()["status"] == "Approved"
    assert procore.post("/_control/records/contract", json={"fields": {"title": "no type"}}).status_code == 400
    assert procore.post("/_control/records/invoice", json={"fields": {"project_id": LUSAIL}}).status_code == 400
    assert procore.post("/_control/records/nothing", json={"fields": {}}).status_code == 404

    # A person may delete what the API may not (an approved commitment, an approved invoice).
    removed = procore.delete(f"/_control/records/contract/{APPROVED_COMMITMENT}")
    assert removed.status_code == 200 and removed.json()["write"]["operation"] == "delete"
    gone = procore.get(
        f"{API}/work_order_contracts/{APPROVED_COMMITMENT}", headers=headers, params={"project_id": LUSAIL}
    )
    assert gone.status_code == 404
    invoice = next(r for r in demo_data.demo_records()["invoice"] if r["status"] == "approved")
    assert procore.delete(f"/_control/records/invoice/{invoice['id']}").status_code == 200
    assert procore.get(f"/_control/records/invoice/{invoice['id']}").status_code == 404
    assert [w["source"] for w in writes(procore)] == ["control", "control", "control"]


# ---------------------------------------------------------------------------------------------- webhooks


def triggered(client: httpx.Client, url: str, resource: str, *events: str, version: str = "v2.0") -> None:
    headers = procore_headers(client)
    hook = make_hook(client, headers, url, version=version)
    for event in events:
        body = {"company_id": COMPANY, "api_version": "v2", "trigger": {"resource_name": resource, "event_type": event}}
        assert client.post(f"{HOOKS}/{hook['id']}/triggers", headers=headers, json=body).status_code == 201


def test_creates_and_deletes_raise_create_and_delete_events(procore: httpx.Client, receiver: Receiver) -> None:
    triggered(procore, f"{receiver.url}/v2", "Work Order Contracts", "create", "delete")
    triggered(procore, f"{receiver.url}/v4", "Work Order Contracts", "create", "update", "delete", version="v4.0")
    contract = work_order(procore)
    assert delete(procore, "work_order_contracts", contract["id"], project_id=LUSAIL).status_code == 200
    wait_for(lambda: len(receiver.deliveries()) == 4, what="two events per hook")
    v2 = [r.json() for r in receiver.deliveries() if r.path == "/v2"]
    v4 = [r.json() for r in receiver.deliveries() if r.path == "/v4"]
    assert [(e["event_type"], e["resource_id"], e["project_id"]) for e in v2] == [
        ("create", contract["id"], LUSAIL),
        ("delete", contract["id"], LUSAIL),
    ]
    assert all(e["resource_name"] == "Work Order Contracts" for e in v2)
    assert v2[0]["metadata"]["source_application_id"] is not None
    # A delete is not also an update (the v4 hook has an update trigger too).
    assert [(e["reason"], e["resource_id"]) for e in v4] == [
        ("create", str(contract["id"])),
        ("delete", str(contract["id"])),
    ]


def test_out_of_band_creates_and_deletes_raise_events(procore: httpx.Client, receiver: Receiver) -> None:
    triggered(procore, receiver.url, "Company Vendors", "create", "delete")
    made = procore.post("/_control/records/customer", json={"fields": {"name": "Made in the UI"}}).json()["record"]
    assert procore.delete(f"/_control/records/customer/{made['id']}").status_code == 200
    wait_for(lambda: len(receiver.deliveries()) == 2, what="the UI's create and delete events")
    events = receiver.bodies()
    assert [(e["event_type"], e["resource_id"], e["project_id"]) for e in events] == [
        ("create", made["id"], None),
        ("delete", made["id"], None),
    ]
    assert all(e["metadata"]["source_application_id"] is None for e in events)
