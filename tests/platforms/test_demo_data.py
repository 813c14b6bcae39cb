"""The demo data set: counts, the records SPEC.md names, native shapes, integrity on each platform,
and agreement between the two platforms for every pair that reconciliation links."""

from __future__ import annotations

import base64
import copy
import uuid
from collections import Counter, defaultdict
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from platforms import MappingContext, get_mapper
from platforms.dynamics import demo_data as dynamics_demo
from platforms.dynamics.mapping import CURRENCY_ANNOTATION
from platforms.dynamics.metadata import properties_of
from platforms.procore import demo_data as procore_demo
from platforms.registry import get_platform
from reconcile import match_records

Records = dict[str, list[dict[str, Any]]]

ENTITY_TYPES = ("project", "customer", "contract", "invoice", "payment")
# SPEC.md: 1 USD = 3.64 QAR = 3.6725 AED = 3.75 SAR.
USD_RATES = {"QAR": Decimal("3.64"), "AED": Decimal("3.6725"), "SAR": Decimal("3.75")}

# The field conventions the mappers are written against (the brief's "fixed native conventions").
PROCORE_FIELDS = {
    "project": {
        "id",
        "name",
        "display_name",
        "project_number",
        "active",
        "stage",
        "start_date",
        "completion_date",
        "city",
        "country_code",
        "created_at",
        "updated_at",
    },
    "customer": {
        "id",
        "name",
        "legal_name",
        "business_id",
        "is_active",
        "city",
        "country_code",
        "email_address",
        "business_phone",
        "updated_at",
    },
    "contract": {
        "id",
        "number",
        "title",
        "status",
        "type",
        "grand_total",
        "project",
        "vendor",
        "description",
        "contract_date",
        "executed",
        "retainage_percent",
        "updated_at",
    },
    "invoice": {
        "id",
        "number",
        "invoice_number",
        "commitment_id",
        "project_id",
        "status",
        "billing_date",
        "total_claimed_amount",
        "period_id",
        "updated_at",
    },
    "payment": {
        "id",
        "contract_id",
        "project_id",
        "requisition_id",
        "amount",
        "date",
        "check_number",
        "invoice_number",
        "payment_number",
        "status",
        "notes",
        "created_at",
        "updated_at",
    },
}
# BC sends whole records: every property of the entity type in $metadata, plus the etag.
DYNAMICS_FIELDS = {
    entity_type: {"@odata.etag", *properties_of(entity_type)}
    for entity_type in ("project", "customer", "contract", "invoice", "payment")
}


@pytest.fixture(scope="module")
def procore() -> Records:
    return procore_demo.demo_records()


@pytest.fixture(scope="module")
def dynamics() -> Records:
    return dynamics_demo.demo_records()


def by_id(records: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {record["id"]: record for record in records}


def local(usd: str, currency: str) -> Decimal:
    return (Decimal(usd) * USD_RATES[currency]).quantize(Decimal("0.01"), ROUND_HALF_EVEN)


# --- counts and the SPEC.md records -------------------------------------------------------------


def test_procore_counts(procore: Records) -> None:
    assert list(procore) == list(ENTITY_TYPES)
    assert {k: len(v) for k, v in procore.items()} == {
        "project": 5,
        "customer": 4,
        "contract": 13,
        "invoice": 8,
        "payment": 8,
    }
    assert sum(map(len, procore.values())) == 38
    assert procore_demo.demo_counts() == {k: len(v) for k, v in procore.items()}


def test_dynamics_counts(dynamics: Records) -> None:
    assert list(dynamics) == list(ENTITY_TYPES)
    assert {k: len(v) for k, v in dynamics.items()} == {
        "project": 5,
        "customer": 4,
        "contract": 12,
        "invoice": 7,
        "payment": 8,
    }
    assert sum(map(len, dynamics.values())) == 36


def test_spec_records(procore: Records, dynamics: Records) -> None:
    assert by_id(procore["project"])[341276]["name"] == "Lusail Boulevard Tower"
    assert by_id(procore["customer"])[501004]["name"] == "Doha Infrastructure Partners WLL"
    contract = by_id(procore["contract"])[1945782]
    assert {k: contract[k] for k in ("title", "number", "status", "grand_total", "type")} == {
        "title": "Substructure Package",
        "number": "C-LEX-001",
        "status": "Approved",
        "grand_total": "8500000.00",
        "type": "WorkOrderContract",
    }
    assert contract["project"]["id"] == 341276
    assert contract["vendor"]["id"] == 501004
    payment = by_id(procore["payment"])[1823456]
    assert {k: v for k, v in payment.items() if k not in ("created_at", "updated_at")} == {
        "id": 1823456,
        "contract_id": 1945782,
        "project_id": 341276,
        "requisition_id": 10061,
        "amount": "1700000.00",
        "date": "2026-02-01",
        "check_number": "CHK-2026-0101",
        "invoice_number": "INV-2025-0061",
        "payment_number": 24,
        "status": "pending",
        "notes": "Substructure progress payment #1",
    }
    bc_payment = by_id(dynamics["payment"])["a34e74db-53c7-4368-8fe7-bb87c83c7902"]
    assert bc_payment["amount"] == Decimal("6188000.00")  # 1,700,000.00 USD in QAR
    # A journal line has no currency (not in $metadata): its customer's QAR is the sandbox's note.
    assert "currencyCode" not in bc_payment
    sandbox = by_id(list(get_platform("dynamics").demo_records()["payment"]))[bc_payment["id"]]
    assert sandbox[CURRENCY_ANNOTATION] == "QAR"


# --- native shapes --------------------------------------------------------------------------------


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_procore_fields_present(procore: Records, entity_type: str) -> None:
    for record in procore[entity_type]:
        assert PROCORE_FIELDS[entity_type] <= record.keys(), record["id"]


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_dynamics_fields_present(dynamics: Records, entity_type: str) -> None:
    for record in dynamics[entity_type]:
        assert record.keys() == DYNAMICS_FIELDS[entity_type], record["id"]


def test_procore_native_types(procore: Records) -> None:
    for entity_type, records in procore.items():
        ids = [record["id"] for record in records]
        assert all(type(i) is int for i in ids), entity_type
        assert len(set(ids)) == len(ids), entity_type
    money = [c["grand_total"] for c in procore["contract"]]
    money += [r["total_claimed_amount"] for r in procore["invoice"]]
    money += [p["amount"] for p in procore["payment"]]
    assert all(isinstance(m, str) and Decimal(m) > 0 for m in money)
    # Procore's varying precision shows up, but never at the cost of exactness.
    assert any(Decimal(m).as_tuple().exponent == -1 for m in money)
    assert all(Decimal(m) == Decimal(m).quantize(Decimal("0.01")) for m in money)
    for project in procore["project"]:
        assert project["display_name"] == f"{project['project_number']} - {project['name']}"
    for requisition in procore["invoice"]:
        assert type(requisition["number"]) is int and isinstance(requisition["invoice_number"], str)
        assert requisition["percent_complete"].endswith("%")


def test_procore_contract_types(procore: Records) -> None:
    types = Counter(contract["type"] for contract in procore["contract"])
    assert set(types) == {"WorkOrderContract", "PurchaseOrderContract"}
    assert all(count >= 3 for count in types.values())
    assert {c["currency_configuration"]["currency_iso_code"] for c in procore["contract"]} == {"USD"}


def test_dynamics_native_types(dynamics: Records) -> None:
    for entity_type, records in dynamics.items():
        ids = [record["id"] for record in records]
        assert len(set(ids)) == len(ids), entity_type
        for record in records:
            assert str(uuid.UUID(record["id"])) == record["id"]
            etag = record["@odata.etag"]
            assert etag.startswith('W/"JzQ0') and etag.endswith('"')
            assert base64.b64decode(etag[3:-1]).decode().startswith("'44;")
            assert record["lastModifiedDateTime"].endswith("Z")
    amounts = [o["totalAmountIncludingTax"] for o in dynamics["contract"]]
    amounts += [i["totalAmountIncludingTax"] for i in dynamics["invoice"]]
    amounts += [p["amount"] for p in dynamics["payment"]]
    assert all(isinstance(a, Decimal) and a > 0 and a == a.quantize(Decimal("0.01")) for a in amounts)
    assert {c["currencyCode"] for c in dynamics["customer"]} == {"QAR", "AED", "SAR"}
    assert all(c["number"].startswith("C000") for c in dynamics["customer"])
    assert all(o["number"].startswith("SO-") for o in dynamics["contract"])


def test_dynamics_etags_change_with_version() -> None:
    first = dynamics_demo.weak_etag("a34e74db-53c7-4368-8fe7-bb87c83c7902", "2026-02-01T07:00:00.000Z")
    second = dynamics_demo.weak_etag("a34e74db-53c7-4368-8fe7-bb87c83c7902", "2026-02-01T07:00:00.001Z")
    assert first != second


def test_timestamps_are_consistent(procore: Records, dynamics: Records) -> None:
    # The data set describes early 2026; nothing was created or modified after it.
    latest = "2026-04-01"
    for records in procore.values():
        for record in records:
            assert record["created_at"] <= record["updated_at"] < latest, record["id"]
    for records in dynamics.values():
        for record in records:
            assert record["lastModifiedDateTime"] < latest, record["id"]


def test_deterministic_fresh_copies() -> None:
    for module in (procore_demo, dynamics_demo):
        first = module.demo_records()
        snapshot = copy.deepcopy(first)
        first["payment"][0]["amount"] = "0"
        first["project"].clear()
        assert module.demo_records() == snapshot


# --- integrity within each platform ---------------------------------------------------------------


def test_procore_references(procore: Records) -> None:
    projects = by_id(procore["project"])
    vendors = by_id(procore["customer"])
    contracts = by_id(procore["contract"])
    requisitions = by_id(procore["invoice"])
    for contract in contracts.values():
        assert projects[contract["project"]["id"]]["name"] == contract["project"]["name"]
        assert vendors[contract["vendor"]["id"]]["name"] == contract["vendor"]["company"]
    for requisition in requisitions.values():
        contract = contracts[requisition["commitment_id"]]
        assert requisition["project_id"] == contract["project"]["id"]
        # A v1.0 requisition names its vendor only by name (no vendor_id in its schema).
        assert requisition["vendor_name"] == contract["vendor"]["company"]
        assert requisition["commitment_type"] == contract["type"]
    claimed: defaultdict[int, Decimal] = defaultdict(Decimal)
    for requisition in requisitions.values():
        claimed[requisition["commitment_id"]] += Decimal(requisition["total_claimed_amount"])
    for contract_id, total in claimed.items():
        assert total <= Decimal(contracts[contract_id]["grand_total"])
    paid: defaultdict[int, Decimal] = defaultdict(Decimal)
    for payment in procore["payment"]:
        requisition = requisitions[payment["requisition_id"]]
        assert payment["contract_id"] == requisition["commitment_id"]
        assert payment["project_id"] == requisition["project_id"]
        assert payment["invoice_number"] == requisition["invoice_number"]
        paid[requisition["id"]] += Decimal(payment["amount"])
    for requisition_id, total in paid.items():
        assert total <= Decimal(requisitions[requisition_id]["total_claimed_amount"])


def test_dynamics_references(dynamics: Records) -> None:
    project_numbers = {p["number"] for p in dynamics["project"]}
    customers = by_id(dynamics["customer"])
    orders = by_id(dynamics["contract"])
    invoices = by_id(dynamics["invoice"])
    journal_ids = {j["id"] for j in dynamics_demo.payment_journals()}
    for order in orders.values():
        customer = customers[order["customerId"]]
        assert (order["customerNumber"], order["customerName"]) == (customer["number"], customer["displayName"])
        assert order["currencyCode"] == customer["currencyCode"]
        assert order["shortcutDimension1Code"] in project_numbers
    for invoice in invoices.values():
        order = orders[invoice["orderId"]]
        assert invoice["orderNumber"] == order["number"]
        assert invoice["customerId"] == order["customerId"]
        assert invoice["customerNumber"] == order["customerNumber"]
        assert invoice["currencyCode"] == order["currencyCode"]
        assert invoice["shortcutDimension1Code"] == order["shortcutDimension1Code"]
        assert invoice["dueDate"] > invoice["invoiceDate"]
    for payment in dynamics["payment"]:
        invoice = invoices[payment["appliesToInvoiceId"]]
        assert payment["journalId"] in journal_ids
        assert payment["appliesToInvoiceNumber"] == invoice["number"]
        assert payment["customerId"] == invoice["customerId"]
        assert payment["customerNumber"] == invoice["customerNumber"]
        # BC only applies payments to posted invoices.
        assert invoice["status"] in {"Open", "Paid", "Corrective", "Canceled"}
    line_numbers = [(p["journalId"], p["lineNumber"]) for p in dynamics["payment"]]
    assert len(set(line_numbers)) == len(line_numbers)


def test_business_keys_differ_from_bc_document_numbers(dynamics: Records) -> None:
    for entity_type in ("contract", "invoice"):
        for record in dynamics[entity_type]:
            assert record["number"] != record["externalDocumentNumber"].strip()


# --- agreement across platforms for linked records ------------------------------------------------


def linked(procore: Records, dynamics: Records, entity_type: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    pairs = match_records(entity_type, "procore", procore[entity_type], "dynamics", dynamics[entity_type])
    left, right = by_id(procore[entity_type]), by_id(dynamics[entity_type])
    return [(left[int(p)], right[d]) for p, d in pairs]


def linked_ids(procore: Records, dynamics: Records, entity_type: str) -> dict[Any, str]:
    return {p["id"]: d["id"] for p, d in linked(procore, dynamics, entity_type)}


def test_linked_counts(procore: Records, dynamics: Records) -> None:
    counts = {et: len(linked(procore, dynamics, et)) for et in ENTITY_TYPES}
    assert counts == {"project": 4, "customer": 3, "contract": 11, "invoice": 7, "payment": 6}
    # A few records on each platform are left over, so pairs are fewer than either count.
    assert sum(counts.values()) == 31 < 36 < 38


def bc_currency(record: dict[str, Any]) -> str:
    """A BC record's currency as the product reads it (the descriptor, on the sandbox's copy: a
    payment's comes from its customer, journal lines carry none)."""
    sandbox = {r["id"]: r for records in get_platform("dynamics").demo_records().values() for r in records}
    code = get_platform("dynamics").record_currency(sandbox[record["id"]])
    assert code is not None
    return code


def test_linked_amounts_convert_at_pegged_rates(procore: Records, dynamics: Records) -> None:
    fields = {
        "contract": ("grand_total", "totalAmountIncludingTax"),
        "invoice": ("total_claimed_amount", "totalAmountIncludingTax"),
        "payment": ("amount", "amount"),
    }
    for entity_type, (usd_field, local_field) in fields.items():
        for p, d in linked(procore, dynamics, entity_type):
            assert d[local_field] == local(p[usd_field], bc_currency(d)), (entity_type, p["id"])


def test_half_cent_rounds_half_even(procore: Records, dynamics: Records) -> None:
    pairs = {p["id"]: d for p, d in linked(procore, dynamics, "invoice")}
    exact = Decimal("654122.00") * USD_RATES["AED"]
    assert exact == Decimal("2402263.045")
    assert pairs[10064]["totalAmountIncludingTax"] == Decimal("2402263.04")
    assert exact.quantize(Decimal("0.01"), ROUND_HALF_UP) != pairs[10064]["totalAmountIncludingTax"]


def test_product_conversion_agrees_with_demo_amounts(procore: Records, dynamics: Records) -> None:
    # Propagation converts with canonical.money; it must land on the amounts the demo BC ledger holds,
    # or a no-op propagate would show a spurious change.
    money = pytest.importorskip("canonical.money")
    fields = {
        "contract": ("grand_total", "totalAmountIncludingTax"),
        "invoice": ("total_claimed_amount", "totalAmountIncludingTax"),
        "payment": ("amount", "amount"),
    }
    for entity_type, (usd_field, local_field) in fields.items():
        for p, d in linked(procore, dynamics, entity_type):
            converted = money.convert(money.parse_money(p[usd_field], "USD"), bc_currency(d))
            assert converted == money.parse_money(d[local_field], bc_currency(d)), (entity_type, p["id"])


def test_linked_references_agree(procore: Records, dynamics: Records) -> None:
    projects = linked_ids(procore, dynamics, "project")
    customers = linked_ids(procore, dynamics, "customer")
    contracts = linked_ids(procore, dynamics, "contract")
    invoices = linked_ids(procore, dynamics, "invoice")
    procore_projects = by_id(procore["project"])
    bc_projects = {p["number"]: p["id"] for p in dynamics["project"]}
    # The duplicate Procore vendor record is the same company as 501007.
    same_company = {501012: 501007}

    for p, d in linked(procore, dynamics, "project"):
        assert p["project_number"] == d["number"]
    for p, d in linked(procore, dynamics, "contract"):
        assert d["orderDate"] == p["contract_date"]
        assert customers[same_company.get(p["vendor"]["id"], p["vendor"]["id"])] == d["customerId"]
        assert projects[p["project"]["id"]] == bc_projects[d["shortcutDimension1Code"]]
        assert procore_projects[p["project"]["id"]]["project_number"] == d["shortcutDimension1Code"]
    for p, d in linked(procore, dynamics, "invoice"):
        assert d["invoiceDate"] == p["billing_date"]
        assert contracts[p["commitment_id"]] == d["orderId"]
    for p, d in linked(procore, dynamics, "payment"):
        assert d["postingDate"] == p["date"]
        assert d["description"] == p["notes"]
        assert invoices[p["requisition_id"]] == d["appliesToInvoiceId"]


def test_customer_region_sets_currency(procore: Records, dynamics: Records) -> None:
    currency_of_country = {"QA": "QAR", "AE": "AED", "SA": "SAR"}
    for p, d in linked(procore, dynamics, "customer"):
        assert p["country_code"] == d["country"]
        assert d["currencyCode"] == currency_of_country[d["country"]]


# --- every record maps to canonical and back ------------------------------------------------------


@pytest.mark.parametrize("platform", ["procore", "dynamics"])
def test_every_demo_record_maps_to_canonical_and_back(platform: str) -> None:
    mapper = get_mapper(platform)
    customer_id = str(uuid.uuid4())
    # The records a sandbox connect maps (BC payments noted with their customer's currency).
    for entity_type, records in get_platform(platform).demo_records().items():
        for record in records:
            # Reading a record teaches the context its references, so writing it back resolves them.
            context = MappingContext()
            canonical = mapper.to_canonical(entity_type, record, customer_id=customer_id, context=context)
            assert canonical.external_ids == {platform: str(record["id"])}
            assert mapper.from_canonical(entity_type, canonical, context=context) == record, (
                platform,
                entity_type,
                record["id"],
            )
