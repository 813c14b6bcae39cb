"""The Procore half of the synthetic data set (see ``platforms.synthetic``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from platforms.procore.demo_data import demo_records
from platforms.synthetic import cents_text, sizes, usd_cents

# Ids from precomputed bases (no arithmetic on strings in the hot loop).
PROCORE_BASE = {"project": 10, "customer": 20, "contract": 30, "invoice": 40, "payment": 50}


def synthetic_records(entity_type: str, payments: int) -> Iterator[dict[str, Any]]:
    yield from _procore(entity_type, sizes(payments))


def _procore(entity_type: str, n: dict[str, int]) -> Iterator[dict[str, Any]]:
    tpl = demo_records()[entity_type][0]
    own = PROCORE_BASE[entity_type] * 10**8
    project, customer, contract, invoice = (PROCORE_BASE[t] * 10**8 for t in ("project", "customer", "contract", "invoice"))
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
                grand_total=cents_text(usd_cents(i) * 10),
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
                total_claimed_amount=cents_text(usd_cents(i)),
            )
        else:
            k = i % contracts
            rec.update(
                check_number=f"CHK-SYN-{i:08d}",
                invoice_number=f"INV-SYN-{i:08d}",
                amount=cents_text(usd_cents(i)),
                contract_id=contract + k,
                project_id=project + k % projects,
                requisition_id=invoice + i,
            )
        yield rec


