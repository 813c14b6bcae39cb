"""The Business Central half of the demo data set, in BC API v2.0 (OData v4) native shapes.

The same Gulf-region contractor as ``platforms/procore/demo_data.py``, as its accounting team
keeps it in Business Central: amounts in the customer's local currency (QAR, AED, SAR) at the
pegged rates (1 USD = 3.64 QAR = 3.6725 AED = 3.75 SAR, rounded half-even to the cent), money as
JSON numbers (``decimal.Decimal`` here; serialisation happens elsewhere), GUID ids, a weak
``@odata.etag`` and a ``lastModifiedDateTime`` on every record.

Business keys are typed by people in BC, so they carry the noise real ledgers have: case and
spacing (``"chk-2026-0101 "``, ``"C LEX 007"``), punctuation (``"INV 2025-0061"``, a trailing dot)
and legal-suffix spelling (``"W.L.L."`` for ``"WLL"``). BC's own document ``number`` comes from a
number series and is never the key (a draft invoice even has a different series from posted
ones). A few records exist here only; ``docs/demo-data.md`` lists them and the matched pairs.

Written as compact tables plus small builders; nothing random, every call builds fresh objects.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final, NamedTuple

from platforms.dynamics.metadata import EMPTY_GUID as EMPTY_GUID
from platforms.dynamics.metadata import whole

NativeRecord = dict[str, Any]

#: Entity types in dependency order: each type only references types listed before it.
ENTITY_TYPES: Final = ("project", "customer", "contract", "invoice", "payment")

#: BC API v2.0 entity set serving each entity type (payments sit under a payment journal).
ENTITY_SETS: Final = {
    "project": "projects",
    "customer": "customers",
    "contract": "salesOrders",
    "invoice": "salesInvoices",
    "payment": "customerPayments",
}

# Deterministic GUIDs: the same record gets the same id in every process and test run.
_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "https://demo.structural.app/dynamics")


def _guid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


COMPANY_ID: Final = _guid("companies", "LEXWELL")
COMPANY_NAME: Final = "Lexwell Gulf Contracting"
#: The company's local currency. BC reports LCY documents with the empty GUID as ``currencyId``.
LOCAL_CURRENCY: Final = "QAR"

#: The real id of the Business Central payment that pairs with Procore payment 1823456.
SPEC_PAYMENT_ID: Final = "a34e74db-53c7-4368-8fe7-bb87c83c7902"

_JOURNAL_CODE: Final = "CASHRCPT"
_JOURNAL_ID: Final = _guid("customerPaymentJournals", _JOURNAL_CODE)


class _Project(NamedTuple):
    number: str  # the Procore project_number: the project key
    display_name: str
    created: str


class _Customer(NamedTuple):
    number: str
    display_name: str
    tax_registration_number: str
    currency: str
    country: str
    city: str
    email: str
    phone: str
    created: str


class _Order(NamedTuple):
    number: str
    external_document_number: str  # the Procore contract number, as typed in BC
    order_date: str
    customer: str
    total: Decimal
    status: str
    project: str


class _Invoice(NamedTuple):
    number: str
    external_document_number: str  # the Procore invoice number, as typed in BC
    invoice_date: str
    order: str
    total: Decimal
    status: str


class _Payment(NamedTuple):
    line_number: int
    document_number: str  # the check number, as typed in BC
    external_document_number: str  # the invoice number the customer quoted
    posting_date: str
    invoice: str  # BC number of the invoice applied to
    amount: Decimal
    description: str
    comment: str
    id: str | None = None  # only for records whose real id is known


_PROJECTS: Final = (
    _Project("LBT-2401", "Lusail Boulevard Tower", "2025-03-04"),
    _Project("WBM-2402", "West Bay Metro Link Station", "2025-06-16"),
    _Project("DCH-2403", "Dubai Creek Harbour Podium", "2025-09-02"),
    # Named differently from Procore on purpose: projects pair by number only.
    _Project("KSP-2404", "KSP Pavilion - Riyadh", "2025-10-13"),
    # Opened by accounting before the project team set it up in Procore: BC only.
    _Project("YNB-2502", "Yanbu Port Quay Rehabilitation", "2026-01-15"),
)

_CUSTOMERS: Final = (
    _Customer("C00010", "Doha Infrastructure Partners W.L.L.", "5000317214", "QAR", "QA", "Doha",
              "accounts@dohainfra.qa", "+974 4412 7700", "2025-02-12"),
    _Customer("C00020", "Al Khaleej Steel Fabrication L.L.C.", "100347289600003", "AED", "AE", "Dubai",
              "ar@alkhaleejsteel.ae", "+971 4 887 2100", "2025-04-04"),
    # No tax number captured in BC yet: pairs with Procore by normalised name alone.
    _Customer("C00030", "NAJD  READYMIX CONCRETE CO.", "", "SAR", "SA", "Riyadh",
              "finance@najdreadymix.sa", "+966 11 465 3300", "2025-09-22"),
    _Customer("C00040", "Red Sea Marine Works Est.", "310455781200003", "SAR", "SA", "Yanbu",
              "accounts@redseamarine.sa", "+966 14 322 9080", "2026-01-15"),
)

# Sales order numbers follow BC's number series in creation order, unrelated to contract numbers.
_ORDERS: Final = (
    # A released order reads as "Open" through the API (salesOrderEntityBufferStatus has Draft,
    # In_x0020_Review and Open only); "In_x0020_Review" is one pending approval.
    _Order("SO-1001", "c-lex-001", "2025-03-20", "C00010", Decimal("30940000.00"), "Open", "LBT-2401"),
    _Order("SO-1002", "C-LEX-002", "2025-05-08", "C00010", Decimal("46410000.00"), "Open", "LBT-2401"),
    _Order("SO-1003", "C-LEX-005 ", "2025-07-01", "C00010", Decimal("23296000.00"), "Open", "WBM-2402"),
    # A UAE customer on a Qatar job: billed in the customer's AED.
    _Order("SO-1004", "C-LEX-004", "2025-07-14", "C00020", Decimal("8007519.00"), "Open", "LBT-2401"),
    _Order("SO-1005", "C LEX 007", "2025-09-18", "C00020", Decimal("15424500.00"), "Open", "DCH-2403"),
    _Order("SO-1006", "C-LEX-012", "2025-10-20", "C00030", Decimal("7425000.00"), "Open", "KSP-2404"),
    _Order("SO-1007", "C-LEX-010.", "2025-10-30", "C00030", Decimal("10350000.00"), "Open", "KSP-2404"),
    _Order("SO-1008", "C-LEX-011", "2025-11-02", "C00030", Decimal("19875000.00"), "Open", "KSP-2404"),
    # Procore placed this one against its duplicate vendor record; BC has the one real customer.
    _Order("SO-1009", "C-LEX-008", "2025-11-10", "C00020", Decimal("4131562.50"), "Open", "DCH-2403"),
    _Order("SO-1010", "C-LEX-003", "2026-01-12", "C00010", Decimal("11830001.82"), "In_x0020_Review", "LBT-2401"),
    # BC only, on the BC-only project and customer.
    _Order("SO-1011", "C-LEX-014", "2026-01-18", "C00040", Decimal("1462500.00"), "In_x0020_Review", "YNB-2502"),
    _Order("SO-1012", "C-LEX-006", "2026-01-20", "C00010", Decimal("1768130.91"), "In_x0020_Review", "WBM-2402"),
)

_INVOICES: Final = (
    _Invoice("PS-INV103001", "INV 2025-0061", "2025-12-28", "SO-1001", Decimal("6188000.00"), "Open"),
    _Invoice("PS-INV103002", "INV-2025-0062", "2025-12-30", "SO-1002", Decimal("9282000.00"), "Open"),
    _Invoice("PS-INV103003", "inv-2026-0003", "2026-01-29", "SO-1001", Decimal("4641000.00"), "Open"),
    # 654,122.00 USD x 3.6725 = 2,402,263.045 AED: the half cent rounds to the even 2,402,263.04.
    _Invoice("PS-INV103004", "INV-2026-0004", "2026-01-31", "SO-1004", Decimal("2402263.04"), "Open"),
    _Invoice("PS-INV103005", "INV-2026-0005", "2026-02-15", "SO-1003", Decimal("3494400.00"), "Open"),
    _Invoice("PS-INV103006", "INV-2026-0006.", "2026-02-20", "SO-1005", Decimal("3084900.00"), "Open"),
    # Not posted yet, so it still carries a number from the draft series; posting would give it a
    # PS-INV number and keep its id. It pairs by externalDocumentNumber either way.
    _Invoice("S-INV100214", "INV-2026-0007", "2026-02-26", "SO-1007", Decimal("2587500.00"), "Draft"),
)

# Unposted cash-receipt journal lines (posted payments would leave this list).
_PAYMENTS: Final = (
    _Payment(10000, "chk-2026-0101 ", "INV 2025-0061", "2026-02-01", "PS-INV103001",
             Decimal("6188000.00"), "Substructure progress payment #1", "", id=SPEC_PAYMENT_ID),
    _Payment(20000, "CHK-2026-0102", "INV-2025-0062", "2026-02-03", "PS-INV103002",
             Decimal("9282000.00"), "Superstructure progress payment #1", ""),
    _Payment(30000, "CHK 2026 0103", "INV-2026-0003", "2026-02-20", "PS-INV103003",
             Decimal("2912000.00"), "Substructure progress payment #2 (part)",
             "Part payment, balance to follow"),
    _Payment(40000, "CHK-2026-0104", "INV-2026-0003", "2026-03-02", "PS-INV103003",
             Decimal("1729000.00"), "Substructure progress payment #2 (balance)", ""),
    _Payment(50000, "CHK2026-0105", "INV-2026-0004", "2026-02-25", "PS-INV103004",
             Decimal("2402263.04"), "Podium steel supply invoice 1", ""),
    # The same receipt twice: a client timed out, retried blindly, and BC had applied the first
    # write. The check number is now ambiguous, so neither line may be linked automatically.
    _Payment(60000, "CHK-2026-0106", "INV-2026-0005", "2026-03-05", "PS-INV103005",
             Decimal("3494400.00"), "Station box progress payment #1", ""),
    _Payment(70000, "CHK-2026-0106", "INV-2026-0005", "2026-03-05", "PS-INV103005",
             Decimal("3494400.00"), "Station box progress payment #1", ""),
    _Payment(80000, "Chk-2026-0107", "INV-2026-0006", "2026-03-10", "PS-INV103006",
             Decimal("3084900.00"), "Podium steel erection payment #1", ""),
)


def weak_etag(record_id: str, last_modified: str) -> str:
    """A BC-style weak ETag for a record version, e.g. ``W/"JzQ0O...MDsn"``.

    BC's tag is base64 of ``'44;<base64 hash>1;00;'``; reproducing that shape keeps clients honest
    about treating it as opaque. It changes whenever ``last_modified`` does.
    """
    digest = base64.b64encode(hashlib.sha256(f"{record_id}|{last_modified}".encode()).digest()).decode()
    token = base64.b64encode(f"'44;{digest}1;00;'".encode()).decode()
    return f'W/"{token}"'


def _modified(day: str, seed: str) -> str:
    """A deterministic ``lastModifiedDateTime`` (Gulf office hours in UTC, milliseconds) on ``day``."""
    n = int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16)
    return f"{day}T{5 + n % 8:02d}:{n // 8 % 60:02d}:{n // 480 % 60:02d}.{n // 28800 % 1000:03d}Z"


def _with_version(bc_type: str, record_id: str, day: str, fields: NativeRecord) -> NativeRecord:
    """A whole BC record (every ``$metadata`` property, BC's empty value where unset), versioned."""
    last_modified = _modified(day, record_id)
    return whole(bc_type, {
        "@odata.etag": weak_etag(record_id, last_modified),
        "id": record_id,
        **fields,
        "lastModifiedDateTime": last_modified,
    })


def _currency_id(code: str) -> str:
    return EMPTY_GUID if code == LOCAL_CURRENCY else _guid("currencies", code)


def _project(p: _Project) -> NativeRecord:
    # BC Jobs expose only these fields through the standard API.
    return _with_version("project", _guid("projects", p.number), p.created, {
        "number": p.number,
        "displayName": p.display_name,
    })


def _customer(c: _Customer) -> NativeRecord:
    return _with_version("customer", _guid("customers", c.number), c.created, {
        "number": c.number,
        "displayName": c.display_name,
        "type": "Company",
        "city": c.city,
        "country": c.country,
        "phoneNumber": c.phone,
        "email": c.email,
        # Qatar levies no VAT; UAE and KSA customers are VAT-registered.
        "taxLiable": c.country != "QA",
        "taxRegistrationNumber": c.tax_registration_number,
        "currencyId": _currency_id(c.currency),
        # The API states the local currency's code too (the captured salesOrders response).
        "currencyCode": c.currency,
        # Not blocked: the blank option, as OData names it.
        "blocked": "_x0020_",
    })


def _sell_to(c: _Customer) -> NativeRecord:
    """The customer fields BC copies onto a sales document (sell-to = bill-to here)."""
    customer_id = _guid("customers", c.number)
    return {
        "customerId": customer_id,
        "customerNumber": c.number,
        "customerName": c.display_name,
        "billToName": c.display_name,
        "billToCustomerId": customer_id,
        "billToCustomerNumber": c.number,
        "shipToName": c.display_name,
        "sellToCity": c.city,
        "sellToCountry": c.country,
        "billToCity": c.city,
        "billToCountry": c.country,
        "shipToCity": c.city,
        "shipToCountry": c.country,
        "currencyId": _currency_id(c.currency),
        "currencyCode": c.currency,
        "phoneNumber": c.phone,
        "email": c.email,
    }


def _totals(total: Decimal) -> NativeRecord:
    # Tax is not modelled in the demo: contract and invoice values are the totals.
    return {"totalAmountExcludingTax": total, "totalTaxAmount": Decimal("0"), "totalAmountIncludingTax": total}


def _order(o: _Order, customers: dict[str, _Customer]) -> NativeRecord:
    return _with_version("salesOrder", _guid("salesOrders", o.number), o.order_date, {
        "number": o.number,
        "externalDocumentNumber": o.external_document_number,
        "orderDate": o.order_date,
        "postingDate": o.order_date,
        **_sell_to(customers[o.customer]),
        "shortcutDimension1Code": o.project,
        "discountAppliedBeforeTax": True,
        **_totals(o.total),
        "status": o.status,
    })


def _invoice(i: _Invoice, orders: dict[str, _Order], customers: dict[str, _Customer]) -> NativeRecord:
    o = orders[i.order]
    return _with_version("salesInvoice", _guid("salesInvoices", i.number), i.invoice_date, {
        "number": i.number,
        "externalDocumentNumber": i.external_document_number,
        "invoiceDate": i.invoice_date,
        "postingDate": i.invoice_date,
        # Every demo customer is on 30-day terms.
        "dueDate": (date.fromisoformat(i.invoice_date) + timedelta(days=30)).isoformat(),
        **_sell_to(customers[o.customer]),
        "orderId": _guid("salesOrders", o.number),
        "orderNumber": o.number,
        "shortcutDimension1Code": o.project,
        # The payments are unposted journal lines: nothing is applied yet.
        "remainingAmount": i.total,
        "discountAppliedBeforeTax": True,
        **_totals(i.total),
        "status": i.status,
    })


def _payment(p: _Payment, invoices: dict[str, _Invoice], orders: dict[str, _Order],
             customers: dict[str, _Customer]) -> NativeRecord:
    # A journal line has no currency property: its amount is in its customer's currency.
    c = customers[orders[invoices[p.invoice].order].customer]
    record_id = p.id or _guid("customerPayments", _JOURNAL_CODE, str(p.line_number))
    return _with_version("customerPayment", record_id, p.posting_date, {
        "journalId": _JOURNAL_ID,
        "journalDisplayName": _JOURNAL_CODE,
        "lineNumber": p.line_number,
        "customerId": _guid("customers", c.number),
        "customerNumber": c.number,
        "postingDate": p.posting_date,
        "documentNumber": p.document_number,
        "externalDocumentNumber": p.external_document_number,
        "amount": p.amount,
        "appliesToInvoiceId": _guid("salesInvoices", p.invoice),
        "appliesToInvoiceNumber": p.invoice,
        "description": p.description,
        "comment": p.comment,
    })


def demo_records() -> dict[str, list[NativeRecord]]:
    """Every Business Central demo record, keyed by entity type in dependency order.

    Counts: 5 projects, 4 customers, 12 contracts (sales orders), 7 invoices (sales invoices),
    8 payments (customer payment journal lines): 36 in all. Each call builds new objects.
    """
    customers = {c.number: c for c in _CUSTOMERS}
    orders = {o.number: o for o in _ORDERS}
    invoices = {i.number: i for i in _INVOICES}
    return {
        "project": [_project(p) for p in _PROJECTS],
        "customer": [_customer(c) for c in _CUSTOMERS],
        "contract": [_order(o, customers) for o in _ORDERS],
        "invoice": [_invoice(i, orders, customers) for i in _INVOICES],
        "payment": [_payment(p, invoices, orders, customers) for p in _PAYMENTS],
    }


def demo_counts() -> dict[str, int]:
    """Records per entity type."""
    return {entity_type: len(records) for entity_type, records in demo_records().items()}


def payment_journals() -> list[NativeRecord]:
    """The ``customerPaymentJournals`` the demo payments live under (BC reads payments through one)."""
    return [_with_version("customerPaymentJournal", _JOURNAL_ID, "2025-01-05", {
        "code": _JOURNAL_CODE,
        "displayName": "Cash Receipts",
        "balancingAccountId": EMPTY_GUID,
        "balancingAccountNumber": "",
    })]
