"""Procore (REST v1.0) <-> canonical mapping tables.

Procore quirks handled here: integer ids; money as decimal strings of varying
precision (``"250.0"``, ``"1700000.00"``) except budget line items (JSON numbers);
timecard ``hours`` as a string; references nested as ``{id, name}`` on commitments
and timecard entries; commitment status vocabularies that differ between work order
and purchase order contracts, so a contract needs its commitment type (the record's
``type`` or the context's ``options["commitment_type"]``, see ``commitment_options``).
Amounts are in the record's ``currency_configuration.currency_iso_code``, USD when
absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from canonical.errors import TransformError
from canonical.money import Money
from platforms.mapping import (
    Amount,
    Choice,
    Codec,
    Constant,
    Date,
    DecimalValue,
    EntitySpec,
    MappingContext,
    NestedText,
    Reader,
    Ref,
    TableMapper,
    Text,
    Writer,
    slow_read,
    slow_write,
)

PLATFORM: Final = "procore"
DEFAULT_CURRENCY: Final = "USD"
COMMITMENT_TYPES: Final = ("WorkOrderContract", "PurchaseOrderContract")
# The MappingContext option naming the commitment type of contracts whose record has no ``type``.
COMMITMENT_TYPE_OPTION: Final = "commitment_type"


def commitment_options(commitment_type: str | None) -> dict[str, Any]:
    """``MappingContext`` options for Procore contracts of ``commitment_type`` (None: not known).

    TransformError at ``context.commitmentType`` for anything but one of ``COMMITMENT_TYPES``:
    the request names it in camelCase, and that is where the caller has to fix it.
    """
    if commitment_type is None:
        return {}
    if commitment_type not in COMMITMENT_TYPES:
        raise TransformError(
            f"commitment type must be one of {', '.join(COMMITMENT_TYPES)}, got {commitment_type!r}",
            "context.commitmentType",
        )
    return {COMMITMENT_TYPE_OPTION: commitment_type}


def require_commitment_type(record_type: Any, context: MappingContext, path: str) -> str:
    """The Procore commitment type of a contract: the record's ``type``, else the context's."""
    commitment_type = record_type or context.options.get(COMMITMENT_TYPE_OPTION)
    if commitment_type is None:
        raise TransformError(
            "a Procore contract needs its commitment type: pass context.commitmentType "
            f"({' or '.join(COMMITMENT_TYPES)}) or include `type` in the record",
            "context.commitmentType",
        )
    if commitment_type not in COMMITMENT_TYPES:
        raise TransformError(f"unknown commitment type {commitment_type!r}", path)
    return str(commitment_type)


def _record_currency(record: Mapping[str, Any], context: MappingContext) -> str:
    config = record.get("currency_configuration")
    # type() rather than isinstance(config, Mapping): the ABC check costs a microsecond
    # per record, and JSON only ever gives dicts.
    code = config.get("currency_iso_code") if type(config) is dict else None
    return code if type(code) is str and code else DEFAULT_CURRENCY


def _write_currency(money: Money, context: MappingContext, metadata: Mapping[str, Any]) -> str:
    # Procore books in the project's currency (USD here); metadata holds the record's own.
    return context.target_currency or _record_currency(metadata, context)


def _amount(field: str, key: str, *, as_text: bool = True) -> Amount:
    return Amount(field, key, as_text=as_text, currency_of=_record_currency, write_currency=_write_currency)


def _ref(field: str, key: str, entity_type: str, *, nested: bool = False) -> Ref:
    return Ref(field, key, entity_type, nested=nested, id_kind=int)


def _same(field: str, key: str, *values: str) -> Choice:
    """A vocabulary the canonical model shares with Procore, value for value."""
    table = {value: value for value in values}
    return Choice(field, key, table, table)


_ADDRESS: Final = (
    Text("address_line1", "address"),
    Text("city", "city"),
    Text("state", "state_code"),
    Text("country", "country_code"),
    Text("postal_code", "zip"),
)


_ACTIVE: Final = {True: "active", False: "inactive"}
_ACTIVE_OUT: Final = {"active": True, "inactive": False}


class CommitmentStatus(Codec):
    """Commitment ``status``: the vocabulary depends on the commitment type."""

    __slots__ = ("choices",)

    # Work order contracts (subcontracts) and purchase order contracts, per Procore's spec.
    TABLES: Final = {
        "WorkOrderContract": (
            {
                "Draft": "draft",
                "Out For Bid": "pending",
                "Out For Signature": "pending",
                "Approved": "approved",
                "Complete": "complete",
                "Terminated": "terminated",
                "Void": "void",
            },
            {
                "draft": "Draft",
                "pending": "Out For Signature",
                "approved": "Approved",
                "complete": "Complete",
                "terminated": "Terminated",
                "void": "Void",
            },
        ),
        "PurchaseOrderContract": (
            {
                "Draft": "draft",
                "Processing": "pending",
                "Submitted": "pending",
                "Approved": "approved",
                "Partially Received": "approved",
                "Received": "complete",
                "Closed": "complete",
            },
            # A purchase order cannot be terminated or voided in Procore: those raise.
            {"draft": "Draft", "pending": "Submitted", "approved": "Approved", "complete": "Closed"},
        ),
    }

    def __init__(self, field: str, key: str) -> None:
        super().__init__(field, key)
        self.choices = {kind: Choice(field, key, read, write) for kind, (read, write) in self.TABLES.items()}

    def read(self, record: Mapping[str, Any], reader: Reader, data: dict[str, Any]) -> None:
        kind = require_commitment_type(record.get("type"), reader.context, "data.type")
        self.choices[kind].read(record, reader, data)

    def write(self, writer: Writer, out: dict[str, Any]) -> None:
        kind = require_commitment_type(writer.metadata.get("type"), writer.context, "data.type")
        self.choices[kind].write(writer, out)

    # The context's commitment type, bound once per generated call (an options lookup per
    # record otherwise).
    def read_locals(self) -> Mapping[str, str]:
        return {"commitment_type": f"context.options.get({COMMITMENT_TYPE_OPTION!r})"}

    def write_locals(self) -> Mapping[str, str]:
        return self.read_locals()

    def read_fast(self, name: str) -> list[str] | None:
        # The choice for the record's type (else the context's); anything unusual, including
        # a missing type, goes to ``read`` for its error.
        return [
            f"v = get({self.key!r})",
            f"t = {name}.choices.get(get('type') or commitment_type)",
            "c = t.read_table.get(v) if t is not None and type(v) is str else None",
            "if c is not None and v not in t.lossy:",
            f"    data[{self.field!r}] = c",
            "else:",
            f"    {slow_read(name)}",
        ]

    def write_fast(self, name: str) -> list[str] | None:
        return [
            f"v = values[{self.field!r}]",
            "if v is not None:",
            f"    t = {name}.choices.get(metadata.get('type') or commitment_type)",
            "    n = t.write_table.get(v) if t is not None else None",
            "    if n is None:",
            f"        {slow_write(name)}",
            "    else:",
            f"        out[{self.key!r}] = n",
        ]

    def describe(self, field: str) -> str:
        return "; ".join(f"{kind}: {choice.describe(field)}" for kind, choice in self.choices.items())

    def vocabularies(self) -> Mapping[str, Choice]:
        return self.choices


SPECS: Final = (
    EntitySpec(
        "project",
        "projects",
        (
            Text("name", "name"),
            Text("number", "project_number"),
            Choice("status", "active", _ACTIVE, _ACTIVE_OUT),
            Text("description", "description"),
            Date("start_date", "start_date"),
            Date("completion_date", "completion_date"),
            *_ADDRESS,
        ),
        notes='`display_name` ("<number> - <name>") and `stage` stay in provider_metadata.',
    ),
    EntitySpec(
        "customer",
        "vendors",
        (
            Text("name", "name"),
            Text("legal_name", "legal_name"),
            Text("tax_id", "business_id"),
            Constant("currency", DEFAULT_CURRENCY),
            Choice("status", "is_active", _ACTIVE, _ACTIVE_OUT),
            Text("email", "email_address"),
            Text("phone", "business_phone"),
            Text("website", "website"),
            *_ADDRESS,
        ),
        notes="Procore vendors carry no currency: they are read as USD and the currency is not written.",
    ),
    EntitySpec(
        "contract",
        "work_order_contracts / purchase_order_contracts",
        (
            Text("title", "title"),
            Text("number", "number"),
            _amount("amount", "grand_total"),
            CommitmentStatus("status", "status"),
            Text("description", "description"),
            Date("contract_date", "contract_date"),
            Date("start_date", "contract_start_date"),
            Date("completion_date", "contract_estimated_completion_date"),
            _ref("project_id", "project", "project", nested=True),
            _ref("customer_id", "vendor", "customer", nested=True),
        ),
        notes="Needs the commitment type: the record's `type` or `context.commitmentType`.",
    ),
    EntitySpec(
        "invoice",
        "requisitions",
        (
            Text("number", "invoice_number"),
            _amount("amount", "total_claimed_amount"),
            Choice(
                "status",
                "status",
                {
                    "draft": "draft",
                    "under_review": "pending",
                    "pending_owner_approval": "pending",
                    "revise_and_resubmit": "rejected",
                    "approved": "approved",
                    "approved_as_noted": "approved",
                },
                # Procore records payment separately: a paid invoice is still "approved" there.
                {
                    "draft": "draft",
                    "pending": "under_review",
                    "rejected": "revise_and_resubmit",
                    "approved": "approved",
                    "paid": "approved",
                },
            ),
            Date("invoice_date", "billing_date"),
            Date("period_start", "requisition_start"),
            Date("period_end", "requisition_end"),
            _ref("contract_id", "commitment_id", "contract"),
            _ref("project_id", "project_id", "project"),
        ),
        notes="Procore's own sequence `number` (int) stays in provider_metadata; `invoice_number` is the key. "
        "A v1.0 requisition names no vendor (only `vendor_name`): its customer is its commitment's vendor, "
        "so `customer_id` is not read from or written to Procore. `total_claimed_amount` is computed by "
        "Procore from the line items: read, never written.",
    ),
    EntitySpec(
        "payment",
        "contract_payments",
        (
            _amount("amount", "amount"),
            Text("check_number", "check_number"),
            _same("status", "status", "pending", "processing", "paid", "failed", "void"),
            Text("notes", "notes"),
            Date("payment_date", "date"),
            # Write-only in Procore (not in its responses), and it has no ACH: ACH is written as electronic.
            Choice(
                "payment_method",
                "payment_method",
                {v: v for v in ("check", "credit_card", "electronic")},
                {"check": "check", "credit_card": "credit_card", "electronic": "electronic", "ach": "electronic"},
            ),
            Text("invoice_number", "invoice_number"),
            _ref("invoice_id", "requisition_id", "invoice"),
            _ref("contract_id", "contract_id", "contract"),
            _ref("project_id", "project_id", "project"),
        ),
        notes="`payment_number` and `draw_request_number` stay in provider_metadata. `status` is Procore's "
        "(not in the payment's write schema); `payment_method` is write-only (check, credit_card, "
        "electronic; ACH is written as electronic).",
    ),
    EntitySpec(
        "employee",
        "people",
        (
            Text("first_name", "first_name"),
            Text("last_name", "last_name"),
            Text("email", "email_address"),
            Text("job_title", "job_title"),
            Text("employee_number", "employee_id"),
            Choice("status", "is_active", _ACTIVE, {**_ACTIVE_OUT, "terminated": False}),
        ),
        notes="`is_employee` stays in provider_metadata; Procore has no hire or termination dates.",
    ),
    EntitySpec(
        "time_entry",
        "timecard_entries",
        (
            Date("date", "date"),
            DecimalValue("hours", "hours", as_text=True),
            _ref("employee_id", "party", "employee", nested=True),
            _ref("project_id", "project_id", "project"),
            Text("description", "description"),
            # Procore timecards are only pending or approved: a draft is pending, a
            # rejected entry has no equivalent and raises.
            Choice(
                "status",
                "approval_status",
                {"pending": "pending", "approved": "approved"},
                {"draft": "pending", "pending": "pending", "approved": "approved"},
            ),
        ),
    ),
    EntitySpec(
        "change_order",
        "change_order_packages",
        (
            Text("title", "title"),
            Text("number", "number"),
            _amount("amount", "grand_total"),
            Choice(
                "status",
                "status",
                {
                    "draft": "draft",
                    "not_pricing": "pending",
                    "pricing": "pending",
                    "pending": "pending",
                    "revised": "pending",
                    "proceeding": "approved",
                    "no_charge": "approved",
                    "approved": "approved",
                    "not_proceeding": "rejected",
                    "rejected": "rejected",
                    "void": "void",
                },
                {value: value for value in ("draft", "pending", "approved", "rejected", "void")},
            ),
            Text("description", "description"),
            Date("due_date", "due_date"),
            _ref("contract_id", "contract_id", "contract"),
            _ref("project_id", "project_id", "project"),
        ),
    ),
    EntitySpec(
        "budget_line_item",
        "budget_line_items",
        (
            NestedText("cost_code", "cost_code", "full_code"),
            Text("name", "description"),
            _amount("budgeted_amount", "original_budget_amount", as_text=False),
            _ref("project_id", "project_id", "project"),
        ),
        notes="`original_budget_amount` is a JSON number (not a string) on this resource.",
    ),
)

MAPPER: Final = TableMapper(PLATFORM, SPECS, id_kind=int)

