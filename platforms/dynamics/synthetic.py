"""The Business Central half of the synthetic data set (see ``platforms.synthetic``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from platforms.dynamics.demo_data import demo_records
from platforms.dynamics.mapping import CURRENCY_ANNOTATION
from platforms.synthetic import qar, sizes, usd_cents

_GUID_CODE = {"project": 1, "customer": 2, "contract": 3, "invoice": 4, "payment": 5}
_GUID_PREFIX = {entity_type: f"{code:08x}-5e17-4000-8000-" for entity_type, code in _GUID_CODE.items()}


def guid(entity_type: str, i: int) -> str:
    return f"{_GUID_PREFIX[entity_type]}{i:012x}"


def synthetic_records(entity_type: str, payments: int) -> Iterator[dict[str, Any]]:
    yield from _dynamics(entity_type, sizes(payments))


def _dynamics(entity_type: str, n: dict[str, int]) -> Iterator[dict[str, Any]]:
    tpl = demo_records()[entity_type][0]
    projects, customers, contracts = n["project"], n["customer"], n["contract"]
    for i in range(n[entity_type]):
        rec = dict(tpl)
        rec["id"] = guid(entity_type, i)
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
                customerId=guid("customer", c),
                customerNumber=f"C{c:08d}",
                currencyCode="QAR",
                totalAmountIncludingTax=qar(usd_cents(i) * 10),
                shortcutDimension1Code=f"SYN-P{(i % projects):07d}",
            )
        elif entity_type == "invoice":
            k = i % contracts
            c = k % customers
            rec.update(
                number=f"PS-INV{i:08d}",
                externalDocumentNumber=f"inv syn {i:08d}",
                customerId=guid("customer", c),
                customerNumber=f"C{c:08d}",
                orderId=guid("contract", k),
                orderNumber=f"SO-{k:07d}",
                currencyCode="QAR",
                totalAmountIncludingTax=qar(usd_cents(i)),
                shortcutDimension1Code=f"SYN-P{(k % projects):07d}",
            )
        else:
            k = i % contracts
            c = k % customers
            rec.update(
                documentNumber=f"chk-syn-{i:08d}",
                externalDocumentNumber=f"INV-SYN-{i:08d}",
                customerId=guid("customer", c),
                customerNumber=f"C{c:08d}",
                lineNumber=10000 + i,
                amount=qar(usd_cents(i)),
                appliesToInvoiceId=guid("invoice", i),
                appliesToInvoiceNumber=f"PS-INV{i:08d}",
            )
            # Its customer's currency, as the live client notes it (journal lines state none).
            rec[CURRENCY_ANNOTATION] = "QAR"
        yield rec
