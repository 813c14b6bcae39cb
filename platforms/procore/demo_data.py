"""The Procore half of the demo data set, in Procore's native REST v1.0 shapes.

The demo tenant is a Gulf-region general contractor with jobs in Qatar, the UAE and Saudi Arabia.
Every record is what a GET of the real API would return for it: integer ids, money as decimal
strings of varying precision (``"4200000.0"`` next to ``"8500000.00"``), dates as ``YYYY-MM-DD``,
timestamps as ISO-8601 UTC. All amounts are USD. The Dynamics side lives in
``platforms/dynamics/demo_data.py``; ``docs/demo-data.md`` lists which records pair up.

The data is written as one compact table per entity plus a small builder, so that the business
facts (numbers, amounts, who owes what) read as a table and the repetitive native fields are
derived consistently. Nothing is random: every call returns an equal, freshly built copy that the
caller may mutate.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final, NamedTuple

NativeRecord = dict[str, Any]

#: Entity types in dependency order: each type only references types listed before it.
ENTITY_TYPES: Final = ("project", "customer", "contract", "invoice", "payment")

#: The demo tenant (the value of the ``Procore-Company-Id`` header).
COMPANY_ID: Final = 4271100
COMPANY_NAME: Final = "Lexwell Gulf Contracting"

WORK_ORDER: Final = "WorkOrderContract"
PURCHASE_ORDER: Final = "PurchaseOrderContract"


class _Project(NamedTuple):
    id: int
    number: str
    name: str
    stage: str
    city: str
    state_code: str  # ISO 3166-2 subdivision, without the country prefix
    country_code: str
    start_date: str
    completion_date: str
    created: str


class _Vendor(NamedTuple):
    id: int
    name: str
    legal_name: str | None
    business_id: str | None  # tax id: Qatar TIN, UAE TRN, KSA VAT number
    city: str
    country_code: str
    email: str
    phone: str
    created: str


class _Commitment(NamedTuple):
    id: int
    number: str
    title: str
    type: str
    status: str
    project_id: int
    vendor_id: int
    grand_total: str
    contract_date: str
    description: str


class _Requisition(NamedTuple):
    id: int
    commitment_id: int
    invoice_number: str
    status: str
    billing_date: str
    total_claimed_amount: str


class _Payment(NamedTuple):
    id: int
    requisition_id: int
    check_number: str
    amount: str
    date: str
    payment_number: int
    status: str
    notes: str


_PROJECTS: Final = (
    _Project(341276, "LBT-2401", "Lusail Boulevard Tower", "Course of Construction",
             "Lusail", "ZA", "QA", "2025-03-02", "2027-09-30", "2025-02-10"),
    _Project(341279, "WBM-2402", "West Bay Metro Link Station", "Course of Construction",
             "Doha", "DA", "QA", "2025-06-15", "2027-03-31", "2025-05-20"),
    _Project(341283, "DCH-2403", "Dubai Creek Harbour Podium", "Course of Construction",
             "Dubai", "DU", "AE", "2025-09-01", "2027-12-15", "2025-08-12"),
    _Project(341288, "KSP-2404", "King Salman Park Pavilion", "Course of Construction",
             "Riyadh", "01", "SA", "2025-10-12", "2027-06-30", "2025-09-28"),
    # Still at tender: accounting has not opened a job for it yet, so it exists in Procore only.
    _Project(341291, "JCM-2501", "Jeddah Corniche Marina Club", "Bidding",
             "Jeddah", "02", "SA", "2026-06-01", "2028-02-28", "2026-02-16"),
)

_VENDORS: Final = (
    _Vendor(501004, "Doha Infrastructure Partners WLL", "Doha Infrastructure Partners W.L.L.",
            "5000317214", "Doha", "QA", "accounts@dohainfra.qa", "+974 4412 7700", "2025-02-11"),
    _Vendor(501007, "Al Khaleej Steel Fabrication LLC", "Al Khaleej Steel Fabrication L.L.C.",
            "100347289600003", "Dubai", "AE", "ar@alkhaleejsteel.ae", "+971 4 887 2100", "2025-04-03"),
    _Vendor(501009, "Najd Readymix Concrete Co.", "Najd Readymix Concrete Company",
            "310122393500003", "Riyadh", "SA", "finance@najdreadymix.sa", "+966 11 465 3300",
            "2025-09-20"),
    # The "Star Framing" vs "Star Framing, LLC" problem: a project user added 501007 a second time
    # without the suffix and without a tax id. Its name normalises like 501007's, so the name key is
    # ambiguous and only 501007 is linked (by tax id) to the Business Central customer.
    _Vendor(501012, "Al Khaleej Steel Fabrication", None,
            None, "Dubai", "AE", "site.dch@alkhaleejsteel.ae", "+971 50 318 4471", "2025-11-06"),
)

_COMMITMENTS: Final = (
    _Commitment(1945782, "C-LEX-001", "Substructure Package", WORK_ORDER, "Approved", 341276, 501004,
                "8500000.00", "2025-03-20", "Piling, basement excavation and raft foundation."),
    _Commitment(1945790, "C-LEX-002", "Superstructure Frame Package", WORK_ORDER, "Approved", 341276,
                501004, "12750000.00", "2025-05-08", "Reinforced concrete frame, levels 1 to 42."),
    _Commitment(1945801, "C-LEX-003", "MEP First Fix - Podium", WORK_ORDER, "Out For Signature", 341276,
                501004, "3250000.5", "2026-01-12", "Mechanical, electrical and plumbing first fix."),
    # A UAE supplier on a Qatar job: the Business Central side bills it in AED, the customer's
    # currency, not in the project's QAR.
    _Commitment(1945815, "C-LEX-004", "Structural Steel Supply - Podium", PURCHASE_ORDER, "Approved",
                341276, 501007, "2180400.00", "2025-07-14", "Fabricated steel for the podium transfer deck."),
    _Commitment(1945822, "C-LEX-005", "Station Box Excavation & Shoring", WORK_ORDER, "Approved", 341279,
                501004, "6400000.00", "2025-07-01", "Secant piling, excavation and temporary works."),
    _Commitment(1945836, "C-LEX-006", "Platform Screen Door Embeds", PURCHASE_ORDER, "Submitted", 341279,
                501004, "485750.25", "2026-01-20", "Cast-in embeds for the platform screen doors."),
    _Commitment(1945849, "C-LEX-007", "Podium Steel Erection", WORK_ORDER, "Approved", 341283, 501007,
                "4200000.0", "2025-09-18", "Erection of podium steelwork and metal decking."),
    # Placed against the duplicate vendor record; the contract still pairs by its number.
    _Commitment(1945853, "C-LEX-008", "Rebar Supply Lot 1", PURCHASE_ORDER, "Partially Received", 341283,
                501012, "1125000.00", "2025-11-10", "Reinforcement bar supply, podium and core walls."),
    # Draft, so not yet sent to the ERP: Procore only.
    _Commitment(1945867, "C-LEX-009", "Facade Anchor Steel", PURCHASE_ORDER, "Draft", 341283, 501007,
                "312500.00", "2026-02-27", "Facade anchor channels and brackets."),
    _Commitment(1945871, "C-LEX-010", "Ready-mix Concrete Supply", PURCHASE_ORDER, "Approved", 341288,
                501009, "2760000.00", "2025-10-30", "C40 and C50 ready-mix concrete, pump included."),
    _Commitment(1945884, "C-LEX-011", "Pavilion Foundations", WORK_ORDER, "Approved", 341288, 501009,
                "5300000.00", "2025-11-02", "Pad foundations, ground beams and slab on grade."),
    _Commitment(1945896, "C-LEX-012", "Pavilion Canopy Structure", WORK_ORDER, "Complete", 341288, 501009,
                "1980000.00", "2025-10-20", "Canopy steel and roof membrane."),
    # On the tender-stage project: Procore only.
    _Commitment(1945903, "C-LEX-013", "Enabling Works & Piling", WORK_ORDER, "Out For Bid", 341291,
                501009, "3400000.00", "2026-03-01", "Site clearance, dewatering and piling."),
)

_REQUISITIONS: Final = (
    _Requisition(10061, 1945782, "INV-2025-0061", "approved", "2025-12-28", "1700000.00"),
    _Requisition(10062, 1945790, "INV-2025-0062", "approved", "2025-12-30", "2550000.00"),
    _Requisition(10063, 1945782, "INV-2026-0003", "approved", "2026-01-29", "1275000.00"),
    # 654,122.00 USD is 2,402,263.045 AED: an exact half cent, so the conversion rounds half-even.
    _Requisition(10064, 1945815, "INV-2026-0004", "approved", "2026-01-31", "654122.00"),
    _Requisition(10065, 1945822, "INV-2026-0005", "approved", "2026-02-15", "960000.00"),
    _Requisition(10066, 1945849, "INV-2026-0006", "approved_as_noted", "2026-02-20", "840000.0"),
    _Requisition(10067, 1945871, "INV-2026-0007", "approved", "2026-02-26", "690000.00"),
    # Still under review, so not yet billed in the ERP: Procore only.
    _Requisition(10068, 1945884, "INV-2026-0008", "under_review", "2026-03-05", "1060000.00"),
)

_PAYMENTS: Final = (
    _Payment(1823456, 10061, "CHK-2026-0101", "1700000.00", "2026-02-01", 24, "pending",
             "Substructure progress payment #1"),
    _Payment(1823461, 10062, "CHK-2026-0102", "2550000.00", "2026-02-03", 25, "paid",
             "Superstructure progress payment #1"),
    # One invoice settled by two payments: the invoice number is shared, so it cannot be the
    # payment key; the check number is.
    _Payment(1823467, 10063, "CHK-2026-0103", "800000.00", "2026-02-20", 26, "paid",
             "Substructure progress payment #2 (part)"),
    _Payment(1823472, 10063, "CHK-2026-0104", "475000.00", "2026-03-02", 27, "pending",
             "Substructure progress payment #2 (balance)"),
    _Payment(1823478, 10064, "CHK-2026-0105", "654122.00", "2026-02-25", 28, "paid",
             "Podium steel supply invoice 1"),
    # Business Central holds this check twice (a blind retry after a timeout), so the check number is
    # ambiguous there and this payment is deliberately left unlinked.
    _Payment(1823483, 10065, "CHK-2026-0106", "960000.0", "2026-03-05", 29, "paid",
             "Station box progress payment #1"),
    _Payment(1823489, 10066, "CHK-2026-0107", "840000.00", "2026-03-10", 30, "pending",
             "Podium steel erection payment #1"),
    # Recorded in Procore, not yet entered in the ERP's cash receipts: Procore only.
    _Payment(1823494, 10067, "CHK-2026-0108", "690000.00", "2026-03-12", 31, "pending",
             "Ready-mix supply payment #1"),
)

# Billing periods are monthly and company-wide; requisitions refer to them by id.
_PERIOD_IDS: Final = {"2025-12": 118412, "2026-01": 118413, "2026-02": 118414, "2026-03": 118415}
_MONTH_ENDS: Final = {"2025-12": "31", "2026-01": "31", "2026-02": "28", "2026-03": "31"}

_EXECUTED_STATUSES: Final = frozenset({"Approved", "Complete", "Partially Received", "Received", "Closed"})


def _stamp(day: str, seed: int, days_later: int = 0) -> str:
    """A deterministic, plausible timestamp (Gulf office hours in UTC) ``days_later`` after ``day``."""
    moment = date.fromisoformat(day) + timedelta(days=days_later)
    return f"{moment.isoformat()}T{5 + seed % 8:02d}:{seed % 60:02d}:{seed * 7 % 60:02d}Z"


def _project(p: _Project) -> NativeRecord:
    return {
        "id": p.id,
        "name": p.name,
        # Procore prefixes the number; never match on it.
        "display_name": f"{p.number} - {p.name}",
        "project_number": p.number,
        "active": True,
        "stage": p.stage,
        "address": None,
        "city": p.city,
        "state_code": p.state_code,
        "country_code": p.country_code,
        "zip": None,
        "start_date": p.start_date,
        "completion_date": p.completion_date,
        "is_erp_integrated": False,
        "origin_id": None,
        "origin_code": None,
        "company": {"id": COMPANY_ID, "name": COMPANY_NAME},
        "created_at": _stamp(p.created, p.id, 0),
        "updated_at": _stamp(p.created, p.id, 3),
    }


def _vendor(v: _Vendor) -> NativeRecord:
    return {
        "id": v.id,
        "name": v.name,
        "legal_name": v.legal_name,
        "business_id": v.business_id,
        "is_active": True,
        "address": None,
        "city": v.city,
        "state_code": None,
        "country_code": v.country_code,
        "zip": None,
        "email_address": v.email,
        "business_phone": v.phone,
        "website": None,
        "origin_id": None,
        "origin_code": None,
        "created_at": _stamp(v.created, v.id, 0),
        "updated_at": _stamp(v.created, v.id, 2),
    }


def _commitment(c: _Commitment, projects: dict[int, _Project], vendors: dict[int, _Vendor]) -> NativeRecord:
    return {
        "id": c.id,
        "number": c.number,
        "title": c.title,
        "status": c.status,
        "type": c.type,
        "executed": c.status in _EXECUTED_STATUSES,
        "private": False,
        "accounting_method": "amount",
        # Subcontracts hold back 10 %; supply orders do not.
        "retainage_percent": "10.0" if c.type == WORK_ORDER else "0.0",
        "grand_total": c.grand_total,
        "description": c.description,
        "contract_date": c.contract_date,
        "project": {"id": c.project_id, "name": projects[c.project_id].name},
        "vendor": {"id": c.vendor_id, "company": vendors[c.vendor_id].name},
        "currency_configuration": {"currency_iso_code": "USD"},
        "origin_id": None,
        "created_at": _stamp(c.contract_date, c.id, 0),
        "updated_at": _stamp(c.contract_date, c.id, 4),
        "deleted_at": None,
    }


def _requisitions(commitments: dict[int, _Commitment], vendors: dict[int, _Vendor]) -> list[NativeRecord]:
    # Procore numbers invoices per commitment (1, 2, ...) and reports progress as a string with a
    # percent sign; both are derived here so that they stay consistent with the amounts.
    sequence: dict[int, int] = defaultdict(int)
    claimed_to_date: dict[int, Decimal] = defaultdict(Decimal)
    records = []
    for r in sorted(_REQUISITIONS, key=lambda r: (r.billing_date, r.id)):
        c = commitments[r.commitment_id]
        sequence[c.id] += 1
        claimed_to_date[c.id] += Decimal(r.total_claimed_amount)
        percent = claimed_to_date[c.id] * 100 / Decimal(c.grand_total)
        month = r.billing_date[:7]
        records.append({
            "id": r.id,
            "number": sequence[c.id],
            "invoice_number": r.invoice_number,
            "commitment_id": c.id,
            "commitment_type": c.type,
            "contract_name": c.title,
            "project_id": c.project_id,
            "vendor_name": vendors[c.vendor_id].name,
            "status": r.status,
            "period_id": _PERIOD_IDS[month],
            "requisition_start": f"{month}-01",
            "requisition_end": f"{month}-{_MONTH_ENDS[month]}",
            "billing_date": r.billing_date,
            "final": False,
            "percent_complete": f"{percent:.2f}%",
            "total_claimed_amount": r.total_claimed_amount,
            "currency_configuration": {"currency_iso_code": "USD"},
            "origin_id": None,
            "created_at": _stamp(r.billing_date, r.id, 0),
            "updated_at": _stamp(r.billing_date, r.id, 2),
        })
    return sorted(records, key=lambda record: int(record["id"]))


def _payment(
    p: _Payment, requisitions: dict[int, _Requisition], commitments: dict[int, _Commitment]
) -> NativeRecord:
    r = requisitions[p.requisition_id]
    c = commitments[r.commitment_id]
    return {
        "id": p.id,
        "contract_id": c.id,
        "project_id": c.project_id,
        "requisition_id": r.id,
        "amount": p.amount,
        "date": p.date,
        "check_number": p.check_number,
        "invoice_number": r.invoice_number,
        "payment_number": p.payment_number,
        "status": p.status,
        "notes": p.notes,
        "created_at": _stamp(p.date, p.id, 0),
        "updated_at": _stamp(p.date, p.id, 1),
    }


def demo_records() -> dict[str, list[NativeRecord]]:
    """Every Procore demo record, keyed by entity type in dependency order.

    Counts: 5 projects, 4 customers (vendors), 13 contracts (commitments, each carrying ``type``),
    8 invoices (requisitions), 8 payments (contract payments). Each call builds new objects.
    """
    projects = {p.id: p for p in _PROJECTS}
    vendors = {v.id: v for v in _VENDORS}
    commitments = {c.id: c for c in _COMMITMENTS}
    requisitions = {r.id: r for r in _REQUISITIONS}
    return {
        "project": [_project(p) for p in _PROJECTS],
        "customer": [_vendor(v) for v in _VENDORS],
        "contract": [_commitment(c, projects, vendors) for c in _COMMITMENTS],
        "invoice": _requisitions(commitments, vendors),
        "payment": [_payment(p, requisitions, commitments) for p in _PAYMENTS],
    }


def demo_counts() -> dict[str, int]:
    """Records per entity type, as ``POST /connect`` reports them (before pluralising)."""
    return {entity_type: len(records) for entity_type, records in demo_records().items()}
