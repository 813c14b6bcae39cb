"""Canonical models: one platform-neutral shape per entity type.

Every model has ``id`` (prefixed canonical id, see ``canonical.ids``), ``object`` (the
entity type), the business fields, ``external_ids`` (platform -> native id, as text)
and ``provider_metadata`` (platform -> native fields with no canonical home, kept so
a record written back to its own platform comes out as it went in).

Conventions: money is ``Money`` (integer minor units + ISO 4217 code); hours are
``Decimal`` (serialised as a string, so no binary rounding); dates are
``datetime.date``; references to other records are canonical ids (``*_id`` fields);
statuses are closed vocabularies (``Literal``), mapped to and from each platform by
explicit tables in the mappers; ``None`` means "not known / not carried by the
source platform".

Two ways in: ``Model.model_validate(data)`` for untrusted input (API callers, stored
JSON), and ``Model.trusted(data)`` for the mappers, which build every field from
checked native input and cannot afford pydantic validation on the hot path.
"""

from __future__ import annotations

import datetime as dt
import types
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal, Self, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_serializer

from canonical.construct import adopt
from canonical.ids import ENTITY_TYPES, id_pattern
from canonical.money import Money

CANONICAL_VERSION: Final = "1.0"

# --- status vocabularies -----------------------------------------------------------

ProjectStatus = Literal["active", "inactive"]
CustomerStatus = Literal["active", "inactive"]
ContractStatus = Literal["draft", "pending", "approved", "complete", "terminated", "void"]
InvoiceStatus = Literal["draft", "pending", "rejected", "approved", "paid", "void"]
PaymentStatus = Literal["pending", "processing", "paid", "failed", "void"]
PaymentMethod = Literal["check", "credit_card", "electronic", "ach"]
EmployeeStatus = Literal["active", "inactive", "terminated"]
TimeEntryStatus = Literal["draft", "pending", "approved", "rejected"]
ChangeOrderStatus = Literal["draft", "pending", "approved", "rejected", "void"]

# --- field types ---------------------------------------------------------------------


ProjectRef = Annotated[str, StringConstraints(pattern=id_pattern("project"))]
CustomerRef = Annotated[str, StringConstraints(pattern=id_pattern("customer"))]
ContractRef = Annotated[str, StringConstraints(pattern=id_pattern("contract"))]
InvoiceRef = Annotated[str, StringConstraints(pattern=id_pattern("invoice"))]
EmployeeRef = Annotated[str, StringConstraints(pattern=id_pattern("employee"))]
Hours = Annotated[Decimal, Field(allow_inf_nan=False)]
ExternalIds = dict[str, str]
ProviderMetadata = dict[str, dict[str, Any]]


def _describe(description: str) -> Any:
    return Field(default=None, description=description)


_EXTERNAL_IDS_DOC: Final = "Native id of the record on each platform it is linked to, as text."
_PROVIDER_METADATA_DOC: Final = (
    "Per platform, the native fields with no canonical home (and, under `$raw`, the original text "
    "of mapped fields), so a write back to that platform is lossless."
)


def json_number(value: Decimal) -> int | float:
    """How a native Decimal in provider metadata is written: an integer if it has no fraction
    digits, else a float (see ``CanonicalModel._serialise_provider_metadata``)."""
    return int(value) if value == value.to_integral_value() and value.as_tuple().exponent == 0 else float(value)


def _json_numbers(value: Any) -> Any:
    # Native payloads parsed with Decimal would otherwise serialise as JSON strings and
    # come back from storage as text where the platform had a number.
    if isinstance(value, Decimal):
        return json_number(value)
    if isinstance(value, dict):
        return {key: _json_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_numbers(item) for item in value]
    return value


class CanonicalModel(BaseModel):
    """Base of the nine canonical entity models."""

    # Frozen: a canonical record is a snapshot; derive changed versions with
    # ``model_copy(update=...)``. It also lets ``trusted`` share one fields-set per class.
    model_config = ConfigDict(extra="forbid", frozen=True)

    entity_type: ClassVar[str]
    id: str
    object: str

    if TYPE_CHECKING:
        # Declared last by each entity (pydantic keeps inherited fields first, and these
        # read best at the end of a JSON document); announced here for type checkers.
        external_ids: ExternalIds
        provider_metadata: ProviderMetadata

    _fields_set: ClassVar[set[str]]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.entity_type = cls.model_fields["object"].default
        cls._fields_set = set(cls.model_fields)

    @classmethod
    def trusted(cls, data: dict[str, Any]) -> Self:
        """Adopt ``data`` (every field present, values already of the right types) without validation.

        For the mappers, which build complete, typed dicts from checked native input;
        see ``canonical.construct``.
        """
        return adopt(cls, data, cls._fields_set)

    @field_serializer("provider_metadata", mode="plain", when_used="json", check_fields=False)
    def _serialise_provider_metadata(self, value: ProviderMetadata) -> Any:
        return _json_numbers(value)


class Project(CanonicalModel):
    """A construction project (Procore project, BC job)."""

    id: Annotated[str, StringConstraints(pattern=id_pattern("project"))]
    object: Literal["project"] = "project"
    name: str | None = _describe("Project name.")
    number: str | None = _describe("Project number, the business key shared by both platforms.")
    status: ProjectStatus | None = _describe("Whether the project is active.")
    description: str | None = _describe("Free-text description.")
    start_date: dt.date | None = _describe("Planned start date.")
    completion_date: dt.date | None = _describe("Planned completion date.")
    address_line1: str | None = _describe("Street address.")
    city: str | None = _describe("City.")
    state: str | None = _describe("State or region code.")
    country: str | None = _describe("ISO 3166 country code.")
    postal_code: str | None = _describe("Postal code.")
    external_ids: ExternalIds = Field(default_factory=dict, description=_EXTERNAL_IDS_DOC)
    provider_metadata: ProviderMetadata = Field(default_factory=dict, description=_PROVIDER_METADATA_DOC)


class Customer(CanonicalModel):
    """The counterparty of contracts and invoices (Procore vendor, BC customer)."""

    id: Annotated[str, StringConstraints(pattern=id_pattern("customer"))]
    object: Literal["customer"] = "customer"
    name: str | None = _describe("Display name.")
    legal_name: str | None = _describe("Registered legal name.")
    tax_id: str | None = _describe("Tax registration number (EIN, TRN...), the preferred matching key.")
    currency: str | None = _describe("ISO 4217 code of the currency the customer is billed in.")
    status: CustomerStatus | None = _describe("Whether the customer is active.")
    email: str | None = _describe("Contact e-mail address.")
    phone: str | None = _describe("Business phone number.")
    website: str | None = _describe("Website URL.")
    address_line1: str | None = _describe("Street address.")
    city: str | None = _describe("City.")
    state: str | None = _describe("State or region code.")
    country: str | None = _describe("ISO 3166 country code.")
    postal_code: str | None = _describe("Postal code.")
    external_ids: ExternalIds = Field(default_factory=dict, description=_EXTERNAL_IDS_DOC)
    provider_metadata: ProviderMetadata = Field(default_factory=dict, description=_PROVIDER_METADATA_DOC)


class Contract(CanonicalModel):
    """A contract (Procore work order / purchase order commitment, BC sales order)."""

    id: Annotated[str, StringConstraints(pattern=id_pattern("contract"))]
    object: Literal["contract"] = "contract"
    title: str | None = _describe("Contract title.")
    number: str | None = _describe("Contract number (e.g. C-LEX-001), the matching key.")
    amount: Money | None = _describe("Contract value (grand total).")
    status: ContractStatus | None = _describe("Lifecycle status.")
    description: str | None = _describe("Scope description.")
    contract_date: dt.date | None = _describe("Date the contract was signed or ordered.")
    start_date: dt.date | None = _describe("Contractual start date.")
    completion_date: dt.date | None = _describe("Estimated completion date.")
    project_id: ProjectRef | None = _describe("The project the contract belongs to.")
    project_number: str | None = _describe(
        "Number of that project as carried on the document (BC links documents to jobs by number)."
    )
    customer_id: CustomerRef | None = _describe("The counterparty.")
    external_ids: ExternalIds = Field(default_factory=dict, description=_EXTERNAL_IDS_DOC)
    provider_metadata: ProviderMetadata = Field(default_factory=dict, description=_PROVIDER_METADATA_DOC)


class Invoice(CanonicalModel):
    """An invoice against a contract (Procore requisition, BC sales invoice)."""

    id: Annotated[str, StringConstraints(pattern=id_pattern("invoice"))]
    object: Literal["invoice"] = "invoice"
    number: str | None = _describe("Invoice number (e.g. INV-2025-0061), the matching key.")
    amount: Money | None = _describe("Invoiced amount including tax.")
    status: InvoiceStatus | None = _describe("Approval and payment status.")
    invoice_date: dt.date | None = _describe("Invoice (billing) date.")
    due_date: dt.date | None = _describe("Payment due date.")
    period_start: dt.date | None = _describe("First day of the billing period.")
    period_end: dt.date | None = _describe("Last day of the billing period.")
    contract_id: ContractRef | None = _describe("The contract invoiced.")
    project_id: ProjectRef | None = _describe("The project.")
    project_number: str | None = _describe("Number of that project as carried on the document.")
    customer_id: CustomerRef | None = _describe("The counterparty.")
    external_ids: ExternalIds = Field(default_factory=dict, description=_EXTERNAL_IDS_DOC)
    provider_metadata: ProviderMetadata = Field(default_factory=dict, description=_PROVIDER_METADATA_DOC)


class Payment(CanonicalModel):
    """A payment of an invoice (Procore contract payment, BC customer payment journal line)."""

    id: Annotated[str, StringConstraints(pattern=id_pattern("payment"))]
    object: Literal["payment"] = "payment"
    amount: Money | None = _describe("Amount paid.")
    check_number: str | None = _describe("Check or transfer reference (e.g. CHK-2026-0101), the matching key.")
    status: PaymentStatus | None = _describe("Payment status.")
    notes: str | None = _describe("Free-text notes.")
    payment_date: dt.date | None = _describe("Date of payment.")
    payment_method: PaymentMethod | None = _describe("How the payment was made.")
    invoice_number: str | None = _describe("Number of the invoice paid.")
    invoice_id: InvoiceRef | None = _describe("The invoice paid.")
    contract_id: ContractRef | None = _describe("The contract paid against.")
    project_id: ProjectRef | None = _describe("The project.")
    customer_id: CustomerRef | None = _describe("The counterparty.")
    external_ids: ExternalIds = Field(default_factory=dict, description=_EXTERNAL_IDS_DOC)
    provider_metadata: ProviderMetadata = Field(default_factory=dict, description=_PROVIDER_METADATA_DOC)


class Employee(CanonicalModel):
    """A person who books time (Procore person, BC employee)."""

    id: Annotated[str, StringConstraints(pattern=id_pattern("employee"))]
    object: Literal["employee"] = "employee"
    first_name: str | None = _describe("Given name.")
    last_name: str | None = _describe("Family name.")
    email: str | None = _describe("Work e-mail address.")
    job_title: str | None = _describe("Job title.")
    employee_number: str | None = _describe("Payroll / employee number, the matching key.")
    status: EmployeeStatus | None = _describe("Employment status.")
    hire_date: dt.date | None = _describe("Employment start date.")
    termination_date: dt.date | None = _describe("Employment end date.")
    external_ids: ExternalIds = Field(default_factory=dict, description=_EXTERNAL_IDS_DOC)
    provider_metadata: ProviderMetadata = Field(default_factory=dict, description=_PROVIDER_METADATA_DOC)


class TimeEntry(CanonicalModel):
    """Hours an employee booked on a project on one day (Procore timecard entry, BC time registration)."""

    id: Annotated[str, StringConstraints(pattern=id_pattern("time_entry"))]
    object: Literal["time_entry"] = "time_entry"
    date: dt.date | None = _describe("Day worked.")
    hours: Hours | None = _describe("Hours worked, as an exact decimal.")
    employee_id: EmployeeRef | None = _describe("Who worked.")
    project_id: ProjectRef | None = _describe("The project worked on.")
    description: str | None = _describe("Work description.")
    status: TimeEntryStatus | None = _describe("Approval status.")
    external_ids: ExternalIds = Field(default_factory=dict, description=_EXTERNAL_IDS_DOC)
    provider_metadata: ProviderMetadata = Field(default_factory=dict, description=_PROVIDER_METADATA_DOC)


class ChangeOrder(CanonicalModel):
    """A change to a contract's value or scope (Procore change order package)."""

    id: Annotated[str, StringConstraints(pattern=id_pattern("change_order"))]
    object: Literal["change_order"] = "change_order"
    title: str | None = _describe("Short title.")
    number: str | None = _describe("Change order number.")
    amount: Money | None = _describe("Value of the change.")
    status: ChangeOrderStatus | None = _describe("Approval status.")
    description: str | None = _describe("Longer description of the change.")
    due_date: dt.date | None = _describe("Date a decision is due.")
    contract_id: ContractRef | None = _describe("The contract changed.")
    project_id: ProjectRef | None = _describe("The project.")
    external_ids: ExternalIds = Field(default_factory=dict, description=_EXTERNAL_IDS_DOC)
    provider_metadata: ProviderMetadata = Field(default_factory=dict, description=_PROVIDER_METADATA_DOC)


class BudgetLineItem(CanonicalModel):
    """One line of a project budget, keyed by cost code (Procore budget line item, BC job planning line)."""

    id: Annotated[str, StringConstraints(pattern=id_pattern("budget_line_item"))]
    object: Literal["budget_line_item"] = "budget_line_item"
    cost_code: str | None = _describe("Cost code (e.g. 03-300), the budget key.")
    name: str | None = _describe("Line description.")
    budgeted_amount: Money | None = _describe("Original budget amount.")
    project_id: ProjectRef | None = _describe("The project budgeted.")
    project_number: str | None = _describe("Number of that project as carried on the line.")
    external_ids: ExternalIds = Field(default_factory=dict, description=_EXTERNAL_IDS_DOC)
    provider_metadata: ProviderMetadata = Field(default_factory=dict, description=_PROVIDER_METADATA_DOC)


# --- registry ------------------------------------------------------------------------

MODELS: Final[dict[str, type[CanonicalModel]]] = {
    model.entity_type: model
    for model in (Project, Customer, Contract, Invoice, Payment, Employee, TimeEntry, ChangeOrder, BudgetLineItem)
}
assert tuple(MODELS) == ENTITY_TYPES, "models and id prefixes must list the same entity types"


def model_for(entity_type: str) -> type[CanonicalModel]:
    """The canonical model class of ``entity_type``; KeyError when there is none."""
    return MODELS[entity_type]


# --- field metadata for docs ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldDoc:
    """One canonical field, for generated documentation."""

    name: str
    type: str
    description: str


def _type_label(annotation: Any) -> str:
    if get_origin(annotation) is Annotated:
        base, *extra = get_args(annotation)
        for item in extra:
            pattern = getattr(item, "pattern", None)
            if pattern:
                return f"id (`{pattern[1:].split('_', 1)[0]}_…`)"
        return _type_label(base)
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        labels = [_type_label(arg) for arg in get_args(annotation) if arg is not type(None)]
        return " | ".join(labels)
    if origin is Literal:
        return "enum: " + " \\| ".join(f"`{value}`" for value in get_args(annotation))
    if origin is dict:
        return "object"
    return {Money: "Money", dt.date: "date", Decimal: "decimal string", str: "string"}.get(annotation, str(annotation))


def _field_docs(model: type[CanonicalModel]) -> tuple[FieldDoc, ...]:
    docs = []
    for name, info in model.model_fields.items():
        if name == "object":
            label = f'`"{model.entity_type}"`'
        else:
            label = _type_label(info.annotation if not info.metadata else Annotated[(info.annotation, *info.metadata)])
        docs.append(FieldDoc(name, label, info.description or ""))
    return tuple(docs)


FIELDS: Final[dict[str, tuple[FieldDoc, ...]]] = {entity: _field_docs(model) for entity, model in MODELS.items()}
