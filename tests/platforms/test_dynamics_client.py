"""The Business Central client's reading of BC's error answers (a scripted transport, no emulator)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from platforms.dynamics.client import DynamicsClient, writable_body
from platforms.http import RejectedError, StaleError

RECORD = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def _client(answer: Callable[[httpx.Request], httpx.Response]) -> DynamicsClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/v2.0/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3599})
        return answer(request)

    return DynamicsClient(
        httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        base_url="https://bc.example",
        tenant="t",
        environment="production",
        company_id="c",
        client_id="id",
        client_secret="secret",
    )


def _error(status: int, code: str, message: str = "x") -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json={"error": {"code": code, "message": message}})


@pytest.mark.parametrize("status", [409, 412])
async def test_request_entity_changed_is_stale_as_409_or_412(status: int) -> None:
    client = _client(_error(status, "Request_EntityChanged", "Another user has already changed the record."))
    with pytest.raises(StaleError) as raised:
        await client.patch("contract", RECORD, {"externalDocumentNumber": "C-1"}, 'W/"x"')
    assert raised.value.status == status


async def test_a_409_about_something_else_is_a_rejection() -> None:
    client = _client(_error(409, "Internal_EntityWithSameKeyExists"))
    with pytest.raises(RejectedError) as raised:
        await client.patch("contract", RECORD, {"externalDocumentNumber": "C-1"}, 'W/"x"')
    assert raised.value.status == 409


@pytest.mark.parametrize("status", [404, 400])
async def test_resource_not_found_is_a_404_not_found(status: int) -> None:
    client = _client(_error(status, "BadRequest_ResourceNotFound", "Resource not found for the segment 'salesOrders'."))
    with pytest.raises(RejectedError) as raised:
        await client.get("contract", RECORD)
    assert raised.value.status == 404
    assert "BadRequest_ResourceNotFound" in raised.value.message


async def test_a_patch_body_carries_only_writable_properties() -> None:
    sent: list[dict[str, object]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"id": RECORD, "@odata.etag": 'W/"y"'})

    fields = {
        "@odata.etag": 'W/"x"',
        "@structural.currencyCode": "QAR",
        "id": RECORD,
        "number": "SO-1001",
        "status": "Open",
        "totalAmountIncludingTax": 1,
        "customerName": "copied by BC",
        "externalDocumentNumber": "C-1",
    }
    await _client(answer).patch("contract", RECORD, fields, 'W/"x"')
    assert sent == [{"externalDocumentNumber": "C-1"}] == [writable_body("contract", fields)]
