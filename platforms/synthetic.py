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


def sizes(payments: int) -> dict[str, int]:
    return {
        "project": max(1, payments // 20),
        "customer": max(1, payments // 25),
        "contract": max(1, payments // 8),
        "invoice": max(1, payments),
        "payment": max(1, payments),
    }


def _procore_id(entity_type: str, i: int) -> int:
    return {"project": 10, "customer": 20, "contract": 30, "invoice": 40, "payment": 50}[entity_type] * 10**8 + i


def _guid(entity_type: str, i: int) -> str:
    code = {"project": 1, "customer": 2, "contract": 3, "invoice": 4, "payment": 5}[entity_type]
    return f"{code:08x}-5e17-4000-8000-{i:012x}"


def _usd(i: int) -> Decimal:
    return Decimal(1000 + (i * 37) % 900000) + Decimal(i % 100) / 100


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
    for i in range(n[entity_type]):
        rec = dict(tpl)
        rec["id"] = _procore_id(entity_type, i)
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
            p, c = i % n["project"], i % n["customer"]
            rec.update(
                number=f"C-SYN-{i:07d}",
                title=f"Synthetic package {i}",
                grand_total=f"{_usd(i) * 10:.2f}",
                project={"id": _procore_id("project", p), "name": f"Synthetic Project {p}"},
                vendor={"id": _procore_id("customer", c), "company": f"Synthetic Vendor {c} LLC"},
            )
        elif entity_type == "invoice":
            k = i % n["contract"]
            rec.update(
                invoice_number=f"INV-SYN-{i:08d}",
                commitment_id=_procore_id("contract", k),
                project_id=_procore_id("project", k % n["project"]),
                vendor_id=_procore_id("customer", k % n["customer"]),
                total_claimed_amount=f"{_usd(i):.2f}",
            )
        else:
            k = i % n["contract"]
            rec.update(
                check_number=f"CHK-SYN-{i:08d}",
                invoice_number=f"INV-SYN-{i:08d}",
                amount=f"{_usd(i):.2f}",
                contract_id=_procore_id("contract", k),
                project_id=_procore_id("project", k % n["project"]),
                requisition_id=_procore_id("invoice", i),
            )
        yield rec


def _dynamics(entity_type: str, n: dict[str, int]) -> Iterator[dict[str, Any]]:
    tpl = dynamics_demo()[entity_type][0]
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
            c = i % n["customer"]
            rec.update(
                number=f"SO-{i:07d}",
                externalDocumentNumber=f"c-syn-{i:07d}",
                customerId=_guid("customer", c),
                customerNumber=f"C{c:08d}",
                currencyCode="QAR",
                totalAmountIncludingTax=(_usd(i) * 10 * QAR_PER_USD).quantize(CENT),
                shortcutDimension1Code=f"SYN-P{(i % n['project']):07d}",
            )
        elif entity_type == "invoice":
            k = i % n["contract"]
            c = k % n["customer"]
            rec.update(
                number=f"PS-INV{i:08d}",
                externalDocumentNumber=f"inv syn {i:08d}",
                customerId=_guid("customer", c),
                customerNumber=f"C{c:08d}",
                orderId=_guid("contract", k),
                orderNumber=f"SO-{k:07d}",
                currencyCode="QAR",
                totalAmountIncludingTax=(_usd(i) * QAR_PER_USD).quantize(CENT),
                shortcutDimension1Code=f"SYN-P{(k % n['project']):07d}",
            )
        else:
            k = i % n["contract"]
            c = k % n["customer"]
            rec.update(
                documentNumber=f"chk-syn-{i:08d}",
                externalDocumentNumber=f"INV-SYN-{i:08d}",
                customerId=_guid("customer", c),
                customerNumber=f"C{c:08d}",
                lineNumber=10000 + i,
                amount=(_usd(i) * QAR_PER_USD).quantize(CENT),
                appliesToInvoiceId=_guid("invoice", i),
                appliesToInvoiceNumber=f"PS-INV{i:08d}",
                currencyCode="QAR",
            )
        yield rec
