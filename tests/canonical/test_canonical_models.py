import datetime as dt
from decimal import Decimal

import orjson
import pytest
from pydantic import ValidationError

from canonical import CANONICAL_VERSION, ENTITY_TYPES, FIELDS, MODELS, Money, canonical_id, model_for
from canonical.models import Contract, Payment, TimeEntry


def _id(entity_type: str, native: str = "1") -> str:
    return canonical_id(entity_type, "tests", "procore", native)


def _spec_payment() -> Payment:
    return Payment.model_validate(
        {
            "id": _id("payment", "1823456"),
            "amount": {"amount": 170000000, "currency": "USD"},
            "check_number": "CHK-2026-0101",
            "status": "pending",
            "notes": "Substructure progress payment #1",
            "payment_date": "2026-02-01",
            "payment_method": "check",
            "invoice_number": "INV-2025-0061",
            "invoice_id": _id("invoice", "10061"),
            "contract_id": _id("contract", "1945782"),
            "project_id": _id("project", "341276"),
            "external_ids": {"procore": "1823456", "dynamics": "a34e74db-53c7-4368-8fe7-bb87c83c7902"},
            "provider_metadata": {"procore": {"payment_number": 24}},
        }
    )


def test_registry_covers_the_nine_entity_types():
    assert tuple(MODELS) == ENTITY_TYPES
    for entity_type, model in MODELS.items():
        assert model.entity_type == entity_type
        assert model_for(entity_type) is model
        assert model.model_fields["object"].default == entity_type
    assert CANONICAL_VERSION == "1.0"


def test_every_model_carries_the_common_fields_last():
    for model in MODELS.values():
        names = list(model.model_fields)
        assert names[:2] == ["id", "object"]
        assert names[-2:] == ["external_ids", "provider_metadata"]


def test_key_fields_of_the_spec_exist():
    key_fields = {
        "project": {"name", "number", "status"},
        "customer": {"name", "currency", "tax_id"},
        "contract": {"title", "number", "amount", "status", "project_id", "customer_id", "contract_date"},
        "invoice": {"number", "amount", "status", "invoice_date", "contract_id", "project_id", "customer_id"},
        "payment": {"amount", "check_number", "status", "notes", "contract_id", "project_id", "invoice_id"},
        "employee": {"first_name", "last_name", "email", "job_title"},
        "time_entry": {"hours", "date", "employee_id", "project_id"},
        "change_order": {"title", "amount", "status", "contract_id", "project_id"},
        "budget_line_item": {"cost_code", "budgeted_amount", "name", "project_id"},
    }
    for entity_type, fields in key_fields.items():
        assert fields <= set(MODELS[entity_type].model_fields), entity_type


def test_fields_metadata_documents_every_field():
    for entity_type, model in MODELS.items():
        docs = FIELDS[entity_type]
        assert [doc.name for doc in docs] == list(model.model_fields)
        assert all(doc.type for doc in docs)
    payment = {doc.name: doc for doc in FIELDS["payment"]}
    assert payment["amount"].type == "Money"
    assert payment["contract_id"].type == "id (`cor_…`)"
    assert payment["payment_date"].type == "date"
    assert payment["status"].type.startswith("enum: `pending`")
    assert {doc.name: doc for doc in FIELDS["time_entry"]}["hours"].type == "decimal string"


def test_json_shape_money_dates_and_hours():
    payment = _spec_payment()
    dumped = payment.model_dump(mode="json")
    assert dumped["amount"] == {"amount": 170000000, "currency": "USD"}
    assert dumped["payment_date"] == "2026-02-01"
    assert dumped["object"] == "payment"
    assert dumped["customer_id"] is None
    entry = TimeEntry.model_validate({"id": _id("time_entry"), "date": "2026-02-03", "hours": "8.0"})
    assert entry.hours == Decimal("8.0")
    assert entry.model_dump(mode="json")["hours"] == "8.0"
    assert entry.date == dt.date(2026, 2, 3)


def test_json_round_trip_is_exact():
    payment = _spec_payment()
    again = Payment.model_validate(orjson.loads(payment.model_dump_json()))
    assert again == payment


def test_trusted_construction_equals_validation():
    payment = _spec_payment()
    adopted = Payment.trusted(dict(payment.__dict__))
    assert adopted == payment
    assert adopted.model_dump(mode="json") == payment.model_dump(mode="json")
    assert adopted.model_dump_json() == payment.model_dump_json()
    assert adopted.model_fields_set == set(Payment.model_fields)
    updated = adopted.model_copy(update={"notes": "changed"})
    assert updated.notes == "changed" and adopted.notes == "Substructure progress payment #1"


def test_models_are_frozen_snapshots():
    payment = _spec_payment()
    with pytest.raises(ValidationError):
        payment.notes = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "inv_xK9mN2vL8gM3y6P"),  # an id of another entity type
        ("contract_id", "pay_xK9mN2vL8gM3y6P"),
        ("status", "settled"),
        ("payment_method", "bitcoin"),
        ("amount", {"amount": 1.5, "currency": "USD"}),
        ("amount", 1700000.0),
        ("payment_date", "2026-13-01"),
        ("object", "invoice"),
        ("surprise", 1),
    ],
)
def test_validation_rejects_bad_canonical_input(field, value):
    data = _spec_payment().model_dump(mode="json")
    data[field] = value
    with pytest.raises(ValidationError):
        Payment.model_validate(data)


def test_contract_status_vocabulary():
    statuses = Contract.model_fields["status"].annotation
    assert "terminated" in str(statuses) and "void" in str(statuses)


def test_decimal_native_values_in_provider_metadata_serialise_as_json_numbers():
    payment = _spec_payment().model_copy(
        update={
            "provider_metadata": {
                "dynamics": {"amount": Decimal("6188000.00"), "line": Decimal("10000"), "x": [Decimal("1.5")]}
            }
        }
    )
    dumped = orjson.loads(payment.model_dump_json())["provider_metadata"]["dynamics"]
    assert dumped == {"amount": 6188000.0, "line": 10000, "x": [1.5]}
    assert payment.model_dump()["provider_metadata"]["dynamics"]["amount"] == Decimal("6188000.00")


def test_money_inside_models():
    assert _spec_payment().amount == Money.of(170000000, "USD")
