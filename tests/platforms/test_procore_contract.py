"""The Procore live client held to Procore's published endpoint schemas (platforms/procore/schemas/).

Every request the client makes, recorded on its way out over real HTTP to the emulator, must match a
published endpoint and carry the query parameters and body keys that endpoint marks required. A
client that forgets one (the emulator may not mind, the real service answers 400) fails here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from emulators.common import Choice
from emulators.procore import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, RESOURCES, create_procore_app
from emulators.runner import serve_in_thread
from platforms.http import RejectedError
from platforms.procore import openapi
from platforms.procore.client import ProcoreClient, connect
from platforms.procore.demo_data import COMPANY_ID, demo_records

SECRETS = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
# A harmless change per entity type (a free-text field of its write schema).
CHANGES = {
    "project": {"description": "contract test"},
    "customer": {"website": "https://example.com"},
    "contract": {"description": "contract test"},
    "invoice": {"requisition_end": "2026-03-31"},
    "payment": {"notes": "contract test"},
}


ENDPOINTS = openapi.endpoints()
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _endpoint(request: httpx.Request) -> openapi.Endpoint | None:
    return openapi.match(request.method, request.url.path)


def schema_violations(schema: Mapping[str, Any], value: Any, path: str) -> list[str]:
    """Where ``value`` does not fit the published JSON schema (unknown properties, wrong JSON types;
    null is allowed: Procore sends null for an attribute without a value)."""
    if value is None:
        return []
    kind = schema.get("type")
    if kind in _JSON_TYPES and (not isinstance(value, _JSON_TYPES[kind]) or (kind != "boolean" and isinstance(value, bool))):
        return [f"{path}: {type(value).__name__} where the schema says {kind}"]
    found = []
    if kind == "object" and schema.get("properties"):
        properties = schema["properties"]
        found += [f"{path}.{key}: not in the schema" for key in value if key not in properties]
        for key, item in value.items():
            if key in properties:
                found += schema_violations(properties[key], item, f"{path}.{key}")
    if kind == "array" and schema.get("items"):
        for index, item in enumerate(value):
            found += schema_violations(schema["items"], item, f"{path}[{index}]")
    return found


def violations(requests: list[httpx.Request]) -> list[str]:
    found = []
    for request in requests:
        if request.url.path == "/oauth/token":
            continue
        endpoint = _endpoint(request)
        if endpoint is None:
            found.append(f"{request.method} {request.url.path}: no such published endpoint")
            continue
        missing = sorted(endpoint.query - set(request.url.params))
        if missing:
            found.append(f"{request.method} {endpoint.template}: missing query parameters {missing}")
        if endpoint.body or endpoint.body_key:
            body: Mapping[str, Any] = json.loads(request.content or b"{}")
            missing_body = sorted(k for k in endpoint.body if body.get(k) in (None, ""))
            if missing_body:
                found.append(f"{request.method} {endpoint.template}: missing body keys {missing_body}")
            unwritable = sorted(set(body.get(endpoint.body_key or "") or {}) - endpoint.writable)
            if unwritable:
                found.append(f"{request.method} {endpoint.template}: writes what it does not take {unwritable}")
    return found


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> None:
        await request.aread()
        self.requests.append(request)


def _client(url: str, http: httpx.AsyncClient) -> ProcoreClient:
    return connect(http, {"base_url": url, "company_id": str(COMPANY_ID)}, SECRETS)


def test_the_schemas_know_what_procore_requires() -> None:
    # The check can fail: these are the parameters the issue found missing.
    by_route = {(e.method, e.template): e for e in ENDPOINTS}
    assert by_route["GET", "/rest/v1.0/contract_payments/{id}"].query == {"project_id", "contract_id"}
    assert by_route["PATCH", "/rest/v1.0/contract_payments/{id}"].body == {"project_id", "contract_id"}
    assert by_route["PATCH", "/rest/v1.0/requisitions/{id}"].body == {"project_id", "commitment_id"}
    assert by_route["GET", "/rest/v1.0/projects/{id}"].query == {"company_id"}
    bare = httpx.Request("GET", "https://api.procore.com/rest/v1.0/contract_payments/1")
    assert violations([bare]) == ["GET /rest/v1.0/contract_payments/{id}: missing query parameters ['contract_id', 'project_id']"]


@pytest.mark.parametrize("entity_type", list(CHANGES))
async def test_reads_and_writes_of_one_record_send_what_procore_requires(entity_type: str) -> None:
    recorder = Recorder()
    record = demo_records()[entity_type][0]
    with serve_in_thread(create_procore_app()) as url:
        async with httpx.AsyncClient(event_hooks={"request": [recorder]}) as http:
            client = _client(url, http)
            remote = await client.fetch(entity_type, record)
            assert remote["id"] == record["id"]
            _, status = await client.write(entity_type, remote, CHANGES[entity_type], overwrite=False)
            assert status == "written"
    methods = [r.method for r in recorder.requests if r.url.path != "/oauth/token"]
    assert methods == ["GET", "GET", "PATCH"]  # fetch; the write reads, compares, then patches
    assert violations(recorder.requests) == []


async def test_listing_every_synced_type_sends_what_procore_requires() -> None:
    recorder = Recorder()
    with serve_in_thread(create_procore_app()) as url:
        async with httpx.AsyncClient(event_hooks={"request": [recorder]}) as http:
            client = _client(url, http)
            for entity_type in CHANGES:
                assert [record async for record in client.records(entity_type)]
    assert violations(recorder.requests) == []


def test_the_emulator_takes_only_what_the_write_schemas_take() -> None:
    for resource in RESOURCES.values():
        if resource.body_key is None:
            continue
        published = openapi.endpoint("PATCH", f"/rest/v1.0/{resource.path}/{{id}}")
        assert published.body_key == resource.body_key
        assert set(resource.fields) <= published.writable, resource.path
        # Totals Procore computes are in no write schema: the emulator drops them by default.
        assert not set(resource.computed) & published.writable, resource.path
        for name, allowed in published.enums.items():
            if name not in resource.fields:
                continue  # an attribute the emulator does not emulate
            emulated = resource.fields[name]
            assert isinstance(emulated, Choice) and emulated.values == allowed, (resource.path, name)


class ResponseRecorder:
    def __init__(self) -> None:
        self.seen: list[tuple[openapi.Endpoint, Any]] = []

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        published = openapi.match(response.request.method, response.request.url.path)
        if response.is_success and published is not None and published.response:
            self.seen.append((published, response.json()))


def response_violations(seen: list[tuple[openapi.Endpoint, Any]]) -> list[str]:
    found = []
    for published, body in seen:
        schema = {"type": "object", "properties": published.response}
        for index, record in enumerate(body if isinstance(body, list) else [body]):
            found += schema_violations(schema, record, f"{published.method} {published.template}[{index}]")
            missing = sorted(set(published.response) - set(record))
            if missing:
                found.append(f"{published.method} {published.template}[{index}]: lacks {missing}")
    return found


async def test_every_emulator_response_fits_the_published_schema() -> None:
    responses = ResponseRecorder()
    with serve_in_thread(create_procore_app()) as url:
        async with httpx.AsyncClient(event_hooks={"response": [responses]}) as http:
            client = _client(url, http)
            for entity_type in CHANGES:
                records = [record async for record in client.records(entity_type)]
                remote = await client.fetch(entity_type, records[0])
                await client.write(entity_type, remote, CHANGES[entity_type], overwrite=False)
    checked = {published.template for published, _ in responses.seen}
    # Shows, PATCH responses and the lists whose published schema is whole.
    assert {"/rest/v1.0/contract_payments/{id}", "/rest/v1.0/requisitions/{id}", "/rest/v1.0/projects"} <= checked
    assert response_violations(responses.seen) == []


def test_the_checks_can_fail() -> None:
    published = openapi.endpoint("GET", "/rest/v1.0/contract_payments/{id}")
    record = {name: None for name in published.response}
    found = response_violations([(published, {**record, "amount": 12.5, "payment_method": "check"})])
    assert sorted(found) == [
        "GET /rest/v1.0/contract_payments/{id}[0].amount: float where the schema says string",
        "GET /rest/v1.0/contract_payments/{id}[0].payment_method: not in the schema",
    ]
    del record["status"]
    assert response_violations([(published, record)]) == ["GET /rest/v1.0/contract_payments/{id}[0]: lacks ['status']"]
    bad = httpx.Request(
        "PATCH",
        "https://api.procore.com/rest/v1.0/requisitions/1",
        json={"project_id": 1, "commitment_id": 2, "requisition": {"vendor_id": 3, "total_claimed_amount": "1"}},
    )
    assert violations([bad]) == [
        "PATCH /rest/v1.0/requisitions/{id}: writes what it does not take ['total_claimed_amount', 'vendor_id']"
    ]


async def test_the_client_refuses_a_field_the_endpoint_does_not_take() -> None:
    order = next(c for c in demo_records()["contract"] if c["type"] == "PurchaseOrderContract")
    with serve_in_thread(create_procore_app()) as url:
        async with httpx.AsyncClient() as http:
            client = _client(url, http)
            with pytest.raises(RejectedError, match="purchase_order_contracts do not take contract_start_date"):
                await client.write("contract", order, {"contract_start_date": "2026-01-01"}, overwrite=False)
            payment = demo_records()["payment"][0]
            with pytest.raises(RejectedError, match="payment_method only as one of check, credit_card, electronic"):
                await client.write("payment", payment, {"payment_method": "ach"}, overwrite=False)
