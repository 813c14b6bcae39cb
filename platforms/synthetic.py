"""Synthetic sandbox data of any size, for load tests (`bench/connect`): `synthetic:<payments>`.

Records are the demo records' shapes with generated ids, business keys and amounts, so they go
through the same mappers. Both platforms carry the same business keys (BC in upper-case noise
the normaliser removes), so reconciliation links every record. Proportions follow the demo set:
per 1,000 payments, 50 projects, 40 customers, 125 contracts and 1,000 invoices.
Generated lazily, in a fixed order: nothing is held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from platforms.dynamics.demo_data import demo_records as dynamics_demo
from platforms.procore.demo_data import demo_records as procore_demo

QAR_PER_USD = Decimal("3.64")
CENT = Decimal("0.01")

# Generation runs inside the seed activity's hot loop (a few microseconds per record matter), so
# amounts are computed in integer cents and ids from precomputed bases; the values are exactly
# those of the Decimal formulas in the comments.
_PROCORE_BASE = {"project": 10, "customer": 20, "contract": 30, "invoice": 40, "payment": 50}
_GUID_CODE = {"project": 1, "customer": 2, "contract": 3, "invoice": 4, "payment": 5}


def sizes(payments: int) -> dict[str, int]:
    return {
        "project": max(1, payments // 20),
        "customer": max(1, payments // 25),
        "contract": max(1, payments // 8),
        "invoice": max(1, payments),
        "payment": max(1, payments),
    }


def _procore_id(entity_type: str, i: int) -> int:
    return _PROCORE_BASE[entity_type] * 10**8 + i


_GUID_PREFIX = {entity_type: f"{code:08x}-5e17-4000-8000-" for entity_type, code in _GUID_CODE.items()}


def _guid(entity_type: str, i: int) -> str:
    return f"{_GUID_PREFIX[entity_type]}{i:012x}"


def _usd_cents(i: int) -> int:
    # Decimal(1000 + (i * 37) % 900000) + Decimal(i % 100) / 100, in cents.
    return (1000 + (i * 37) % 900000) * 100 + i % 100


def _text(cents: int) -> str:
    """f"{cents / 100:.2f}" without floats."""
    return f"{cents // 100}.{cents % 100:02d}"


def _qar(usd_cents: int) -> Decimal:
    """(usd * QAR_PER_USD).quantize(CENT): rounded half to even, like the Decimal context."""
    q, r = divmod(usd_cents * 364, 100)
    if 2 * r > 100 or (2 * r == 100 and q % 2):
        q += 1
    return Decimal(q).scaleb(-2)


def synthetic_records(platform: str, entity_type: str, *, payments: int) -> Iterator[dict[str, Any]]:
    n = sizes(payments)
    if platform == "procore":
        yield from _procore(entity_type, n)
    elif platform == "dynamics":
        yield from _dynamics(entity_type, n)
    else:
        raise ValueError(f"unknown platform {platform!r}")


def _procore(entity_type: str, n: dict[str, int]) -> Iterator[dict[str, Any]]:
    tpl = procore_demo()[entity_type][0]
    own = _PROCORE_BASE[entity_type] * 10**8
    project, customer, contract, invoice = (_PROCORE_BASE[t] * 10**8 for t in ("project", "customer", "contract", "invoice"))
    projects, customers, contracts = n["project"], n["customer"], n["contract"]
    for i in range(n[entity_type]):
        rec = dict(tpl)
        rec["id"] = own + i
        if entity_type == "project":
            rec.update(
                name=f"Synthetic Project {i}",
                project_number=f"SYN-P{i:07d}",
                display_name=f"SYN-P{i:07d} - Synthetic Project {i}",
            )
        elif entity_type == "customer":
            rec.update(
                name=f"Synthetic Vendor {i} LLC", legal_name=f"Synthetic Vendor {i} L.L.C.", business_id=f"9{i:09d}"
            )
        elif entity_type == "contract":
            p, c = i % projects, i % customers
            rec.update(
                number=f"C-SYN-{i:07d}",
                title=f"Synthetic package {i}",
                grand_total=_text(_usd_cents(i) * 10),
                project={"id": project + p, "name": f"Synthetic Project {p}"},
                vendor={"id": customer + c, "company": f"Synthetic Vendor {c} LLC"},
            )
        elif entity_type == "invoice":
            k = i % contracts
            rec.update(
                invoice_number=f"INV-SYN-{i:08d}",
                commitment_id=contract + k,
                project_id=project + k % projects,
                vendor_id=customer + k % customers,
                total_claimed_amount=_text(_usd_cents(i)),
            )
        else:
            k = i % contracts
            rec.update(
                check_number=f"CHK-SYN-{i:08d}",
                invoice_number=f"INV-SYN-{i:08d}",
                amount=_text(_usd_cents(i)),
                contract_id=contract + k,
                project_id=project + k % projects,
                requisition_id=invoice + i,
            )
        yield rec


def _dynamics(entity_type: str, n: dict[str, int]) -> Iterator[dict[str, Any]]:
    tpl = dynamics_demo()[entity_type][0]
    projects, customers, contracts = n["project"], n["customer"], n["contract"]
    for i in range(n[entity_type]):
        rec = dict(tpl)
        rec["id"] = _guid(entity_type, i)
        if entity_type == "project":
            rec.update(number=f"SYN-P{i:07d}", displayName=f"Synthetic Project {i}")
        elif entity_type == "customer":
            rec.update(
                number=f"C{i:08d}",
                displayName=f"SYNTHETIC VENDOR {i}",
                taxRegistrationNumber=f"9{i:09d}",
                currencyCode="QAR",
            )
        elif entity_type == "contract":
            c = i % customers
            rec.update(
                number=f"SO-{i:07d}",
                externalDocumentNumber=f"c-syn-{i:07d}",
                customerId=_guid("customer", c),
                customerNumber=f"C{c:08d}",
                currencyCode="QAR",
                totalAmountIncludingTax=_qar(_usd_cents(i) * 10),
                shortcutDimension1Code=f"SYN-P{(i % projects):07d}",
            )
        elif entity_type == "invoice":
            k = i % contracts
            c = k % customers
            rec.update(
                number=f"PS-INV{i:08d}",
                externalDocumentNumber=f"inv syn {i:08d}",
                customerId=_guid("customer", c),
                customerNumber=f"C{c:08d}",
                orderId=_guid("contract", k),
                orderNumber=f"SO-{k:07d}",
                currencyCode="QAR",
                totalAmountIncludingTax=_qar(_usd_cents(i)),
                shortcutDimension1Code=f"SYN-P{(k % projects):07d}",
            )
        else:
            k = i % contracts
            c = k % customers
            rec.update(
                documentNumber=f"chk-syn-{i:08d}",
                externalDocumentNumber=f"INV-SYN-{i:08d}",
                customerId=_guid("customer", c),
                customerNumber=f"C{c:08d}",
                lineNumber=10000 + i,
                amount=_qar(_usd_cents(i)),
                appliesToInvoiceId=_guid("invoice", i),
                appliesToInvoiceNumber=f"PS-INV{i:08d}",
                currencyCode="QAR",
            )
        yield rec
