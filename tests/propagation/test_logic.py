"""The pure steps of a propagation (propagation/logic.py), without a database or Temporal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from platforms.procore.demo_data import demo_records as procore_records
from platforms.registry import get_platform
from propagation.logic import (
    NativeChange,
    PatchError,
    apply_patch,
    build_id_map,
    check_storable,
    platform_patch_to_canonical,
    propagate_input,
    render_for_target,
    validate_canonical_patch,
)

CUSTOMER = "00000000-0000-4000-8000-000000000001"


def _procore_payment() -> dict[str, Any]:
    return next(r for r in procore_records()["payment"] if r["id"] == 1823456)


def _bc_payment() -> dict[str, Any]:
    # As stored after a connect: the sandbox set, whose payments are noted with their customer's
    # currency (BC journal lines carry none), as the live client notes the ones it reads.
    payments = get_platform("dynamics").demo_records()["payment"]
    return next(dict(r) for r in payments if r["id"] == "a34e74db-53c7-4368-8fe7-bb87c83c7902")


CANONICAL_ID = "pay_000000000000001"
CURRENT: dict[str, Any] = {
    "id": CANONICAL_ID,
    "object": "payment",
    "amount": {"amount": 170000000, "currency": "USD"},
    "notes": "before",
    "status": "pending",
}


def test_a_canonical_patch_is_checked_against_the_model() -> None:
    assert validate_canonical_patch("payment", CURRENT, {"notes": "after"}) == {"notes": "after"}
    with pytest.raises(PatchError, match="read-only fields cannot be propagated: id"):
        validate_canonical_patch("payment", CURRENT, {"id": "pay_x"})
    with pytest.raises(PatchError, match="unknown payment fields: colour"):
        validate_canonical_patch("payment", CURRENT, {"colour": "red"})
    with pytest.raises(PatchError, match=r"data\.status"):
        validate_canonical_patch("payment", CURRENT, {"status": "lost in the post"})


def test_text_postgresql_cannot_store_is_refused_with_its_path() -> None:
    check_storable({"notes": "fine", "nested": [{"a": "ok"}]})
    with pytest.raises(PatchError, match=r"data\.nested\[0\]\.a"):
        check_storable({"nested": [{"a": "bad\x00"}]})
    with pytest.raises(PatchError, match=r"data\.notes"):
        check_storable({"notes": "\ud800"})


def test_apply_patch_reports_only_changed_fields_in_patch_order() -> None:
    data, updated = apply_patch(CURRENT, {"status": "paid", "notes": "before", "payment_method": "check"})
    assert updated == ["status", "payment_method"]
    assert data["status"] == "paid" and data["notes"] == "before"
    assert apply_patch(CURRENT, {"notes": "before"}) == (dict(CURRENT), [])


def test_a_native_patch_means_the_canonical_fields_it_changes() -> None:
    stored = _procore_payment()
    patch = platform_patch_to_canonical(
        "procore", "payment", stored, {"notes": "after", "amount": "1700000.00"}, customer_id=CUSTOMER, current=CURRENT
    )
    assert patch == {"notes": "after"}  # the amount is unchanged once read


def test_a_native_patch_in_another_currency_keeps_the_canonical_currency() -> None:
    stored = _bc_payment()  # QAR
    patch = platform_patch_to_canonical(
        "dynamics", "payment", stored, {"amount": Decimal("3640.00")}, customer_id=CUSTOMER, current=CURRENT
    )
    assert patch["amount"] == {"amount": 100000, "currency": "USD"}  # 3640 QAR at 3.64 = 1000.00 USD


@pytest.mark.parametrize(
    ("platform", "stored", "patch", "message"),
    [
        ("procore", _procore_payment(), {"updated_at": "2030-01-01T00:00:00Z"}, "read-only procore fields"),
        ("dynamics", _bc_payment(), {"@odata.etag": 'W/"x"'}, "read-only dynamics fields"),
        ("dynamics", _bc_payment(), {"number": "X"}, "read-only dynamics fields"),
        ("procore", _procore_payment(), {"colour": "red"}, "unknown procore payment fields: colour"),
    ],
)
def test_a_native_patch_respects_the_platform_descriptor(
    platform: str, stored: dict[str, Any], patch: dict[str, Any], message: str
) -> None:
    with pytest.raises(PatchError, match=message):
        platform_patch_to_canonical(platform, "payment", stored, patch, customer_id=CUSTOMER, current=CURRENT)


def test_rendering_for_a_target_keeps_its_own_fields_and_converts_money() -> None:
    stored = _bc_payment()
    snapshot = {**CURRENT, "amount": {"amount": 100000, "currency": "USD"}, "notes": "after"}
    record, view, _ = render_for_target(
        "dynamics", "payment", stored, snapshot, ["amount"], customer_id=CUSTOMER, id_map=build_id_map("dynamics", [])
    )
    assert record["amount"] == Decimal("3640.00")  # written in the record's own currency
    assert record["description"] == stored["description"]  # "notes" was not among the fields
    assert record["journalId"] == stored["journalId"]  # unmapped native fields survive
    assert view["amount"] == {"amount": 364000, "currency": "QAR"}


def test_propagate_input_carries_what_the_workflow_needs() -> None:
    params = propagate_input(
        propagation_id="prop_1",
        customer_id=CUSTOMER,
        canonical_id=CANONICAL_ID,
        entity_type="payment",
        current=CURRENT,
        change=NativeChange("procore", "1823456", _procore_payment(), {"notes": "after"}),
        request={"hash": None},
    )
    assert params.format == "platform" and params.source_platform == "procore"
    assert params.canonical_patch == {"notes": "after"} and params.native_patch == {"notes": "after"}
    assert params.workflow_revision == 2  # deprecated, still set for workers from before the patch
    canonical = propagate_input(
        propagation_id="prop_2",
        customer_id=CUSTOMER,
        canonical_id=CANONICAL_ID,
        entity_type="payment",
        current=CURRENT,
        change={"notes": "after"},
        request={},
        overwrite=True,
    )
    assert canonical.format == "canonical" and canonical.source_platform is None and canonical.overwrite


def test_write_problems_name_computed_fields_and_overlong_text() -> None:
    from dataclasses import replace

    from platforms.registry import get_platform
    from propagation.logic import write_problems

    before = {"amount": {"amount": 100, "currency": "USD"}, "title": "A"}
    after = {"amount": {"amount": 200, "currency": "USD"}, "title": "A"}
    assert write_problems("procore", "contract", before, after, {"grand_total": "2.00"}) == (
        ["amount cannot be written to Procore (grand_total: computed by Procore from the commitment's line items)"],
        [],
    )
    # An unchanged amount whose text merely differs is no problem (the computed field is not sent).
    assert write_problems("procore", "contract", before, before, {"grand_total": "1.0"}) == ([], [])
    # A BC document amount sits beside its currency key; the total is still BC's to compute.
    skipped, refused = write_problems("dynamics", "contract", before, after, {})
    assert [s.split(" (")[0] for s in skipped] == ["amount cannot be written to Business Central"] and refused == []
    limited = replace(get_platform("procore"), max_lengths=lambda: {"payment": {"notes": 5}})
    assert limited.unwritable("payment", {"notes": "123456", "check_number": "123456789"}) == [
        "notes is 6 characters; Procore takes at most 5"
    ]
    assert limited.unwritable("payment", {"notes": "12345"}) == []
