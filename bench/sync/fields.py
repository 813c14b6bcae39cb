"""What the soak edits, creates and compares, per entity type, written out by hand from
``docs/canonical-model.md`` (not taken from the product's mapping tables: the bench judges them).

A ``SyncedField`` is a canonical field with a writable home on both platforms; the soak edits only
these, and the final comparison reads them on all three sides. Values are normalised before they
are compared: blank text and BC's blank date are ``None``; money is compared in US dollars at the
pegged rates, within a cent (canonical money keeps the currency it came in; each platform books in
its own).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

Kind = Literal["text", "date", "money"]
ENTITY_TYPES = ("project", "customer", "contract", "invoice", "payment")
OTHER = {"procore": "dynamics", "dynamics": "procore"}

# canonical/money: 1 USD = 3.64 QAR = 3.6725 AED = 3.75 SAR (all with two decimals).
USD_RATE = {"USD": Decimal(1), "QAR": Decimal("3.64"), "AED": Decimal("3.6725"), "SAR": Decimal("3.75")}
#: Money on two sides agrees when it is within this many dollars (one rounding in each currency).
MONEY_TOLERANCE = Decimal("0.011")
BC_LOCAL_CURRENCY = "QAR"


@dataclass(frozen=True)
class SyncedField:
    entity_type: str
    canonical: str
    procore: str
    dynamics: str
    kind: Kind
    #: text edits: the new value of edit number ``seq`` (unique, so an edit always changes something)
    text: Callable[[int], str] | None = None

    def native(self, platform: str) -> str:
        return self.procore if platform == "procore" else self.dynamics


SYNCED_FIELDS: dict[str, tuple[SyncedField, ...]] = {
    "project": (SyncedField("project", "name", "name", "displayName", "text", lambda n: f"Soak Project {n}"),),
    "customer": (
        SyncedField("customer", "name", "name", "displayName", "text", lambda n: f"Soak Vendor {n} WLL"),
        SyncedField("customer", "email", "email_address", "email", "text", lambda n: f"ap{n}@soak.example.qa"),
        SyncedField("customer", "phone", "business_phone", "phoneNumber", "text", lambda n: f"+974 5{n:07d}"),
        SyncedField("customer", "website", "website", "website", "text", lambda n: f"https://soak{n}.example.qa"),
        SyncedField("customer", "address_line1", "address", "addressLine1", "text", lambda n: f"{n} Soak Street"),
        SyncedField("customer", "city", "city", "city", "text", lambda n: f"Soak City {n}"),
        SyncedField("customer", "postal_code", "zip", "postalCode", "text", lambda n: f"Q{n:06d}"),
    ),
    "contract": (SyncedField("contract", "contract_date", "contract_date", "orderDate", "date"),),
    "invoice": (SyncedField("invoice", "invoice_date", "billing_date", "invoiceDate", "date"),),
    "payment": (
        SyncedField("payment", "notes", "notes", "description", "text", lambda n: f"soak note {n}"),
        SyncedField("payment", "payment_date", "date", "postingDate", "date"),
        SyncedField("payment", "amount", "amount", "amount", "money"),
    ),
}

#: How often each entity type is edited (payments and invoices move most in a finance system).
EDIT_WEIGHTS = {"payment": 0.30, "invoice": 0.20, "customer": 0.20, "contract": 0.15, "project": 0.15}


def new_value(f: SyncedField, platform: str, seq: int) -> Any:
    """The value edit number ``seq`` types into ``platform`` (never one the field held before)."""
    if f.kind == "text":
        assert f.text is not None
        return f.text(seq)
    if f.kind == "date":
        return (date(2030, 1, 1) + timedelta(days=seq)).isoformat()
    dollars = 1000 + seq
    if platform == "procore":
        return f"{dollars}.{seq % 100:02d}"  # Procore money is a decimal string, in USD
    return float(f"{dollars * 3}.{seq % 100:02d}")  # BC: a JSON number, in the customer's currency (QAR)


# --- normalising and comparing -------------------------------------------------------------------


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def to_usd(amount: Decimal | None, currency: str | None) -> Decimal | None:
    if amount is None:
        return None
    return amount / USD_RATE.get((currency or BC_LOCAL_CURRENCY).upper(), Decimal(1))


def native_value(f: SyncedField, platform: str, record: Mapping[str, Any], currency: str | None = None) -> Any:
    """A platform record's value of ``f``, normalised (``currency``: a BC payment's customer's)."""
    value = record.get(f.native(platform))
    if f.kind == "money":
        return to_usd(_decimal(value), "USD" if platform == "procore" else currency)
    return normalised(f, value)


def canonical_value(f: SyncedField, data: Mapping[str, Any]) -> Any:
    value = data.get(f.canonical)
    if f.kind == "money":
        if not isinstance(value, Mapping):
            return None
        minor = _decimal(value.get("amount"))
        return to_usd(None if minor is None else minor / 100, str(value.get("currency") or "USD"))
    return normalised(f, value)


def normalised(f: SyncedField, value: Any) -> Any:
    if value is None or value == "":
        return None
    if f.kind == "date":
        text = str(value)[:10]
        return None if text == "0001-01-01" else text
    return str(value)


def same(f: SyncedField, a: Any, b: Any) -> bool:
    if f.kind == "money" and isinstance(a, Decimal) and isinstance(b, Decimal):
        return abs(a - b) <= MONEY_TOLERANCE
    return bool(a == b)


# --- creates -----------------------------------------------------------------------------------

_NOT_KEY = re.compile(r"[^0-9A-Z]")


def key(value: Any) -> str:
    """A business key as reconciliation compares it: upper case, letters and digits only."""
    return _NOT_KEY.sub("", str(value or "").upper())


@dataclass(frozen=True)
class World:
    """The records both platforms held after the connect (what new records may reference)."""

    procore: Mapping[str, list[dict[str, Any]]]
    dynamics: Mapping[str, list[dict[str, Any]]]
    journals: list[dict[str, Any]]


@dataclass(frozen=True)
class CreateKind:
    """A record a person enters on ``source``: what the control create takes, and the business key
    the soak finds its counterpart by on the other platform."""

    entity_type: str
    source: str
    source_key: str  # field of the source record holding the key
    target_key: str  # field of the counterpart holding it
    build: Callable[[int, World, random.Random], dict[str, Any]]
    #: Policy: the engine gives this record a counterpart on the other platform (orphans count).
    counterpart_expected: bool = True

    @property
    def name(self) -> str:
        return f"{self.entity_type} {self.source}->{OTHER[self.source]}"


def _procore_project(n: int, world: World, rng: random.Random) -> dict[str, Any]:
    return {"name": f"Soak New Project {n}", "project_number": f"SOAK-P{n:05d}", "active": True}


def _procore_customer(n: int, world: World, rng: random.Random) -> dict[str, Any]:
    return {
        "name": f"Soak New Vendor {n} WLL",
        "business_id": f"71{n:08d}",
        "city": "Doha",
        "email_address": f"new{n}@soak.example.qa",
        "business_phone": f"+974 6{n:07d}",
        "is_active": True,
    }


def _procore_contract(n: int, world: World, rng: random.Random) -> dict[str, Any]:
    project = rng.choice(world.procore["project"])
    vendor = rng.choice(world.procore["customer"])
    return {
        "type": "WorkOrderContract",
        "project_id": project["id"],
        "number": f"C-SOAK-{n:05d}",
        "title": f"Soak package {n}",
        "vendor": {"id": vendor["id"], "company": vendor["name"]},
        "vendor_id": vendor["id"],
        "contract_date": (date(2031, 1, 1) + timedelta(days=n)).isoformat(),
        "status": "Draft",
        "currency_configuration": {"currency_iso_code": "USD"},
    }


def _procore_invoice(n: int, world: World, rng: random.Random) -> dict[str, Any]:
    contract = rng.choice(world.procore["contract"])
    return {
        "project_id": contract["project"]["id"],
        "commitment_id": contract["id"],
        "invoice_number": f"INV-SOAK-{n:05d}",
        "billing_date": (date(2031, 1, 1) + timedelta(days=n)).isoformat(),
        "requisition_start": "2031-01-01",
        "requisition_end": "2031-01-31",
        "total_claimed_amount": "0.0",
        "status": "draft",
        "currency_configuration": {"currency_iso_code": "USD"},
    }


def _procore_payment(n: int, world: World, rng: random.Random) -> dict[str, Any]:
    invoice = rng.choice(world.procore["invoice"])
    return {
        "project_id": invoice["project_id"],
        "contract_id": invoice["commitment_id"],
        "requisition_id": invoice["id"],
        "invoice_number": invoice["invoice_number"],
        "amount": f"{500 + n}.25",
        "date": (date(2031, 1, 1) + timedelta(days=n)).isoformat(),
        "check_number": f"CHK-SOAK-{n:05d}",
        "notes": f"soak payment {n}",
        "status": "pending",
    }


def _bc_customer(n: int, world: World, rng: random.Random) -> dict[str, Any]:
    return {
        "displayName": f"Soak BC Customer {n} WLL",
        "city": "Lusail",
        "email": f"bc{n}@soak.example.qa",
        "phoneNumber": f"+974 7{n:07d}",
        "taxRegistrationNumber": f"72{n:08d}",
        "currencyCode": BC_LOCAL_CURRENCY,
    }


def _bc_contract(n: int, world: World, rng: random.Random) -> dict[str, Any]:
    customer = rng.choice(world.dynamics["customer"])
    project = rng.choice(world.dynamics["project"])
    return {
        "customerId": customer["id"],
        "customerNumber": customer["number"],
        "externalDocumentNumber": f"C-SOAKB-{n:05d}",
        "orderDate": (date(2032, 1, 1) + timedelta(days=n)).isoformat(),
        "shortcutDimension1Code": project["number"],
        "currencyCode": BC_LOCAL_CURRENCY,
        "status": "Draft",
    }


def _bc_invoice(n: int, world: World, rng: random.Random) -> dict[str, Any]:
    order = rng.choice(world.dynamics["contract"])
    return {
        "customerId": order["customerId"],
        "customerNumber": order["customerNumber"],
        "externalDocumentNumber": f"INV-SOAKB-{n:05d}",
        "invoiceDate": (date(2032, 1, 1) + timedelta(days=n)).isoformat(),
        "orderId": order["id"],
        "orderNumber": order["number"],
        "shortcutDimension1Code": order["shortcutDimension1Code"],
        "currencyCode": BC_LOCAL_CURRENCY,
        "status": "Draft",
    }


def _bc_payment(n: int, world: World, rng: random.Random) -> dict[str, Any]:
    invoice = rng.choice(world.dynamics["invoice"])
    return {
        "journalId": world.journals[0]["id"],
        "customerId": invoice["customerId"],
        "customerNumber": invoice["customerNumber"],
        "documentNumber": f"CHK-SOAKB-{n:05d}",
        "externalDocumentNumber": invoice["externalDocumentNumber"],
        "appliesToInvoiceId": invoice["id"],
        "appliesToInvoiceNumber": invoice["number"],
        "amount": float(f"{1500 + n}.50"),
        "postingDate": (date(2032, 1, 1) + timedelta(days=n)).isoformat(),
        "description": f"soak bc payment {n}",
    }


CREATE_KINDS: tuple[CreateKind, ...] = (
    # Business Central projects get no Procore counterpart by policy (the engine never creates Procore
    # projects: they are set up in Procore); Procore projects are created in BC, found by name there
    # (BC numbers its projects itself).
    CreateKind("project", "procore", "name", "displayName", _procore_project),
    CreateKind("customer", "procore", "name", "displayName", _procore_customer),
    CreateKind("customer", "dynamics", "displayName", "name", _bc_customer),
    CreateKind("contract", "procore", "number", "externalDocumentNumber", _procore_contract),
    CreateKind("contract", "dynamics", "externalDocumentNumber", "number", _bc_contract),
    CreateKind("invoice", "procore", "invoice_number", "externalDocumentNumber", _procore_invoice),
    CreateKind("invoice", "dynamics", "externalDocumentNumber", "invoice_number", _bc_invoice),
    CreateKind("payment", "procore", "check_number", "documentNumber", _procore_payment),
    CreateKind("payment", "dynamics", "documentNumber", "check_number", _bc_payment),
)


def counterpart_expected(entity_type: str, platform: str) -> bool:
    """Whether a record of this type on ``platform`` must have a counterpart on the other one."""
    return not (entity_type == "project" and platform == "dynamics")
