"""Dynamics 365 Business Central (API v2.0) <-> canonical mapping tables.

BC quirks handled here: GUID ids; money as JSON numbers (read exactly from int,
Decimal or float-from-JSON, written as ``Decimal``); blank dates ``"0001-01-01"``;
the empty GUID for "no reference"; ``@odata.etag`` and every other unmapped field
kept in provider metadata. Documents carry ``currencyCode``; customer payments
(journal lines) carry none: their amount is in their customer's currency, which the live
client and the sandbox data note on each payment as the instance annotation
``@structural.currencyCode`` (``CURRENCY_ANNOTATION``; never sent to BC), else
``context.currency``. Enum values are read and written by their OData member names
(``_x0020_``, ``In_x0020_Review``), as BC puts them on the wire.

Business keys (shared with the demo data): project ``number`` = Procore
``project_number``; customer ``taxRegistrationNumber`` = Procore ``business_id``;
sales order ``externalDocumentNumber`` = contract number (BC's own ``number``, e.g.
``SO-1001``, is a number series); sales invoice ``externalDocumentNumber`` = invoice
number; payment ``documentNumber`` = check number and ``externalDocumentNumber`` =
the invoice number. Documents reference their project through
``shortcutDimension1Code`` (the JOB dimension), i.e. by project number.

Limitations of the standard API (also in docs/canonical-model.md): ``projects`` has
only ``number`` and ``displayName`` (no status, dates or address); sales orders have
no title or description header field; a payment journal line has no status (read as
``pending``); there is no change order or job planning line entity, so those two
map to a partner custom API (``changeOrders``, ``jobPlanningLines``) whose shape is
defined here in BC naming style.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from canonical.errors import TransformError
from canonical.money import Money
from platforms.mapping import (
    Amount,
    Choice,
    Constant,
    CurrencyCode,
    Date,
    DecimalValue,
    EntitySpec,
    MappingContext,
    NumberRef,
    Ref,
    TableMapper,
    Text,
)

PLATFORM: Final = "dynamics"
#: Where a payment read from BC keeps its customer's currency (OData instance-annotation syntax,
#: our namespace): BC's journal lines have no currency property. Never written to BC.
CURRENCY_ANNOTATION: Final = "@structural.currencyCode"
BLANK_DATE: Final = "0001-01-01"
EMPTY_GUID: Final = "00000000-0000-0000-0000-000000000000"


def _local_currency(record: Mapping[str, Any], context: MappingContext) -> str | None:
    return context.currency


def _payment_line_currency(record: Mapping[str, Any], context: MappingContext) -> str | None:
    # BC books a journal line in its customer's currency and states none on the line: the
    # annotation the client (or the sandbox data) put there names it, else the context does.
    code = record.get(CURRENCY_ANNOTATION)
    return code if isinstance(code, str) and code else context.currency


def payment_currency(
    payment: Mapping[str, Any], customers: Mapping[str, str], invoices: Mapping[str, str]
) -> str | None:
    """A payment's currency: its customer's (by ``customerId``), else its applied invoice's."""
    return customers.get(str(payment.get("customerId"))) or invoices.get(str(payment.get("appliesToInvoiceId")))


def with_currency(payment: dict[str, Any], code: str | None) -> dict[str, Any]:
    """``payment`` annotated with its currency (unchanged when it is not known)."""
    if code:
        payment[CURRENCY_ANNOTATION] = code
    return payment


def _document_currency(money: Money, context: MappingContext, metadata: Mapping[str, Any]) -> str:
    # BC documents can be in a foreign currency, but the customer's local currency is
    # what BC users book in; a record read from BC keeps its own through the raw text.
    return context.target_currency or context.currency or money.currency


def _payment_currency(money: Money, context: MappingContext, metadata: Mapping[str, Any]) -> str:
    # A line read from BC goes back in its customer's currency (see _payment_line_currency).
    code = context.target_currency or metadata.get(CURRENCY_ANNOTATION) or context.currency
    if not code:
        raise TransformError(
            "BC customer payments are booked in the customer's local currency and carry no currency code: "
            "pass context.currency",
            "context.currency",
        )
    return str(code)


def _document_amount(field: str, key: str) -> Amount:
    return Amount(
        field,
        key,
        as_text=False,
        currency_key="currencyCode",
        currency_of=_local_currency,
        write_currency=_document_currency,
        missing_currency="the document's currencyCode is blank (local currency): pass context.currency",
    )


def _text(field: str, key: str) -> Text:
    return Text(field, key, blank="")


def _date(field: str, key: str) -> Date:
    return Date(field, key, blank=BLANK_DATE)


def _ref(field: str, key: str, entity_type: str) -> Ref:
    return Ref(field, key, entity_type, blank=EMPTY_GUID)


def _project_by_number(key: str) -> NumberRef:
    return NumberRef("project_id", "project_number", key, "project")


def _same_titled(*values: str) -> tuple[dict[str, str], dict[str, str]]:
    """Tables for a vocabulary BC spells in title case (``Approved`` <-> ``approved``)."""
    read = {value.title(): value for value in values}
    return read, {canonical: native for native, canonical in read.items()}


SPECS: Final = (
    EntitySpec(
        "project",
        "projects",
        (_text("number", "number"), _text("name", "displayName")),
        notes="BC jobs expose only `number` and `displayName`: status, description, dates and address "
        "are not readable or writable through the standard API.",
    ),
    EntitySpec(
        "customer",
        "customers",
        (
            _text("name", "displayName"),
            _text("tax_id", "taxRegistrationNumber"),
            CurrencyCode("currency", "currencyCode"),
            _text("email", "email"),
            _text("phone", "phoneNumber"),
            _text("website", "website"),
            _text("address_line1", "addressLine1"),
            _text("city", "city"),
            _text("state", "state"),
            _text("country", "country"),
            _text("postal_code", "postalCode"),
        ),
        notes="A blank `currencyCode` is the company's local currency (`context.currency`). BC's customer "
        "`number` and `blocked` stay in provider_metadata; there is no legal name or active flag.",
    ),
    EntitySpec(
        "contract",
        "salesOrders",
        (
            _text("number", "externalDocumentNumber"),
            _document_amount("amount", "totalAmountIncludingTax"),
            Choice(
                "status",
                "status",
                # The API's status (salesOrderEntityBufferStatus) folds BC's order statuses: Open
                # (not released) reads Draft, Pending Approval In_x0020_Review, Released Open.
                {"Draft": "draft", "In_x0020_Review": "pending", "Open": "approved"},
                # BC deletes fully invoiced orders, so "complete" is written as the last live
                # status; terminated and void have no sales-order status and raise. BC computes
                # the status (Editable = false): only /transform output carries these.
                {"draft": "Draft", "pending": "In_x0020_Review", "approved": "Open", "complete": "Open"},
            ),
            _date("contract_date", "orderDate"),
            _project_by_number("shortcutDimension1Code"),
            _ref("customer_id", "customerId", "customer"),
        ),
        notes="BC's order `number` (SO-…) is its own series and stays in provider_metadata; the contract "
        "number is `externalDocumentNumber`. Sales orders have no title, description, start or completion "
        "date: those canonical fields are not written to BC (and read as null).",
    ),
    EntitySpec(
        "invoice",
        "salesInvoices",
        (
            _text("number", "externalDocumentNumber"),
            _document_amount("amount", "totalAmountIncludingTax"),
            Choice(
                "status",
                "status",
                {
                    "_x0020_": "draft",
                    "Draft": "draft",
                    "In_x0020_Review": "pending",
                    "Open": "approved",
                    "Paid": "paid",
                    "Canceled": "void",
                    "Corrective": "void",
                },
                # A rejected invoice goes back to the drafter: Draft is the nearest BC status.
                {
                    "draft": "Draft",
                    "pending": "In_x0020_Review",
                    "rejected": "Draft",
                    "approved": "Open",
                    "paid": "Paid",
                    "void": "Canceled",
                },
            ),
            _date("invoice_date", "invoiceDate"),
            _date("due_date", "dueDate"),
            _ref("contract_id", "orderId", "contract"),
            _project_by_number("shortcutDimension1Code"),
            _ref("customer_id", "customerId", "customer"),
        ),
        notes="BC's invoice `number` (PS-INV…) is read-only and changes on posting: it stays in "
        "provider_metadata and the invoice number is `externalDocumentNumber`. No billing period fields.",
    ),
    EntitySpec(
        "payment",
        "customerPayments",
        (
            Amount(
                "amount",
                "amount",
                as_text=False,
                currency_of=_payment_line_currency,
                write_currency=_payment_currency,
                missing_currency="BC customer payments carry no currency code: pass context.currency",
            ),
            _text("check_number", "documentNumber"),
            Constant("status", "pending"),
            _text("notes", "description"),
            _date("payment_date", "postingDate"),
            _text("invoice_number", "externalDocumentNumber"),
            _ref("invoice_id", "appliesToInvoiceId", "invoice"),
            _ref("customer_id", "customerId", "customer"),
        ),
        notes="A customer payment is an unposted journal line: it has no status (read as `pending`, never "
        "written), no currency (its amount is in its customer's currency: the client notes it as "
        "`@structural.currencyCode`, else `context.currency`), no contract or "
        "project link and no payment method. `journalId`, `lineNumber`, `appliesToInvoiceNumber` (BC's "
        "own invoice number) and `comment` stay in provider_metadata.",
    ),
    EntitySpec(
        "employee",
        "employees",
        (
            _text("first_name", "givenName"),
            _text("last_name", "surname"),
            _text("email", "email"),
            _text("job_title", "jobTitle"),
            _text("employee_number", "number"),
            Choice("status", "status", *_same_titled("active", "inactive", "terminated")),
            _date("hire_date", "employmentDate"),
            _date("termination_date", "terminationDate"),
        ),
        notes="`displayName`, `middleName` and contact fields stay in provider_metadata.",
    ),
    EntitySpec(
        "time_entry",
        "timeRegistrationEntries",
        (
            _date("date", "date"),
            DecimalValue("hours", "quantity", as_text=False),
            _ref("employee_id", "employeeId", "employee"),
            _ref("project_id", "jobId", "project"),
            Choice(
                "status",
                "status",
                {"Open": "draft", "Submitted": "pending", "Approved": "approved", "Rejected": "rejected"},
                {"draft": "Open", "pending": "Submitted", "approved": "Approved", "rejected": "Rejected"},
            ),
        ),
        notes="No description field. `employeeNumber`, `jobNumber`, `unitOfMeasureCode` and "
        "`lastModfiedDateTime` (sic, the real field name) stay in provider_metadata.",
    ),
    EntitySpec(
        "change_order",
        "changeOrders (partner custom API)",
        (
            _text("number", "number"),
            _text("title", "description"),
            _document_amount("amount", "amount"),
            Choice("status", "status", *_same_titled("draft", "pending", "approved", "rejected", "void")),
            _ref("contract_id", "salesOrderId", "contract"),
        ),
        notes="Not in the standard BC API. Shape of the partner custom API assumed here: `id`, `number`, "
        "`description` (the title), `status` (Draft|Pending|Approved|Rejected|Void), `amount`, "
        "`currencyCode`, `salesOrderId`. No long description, due date or project link.",
    ),
    EntitySpec(
        "budget_line_item",
        "jobPlanningLines (partner custom API)",
        (
            _text("cost_code", "jobTaskNumber"),
            _text("name", "description"),
            _document_amount("budgeted_amount", "totalCost"),
            _project_by_number("jobNumber"),
        ),
        notes="Not in the standard BC API. Shape of the partner custom API assumed here (BC's Job Planning "
        "Line): `id`, `jobNumber` (the project number), `jobTaskNumber` (the cost code), `number` (the "
        "resource/item/account no., kept in provider_metadata), `description`, `totalCost`, `currencyCode`.",
    ),
)

MAPPER: Final = TableMapper(PLATFORM, SPECS)
