import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from canonical import ENTITY_TYPES, Money, TransformError, canonical_id
from canonical.models import Contract, Payment
from platforms import MappingContext, get_mapper
from platforms.dynamics.mapping import CURRENCY_ANNOTATION, EMPTY_GUID, payment_currency, with_currency
from platforms.dynamics.samples import BC_IDS, BC_PAYMENT_ID
from transform.samples import sample

DYNAMICS = get_mapper("dynamics")
CUSTOMER = "tests"


def _cid(entity_type: str, native_id: str) -> str:
    return canonical_id(entity_type, CUSTOMER, "dynamics", native_id)


def _read(entity_type: str, record: dict, context: MappingContext | None = None):
    return DYNAMICS.to_canonical(
        entity_type, record, customer_id=CUSTOMER, context=context or MappingContext(currency="QAR")
    )


def _round_trip(entity_type: str, record: dict, **context: Any) -> dict:
    ctx = MappingContext(**({"currency": "QAR"} | context))
    return DYNAMICS.from_canonical(entity_type, _read(entity_type, record, ctx), context=ctx)


def test_spec_payment_a34e74db():
    payment = _read("payment", sample("dynamics", "payment"))
    assert isinstance(payment, Payment)
    assert payment.external_ids == {"dynamics": BC_PAYMENT_ID}
    assert payment.amount == Money.of(618800000, "QAR")
    assert payment.check_number == "CHK-2026-0101"
    assert payment.invoice_number == "INV-2025-0061"
    assert payment.notes == "Substructure progress payment #1"
    assert payment.payment_date == dt.date(2026, 2, 1)
    assert payment.status == "pending"  # a journal line has no status
    assert payment.invoice_id == _cid("invoice", BC_IDS["invoice"])
    assert payment.customer_id == _cid("customer", BC_IDS["customer"])
    assert payment.contract_id is None and payment.project_id is None
    metadata = payment.provider_metadata["dynamics"]
    assert metadata["@odata.etag"].startswith('W/"')
    assert metadata["journalId"] and metadata["lineNumber"] == 10000
    assert metadata["appliesToInvoiceNumber"] == "PS-INV103001"


def test_payment_currency_comes_from_the_context_or_the_customer():
    record = sample("dynamics", "payment")
    assert "currencyCode" not in record  # customerPayment has no such property in $metadata
    with pytest.raises(TransformError) as error:
        _read("payment", record, MappingContext())
    assert error.value.path == "context.currency"
    # The client notes the customer's currency on the payments it reads; it wins over the context.
    noted = with_currency(dict(record), payment_currency(record, {BC_IDS["customer"]: "AED"}, {}))
    assert _read("payment", noted, MappingContext(currency="QAR")).amount == Money.of(618800000, "AED")
    # A payment without a customer takes its applied invoice's currency.
    orphan = record | {"customerId": EMPTY_GUID}
    assert payment_currency(orphan, {}, {BC_IDS["invoice"]: "SAR"}) == "SAR"
    written = DYNAMICS.from_canonical("payment", _read("payment", noted, MappingContext()), context=MappingContext())
    # Written back in the customer's AED; the note stays on our copy (the client never sends "@" keys).
    assert written["amount"] == Decimal("6188000.00") and written[CURRENCY_ANNOTATION] == "AED"
    payment = Payment.model_validate({"id": _cid("payment", "x"), "amount": {"amount": 170000000, "currency": "USD"}})
    with pytest.raises(TransformError) as error:
        DYNAMICS.from_canonical("payment", payment, context=MappingContext())
    assert error.value.path == "context.currency"
    out = DYNAMICS.from_canonical("payment", payment, context=MappingContext(currency="SAR"))
    assert out["amount"] == Decimal("6375000.00")
    assert "status" not in out and "currencyCode" not in out


def test_sales_order_is_the_contract():
    context = MappingContext(currency="QAR")
    project = canonical_id("project", CUSTOMER, "procore", "341276")
    context.id_map.add("dynamics", "project", project, BC_IDS["project"], number="LBT-2401")
    contract = _read("contract", sample("dynamics", "contract"), context)
    assert isinstance(contract, Contract)
    assert contract.number == "C-LEX-001"  # externalDocumentNumber, not BC's SO-1001
    assert contract.amount == Money.of(3094000000, "QAR")
    assert contract.status == "approved"
    assert contract.contract_date == dt.date(2025, 3, 20)
    assert contract.project_number == "LBT-2401"
    assert contract.project_id == project  # found by job number
    assert contract.customer_id == _cid("customer", BC_IDS["customer"])
    assert contract.title is None  # no header field for it in BC
    assert contract.provider_metadata["dynamics"]["number"] == "SO-1001"


def test_project_known_only_by_number_is_reported_unresolved():
    context = MappingContext(currency="QAR")
    contract = _read("contract", sample("dynamics", "contract"), context)
    assert contract.project_id is None and contract.project_number == "LBT-2401"
    [ref] = [ref for ref in context.unresolved() if ref.field == "project_id"]
    assert ref.native_field == "shortcutDimension1Code" and ref.platform_id == "LBT-2401"
    assert DYNAMICS.from_canonical("contract", contract, context=context)["shortcutDimension1Code"] == "LBT-2401"


def test_other_entities():
    invoice = _read("invoice", sample("dynamics", "invoice"))
    assert (invoice.number, invoice.status) == ("INV-2025-0061", "approved")
    assert invoice.amount == Money.of(618800000, "QAR")
    assert invoice.due_date == dt.date(2026, 1, 27)
    assert invoice.contract_id == _cid("contract", BC_IDS["contract"])
    project = _read("project", sample("dynamics", "project"))
    assert (project.number, project.name, project.status) == ("LBT-2401", "Lusail Boulevard Tower", None)
    customer = _read("customer", sample("dynamics", "customer"))
    assert (customer.tax_id, customer.currency) == ("5000317214", "QAR")
    assert customer.state is None and customer.website is None  # BC's "" is no value
    employee = _read("employee", sample("dynamics", "employee"))
    assert (employee.employee_number, employee.status, employee.hire_date) == (
        "EMP-0412",
        "active",
        dt.date(2023, 9, 17),
    )
    assert employee.termination_date is None  # 0001-01-01
    entry = _read("time_entry", sample("dynamics", "time_entry"))
    assert entry.hours == Decimal("8") and entry.status == "approved"
    assert entry.project_id == _cid("project", BC_IDS["project"])
    change = _read("change_order", sample("dynamics", "change_order"))
    assert (change.title, change.amount, change.status) == (
        "Additional secant piles, grid C",
        Money.of(91000, "QAR"),
        "approved",
    )
    line = _read("budget_line_item", sample("dynamics", "budget_line_item"))
    assert (line.cost_code, line.project_number, line.budgeted_amount) == (
        "03-300",
        "LBT-2401",
        Money.of(455000000, "QAR"),
    )


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_round_trip_is_lossless(entity_type):
    assert _round_trip(entity_type, sample("dynamics", entity_type)) == sample("dynamics", entity_type)


@pytest.mark.parametrize("amount", [1500, 1500.5, Decimal("1500.50"), Decimal("1500.5"), 172.94])
def test_json_numbers_of_any_form_come_back_as_they_were(amount):
    record = sample("dynamics", "invoice") | {"totalAmountIncludingTax": amount}
    out = _round_trip("invoice", record)
    assert out["totalAmountIncludingTax"] == amount
    assert type(out["totalAmountIncludingTax"]) is type(amount)


def test_changed_amounts_are_written_as_exact_decimals():
    context = MappingContext(currency="QAR")
    invoice = _read("invoice", sample("dynamics", "invoice") | {"totalAmountIncludingTax": 172.94}, context)
    edited = invoice.model_copy(update={"amount": Money.of(17300, "QAR")})
    out = DYNAMICS.from_canonical("invoice", edited, context=context)
    assert out["totalAmountIncludingTax"] == Decimal("173.00")
    assert str(out["totalAmountIncludingTax"]) == "173.00"


def test_usd_values_are_written_in_the_customers_currency():
    contract = Contract.model_validate(
        {"id": _cid("contract", "x"), "amount": {"amount": 850000000, "currency": "USD"}}
    )
    out = DYNAMICS.from_canonical("contract", contract, context=MappingContext(currency="QAR"))
    assert (out["totalAmountIncludingTax"], out["currencyCode"]) == (Decimal("30940000.00"), "QAR")
    out = DYNAMICS.from_canonical("contract", contract, context=MappingContext(currency="QAR", target_currency="AED"))
    assert (out["totalAmountIncludingTax"], out["currencyCode"]) == (Decimal("31216250.00"), "AED")
    # Without a customer currency, a BC document can carry the foreign currency itself.
    out = DYNAMICS.from_canonical("contract", contract, context=MappingContext())
    assert (out["totalAmountIncludingTax"], out["currencyCode"]) == (Decimal("8500000.00"), "USD")


def test_a_foreign_currency_document_is_written_back_unchanged():
    record = sample("dynamics", "invoice") | {"currencyCode": "USD", "totalAmountIncludingTax": Decimal("1700000.00")}
    assert _round_trip("invoice", record, currency="QAR") == record


def test_blank_values():
    record = sample("dynamics", "invoice") | {
        "dueDate": "0001-01-01",
        "orderId": EMPTY_GUID,
        "shortcutDimension1Code": "",
    }
    invoice = _read("invoice", record)
    assert invoice.due_date is None and invoice.contract_id is None and invoice.project_number is None
    assert _round_trip("invoice", record) == record
    customer = sample("dynamics", "customer") | {"currencyCode": ""}
    assert _read("customer", customer).currency == "QAR"  # blank is the local currency
    assert _read("customer", customer, MappingContext()).currency is None
    assert _round_trip("customer", customer) == customer


def test_blank_document_currency_needs_the_context():
    record = sample("dynamics", "invoice") | {"currencyCode": ""}
    assert _read("invoice", record).amount == Money.of(618800000, "QAR")
    with pytest.raises(TransformError) as error:
        _read("invoice", record, MappingContext())
    assert error.value.path == "context.currency"


@pytest.mark.parametrize(
    ("entity_type", "native", "canonical"),
    [
        # On the wire: OData member names (salesOrderEntityBufferStatus has no Released; a
        # released order reads Open).
        ("contract", "Draft", "draft"),
        ("contract", "In_x0020_Review", "pending"),
        ("contract", "Open", "approved"),
        ("invoice", "In_x0020_Review", "pending"),
        ("invoice", "Paid", "paid"),
        ("invoice", "Canceled", "void"),
        ("invoice", "Corrective", "void"),
        ("invoice", "_x0020_", "draft"),
        ("employee", "Terminated", "terminated"),
        ("time_entry", "Submitted", "pending"),
        ("time_entry", "Open", "draft"),
        ("change_order", "Rejected", "rejected"),
    ],
)
def test_status_tables(entity_type, native, canonical):
    record = sample("dynamics", entity_type) | {"status": native}
    assert _read(entity_type, record).status == canonical
    assert _round_trip(entity_type, record)["status"] == native


@pytest.mark.parametrize("status", ["terminated", "void"])
def test_sales_orders_cannot_be_terminated_or_voided(status):
    contract = Contract.model_validate({"id": _cid("contract", "x"), "status": status})
    with pytest.raises(TransformError) as error:
        DYNAMICS.from_canonical("contract", contract, context=MappingContext())
    assert error.value.path == "canonical.status"


@pytest.mark.parametrize(
    ("entity_type", "field", "value", "path"),
    [
        ("invoice", "status", "Posted", "data.status"),
        ("invoice", "totalAmountIncludingTax", "lots", "data.totalAmountIncludingTax"),
        ("invoice", "totalAmountIncludingTax", Decimal("1.005"), "data.totalAmountIncludingTax"),
        ("invoice", "currencyCode", "XXX", "data.currencyCode"),
        ("customer", "currencyCode", "QQQ", "data.currencyCode"),
        ("invoice", "invoiceDate", "2025-12-28T00:00:00Z", "data.invoiceDate"),
        ("time_entry", "quantity", "NaN", "data.quantity"),
        ("employee", "status", "Retired", "data.status"),
    ],
)
def test_unmappable_values_name_the_field(entity_type, field, value, path):
    with pytest.raises(TransformError) as error:
        _read(entity_type, sample("dynamics", entity_type) | {field: value})
    assert error.value.path == path


def test_etag_and_misspelled_field_are_preserved():
    entry = _read("time_entry", sample("dynamics", "time_entry"))
    metadata = entry.provider_metadata["dynamics"]
    assert "lastModfiedDateTime" in metadata and "@odata.etag" in metadata
    out = _round_trip("time_entry", sample("dynamics", "time_entry"))
    assert out["@odata.etag"] == sample("dynamics", "time_entry")["@odata.etag"]
    assert out["lastModfiedDateTime"] == "2026-02-04T06:00:00Z"
