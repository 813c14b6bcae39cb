"""The Procore live client held to Procore's published endpoint schemas (platforms/procore/schemas/).

Every request the client makes, recorded on its way out over real HTTP to the emulator, must match a
published endpoint and carry the query parameters and body keys that endpoint marks required. A
client that forgets one (the emulator may not mind, the real service answers 400) fails here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulators.procore import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, create_procore_app
from emulators.runner import serve_in_thread
from platforms.procore.client import ProcoreClient, connect
from platforms.procore.demo_data import COMPANY_ID, demo_records

SCHEMAS = Path(__file__).resolve().parents[2] / "platforms" / "procore" / "schemas"
SECRETS = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
# A harmless change per entity type (a free-text field of its write schema).
CHANGES = {
    "project": {"description": "contract test"},
    "customer": {"website": "https://example.com"},
    "contract": {"description": "contract test"},
    "invoice": {"requisition_end": "2026-03-31"},
    "payment": {"notes": "contract test"},
}


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str
    pattern: re.Pattern[str]
    query: frozenset[str]  # required query parameters
    body: frozenset[str]  # required top-level body keys


def _endpoints() -> list[Endpoint]:
    endpoints = []
    for path in sorted(SCHEMAS.glob("*.json")):
        spec = json.loads(path.read_text())
        template = spec["path"]
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
        query = frozenset(p["name"] for p in spec.get("parameters", []) if p.get("in") == "query" and p.get("required"))
        body_schema = (spec.get("requestBody") or {}).get("schema") or {}
        endpoints.append(Endpoint(spec["method"], template, pattern, query, frozenset(body_schema.get("required", []))))
    return endpoints


ENDPOINTS = _endpoints()


def _endpoint(request: httpx.Request) -> Endpoint | None:
    # A literal path wins over a template (`/projects` before `/projects/{id}`).
    matches = [e for e in ENDPOINTS if e.method == request.method and e.pattern.match(request.url.path)]
    return min(matches, key=lambda e: e.template.count("{"), default=None)


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
        if endpoint.body:
            body: Mapping[str, Any] = json.loads(request.content or b"{}")
            missing_body = sorted(k for k in endpoint.body if body.get(k) in (None, ""))
            if missing_body:
                found.append(f"{request.method} {endpoint.template}: missing body keys {missing_body}")
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
