import datetime as dt
from decimal import Decimal

import orjson
import pytest

from canonical import ENTITY_TYPES, RequestShapeError, TransformError, canonical_id
from platforms.dynamics.samples import BC_IDS, BC_PAYMENT_ID
from transform.samples import sample
from transform.service import dumps, format_timestamp, translate

NOW = dt.datetime(2026, 4, 11, 12, 0, tzinfo=dt.UTC)
LINKS = {
    "contract": {"1945782": BC_IDS["contract"]},
    "project": {"341276": {"id": BC_IDS["project"], "number": "LBT-2401"}},
    "invoice": {"10061": BC_IDS["invoice"]},
    "customer": {"501004": BC_IDS["customer"]},
    "payment": {"1823456": BC_PAYMENT_ID},
}


def _transform(source, target, entity_type, data, context=None):
    return translate(source, target, entity_type, data, context, request_id="req_0123456789ab", now=NOW).as_dict()


def test_response_shape_for_the_spec_payment():
    result = _transform(
        "procore", "dynamics", "payment", sample("procore", "payment"), {"currency": "QAR", "references": LINKS}
    )
    assert set(result) == {"canonical", "data", "metadata"}
    metadata = result["metadata"]
    assert {
        key: metadata[key]
        for key in ("source", "target", "entity_type", "canonical_version", "transformed_at", "request_id")
    } == {
        "source": "procore",
        "target": "dynamics",
        "entity_type": "payment",
        "canonical_version": "1.0",
        "transformed_at": "2026-04-11T12:00:00.000Z",
        "request_id": "req_0123456789ab",
    }
    canonical = result["canonical"]
    assert canonical["id"] == canonical_id("payment", "transform", "procore", "1823456")
    assert canonical["object"] == "payment"
    assert canonical["amount"] == {"amount": 170000000, "currency": "USD"}
    assert canonical["check_number"] == "CHK-2026-0101"
    assert result["data"] == {
        "id": BC_PAYMENT_ID,
        "amount": Decimal("6188000.00"),
        "documentNumber": "CHK-2026-0101",
        "description": "Substructure progress payment #1",
        "postingDate": "2026-02-01",
        "externalDocumentNumber": "INV-2025-0061",
        "appliesToInvoiceId": BC_IDS["invoice"],
    }
    resolved = metadata["references"]["resolved"]
    assert [ref["field"] for ref in resolved] == ["invoice_id"]
    assert resolved[0]["platform_id"] == BC_IDS["invoice"] and resolved[0]["injected"] is True
    assert metadata["references"]["unresolved"] == []
    orjson.loads(dumps(result))  # the whole response is JSON-serialisable


def test_dumps_writes_decimals_as_exact_json_numbers():
    assert (
        dumps({"a": Decimal("6188000.00"), "b": Decimal("0.10"), "c": Decimal("1E+2")})
        == b'{"a":6188000.00,"b":0.10,"c":100}'
    )
    with pytest.raises(TypeError):
        dumps({"a": object()})


def test_unresolved_references_are_reported_with_a_reason():
    result = _transform("procore", "dynamics", "payment", sample("procore", "payment"), {"currency": "QAR"})
    assert "appliesToInvoiceId" not in result["data"] and "id" not in result["data"]
    [unresolved] = result["metadata"]["references"]["unresolved"]
    assert unresolved["field"] == "invoice_id"
    assert unresolved["canonical_id"] == canonical_id("invoice", "transform", "procore", "10061")
    assert "no dynamics id known" in unresolved["reason"]


def test_contract_to_bc_uses_the_project_number_from_the_references():
    result = _transform(
        "procore", "dynamics", "contract", sample("procore", "contract"), {"currency": "QAR", "references": LINKS}
    )
    assert result["data"]["shortcutDimension1Code"] == "LBT-2401"
    assert result["data"]["customerId"] == BC_IDS["customer"]
    assert result["data"]["totalAmountIncludingTax"] == Decimal("30940000.00")
    # An approved contract is a released order, which the API reads as "Open" (no Released member).
    assert result["data"]["status"] == "Open"


def test_bc_to_procore_with_number_keyed_project_reference():
    context = {
        "currency": "QAR",
        "commitmentType": "WorkOrderContract",
        "references": {"project": {"LBT-2401": "341276"}, "customer": {BC_IDS["customer"]: "501004"}},
    }
    result = _transform("dynamics", "procore", "contract", sample("dynamics", "contract"), context)
    assert result["data"]["project"] == {"id": 341276}
    assert result["data"]["vendor"] == {"id": 501004}
    assert result["data"]["grand_total"] == "8500000.00"
    assert result["data"]["status"] == "Approved"
    assert result["metadata"]["references"]["unresolved"] == []


def test_commitment_type_rule():
    record = sample("procore", "contract")
    del record["type"]
    with pytest.raises(TransformError) as error:
        _transform("procore", "dynamics", "contract", record)
    assert error.value.path == "context.commitmentType"
    assert "context.commitmentType" in str(error.value)
    result = _transform("procore", "dynamics", "contract", record, {"commitmentType": "PurchaseOrderContract"})
    assert result["canonical"]["status"] == "approved"
    with pytest.raises(TransformError) as error:
        _transform("procore", "dynamics", "contract", record, {"commitmentType": "Subcontract"})
    assert error.value.path == "context.commitmentType"
    with pytest.raises(TransformError) as error:
        _transform("dynamics", "procore", "contract", sample("dynamics", "contract"), {"currency": "QAR"})
    assert error.value.path == "context.commitmentType"


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("amount", "one million", "data.amount"),
        ("amount", "1700000.001", "data.amount"),
        ("amount", 17.5, None),  # a JSON number where Procore sends text is still an exact amount
        ("date", 20260201, "data.date"),
        ("status", 3, "data.status"),
        ("contract_id", {"id": 1}, "data.contract_id"),
    ],
)
def test_wrong_types_and_unparsable_values_name_the_path(field, value, path):
    record = sample("procore", "payment") | {field: value}
    if path is None:
        assert (
            _transform("procore", "dynamics", "payment", record, {"currency": "QAR"})["canonical"]["amount"]["amount"]
            == 1750
        )
        return
    with pytest.raises(TransformError) as error:
        _transform("procore", "dynamics", "payment", record, {"currency": "QAR"})
    assert error.value.path == path


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
@pytest.mark.parametrize("platform", ["procore", "dynamics"])
def test_source_equal_to_target_round_trips(platform, entity_type):
    record = sample(platform, entity_type)
    result = _transform(platform, platform, entity_type, record, {"currency": "QAR"})
    assert result["data"] == record
    # Only BC's job-number references stay unresolved: no project with that number is known.
    unresolved = result["metadata"]["references"]["unresolved"]
    assert all(ref["native_field"] in ("shortcutDimension1Code", "jobNumber") for ref in unresolved)


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_every_entity_type_translates_both_ways(entity_type):
    context = {"currency": "QAR", "commitmentType": "WorkOrderContract"}
    to_bc = _transform("procore", "dynamics", entity_type, sample("procore", entity_type), context)
    to_procore = _transform("dynamics", "procore", entity_type, sample("dynamics", entity_type), context)
    assert to_bc["data"] and to_procore["data"]
    assert to_bc["canonical"]["object"] == to_procore["canonical"]["object"] == entity_type
    # The HTTP body is the same document, serialised without pydantic's serialiser.
    translation = translate(
        "procore", "dynamics", entity_type, sample("procore", entity_type), context, request_id="req_0123456789ab", now=NOW
    )
    assert translation.as_json() == dumps(to_bc)


def test_customer_id_namespaces_the_ids():
    a = _transform("procore", "procore", "project", sample("procore", "project"), {"customerId": "tenant-a"})
    b = _transform("procore", "procore", "project", sample("procore", "project"), {"customerId": "tenant-b"})
    assert a["canonical"]["id"] != b["canonical"]["id"]
    assert a["canonical"]["id"] == canonical_id("project", "tenant-a", "procore", "341276")


def test_target_currency_forces_conversion():
    result = _transform(
        "procore", "dynamics", "invoice", sample("procore", "invoice"), {"currency": "QAR", "targetCurrency": "SAR"}
    )
    assert (result["data"]["totalAmountIncludingTax"], result["data"]["currencyCode"]) == (Decimal("6375000.00"), "SAR")
    with pytest.raises(TransformError) as error:
        _transform("procore", "dynamics", "invoice", sample("procore", "invoice"), {"targetCurrency": "QQQ"})
    assert error.value.path == "context.targetCurrency"


@pytest.mark.parametrize(
    ("source", "target", "entity_type", "data", "context"),
    [
        ("sage", "dynamics", "payment", {}, None),
        ("procore", "quickbooks", "payment", {}, None),
        ("procore", "dynamics", "widget", {}, None),
        ("procore", "dynamics", "payment", ["not", "an", "object"], None),
        ("procore", "dynamics", "payment", "text", None),
        ("procore", "dynamics", "payment", {}, "context"),
        ("procore", "dynamics", "payment", {}, {"commitment_type": "WorkOrderContract"}),
        ("procore", "dynamics", "payment", {}, {"currency": 3}),
        ("procore", "dynamics", "payment", {}, {"customerId": ["a"]}),
        ("procore", "dynamics", "payment", {}, {"references": []}),
        ("procore", "dynamics", "payment", {}, {"references": {"widget": {}}}),
        ("procore", "dynamics", "payment", {}, {"references": {"contract": ["1"]}}),
        ("procore", "dynamics", "payment", {}, {"references": {"contract": {"1": None}}}),
        ("procore", "dynamics", "payment", {}, {"references": {"contract": {"1": {"id": True}}}}),
        ("procore", "dynamics", "payment", {}, {"references": {"project": {"1": {"id": "x", "number": 5}}}}),
    ],
)
def test_bad_request_shape(source, target, entity_type, data, context):
    with pytest.raises(RequestShapeError) as error:
        _transform(source, target, entity_type, data, context)
    assert isinstance(error.value, ValueError)


def test_timestamps_are_utc_with_milliseconds():
    assert format_timestamp(dt.datetime(2026, 4, 11, 12, 0, 0, 987654, tzinfo=dt.UTC)) == "2026-04-11T12:00:00.987Z"
    assert (
        format_timestamp(dt.datetime(2026, 4, 11, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))))
        == "2026-04-11T12:00:00.000Z"
    )
    assert format_timestamp(dt.datetime(2026, 4, 11, 12, 0)) == "2026-04-11T12:00:00.000Z"


def test_transform_is_stateless():
    first = _transform("procore", "dynamics", "payment", sample("procore", "payment"), {"currency": "QAR"})
    second = _transform("procore", "dynamics", "payment", sample("procore", "payment"), {"currency": "QAR"})
    assert first == second
