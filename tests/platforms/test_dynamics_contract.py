"""The Business Central emulator and live client held to BC's real API v2.0 ``$metadata``
(platforms/dynamics/schemas/metadata.xml).

Every response the emulator gives the client over real HTTP is checked record by record: exactly the
entity type's properties (whole records; ``@odata.*`` annotations aside), each value of its Edm type
(enum members as $metadata names them, ``_x0020_`` not ``" "``), nulls only where nullable, text
within MaxLength. Every request the client makes, recorded on its way out, may only select existing
properties and only write properties that exist and are writable (not ``Editable = false``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx
import pytest

from canonical.jsonio import loads
from emulators.dynamics import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_ENVIRONMENT,
    DEFAULT_TENANT,
    create_dynamics_app,
)
from emulators.runner import serve_in_thread
from platforms.dynamics import demo_data, metadata
from platforms.dynamics.client import DynamicsClient, connect
from platforms.dynamics.mapping import CURRENCY_ANNOTATION

SECRETS = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
# A harmless change per entity type (a writable text or date property).
CHANGES = {
    "project": {"displayName": "Contract test"},
    "customer": {"website": "https://example.com"},
    "contract": {"externalDocumentNumber": "C-LEX-001"},
    "invoice": {"dueDate": "2026-03-31"},
    "payment": {"description": "Contract test"},
}
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_ALWAYS_FIXED = frozenset({"id", "number", "lastModifiedDateTime"})


def _value_problem(prop: metadata.Property, value: Any) -> str | None:
    """Why ``value`` is not a valid value of ``prop`` (None when it is)."""
    if value is None:
        return None if prop.nullable else "null, but not nullable"
    if prop.is_enum:
        members = metadata.schema().members(prop.type)
        return None if value in members else f"{value!r} is not a member of {prop.type} {members}"
    number = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    checks = {
        "Edm.String": isinstance(value, str),
        "Edm.Decimal": number,
        "Edm.Int32": isinstance(value, int) and not isinstance(value, bool),
        "Edm.Int64": isinstance(value, int) and not isinstance(value, bool),
        "Edm.Boolean": isinstance(value, bool),
        "Edm.Guid": isinstance(value, str) and bool(_GUID.match(value)),
        "Edm.Date": isinstance(value, str) and bool(_DATE.match(value)),
        "Edm.DateTimeOffset": isinstance(value, str) and bool(_DATETIME.match(value)),
    }
    if not checks.get(prop.type, False):
        return f"{value!r} is not an {prop.type}"
    if prop.max_length is not None and isinstance(value, str) and len(value) > prop.max_length:
        return f"{len(value)} characters, MaxLength {prop.max_length}"
    return None


def record_violations(bc_type: str, record: Mapping[str, Any], *, whole: bool = True) -> list[str]:
    """How ``record`` differs from what BC sends for ``bc_type`` (``whole``: no $select)."""
    props = metadata.schema().properties(bc_type)
    fields = {k for k in record if not k.startswith("@odata.")}
    found = [f"{bc_type}.{name}: no such property" for name in sorted(fields - set(props))]
    if whole:
        found += [f"{bc_type}.{name}: missing" for name in props if name not in fields]
    for name in sorted(fields & set(props)):
        problem = _value_problem(props[name], record[name])
        if problem:
            found.append(f"{bc_type}.{name}: {problem}")
    return found


def _entity_set(path: str) -> str:
    """The entity set a request path addresses (``.../customerPayments(<id>)`` -> customerPayments)."""
    return path.rstrip("/").rsplit("/", 1)[-1].split("(", 1)[0]


def _ours(bc_type: str) -> str | None:
    return next((ours for ours, theirs in metadata.ENTITY_TYPES.items() if theirs == bc_type), None)


def request_violations(requests: list[httpx.Request]) -> list[str]:
    """What a client's requests select or write that BC does not have or does not let it write."""
    found = []
    sets = metadata.schema().entity_sets
    for request in requests:
        if request.url.path.endswith("/oauth2/v2.0/token"):
            continue
        name = _entity_set(request.url.path)
        if name not in sets:
            found.append(f"{request.method} {request.url.path}: no entity set {name!r}")
            continue
        bc_type = sets[name]
        props = metadata.schema().properties(bc_type)
        selected = [s for s in request.url.params.get("$select", "").split(",") if s]
        found += [f"GET {name}: $select of unknown {s!r}" for s in selected if s not in props]
        if request.method != "PATCH":
            continue
        body: dict[str, Any] = json.loads(request.content)
        fixed = _ALWAYS_FIXED | metadata.READ_ONLY.get(_ours(bc_type) or "", frozenset())
        for key, value in body.items():
            if key not in props:
                found.append(f"PATCH {name}: {key!r} is not a property of {bc_type}")
            elif key in fixed:
                found.append(f"PATCH {name}: {key!r} is read-only")
            elif problem := _value_problem(props[key], value):
                found.append(f"PATCH {name}: {key} {problem}")
    return found


class Recorder:
    """Every request the client sends and every JSON response it receives."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.responses: list[tuple[httpx.Request, Any]] = []

    async def request(self, request: httpx.Request) -> None:
        await request.aread()
        self.requests.append(request)

    async def response(self, response: httpx.Response) -> None:
        await response.aread()
        if "/api/v2.0/" in response.request.url.path and response.status_code < 400:
            self.responses.append((response.request, loads(response.text)))


def response_violations(recorder: Recorder) -> list[str]:
    found = []
    sets = metadata.schema().entity_sets
    for request, body in recorder.responses:
        name = _entity_set(request.url.path)
        records = body.get("value", [body])
        whole = "$select" not in request.url.params
        for record in records:
            found += record_violations(sets[name], record, whole=whole)
    return found


def _client(url: str, http: httpx.AsyncClient) -> DynamicsClient:
    live = {
        "base_url": url,
        "tenant": DEFAULT_TENANT,
        "environment": DEFAULT_ENVIRONMENT,
        "company_id": demo_data.COMPANY_ID,
    }
    return connect(http, live, SECRETS)


def _http(recorder: Recorder) -> httpx.AsyncClient:
    return httpx.AsyncClient(event_hooks={"request": [recorder.request], "response": [recorder.response]})


# ---------------------------------------------------------------------------------------- the checks


def test_the_validator_catches_what_bc_would_not_send_or_take() -> None:
    # It can fail: the emulator's old lenient shapes are caught.
    customer = demo_data.demo_records()["customer"][0]
    assert record_violations("customer", customer) == []
    lenient = {k: v for k, v in customer.items() if k != "creditLimit"} | {"blocked": " "}
    assert record_violations("customer", lenient | {"color": "red", "taxLiable": "yes"}) == [
        "customer.color: no such property",
        "customer.creditLimit: missing",
        "customer.blocked: ' ' is not a member of customerBlocked ('_x0020_', 'Ship', 'Invoice', 'All')",
        "customer.taxLiable: 'yes' is not an Edm.Boolean",
    ]
    payment = demo_data.demo_records()["payment"][0]
    assert record_violations("customerPayment", payment | {"currencyCode": "QAR"}) == [
        "customerPayment.currencyCode: no such property"
    ]
    order = demo_data.demo_records()["contract"][0]
    assert record_violations("salesOrder", order | {"status": "Released", "orderDate": "20.03.2025"}) == [
        "salesOrder.orderDate: '20.03.2025' is not an Edm.Date",
        "salesOrder.status: 'Released' is not a member of salesOrderEntityBufferStatus "
        "('Draft', 'In_x0020_Review', 'Open')",
    ]
    assert record_violations("salesOrder", order | {"externalDocumentNumber": "X" * 36}) == [
        "salesOrder.externalDocumentNumber: 36 characters, MaxLength 35"
    ]
    url = f"https://api.businesscentral.dynamics.com/v2.0/t/production/api/v2.0/companies({order['id']})"
    bad = httpx.Request(
        "PATCH",
        f"{url}/salesOrders({order['id']})",
        json={"status": "Open", "totalAmountIncludingTax": 1, "currencyCode": "QAR", "color": "red"},
    )
    assert request_violations([bad]) == [
        "PATCH salesOrders: 'status' is read-only",
        "PATCH salesOrders: 'totalAmountIncludingTax' is read-only",
        "PATCH salesOrders: 'color' is not a property of salesOrder",
    ]


def test_demo_and_sample_records_are_what_bc_sends() -> None:
    for entity_type, records in demo_data.demo_records().items():
        bc_type = metadata.ENTITY_TYPES[entity_type]
        for record in records:
            assert record_violations(bc_type, record) == [], record["id"]
    for journal in demo_data.payment_journals():
        assert record_violations("customerPaymentJournal", journal) == []


@pytest.mark.parametrize("entity_type", list(CHANGES))
async def test_reads_and_writes_of_one_record_are_bc_shaped(entity_type: str) -> None:
    recorder = Recorder()
    record = demo_data.demo_records()[entity_type][0]
    with serve_in_thread(create_dynamics_app()) as url:
        async with _http(recorder) as http:
            client = _client(url, http)
            remote = await client.fetch(entity_type, record)
            assert remote["id"] == record["id"]
            written, status = await client.write(entity_type, remote, CHANGES[entity_type], overwrite=False)
            assert status == "written"
            # A whole record as changes (what a careless caller might pass): the client sends only
            # what BC lets it write, never read-only, computed or annotation keys.
            _, again = await client.write(entity_type, written, {**written, **CHANGES[entity_type]}, overwrite=True)
            assert again == "written"
    assert request_violations(recorder.requests) == []
    assert response_violations(recorder) == []
    assert [r.method for r in recorder.requests if r.method == "PATCH"] == ["PATCH", "PATCH"]


async def test_listing_every_synced_type_is_bc_shaped() -> None:
    recorder = Recorder()
    with serve_in_thread(create_dynamics_app()) as url:
        async with _http(recorder) as http:
            client = _client(url, http)
            for entity_type in CHANGES:
                records = [record async for record in client.records(entity_type)]
                assert len(records) == len(demo_data.demo_records()[entity_type])
    assert request_violations(recorder.requests) == []
    assert response_violations(recorder) == []
    read = {_entity_set(request.url.path) for request, _ in recorder.responses}
    assert read == {"projects", "customers", "salesOrders", "salesInvoices", "customerPaymentJournals",
                    "customerPayments"}


async def test_payments_are_noted_with_their_customers_currency() -> None:
    # customerPayment has no currency property: the client takes the customer's.
    records = demo_data.demo_records()
    currency = {c["id"]: c["currencyCode"] for c in records["customer"]}
    with serve_in_thread(create_dynamics_app()) as url:
        async with httpx.AsyncClient() as http:
            client = _client(url, http)
            listed = [p async for p in client.records("payment")]
            fetched = await client.fetch("payment", listed[4])
            written, _ = await client.write("payment", fetched, {"description": "x"}, overwrite=False)
    assert {p[CURRENCY_ANNOTATION] for p in listed} == {"QAR", "AED"}
    for payment in [*listed, fetched, written]:
        assert "currencyCode" not in payment
        assert payment[CURRENCY_ANNOTATION] == currency[payment["customerId"]]
