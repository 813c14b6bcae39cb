"""The error contract and headers on every kind of response."""

from __future__ import annotations

import re

import httpx

from tests.fixtures.api import assert_error, assert_headers
from tests.fixtures.net import auth


async def test_success_has_envelope_and_headers(api: httpx.AsyncClient, demo_key: str) -> None:
    resp = await api.get("/api/v1/event-types", headers=auth(demo_key))
    assert resp.status_code == 200
    assert_headers(resp)
    assert set(resp.json()) == {"data"}


async def test_request_ids_are_unique(api: httpx.AsyncClient) -> None:
    ids = {(await api.get("/api/v1/health")).headers["X-Request-ID"] for _ in range(20)}
    assert len(ids) == 20


async def test_unknown_path_is_enveloped_404(api: httpx.AsyncClient) -> None:
    err = assert_error(await api.get("/api/v1/nope"), 404, "NOT_FOUND")
    assert "/api/v1/nope" in err["message"]
    assert_error(await api.get("/"), 404, "NOT_FOUND")


async def test_wrong_method_is_enveloped(api: httpx.AsyncClient) -> None:
    resp = await api.put("/api/v1/health", json={})
    assert_error(resp, 405, "VALIDATION_ERROR")


async def test_non_json_body_is_415_before_the_route(api: httpx.AsyncClient, demo_key: str) -> None:
    # The route would otherwise delete the session: 415 must come first and change nothing.
    resp = await api.request(
        "DELETE",
        "/api/v1/demo/session",
        content=b"platform=procore",
        headers={**auth(demo_key), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE")
    still = await api.get("/api/v1/nope", headers=auth(demo_key))
    assert still.status_code == 404  # key still valid -> the session was not deleted
    resp = await api.post("/api/v1/demo/session", content=b"hello", headers={"Content-Type": "text/plain"})
    assert_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE")
    resp = await api.post("/api/v1/demo/session", content=b"{}")  # body without any Content-Type
    assert_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_json_with_charset_is_accepted(api: httpx.AsyncClient, demo_key: str) -> None:
    resp = await api.request(
        "DELETE",
        "/api/v1/demo/session",
        content=b"{}",
        headers={**auth(demo_key), "Content-Type": "application/json; charset=utf-8"},
    )
    assert resp.status_code == 204
    assert_headers(resp)


async def test_cors_preflight(api: httpx.AsyncClient) -> None:
    resp = await api.options(
        "/api/v1/demo/session",
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] in ("*", "https://app.example.com")


async def test_openapi_documents_our_envelope(api: httpx.AsyncClient) -> None:
    resp = await api.get("/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["openapi"].startswith("3.1")
    schemas = doc["components"]["schemas"]
    assert "ErrorEnvelope" in schemas and "HTTPValidationError" not in schemas
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert "422" not in op["responses"] or "ErrorEnvelope" in str(op["responses"]["422"]), (
                path,
                method,
            )
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    docs = await api.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    # Offline: every asset the page loads is served by the API itself, none from a CDN.
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        got = await api.get(asset)
        assert got.status_code == 200 and len(got.content) > 100, asset
