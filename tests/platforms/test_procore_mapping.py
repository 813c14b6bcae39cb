import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from canonical import ENTITY_TYPES, Money, TransformError, canonical_id
from canonical.models import Contract, Customer, Payment
from platforms import IdMap, MappingContext, get_mapper
from platforms.procore.mapping import commitment_options
from transform.samples import sample

PROCORE = get_mapper("procore")
CUSTOMER = "tests"


def _cid(entity_type: str, native_id: int | str) -> str:
    return canonical_id(entity_type, CUSTOMER, "procore", str(native_id))


def _read(entity_type: str, record: dict, context: MappingContext | None = None):
    return PROCORE.to_canonical(entity_type, record, customer_id=CUSTOMER, context=context or MappingContext())


def _round_trip(entity_type: str, record: dict, **context: Any) -> dict:
    ctx = MappingContext(**context)
    return PROCORE.from_canonical(entity_type, _read(entity_type, record, ctx), context=ctx)


def test_spec_payment_1823456():
    context = MappingContext()
    payment = _read("payment", sample("procore", "payment"), context)
    assert isinstance(payment, Payment)
    assert payment.id == _cid("payment", 1823456)
    assert payment.amount == Money.of(170000000, "USD")
    assert payment.check_number == "CHK-2026-0101"
    assert payment.status == "pending"
    assert payment.notes == "Substructure progress payment #1"
    assert payment.payment_date == dt.date(2026, 2, 1)
    assert payment.payment_method is None  # write-only in Procore: its payments never carry it
    assert payment.invoice_number == "INV-2025-0061"
    assert payment.contract_id == _cid("contract", 1945782)
    assert payment.project_id == _cid("project", 341276)
    assert payment.invoice_id == _cid("invoice", 10061)
    assert payment.customer_id is None
    assert payment.external_ids == {"procore": "1823456"}
    assert payment.provider_metadata["procore"]["payment_number"] == 24
    assert "$raw" not in payment.provider_metadata["procore"]  # every mapped field was in standard form
    refs = {ref.field: ref for ref in context.resolved("to_canonical")}
    assert set(refs) == {"contract_id", "project_id", "invoice_id"}
    assert refs["invoice_id"].native_field == "requisition_id"
    assert refs["invoice_id"].platform_id == "10061"
    assert refs["invoice_id"].canonical_id == payment.invoice_id


def test_spec_contract_1945782():
    contract = _read("contract", sample("procore", "contract"))
    assert isinstance(contract, Contract)
    assert (contract.title, contract.number, contract.status) == ("Substructure Package", "C-LEX-001", "approved")
    assert contract.amount == Money.of(850000000, "USD")
    assert contract.project_id == _cid("project", 341276)
    assert contract.customer_id == _cid("customer", 501004)
    assert contract.contract_date == dt.date(2025, 3, 20)
    assert contract.start_date == dt.date(2025, 4, 1)
    assert contract.project_number is None  # Procore commitments carry the project id only


def test_spec_vendor_and_project():
    vendor = _read("customer", sample("procore", "customer"))
    assert isinstance(vendor, Customer)
    assert (vendor.name, vendor.tax_id, vendor.currency, vendor.status) == (
        "Doha Infrastructure Partners WLL",
        "5000317214",
        "USD",
        "active",
    )
    assert vendor.legal_name == "Doha Infrastructure Partners W.L.L."
    project = _read("project", sample("procore", "project"))
    assert (project.name, project.number, project.status) == ("Lusail Boulevard Tower", "LBT-2401", "active")
    assert project.completion_date == dt.date(2027, 9, 30)
    assert project.provider_metadata["procore"]["display_name"] == "LBT-2401 - Lusail Boulevard Tower"


def test_other_entities():
    invoice = _read("invoice", sample("procore", "invoice"))
    assert (invoice.number, invoice.status, invoice.amount) == ("INV-2025-0061", "approved", Money.of(170000000, "USD"))
    assert invoice.contract_id == _cid("contract", 1945782)
    assert invoice.customer_id is None  # a v1.0 requisition names no vendor id
    assert invoice.period_start == dt.date(2025, 12, 1)
    employee = _read("employee", sample("procore", "employee"))
    assert (employee.first_name, employee.employee_number, employee.email) == (
        "Hamad",
        "EMP-0412",
        "h.alkuwari@lexwell.qa",
    )
    entry = _read("time_entry", sample("procore", "time_entry"))
    assert entry.hours == Decimal("8.0") and entry.employee_id == _cid("employee", 7781201)
    assert entry.status == "approved"
    change = _read("change_order", sample("procore", "change_order"))
    assert change.amount == Money.of(25000, "USD") and change.contract_id == _cid("contract", 1945782)
    line = _read("budget_line_item", sample("procore", "budget_line_item"))
    assert (line.cost_code, line.name, line.budgeted_amount) == (
        "03-300",
        "Raft foundation concrete",
        Money.of(125000000, "USD"),
    )


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_round_trip_is_lossless(entity_type):
    record = sample("procore", entity_type)
    assert _round_trip(entity_type, sample("procore", entity_type)) == record


def test_original_decimal_text_survives_an_unchanged_round_trip():
    change = sample("procore", "change_order")
    assert change["grand_total"] == "250.0"
    assert _round_trip("change_order", change)["grand_total"] == "250.0"
    record = sample("procore", "payment") | {"amount": "1700000.0"}
    assert _round_trip("payment", record)["amount"] == "1700000.0"


def test_a_changed_value_is_written_in_standard_form():
    context = MappingContext()
    change = _read("change_order", sample("procore", "change_order"), context)
    edited = change.model_copy(update={"amount": Money.of(30000, "USD"), "status": "void"})
    out = PROCORE.from_canonical("change_order", edited, context=context)
    assert out["grand_total"] == "300.00"
    assert out["status"] == "void"


def test_nested_references_keep_their_names_when_unchanged():
    contract = sample("procore", "contract")
    out = _round_trip("contract", contract)
    assert out["project"] == {"id": 341276, "name": "Lusail Boulevard Tower"}
    context = MappingContext()
    canonical = _read("contract", contract, context)
    other = _cid("project", 341279)
    context.id_map.add("procore", "project", other, "341279")
    moved = PROCORE.from_canonical("contract", canonical.model_copy(update={"project_id": other}), context=context)
    assert moved["project"] == {"id": 341279}


def test_contract_needs_the_commitment_type():
    record = sample("procore", "contract")
    del record["type"]
    with pytest.raises(TransformError) as error:
        _read("contract", record)
    assert error.value.path == "context.commitmentType"
    assert "context.commitmentType" in error.value.message
    contract = _read("contract", record, MappingContext(options=commitment_options("WorkOrderContract")))
    assert contract.status == "approved"
    # Writing a contract to Procore needs it as well when the record does not say.
    from_bc = Contract.model_validate({"id": _cid("contract", 1), "status": "approved"})
    with pytest.raises(TransformError) as error:
        PROCORE.from_canonical("contract", from_bc, context=MappingContext())
    assert error.value.path == "context.commitmentType"
    out = PROCORE.from_canonical(
        "contract", from_bc, context=MappingContext(options=commitment_options("PurchaseOrderContract"))
    )
    assert out["status"] == "Approved"


def test_invalid_commitment_type_is_refused():
    with pytest.raises(TransformError) as error:
        commitment_options("PrimeContract")
    assert error.value.path == "context.commitmentType"
    assert error.value.message == (
        "commitment type must be one of WorkOrderContract, PurchaseOrderContract, got 'PrimeContract'"
    )
    assert commitment_options(None) == {}
    record = sample("procore", "contract") | {"type": "PrimeContract"}
    with pytest.raises(TransformError) as error:
        _read("contract", record)
    assert error.value.path == "data.type"


@pytest.mark.parametrize(
    ("kind", "native", "canonical"),
    [
        ("WorkOrderContract", "Out For Bid", "pending"),
        ("WorkOrderContract", "Terminated", "terminated"),
        ("WorkOrderContract", "Void", "void"),
        ("PurchaseOrderContract", "Partially Received", "approved"),
        ("PurchaseOrderContract", "Received", "complete"),
        ("PurchaseOrderContract", "Closed", "complete"),
    ],
)
def test_commitment_status_tables(kind, native, canonical):
    record = sample("procore", "contract") | {"type": kind, "status": native}
    contract = _read("contract", record)
    assert contract.status == canonical
    assert _round_trip("contract", record)["status"] == native


def test_purchase_orders_cannot_be_voided():
    contract = Contract.model_validate({"id": _cid("contract", 1), "status": "void"})
    with pytest.raises(TransformError) as error:
        PROCORE.from_canonical(
            "contract", contract, context=MappingContext(options=commitment_options("PurchaseOrderContract"))
        )
    assert error.value.path == "canonical.status"


@pytest.mark.parametrize(
    ("entity_type", "field", "value", "path"),
    [
        ("payment", "amount", "1,700,000.00", "data.amount"),
        ("payment", "amount", "1700000.005", "data.amount"),
        ("payment", "amount", {"value": 1}, "data.amount"),
        ("payment", "status", "settled", "data.status"),
        ("payment", "payment_method", "cash", "data.payment_method"),
        ("payment", "date", "01/02/2026", "data.date"),
        ("payment", "date", "2026-02-30", "data.date"),
        ("payment", "contract_id", 1.5, "data.contract_id"),
        ("payment", "check_number", ["CHK"], "data.check_number"),
        ("contract", "project", 341276, "data.project"),
        ("time_entry", "hours", "eight", "data.hours"),
        ("project", "active", "yes", "data.active"),
        ("budget_line_item", "cost_code", "03-300", "data.cost_code"),
    ],
)
def test_unmappable_values_name_the_field(entity_type, field, value, path):
    record = sample("procore", entity_type) | {field: value}
    with pytest.raises(TransformError) as error:
        _read(entity_type, record)
    assert error.value.path == path


def test_record_that_is_not_an_object():
    with pytest.raises(TransformError) as error:
        PROCORE.to_canonical("payment", ["not", "a", "dict"], customer_id=CUSTOMER, context=MappingContext())  # type: ignore[arg-type]
    assert error.value.path == "data"


def test_int_invoice_number_is_text_canonically_and_int_again_natively():
    record = sample("procore", "invoice") | {"invoice_number": 123}
    assert _read("invoice", record).number == "123"
    assert _round_trip("invoice", record)["invoice_number"] == 123


def test_string_ids_are_accepted_and_kept():
    record = sample("procore", "payment") | {"id": "1823456", "contract_id": "1945782"}
    payment = _read("payment", record)
    assert payment.id == _cid("payment", 1823456)
    assert payment.contract_id == _cid("contract", 1945782)
    assert _round_trip("payment", record) == record


def test_record_without_id_gets_a_content_derived_id():
    record = sample("procore", "payment")
    del record["id"]
    first, second = _read("payment", record), _read("payment", dict(record))
    assert first.id == second.id and first.external_ids == {}
    assert first.id != _read("payment", record | {"notes": "other"}).id
    assert "id" not in _round_trip("payment", record)


def test_known_links_win_over_derived_ids():
    id_map = IdMap()
    linked = canonical_id("contract", CUSTOMER, "dynamics", "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
    id_map.add("procore", "contract", linked, "1945782")
    payment = _read("payment", sample("procore", "payment"), MappingContext(id_map=id_map))
    assert payment.contract_id == linked


def test_unknown_reference_is_left_out_and_reported():
    payment = _read("payment", sample("procore", "payment"))
    context = MappingContext()  # knows none of the payment's references
    out = PROCORE.from_canonical("payment", payment, context=context)
    assert {"contract_id", "project_id", "requisition_id"}.isdisjoint(out)
    unresolved = {ref.field: ref for ref in context.unresolved()}
    assert set(unresolved) == {"contract_id", "project_id", "invoice_id"}
    assert unresolved["contract_id"].as_dict() == {
        "field": "contract_id",
        "entity_type": "contract",
        "canonical_id": payment.contract_id,
        "platform": "procore",
        "native_field": "contract_id",
        "reason": f"no procore id known for contract {payment.contract_id}",
    }


def test_amounts_in_another_currency_are_converted_to_usd():
    payment = Payment.model_validate({"id": _cid("payment", 9), "amount": {"amount": 618800000, "currency": "QAR"}})
    assert PROCORE.from_canonical("payment", payment, context=MappingContext())["amount"] == "1700000.00"
    out = PROCORE.from_canonical("payment", payment, context=MappingContext(target_currency="QAR"))
    assert out["amount"] == "6188000.00"


def test_record_currency_configuration_is_honoured():
    record = sample("procore", "contract") | {"currency_configuration": {"currency_iso_code": "QAR"}}
    contract = _read("contract", record)
    assert contract.amount == Money.of(850000000, "QAR")
    assert _round_trip("contract", record) == record


def test_statuses_with_no_procore_equivalent():
    entry = _read("time_entry", sample("procore", "time_entry")).model_copy(update={"status": "rejected"})
    with pytest.raises(TransformError) as error:
        PROCORE.from_canonical("time_entry", entry, context=MappingContext())
    assert error.value.path == "canonical.status"
    invoice = _read("invoice", sample("procore", "invoice")).model_copy(update={"status": "paid"})
    context = MappingContext()
    context.id_map.add("procore", "contract", invoice.contract_id or "", "1945782")
    assert PROCORE.from_canonical("invoice", invoice, context=context)["status"] == "approved"


def test_wrong_canonical_type_is_refused():
    payment = _read("payment", sample("procore", "payment"))
    with pytest.raises(TransformError):
        PROCORE.from_canonical("invoice", payment, context=MappingContext())


def test_payment_method_is_written_in_procores_vocabulary() -> None:
    payment = _read("payment", sample("procore", "payment"))
    for canonical, native in (("check", "check"), ("electronic", "electronic"), ("ach", "electronic")):
        changed = payment.model_copy(update={"payment_method": canonical})
        assert PROCORE.from_canonical("payment", changed, context=MappingContext())["payment_method"] == native
