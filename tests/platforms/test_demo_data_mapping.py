"""The demo data set (written by the connect work) maps and round-trips through the canonical model."""

from typing import Any

import pytest

from canonical import Money
from platforms import MappingContext, get_mapper
from platforms.dynamics import demo_data as dynamics_demo
from platforms.procore import demo_data as procore_demo

DEMO = {"procore": procore_demo, "dynamics": dynamics_demo}


@pytest.mark.parametrize("platform", ["procore", "dynamics"])
def test_every_demo_record_round_trips(platform):
    mapper = get_mapper(platform)
    context = MappingContext(currency="QAR")
    for entity_type, records in DEMO[platform].demo_records().items():
        for record in records:
            canonical = mapper.to_canonical(entity_type, record, customer_id="demo", context=context)
            assert mapper.from_canonical(entity_type, canonical, context=context) == record


def test_demo_records_match_across_platforms_by_business_key():
    context = MappingContext(currency="QAR")
    procore: dict[str, list[Any]] = {
        entity: [get_mapper("procore").to_canonical(entity, r, customer_id="demo", context=context) for r in records]
        for entity, records in procore_demo.demo_records().items()
    }
    dynamics: dict[str, list[Any]] = {
        entity: [get_mapper("dynamics").to_canonical(entity, r, customer_id="demo", context=context) for r in records]
        for entity, records in dynamics_demo.demo_records().items()
    }
    projects = {p.number for p in procore["project"]} & {p.number for p in dynamics["project"]}
    assert "LBT-2401" in projects
    [payment] = [p for p in procore["payment"] if p.external_ids["procore"] == "1823456"]
    [bc_payment] = [p for p in dynamics["payment"] if p.external_ids["dynamics"] == dynamics_demo.SPEC_PAYMENT_ID]
    assert payment.amount == Money.of(170000000, "USD")
    assert bc_payment.amount == Money.of(618800000, "QAR")
    assert bc_payment.amount.amount == payment.amount.amount * 364 // 100
