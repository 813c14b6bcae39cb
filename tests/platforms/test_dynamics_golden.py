"""A real captured Business Central ``salesOrders`` response (platforms/dynamics/schemas/
salesOrders.sample.json) through the BC mapper: read to canonical and written back, every record
comes back exactly as BC sent it, expanded ``customer`` and ``salesOrderLines`` included."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from canonical.jsonio import loads
from canonical.models import Contract
from platforms import MappingContext, get_mapper
from platforms.dynamics import metadata
from tests.platforms.test_dynamics_contract import record_violations

SAMPLE = Path(__file__).resolve().parents[2] / "platforms" / "dynamics" / "schemas" / "salesOrders.sample.json"


def _orders() -> list[dict[str, Any]]:
    body = loads(SAMPLE.read_text(encoding="utf-8"))
    orders: list[dict[str, Any]] = body["value"]
    return orders


def test_the_sample_is_what_the_metadata_describes() -> None:
    # The two vendored files agree: the validator the contract tests use passes BC's own response.
    for order in _orders():
        navigation = {"customer", "salesOrderLines"}
        assert record_violations("salesOrder", {k: v for k, v in order.items() if k not in navigation}) == []
        assert record_violations("customer", order["customer"]) == []


def test_real_sales_orders_round_trip_losslessly() -> None:
    mapper = get_mapper("dynamics")
    customer_id = str(uuid.uuid4())
    orders = _orders()
    assert len(orders) == 3
    for order in orders:
        context = MappingContext()  # the orders state their currency (PLN, MAD): none is needed
        contract = mapper.to_canonical("contract", order, customer_id=customer_id, context=context)
        assert isinstance(contract, Contract)
        assert contract.number == (order["externalDocumentNumber"] or None)  # BC's "" is no number
        assert contract.status == "approved"  # "Open": a released order
        assert contract.amount is not None and contract.amount.currency == order["currencyCode"]
        back = mapper.from_canonical("contract", contract, context=context)
        assert back == order  # every property, in BC's own values (and the expanded navigation ones)


def test_sample_statuses_are_metadata_members() -> None:
    members = metadata.schema().members("salesOrderEntityBufferStatus")
    assert {order["status"] for order in _orders()} <= set(members)
